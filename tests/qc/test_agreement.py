"""Agreement metrics (DESIGN §4): hand-computed cases, properties, and real data against
reference implementations (pycocotools, dense numpy, the published Boundary IoU code).

Pure tests: no database. Real data from ../shared/data (skipped when absent): BU-BIL
dataset 1 (5 experts, one tool each, 10 images), dataset 4 (7 crowd slots, 61 images) and
the DSB 2018 nucleus fixes (original vs corrected instance masks, 5 images).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask
from scipy import ndimage

from qc.agreement import (
    MeasuredInstance,
    PairMetrics,
    bootstrap_pq_interval,
    boundary_band,
    boundary_width,
    compare_pair,
    crofton_perimeter,
    instance_features,
    iou_matrix,
    match_pairs,
    measure_crop,
    one_run_per_column,
    pair_ious,
    pool,
)
from qc.agreement.geometry import _band_of_one_run_columns
from qc.agreement.matching import _candidates, _IndexedSide
from qc.comparison import compare_image
from qc.masks import MaskError, column_runs, ringed_columns, rle_from_mask

# pycocotools 2.0.11 decodes through a numpy-1 array protocol; numpy 2 warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# The metric and band properties below run PROPERTY_EXAMPLES examples each: 40 × the
# profile's max_examples, i.e. 4000 under the "maskqc" profile that make test and CI load
# (tests/conftest.py), 400 under "quick". A defect that hits 0.2 % of random small masks
# then escapes one property with probability 0.998 ** 4000 ≈ 3e-4: it fails every run.
PROPERTY_EXAMPLES = 40 * settings.default.max_examples
PROPERTY = settings(max_examples=PROPERTY_EXAMPLES)

# The smallest mask (fewest pixels, then smallest frame) whose band the first version of the
# one-run-per-column band got wrong for d = 1: column 0 holds two runs and column 1 none, so
# its four runs matched its four columns' span.
TWO_RUNS_AND_AN_EMPTY_COLUMN = np.array(
    [
        [1, 0, 0, 0],
        [0, 0, 0, 0],
        [1, 0, 1, 1],
        [1, 0, 1, 1],
        [1, 0, 1, 1],
    ],
    dtype=bool,
)

# --- helpers and references -------------------------------------------------------------------


def make_inst(key, mask: np.ndarray, *, label="cell", d: int = 2) -> MeasuredInstance:
    return MeasuredInstance.from_rle(key, label, rle_from_mask(mask), boundary_px=d)


def square(h: int, w: int, x: int, y: int, size: int, height: int | None = None) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y : y + (height or size), x : x + size] = True
    return m


def dense_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.logical_or(a, b).sum())
    return int(np.logical_and(a, b).sum()) / union if union else 0.0


def published_band(mask: np.ndarray, d: int) -> np.ndarray:
    """Boundary band on the full frame as in Cheng et al.'s code (cv2, 1 px zero border)."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return mask & (eroded == 0)


def scipy_band(mask: np.ndarray, d: int) -> np.ndarray:
    """The same definition written independently with scipy (zero outside the frame)."""
    eroded = ndimage.binary_erosion(
        np.pad(mask, 1), structure=np.ones((3, 3), bool), iterations=d, border_value=0
    )[1:-1, 1:-1]
    return mask & ~eroded


def brute_force_matching(iou: np.ndarray, tau: float) -> tuple[float, set[tuple[int, int]]]:
    """Best total IoU over one-to-one matchings of pairs with IoU ≥ tau, by exhaustive search
    (per connected component of the candidate graph). Returns (total, one best matching)."""
    candidates = [(i, j) for i in range(iou.shape[0]) for j in range(iou.shape[1])]
    candidates = [(i, j) for i, j in candidates if iou[i, j] >= tau]
    parent = {}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            node = parent[node]
        return node

    for i, j in candidates:
        parent[root(("a", i))] = root(("b", j))
    components: dict = {}
    for i, j in candidates:
        components.setdefault(root(("a", i)), []).append((i, j))
    total, chosen = 0.0, set()
    for edges in components.values():
        best = (0.0, ())

        def search(edges, k, used_a, used_b, value, picked):
            nonlocal best
            if k == len(edges):
                if value > best[0]:
                    best = (value, picked)
                return
            search(edges, k + 1, used_a, used_b, value, picked)
            i, j = edges[k]
            if i not in used_a and j not in used_b:
                picked = (*picked, (i, j))
                search(edges, k + 1, used_a | {i}, used_b | {j}, value + iou[i, j], picked)

        search(edges, 0, frozenset(), frozenset(), 0.0, ())
        total += best[0]
        chosen |= set(best[1])
    return total, chosen


def load_binary(path: Path, *, object_is_black: bool) -> np.ndarray:
    pixels = np.asarray(Image.open(path).convert("L"))
    return pixels < 128 if object_is_black else pixels >= 128


# --- boundary width, features ----------------------------------------------------------------


def test_boundary_width_default_is_two_percent_of_diagonal():
    assert boundary_width(height=1024, width=1024, boundary_px=None) == 29
    assert boundary_width(height=811, width=1024, boundary_px=None) == 26


def test_boundary_width_rounds_half_up():
    # diagonal 125 px: 0.02 · 125 = 2.5 -> 3 (Python's round() would give 2)
    assert boundary_width(height=75, width=100, boundary_px=None) == 3


def test_boundary_width_is_at_least_one_pixel():
    assert boundary_width(height=10, width=10, boundary_px=None) == 1


def test_boundary_width_project_value_wins():
    assert boundary_width(height=1024, width=1024, boundary_px=5) == 5


def brute_crofton(mask: np.ndarray) -> float:
    """Crofton perimeter counted on the full frame: neighbouring pixel pairs inside the image
    with one pixel in the mask and one out, in 4 directions."""
    m = mask.astype(np.int8)
    axis = np.count_nonzero(m[:, 1:] != m[:, :-1]) + np.count_nonzero(m[1:, :] != m[:-1, :])
    diagonal = np.count_nonzero(m[1:, 1:] != m[:-1, :-1]) + np.count_nonzero(
        m[1:, :-1] != m[:-1, 1:]
    )
    return math.pi / 8.0 * axis + math.pi / 8.0 / math.sqrt(2.0) * diagonal


def test_instance_features_square_in_the_middle():
    mask = square(12, 12, 3, 2, 6)
    features = instance_features(rle_from_mask(mask), boundary_px=1)
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert (features.area, features.bbox) == (36, (3, 2, 6, 6))
    assert np.array_equal(band, published_band(mask, 1))
    assert band.sum() == 36 - 16
    # 6 rows and 6 columns cross the edge twice: 24; each diagonal direction: 4·6 − 2 = 22
    assert features.perimeter == pytest.approx(
        math.pi / 8 * 24 + math.pi / 8 / math.sqrt(2) * 44, rel=1e-15
    )


def test_instance_features_frame_edge_is_boundary_but_not_perimeter():
    mask = square(8, 8, 0, 0, 4)  # touches the top and left edges
    features = instance_features(rle_from_mask(mask), boundary_px=1)
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert np.array_equal(band, published_band(mask, 1))
    assert band[0, 0]  # the frame counts as background for the band
    # only the right and bottom edges are inside the image: 4 + 4, diagonals 7 and 6
    assert features.perimeter == pytest.approx(
        math.pi / 8 * 8 + math.pi / 8 / math.sqrt(2) * 13, rel=1e-15
    )


def test_crofton_perimeter_of_one_pixel():
    mask = square(5, 5, 2, 2, 1)
    perimeter = crofton_perimeter(mask[2:3, 2:3], origin=(2, 2), height=5, width=5)
    assert perimeter == math.pi / 8.0 * 4 + math.pi / 8.0 / math.sqrt(2.0) * 4


def test_crofton_perimeter_of_a_large_disk_is_close_to_two_pi_r():
    yy, xx = np.mgrid[:201, :201]
    disk = (yy - 100) ** 2 + (xx - 100) ** 2 <= 80**2
    perimeter = crofton_perimeter(disk[20:181, 20:181], origin=(20, 20), height=201, width=201)
    assert abs(perimeter / (2 * math.pi * 80) - 1) < 0.01


@st.composite
def small_masks(draw, height=18, width=22, max_n=4, min_n=0):
    """Instance masks made of 1-3 random rectangles each."""
    out = []
    for _ in range(draw(st.integers(min_n, max_n))):
        m = np.zeros((height, width), dtype=bool)
        for _ in range(draw(st.integers(1, 3))):
            y, x = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
            h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
            m[y : y + h, x : x + w] = True
        out.append(m)
    return out


@st.composite
def paired_masks(draw):
    """(A, B): B holds shifted copies of some of A's masks plus independent ones."""
    a = draw(small_masks())
    b = []
    for m in a:
        if draw(st.booleans()):
            dy, dx = draw(st.integers(-1, 1)), draw(st.integers(-1, 1))
            shifted = np.roll(np.roll(m, dy, axis=0), dx, axis=1)
            if shifted.any():
                b.append(shifted)
    b += draw(small_masks(max_n=2))
    order = draw(st.permutations(range(len(b))))
    return a, [b[k] for k in order]


@st.composite
def band_masks(draw, max_side=24):
    """One non-empty mask in a frame of 1..max_side pixels a side: a union of 1-4 random
    rectangles less 0-2 others, so it has empty columns, columns of several runs, holes,
    notches and pixels on every edge of the frame, as well as plain convex shapes."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    mask = np.zeros((height, width), dtype=bool)

    def rectangle() -> tuple[slice, slice]:
        y, x = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
        h, w = draw(st.integers(1, height)), draw(st.integers(1, width))
        return slice(y, y + h), slice(x, x + w)

    for _ in range(draw(st.integers(1, 4))):
        mask[rectangle()] = True
    for _ in range(draw(st.integers(0, 2))):
        mask[rectangle()] = False
    if not mask.any():
        mask[draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))] = True
    return mask


def runs_per_column_by_pixels(mask: np.ndarray) -> np.ndarray:
    """Runs down each column from the first non-empty column to the last, counted on pixels."""
    padded = np.pad(mask, ((1, 0), (0, 0)))
    starts = (padded[1:] & ~padded[:-1]).sum(axis=0)
    occupied = np.flatnonzero(mask.any(axis=0))
    return starts[occupied[0] : occupied[-1] + 1]


@PROPERTY
@given(small_masks(min_n=1, max_n=1), st.integers(1, 4))
@example([TWO_RUNS_AND_AN_EMPTY_COLUMN], 1)
def test_boundary_band_equals_full_frame_definition_on_random_masks(masks, d):
    (mask,) = masks
    features = instance_features(rle_from_mask(mask), boundary_px=d)
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert np.array_equal(band, scipy_band(mask, d))
    assert np.array_equal(band, published_band(mask, d))


@PROPERTY
@given(band_masks(), st.integers(1, 5))
@example(TWO_RUNS_AND_AN_EMPTY_COLUMN, 1)
def test_boundary_band_and_perimeter_equal_full_frame_definitions_with_holes_and_borders(mask, d):
    features = instance_features(rle_from_mask(mask), boundary_px=d)
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert np.array_equal(band, scipy_band(mask, d))
    assert features.perimeter == brute_crofton(mask)
    assert features.area == int(mask.sum())


def test_one_run_per_column_takes_one_run_down_each_column():
    mask = np.zeros((6, 5), dtype=bool)
    for c, (top, bottom) in enumerate([(0, 2), (1, 6), (3, 4), (0, 6), (5, 6)]):
        mask[top:bottom, c] = True
    assert one_run_per_column(column_runs(ringed_columns(mask))[0])


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(["1.1", "...", "1.1"], id="two-runs-in-a-column"),
        pytest.param(["1.1", "1.1"], id="empty-column"),
        pytest.param(["1..", "...", "1.1"], id="two-runs-and-an-empty-column-balance-out"),
        pytest.param(["1.11", "..11", "1.11"], id="two-runs-then-an-empty-column"),
    ],
)
def test_one_run_per_column_refuses_empty_columns_and_columns_of_several_runs(rows):
    mask = np.array([[c == "1" for c in row] for row in rows], dtype=bool)
    assert not one_run_per_column(column_runs(ringed_columns(mask))[0])


@PROPERTY
@given(band_masks())
@example(TWO_RUNS_AND_AN_EMPTY_COLUMN)
def test_one_run_per_column_equals_its_definition_counted_on_pixels(mask):
    col = column_runs(ringed_columns(mask))[0]
    assert one_run_per_column(col) == bool((runs_per_column_by_pixels(mask) == 1).all())


@PROPERTY
@given(band_masks(), st.integers(1, 4))
@example(TWO_RUNS_AND_AN_EMPTY_COLUMN, 1)
def test_band_of_one_run_columns_equals_the_band_exactly_where_its_guard_takes_it(mask, d):
    # Arrange: the fast band worked out on any mask wide enough, guard or not
    runs = column_runs(ringed_columns(mask))
    if runs[0].size < 2 * d + 1:
        return

    # Act
    fast = np.zeros(mask.shape, dtype=bool)
    for c, first, stop in zip(*_band_of_one_run_columns(runs, d), strict=True):
        fast[first:stop, c] = True

    # Assert: where the guard takes the mask the fast band is the published one; where the
    # fast band is wrong, the guard refuses the mask (and measure_crop then erodes pixels)
    right = np.array_equal(fast, published_band(mask, d))
    if one_run_per_column(runs[0]):
        assert right
    elif not right:
        _, features = measure_crop(
            mask, origin=(0, 0), height=mask.shape[0], width=mask.shape[1], boundary_px=d
        )
        assert np.array_equal(
            coco_mask.decode(features.boundary_rle).astype(bool), published_band(mask, d)
        )


def test_band_of_one_run_columns_is_wrong_on_the_mask_its_guard_must_refuse():
    # The case behind the guard: the fast band differs from the definition there
    runs = column_runs(ringed_columns(TWO_RUNS_AND_AN_EMPTY_COLUMN))
    fast = np.zeros(TWO_RUNS_AND_AN_EMPTY_COLUMN.shape, dtype=bool)
    for c, first, stop in zip(*_band_of_one_run_columns(runs, 1), strict=True):
        fast[first:stop, c] = True
    assert not np.array_equal(fast, published_band(TWO_RUNS_AND_AN_EMPTY_COLUMN, 1))
    assert not one_run_per_column(runs[0])


@PROPERTY
@given(band_masks(), st.integers(1, 4))
def test_measure_crop_band_is_the_whole_mask_when_no_window_fits(mask, d):
    # The narrow case: a bbox under 2d + 1 pixels in either direction leaves no pixel of the
    # (2d + 1)² erosion, so the band is the whole mask; wider ones are eroded, and every
    # band equals the published one
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    narrow = min(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < 2 * d + 1
    _, features = measure_crop(
        mask, origin=(0, 0), height=mask.shape[0], width=mask.shape[1], boundary_px=d
    )
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert np.array_equal(band, published_band(mask, d))
    if narrow:
        assert np.array_equal(band, mask)


@PROPERTY
@given(small_masks(min_n=1, max_n=1))
def test_instance_features_perimeter_equals_full_frame_count(masks):
    (mask,) = masks
    features = instance_features(rle_from_mask(mask), boundary_px=1)
    assert features.perimeter == brute_crofton(mask)
    assert features.area == mask.sum()


@PROPERTY
@given(small_masks(min_n=1, max_n=1), st.integers(1, 4), st.data())
def test_measure_crop_equals_full_frame_references(masks, d, data):
    # Arrange: the mask held as a crop that need not be tight (a margin on any side that
    # stays inside the 18 x 22 frame), so it may touch every edge of the frame
    (mask,) = masks
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top = data.draw(st.integers(0, int(rows[0])))
    bottom = data.draw(st.integers(int(rows[-1]) + 1, mask.shape[0]))
    left = data.draw(st.integers(0, int(cols[0])))
    right = data.draw(st.integers(int(cols[-1]) + 1, mask.shape[1]))
    crop = mask[top:bottom, left:right]

    # Act
    rle, features = measure_crop(crop, origin=(left, top), height=18, width=22, boundary_px=d)

    # Assert: pycocotools' bytes, area and box; the published band; the full-frame Crofton
    reference = rle_from_mask(mask)
    assert rle == reference
    assert features.area == int(mask.sum())
    assert features.bbox == tuple(int(v) for v in coco_mask.toBbox(reference))
    assert np.array_equal(
        coco_mask.decode(features.boundary_rle).astype(bool), published_band(mask, d)
    )
    assert features.perimeter == brute_crofton(mask)


@settings(max_examples=150)
@given(st.integers(1, 6), st.data())
def test_measure_crop_band_of_one_run_per_column_equals_the_published_band(d, data):
    # Arrange: a shape with exactly one run down each of its columns (bubble-like, the
    # case worked out from the runs), wide enough to be eroded, anywhere in a 40 x 48 frame
    # (its runs may touch the top or bottom edge)
    cols = data.draw(st.integers(2 * d + 1, 30))
    left = data.draw(st.integers(0, 48 - cols))
    mask = np.zeros((40, 48), dtype=bool)
    for c in range(left, left + cols):
        top = data.draw(st.integers(0, 38))
        mask[top : data.draw(st.integers(top + 1, 40)), c] = True

    # Act
    rle, features = measure_crop(mask, origin=(0, 0), height=40, width=48, boundary_px=d)

    # Assert
    band = coco_mask.decode(features.boundary_rle).astype(bool)
    assert np.array_equal(band, published_band(mask, d))
    assert rle == rle_from_mask(mask)


def test_measure_crop_refuses_an_empty_crop_and_one_past_the_frame():
    with pytest.raises(MaskError, match="must not be empty"):
        measure_crop(np.zeros((3, 3), bool), origin=(0, 0), height=5, width=5, boundary_px=1)
    with pytest.raises(MaskError, match="inside the image"):
        measure_crop(np.ones((3, 3), bool), origin=(3, 0), height=5, width=5, boundary_px=1)


def test_boundary_band_of_crop_matches_erosion_definition():
    crop = np.ones((5, 7), dtype=bool)
    band = boundary_band(crop, boundary_px=2)
    assert band.sum() == 5 * 7 - 1 * 3


# --- IoU ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(small_masks(min_n=1), small_masks(min_n=1))
def test_iou_matrix_equals_pycocotools_and_dense(a, b):
    ra, rb = [rle_from_mask(m) for m in a], [rle_from_mask(m) for m in b]
    boxes_a = np.array([[*np.array(coco_mask.toBbox(r), dtype=int)] for r in ra])
    boxes_b = np.array([[*np.array(coco_mask.toBbox(r), dtype=int)] for r in rb])
    boxes_a[:, 2:] += boxes_a[:, :2]
    boxes_b[:, 2:] += boxes_b[:, :2]
    ours = iou_matrix(ra, rb, boxes_a, boxes_b)
    reference = coco_mask.iou(ra, rb, [0] * len(rb))
    dense = np.array([[dense_iou(x, y) for y in b] for x in a])
    assert np.array_equal(ours, reference)
    assert np.array_equal(ours, dense)  # both are the same double division i / u


# A quarter of PROPERTY_EXAMPLES: each example is a whole pair of annotations (up to 36 pairs).
@settings(max_examples=PROPERTY_EXAMPLES // 4)
@given(paired_masks(), st.sampled_from([0.3, 0.5, 0.7, 1.0]), st.booleans())
def test_candidates_leave_out_only_pairs_that_cannot_reach_the_threshold(pair, tau, overlaps):
    # The pre-filter from boxes and areas: every pair it leaves out has IoU below tau (and,
    # with overlaps, shares less than half of the smaller instance); it keeps the others
    masks_a, masks_b = pair

    def side(masks):
        rles = [rle_from_mask(m) for m in masks]
        boxes = [tuple(int(v) for v in coco_mask.toBbox(r)) for r in rles]
        return _IndexedSide(
            [
                MeasuredInstance(k, "cell", r, int(m.sum()), box, 0.0)
                for k, (r, box, m) in enumerate(zip(rles, boxes, masks, strict=True))
            ]
        )

    a, b = side(masks_a), side(masks_b)
    ia, ib = np.arange(len(masks_a)), np.arange(len(masks_b))
    rows, cols = _candidates(a, b, ia, ib, tau, overlaps)
    kept = set(zip(rows.tolist(), cols.tolist(), strict=True))
    for i, j in itertools.product(ia.tolist(), ib.tolist()):
        inter = int((masks_a[i] & masks_b[j]).sum())
        iou = inter / int((masks_a[i] | masks_b[j]).sum())
        reaches = iou >= tau or (
            overlaps and inter > 0 and 2 * inter >= min(masks_a[i].sum(), masks_b[j].sum())
        )
        if reaches:
            assert (i, j) in kept


@settings(max_examples=PROPERTY_EXAMPLES // 4)
@given(paired_masks())
def test_compare_pair_overlaps_are_exactly_the_pairs_sharing_half_the_smaller_instance(pair):
    # The intersection is recovered from the IoU and the two areas (exact below 2**31
    # pixels), and the candidates' bound must keep every such pair
    masks_a, masks_b = pair
    a = [make_inst(("a", k), m) for k, m in enumerate(masks_a)]
    b = [make_inst(("b", k), m) for k, m in enumerate(masks_b)]
    result = compare_pair(a, b, match_iou=0.5, with_boundary=False, keep_overlaps=True)
    expected = {}
    for (i, ma), (j, mb) in itertools.product(enumerate(masks_a), enumerate(masks_b)):
        inter = int((ma & mb).sum())
        if inter and 2 * inter >= min(ma.sum(), mb.sum()):
            expected[(("a", i), ("b", j))] = inter
    assert {(o.a_key, o.b_key): o.intersection for o in result.overlaps} == expected


def test_pair_ious_computes_listed_pairs_with_repeats():
    a = [square(10, 10, 0, 0, 4), square(10, 10, 5, 5, 4)]
    b = [square(10, 10, 1, 0, 4), square(10, 10, 5, 5, 4)]
    ra, rb = [rle_from_mask(m) for m in a], [rle_from_mask(m) for m in b]
    ious = pair_ious(ra, rb, np.array([0, 0, 1]), np.array([0, 1, 1]))
    assert ious.tolist() == [12 / 20, 0.0, 1.0]


# --- matching ---------------------------------------------------------------------------------


def test_match_pairs_maximises_total_iou_not_greedy():
    iou = np.array([[0.9, 0.6], [0.7, 0.0]])
    assert match_pairs(iou, threshold=0.5) == [(0, 1), (1, 0)]


def test_match_pairs_drops_assignments_below_threshold():
    iou = np.array([[0.4, 0.0], [0.0, 0.8]])
    assert match_pairs(iou, threshold=0.5) == [(1, 1)]


def test_match_pairs_threshold_is_inclusive():
    assert match_pairs(np.array([[0.5]]), threshold=0.5) == [(0, 0)]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.integers(1, 5).flatmap(
            lambda m: st.lists(
                st.sampled_from([0.0, 0.1, 0.3, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.95, 1.0]),
                min_size=n * m,
                max_size=n * m,
            ).map(lambda v: np.array(v).reshape(n, m))
        )
    ),
    st.sampled_from([0.3, 0.5, 0.75]),
)
@example(np.array([[0.9, 0.0], [0.0, 0.8]]), 0.5)  # one candidate per row and column
@example(np.array([[0.9, 0.8], [0.85, 0.0]]), 0.5)  # greedy takes 0.9; the optimum does not
def test_match_pairs_equals_brute_force_optimum(iou, tau):
    pairs = match_pairs(iou, threshold=tau)
    best, _ = brute_force_matching(iou, tau)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    assert all(iou[i, j] >= tau for i, j in pairs)
    assert math.fsum(iou[i, j] for i, j in pairs) == pytest.approx(best, abs=1e-12)


# --- pair metrics, hand-computed -------------------------------------------------------------


def test_compare_pair_counts_pq_and_f1():
    # A: two 10x10 squares; B: an identical square, one shifted by 5 px (IoU 1/3), a small one
    a = [make_inst("a1", square(40, 60, 0, 0, 10)), make_inst("a2", square(40, 60, 20, 0, 10))]
    b = [
        make_inst("b1", square(40, 60, 0, 0, 10)),
        make_inst("b2", square(40, 60, 25, 0, 10)),
        make_inst("b3", square(40, 60, 50, 30, 4)),
    ]
    result = compare_pair(a, b, match_iou=0.5)
    assert (result.matched, result.unmatched_a, result.unmatched_b) == (1, 1, 2)
    assert result.mean_iou == 1.0
    assert result.f1 == 2 * 1 / 5
    assert result.pq == 1.0 / (1 + 0.5 * 1 + 0.5 * 2)
    assert [(m.a_key, m.b_key, m.iou, m.dice) for m in result.matches] == [("a1", "b1", 1.0, 1.0)]


def test_compare_pair_lower_threshold_matches_more():
    a = [make_inst("a1", square(40, 60, 0, 0, 10)), make_inst("a2", square(40, 60, 20, 0, 10))]
    b = [make_inst("b1", square(40, 60, 0, 0, 10)), make_inst("b2", square(40, 60, 25, 0, 10))]
    result = compare_pair(a, b, match_iou=0.3)
    assert (result.matched, result.unmatched_a, result.unmatched_b) == (2, 0, 0)
    assert result.iou_sum == 1.0 + 50 / 150
    assert result.mean_iou == (1.0 + 50 / 150) / 2
    assert result.pq == (1.0 + 50 / 150) / 2
    assert result.f1 == 1.0
    assert result.matches[1].dice == 2 * (50 / 150) / (1 + 50 / 150)


def test_compare_pair_iou_equal_to_threshold_matches():
    # 55 / 100 == 0.55 in floating point although 0.55 * 100 > 55: no bound may drop the pair
    inside = square(20, 20, 0, 0, 10, height=5)  # 50 pixels ...
    inside[5, 0:5] = True  # ... and 5 more, all inside the 10 x 10 square
    outer = square(20, 20, 0, 0, 10)
    result = compare_pair([make_inst("a", inside)], [make_inst("b", outer)], match_iou=0.55)
    assert (result.matched, result.mean_iou) == (1, 0.55)


def test_compare_pair_both_empty_agree():
    result = compare_pair([], [], match_iou=0.5)
    assert (result.pq, result.f1, result.mean_iou, result.boundary_iou) == (1.0, 1.0, None, None)
    assert (result.matched, result.unmatched_a, result.unmatched_b) == (0, 0, 0)


def test_compare_pair_one_side_empty_scores_zero():
    result = compare_pair([make_inst("a1", square(10, 10, 0, 0, 3))], [], match_iou=0.5)
    assert (result.pq, result.f1, result.mean_iou, result.unmatched_a) == (0.0, 0.0, None, 1)


def test_compare_pair_label_mismatch_is_unmatched():
    a = [make_inst("a1", square(20, 20, 2, 2, 8), label="bubble")]
    b = [make_inst("b1", square(20, 20, 2, 2, 8), label="droplet")]
    result = compare_pair(a, b, match_iou=0.5)
    assert (result.matched, result.unmatched_a, result.unmatched_b) == (0, 1, 1)
    assert result.label_mismatch == 1
    assert (result.pq, result.f1) == (0.0, 0.0)
    mismatch = result.mismatches[0]
    assert (mismatch.a_key, mismatch.b_key, mismatch.a_label, mismatch.b_label) == (
        "a1",
        "b1",
        "bubble",
        "droplet",
    )
    assert mismatch.iou == 1.0
    bubble = result.for_class("bubble")
    assert (bubble.n_a, bubble.n_b, bubble.unmatched_a, bubble.label_mismatch) == (1, 0, 1, 1)


def test_compare_pair_micro_pools_classes():
    # class x: IoU 1 and one miss; class y: IoU 0.6 (6x10 vs 10x10 inside it)
    a = [
        make_inst("x1", square(30, 60, 0, 0, 10), label="x"),
        make_inst("x2", square(30, 60, 40, 0, 5), label="x"),
        make_inst("y1", square(30, 60, 20, 15, 10), label="y"),
    ]
    b = [
        make_inst("x1", square(30, 60, 0, 0, 10), label="x"),
        make_inst("y1", square(30, 60, 20, 15, 10, height=6), label="y"),
    ]
    result = compare_pair(a, b, match_iou=0.5)
    x, y = result.for_class("x"), result.for_class("y")
    assert (x.matched, x.n_a, x.n_b, x.pq, x.f1) == (1, 2, 1, 1.0 / 1.5, 2 / 3)
    assert (y.matched, y.mean_iou, y.pq) == (1, 0.6, 0.6)
    assert (result.matched, result.n_a, result.n_b) == (2, 3, 2)
    assert result.pq == 1.6 / 2.5
    assert result.f1 == 4 / 5
    assert result.mean_iou == 0.8


def test_compare_pair_stored_values_keep_every_metric_but_the_instance_counts():
    a = [
        make_inst("x1", square(30, 60, 0, 0, 10), label="x"),
        make_inst("y1", square(30, 60, 20, 15, 10), label="y"),
    ]
    b = [make_inst("x1", square(30, 60, 0, 0, 10), label="x")]
    result = compare_pair(a, b, match_iou=0.5)

    stored = [result.stored_values(), result.for_class("y").stored_values()]

    assert set(PairMetrics.STORED_FIELDS) == {f.name for f in fields(PairMetrics)} - {"n_a", "n_b"}
    assert stored == [
        {
            "matched": 1,
            "unmatched_a": 1,
            "unmatched_b": 0,
            "label_mismatch": 0,
            "iou_sum": 1.0,
            "boundary_iou_sum": 1.0,
            "mean_iou": 1.0,
            "f1": 2 / 3,
            "pq": 1.0 / 1.5,
            "boundary_iou": 1.0,
        },
        {
            "matched": 0,
            "unmatched_a": 1,
            "unmatched_b": 0,
            "label_mismatch": 0,
            "iou_sum": 0.0,
            "boundary_iou_sum": 0.0,
            "mean_iou": None,
            "f1": 0.0,
            "pq": 0.0,
            "boundary_iou": None,
        },
    ]


def test_compare_pair_class_threshold_overrides_project():
    a = [make_inst("a", square(30, 30, 0, 0, 10), label="y")]
    b = [make_inst("b", square(30, 30, 0, 0, 10, height=6), label="y")]
    assert compare_pair(a, b, match_iou=0.5).matched == 1
    assert compare_pair(a, b, match_iou=0.5, class_match_iou={"y": 0.7}).matched == 0


def test_compare_pair_boundary_iou_of_matched_pair():
    a = [make_inst("a", square(30, 30, 5, 5, 10), d=2)]
    b = [make_inst("b", square(30, 30, 6, 5, 10), d=2)]
    result = compare_pair(a, b, match_iou=0.5)
    band_a, band_b = (
        published_band(square(30, 30, 5, 5, 10), 2),
        published_band(square(30, 30, 6, 5, 10), 2),
    )
    assert result.boundary_iou == dense_iou(band_a, band_b)
    assert result.matches[0].boundary_iou == dense_iou(band_a, band_b)


def test_compare_pair_without_boundary_reports_none():
    a = [make_inst("a", square(30, 30, 5, 5, 10))]
    result = compare_pair(a, a, match_iou=0.5, with_boundary=False)
    assert (result.boundary_iou, result.matches[0].boundary_iou, result.pq) == (None, None, 1.0)


# --- properties --------------------------------------------------------------------------------


def as_insts(masks, prefix, d=2):
    return [make_inst(f"{prefix}{k}", m, d=d) for k, m in enumerate(masks)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paired_masks(), st.sampled_from([0.3, 0.5, 0.7]))
def test_compare_pair_symmetry_swaps_unmatched(pair, tau):
    a, b = as_insts(pair[0], "a"), as_insts(pair[1], "b")
    ab, ba = compare_pair(a, b, match_iou=tau), compare_pair(b, a, match_iou=tau)
    assert (ab.unmatched_a, ab.unmatched_b) == (ba.unmatched_b, ba.unmatched_a)
    assert (ab.matched, ab.pq, ab.f1, ab.mean_iou) == (ba.matched, ba.pq, ba.f1, ba.mean_iou)
    assert ab.boundary_iou == pytest.approx(ba.boundary_iou)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paired_masks(), st.sampled_from([0.3, 0.5, 0.7]))
def test_compare_pair_metrics_are_bounded(pair, tau):
    result = compare_pair(as_insts(pair[0], "a"), as_insts(pair[1], "b"), match_iou=tau)
    assert 0.0 <= result.pq <= result.f1 <= 1.0
    for m in result.matches:
        assert tau <= m.iou <= 1.0
        assert 0.0 <= m.boundary_iou <= 1.0
        assert m.iou <= m.dice <= 1.0
    if result.matched:
        assert tau <= result.mean_iou <= 1.0
        assert 0.0 <= result.boundary_iou <= 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paired_masks(), st.sampled_from([0.3, 0.5, 0.7]))
def test_compare_pair_matching_equals_brute_force(pair, tau):
    a, b = pair
    result = compare_pair(as_insts(a, "a"), as_insts(b, "b"), match_iou=tau)
    iou = np.array([[dense_iou(x, y) for y in b] for x in a]).reshape(len(a), len(b))
    best, _ = brute_force_matching(iou, tau)
    assert result.iou_sum == pytest.approx(best, abs=1e-12)
    for m in result.matches:
        assert m.iou == dense_iou(a[int(m.a_key[1:])], b[int(m.b_key[1:])])


@settings(max_examples=40, deadline=None)
@given(small_masks(min_n=1))
def test_compare_pair_identical_annotations_score_one(masks):
    insts = as_insts(masks, "a")
    result = compare_pair(insts, as_insts(masks, "b"), match_iou=0.5)
    assert (result.pq, result.f1, result.mean_iou, result.boundary_iou) == (1.0, 1.0, 1.0, 1.0)


@settings(max_examples=40, deadline=None)
@given(small_masks(min_n=1, width=11), small_masks(min_n=1, width=11))
def test_compare_pair_disjoint_annotations_score_zero(left, right):
    a = [np.hstack([m, np.zeros_like(m)]) for m in left]
    b = [np.hstack([np.zeros_like(m), m]) for m in right]
    result = compare_pair(as_insts(a, "a"), as_insts(b, "b"), match_iou=0.5)
    assert (result.matched, result.pq, result.f1, result.mean_iou) == (0, 0.0, 0.0, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paired_masks(), st.integers(0, 6), st.integers(0, 6))
def test_compare_pair_translation_invariant(pair, dx, dy):
    def place(m, x, y):  # into a larger frame, away from its edges
        frame = np.zeros((40, 44), dtype=bool)
        frame[8 + y : 8 + y + m.shape[0], 8 + x : 8 + x + m.shape[1]] = m
        return frame

    a, b = pair
    here = compare_pair(
        as_insts([place(m, 0, 0) for m in a], "a"),
        as_insts([place(m, 0, 0) for m in b], "b"),
        match_iou=0.5,
    )
    there = compare_pair(
        as_insts([place(m, dx, dy) for m in a], "a"),
        as_insts([place(m, dx, dy) for m in b], "b"),
        match_iou=0.5,
    )
    assert (here.matched, here.pq, here.mean_iou, here.boundary_iou) == (
        there.matched,
        there.pq,
        there.mean_iou,
        there.boundary_iou,
    )


# --- aggregates --------------------------------------------------------------------------------


def test_pool_sums_counts_over_pairs():
    one = compare_pair(
        [make_inst("a", square(20, 20, 0, 0, 10))],
        [make_inst("b", square(20, 20, 0, 0, 10))],
        match_iou=0.5,
    )
    miss = compare_pair([make_inst("a", square(20, 20, 0, 0, 10))], [], match_iou=0.5)
    empty = compare_pair([], [], match_iou=0.5)
    pooled = pool([one, miss, empty])
    assert (pooled.pairs, pooled.n_a, pooled.n_b, pooled.matched) == (3, 2, 1, 1)
    assert (pooled.pq, pooled.f1, pooled.mean_iou, pooled.boundary_iou) == (
        1.0 / 1.5,
        2 / 3,
        1.0,
        1.0,
    )


def test_pool_all_empty_pairs_agree_and_no_pairs_is_none():
    empty = compare_pair([], [], match_iou=0.5)
    assert (pool([empty, empty]).pq, pool([]).pq) == (1.0, None)


def test_bootstrap_pq_interval_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    images = []
    for _ in range(30):
        k = int(rng.integers(0, 4))
        a = [make_inst(f"a{i}", square(20, 20, 4 * i, 0, 3)) for i in range(4)]
        b = [make_inst(f"b{i}", square(20, 20, 4 * i + (i < k), 0, 3)) for i in range(4)]
        images.append([compare_pair(a, b, match_iou=0.4)])
    first = bootstrap_pq_interval(images, seed=7)
    assert first == bootstrap_pq_interval(images, seed=7)
    estimate = pool(r for image in images for r in image).pq
    assert first[0] <= estimate <= first[1]
    assert bootstrap_pq_interval([], seed=7) is None


# --- one image, all annotators -------------------------------------------------------------------


def test_compare_image_orders_pairs_and_builds_consensus():
    base = square(30, 30, 5, 5, 10)
    annotations = {
        "cleo": [make_inst("c", base)],
        "anna": [make_inst("a", base)],
        "ben": [make_inst("b", square(30, 30, 6, 5, 10))],
    }
    result = compare_image(annotations, height=30, width=30, match_iou=0.5)
    assert [(p.annotator_a, p.annotator_b) for p in result.pairs] == [
        ("anna", "ben"),
        ("anna", "cleo"),
        ("ben", "cleo"),
    ]
    assert result.annotators == ("anna", "ben", "cleo")
    (consensus,) = result.consensus
    assert np.array_equal(coco_mask.decode(consensus.rle).astype(bool), base)
    assert consensus.members == (("anna", "a"), ("ben", "b"), ("cleo", "c"))
    assert result.versus_consensus["anna"].pq == 1.0


def test_compare_image_empty_submission_counts_as_annotator():
    annotations = {"anna": [make_inst("a", square(20, 20, 2, 2, 6))], "ben": []}
    result = compare_image(annotations, height=20, width=20, match_iou=0.5)
    (pair,) = result.pairs
    assert (pair.result.pq, pair.result.unmatched_a) == (0.0, 1)
    assert len(result.consensus) == 1  # one of two annotators meets a quorum of 0.5


# --- real data ------------------------------------------------------------------------------------


def _bubil_experts(shared_data: Path, image_id: str) -> dict[str, np.ndarray]:
    root = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast" / "ExpertsAnnotations"
    return {
        f"Person{k}": load_binary(
            root / f"Person{k}_Amira" / f"seg_{image_id}.png", object_is_black=True
        )
        for k in range(1, 6)
    }


BUBIL_IDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B22", "B35"]


@pytest.mark.parametrize("image_id", BUBIL_IDS)
def test_bubil_experts_iou_and_boundary_iou_equal_references(shared_data, image_id):
    masks = _bubil_experts(shared_data, image_id)
    height, width = next(iter(masks.values())).shape
    d = boundary_width(height=height, width=width, boundary_px=None)
    insts = {name: [make_inst(name, m, d=d)] for name, m in masks.items()}
    bands = {name: published_band(m, d) for name, m in masks.items()}
    for a, b in itertools.combinations(sorted(masks), 2):
        result = compare_pair(insts[a], insts[b], match_iou=1e-9)
        (match,) = result.matches
        reference = coco_mask.iou([insts[a][0].rle], [insts[b][0].rle], [0])[0, 0]
        assert match.iou == reference
        assert match.iou == dense_iou(masks[a], masks[b])
        assert match.boundary_iou == dense_iou(bands[a], bands[b])


def test_bubil_crowd_iou_and_boundary_iou_equal_references(shared_data):
    """Dataset 4: 7 crowd slots x 61 crops; a fragmented mask is one instance.

    About 1 s: all 61 crops, 21 pairs each, with the dense references on every pair."""
    root = shared_data / "bubil" / "dataset4_lu_melanoma_fluorescence" / "CrowdsourcedAnnotations"
    slots = sorted(p.name for p in root.iterdir() if p.is_dir())
    names = sorted(p.name for p in (root / slots[0]).glob("seg_*.png"))
    assert (len(slots), len(names)) == (7, 61)
    checked = 0
    for name in names:
        masks = {s: load_binary(root / s / name, object_is_black=True) for s in slots}
        height, width = masks[slots[0]].shape
        d = boundary_width(height=height, width=width, boundary_px=None)
        insts = {s: [make_inst(s, m, d=d)] for s, m in masks.items() if m.any()}
        annotations = compare_image(insts, height=height, width=width, match_iou=1e-9)
        for pair in annotations.pairs:
            a, b = masks[pair.annotator_a], masks[pair.annotator_b]
            if dense_iou(a, b) == 0.0:
                assert pair.result.matched == 0
                continue
            (match,) = pair.result.matches
            assert match.iou == dense_iou(a, b)
            assert match.boundary_iou == dense_iou(published_band(a, d), published_band(b, d))
            checked += 1
    assert checked > 1000


def _dsb_images(shared_data: Path) -> list[Path]:
    return sorted(p for p in (shared_data / "dsb2018_fixes").iterdir() if p.is_dir())


def _dsb_masks(folder: Path) -> list[tuple[str, np.ndarray]]:
    return [(p.stem, load_binary(p, object_is_black=False)) for p in sorted(folder.glob("*.png"))]


def test_dsb_original_vs_fixed_matching_and_metrics_equal_references(shared_data):
    """About 1.5 s: the dense reference IoU of every original x fixed nucleus pair (5 images,
    ~24 x 24 full-frame pairs each) and a brute-force matching."""
    for image in _dsb_images(shared_data):
        original, fixed = _dsb_masks(image / "masks_original"), _dsb_masks(image / "masks_fixed")
        height, width = original[0][1].shape
        d = boundary_width(height=height, width=width, boundary_px=None)
        a = [make_inst(key, m, d=d) for key, m in original]
        b = [make_inst(key, m, d=d) for key, m in fixed]
        result = compare_pair(a, b, match_iou=0.5)

        iou = np.array([[dense_iou(x, y) for _, y in fixed] for _, x in original])
        assert np.array_equal(
            iou, coco_mask.iou([i.rle for i in a], [i.rle for i in b], [0] * len(b))
        )
        best, chosen = brute_force_matching(iou, 0.5)
        assert result.iou_sum == pytest.approx(best, abs=1e-12)
        index_a = {key: k for k, (key, _) in enumerate(original)}
        index_b = {key: k for k, (key, _) in enumerate(fixed)}
        ours = {(index_a[m.a_key], index_b[m.b_key]) for m in result.matches}
        assert ours == chosen
        assert result.iou_sum == math.fsum(iou[i, j] for i, j in sorted(chosen))
        assert result.pq == result.iou_sum / (0.5 * (len(a) + len(b)))
        assert result.f1 == 2 * len(chosen) / (len(a) + len(b))
        for m in result.matches:
            x, y = original[index_a[m.a_key]][1], fixed[index_b[m.b_key]][1]
            assert m.iou == iou[index_a[m.a_key], index_b[m.b_key]]
            assert m.boundary_iou == dense_iou(published_band(x, d), published_band(y, d))
        # every nucleus left unchanged by the fixes is matched to itself, perfectly
        unchanged = [
            (key_a, key_b)
            for key_a, x in original
            for key_b, y in fixed
            if x.shape == y.shape and np.array_equal(x, y)
        ]
        assert unchanged
        perfect = {(m.a_key, m.b_key) for m in result.matches if (m.iou, m.boundary_iou) == (1, 1)}
        assert perfect == set(unchanged)
