"""qc.masks against pycocotools (the reference) and plain per-pixel numpy.

Masks are small (up to 16x16) so hypothesis can try many shapes quickly; they cover holes and
every image edge on purpose (see ``frame_masks``). No database.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from qc.masks import (
    MaskError,
    column_runs,
    crop_to_frame,
    ringed_columns,
    rle_area,
    rle_bbox,
    rle_from_crop,
    rle_from_mask,
    rle_from_polygons,
    rle_from_runs,
    rle_from_string,
    rle_from_uncompressed,
    rle_intersection,
    rle_iou,
    rle_to_crop,
    rle_to_mask,
    rle_to_string,
    rle_union,
)

EXAMPLES = settings(max_examples=40, deadline=None)

# pycocotools 2.0.11's decode trips a numpy 2 deprecation inside pycocotools itself.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


# --- references --------------------------------------------------------------------------------


def coco_encode(mask):
    return coco_mask.encode(np.asfortranarray(mask, dtype=np.uint8))


def coco_decode(rle):
    return coco_mask.decode(rle).astype(bool)


def paste_by_pixel(crop, origin, height, width):
    """Reference paste, one pixel at a time (independent of the code under test)."""
    frame = np.zeros((height, width), dtype=bool)
    x, y = origin
    for row, col in zip(*np.nonzero(crop), strict=True):
        if 0 <= y + row < height and 0 <= x + col < width:
            frame[y + row, x + col] = True
    return frame


def uncompressed_counts(mask):
    """Reference uncompressed COCO counts: column-major runs, background first."""
    counts, value = [], False
    for pixel_value, run in itertools.groupby(mask.flatten(order="F")):
        if pixel_value != value:
            counts.append(0)
        counts.append(len(list(run)))
        value = not pixel_value
    return counts


# --- mask strategies ---------------------------------------------------------------------------


def _special_masks():
    """Named edge cases: every border, corners, 1-px frames and lines, full, single pixel."""
    cases = {}
    for h, w in [(1, 1), (1, 7), (7, 1), (5, 6), (8, 8)]:
        full = np.ones((h, w), dtype=bool)
        cases[f"full_{h}x{w}"] = full
        cases[f"empty_{h}x{w}"] = ~full
        for name, (r, c) in {
            "top_left": (0, 0),
            "top_right": (0, w - 1),
            "bottom_left": (h - 1, 0),
            "bottom_right": (h - 1, w - 1),
        }.items():
            pixel = np.zeros((h, w), dtype=bool)
            pixel[r, c] = True
            cases[f"pixel_{name}_{h}x{w}"] = pixel
    h, w = 6, 9
    edges = {
        "top": (slice(0, 1), slice(None)),
        "bottom": (slice(h - 1, h), slice(None)),
        "left": (slice(None), slice(0, 1)),
        "right": (slice(None), slice(w - 1, w)),
    }
    for name, index in edges.items():
        edge = np.zeros((h, w), dtype=bool)
        edge[index] = True
        cases[f"edge_{name}"] = edge
    frame = np.ones((h, w), dtype=bool)
    frame[1:-1, 1:-1] = False
    cases["one_px_image_frame"] = frame
    cases["everything_but_one_px_frame"] = ~frame
    ring = np.zeros((h, w), dtype=bool)
    ring[0:5, 0:5] = True
    ring[2, 2] = False
    cases["ring_with_hole_in_corner"] = ring
    cases["checkerboard"] = (np.indices((h, w)).sum(axis=0) % 2).astype(bool)
    cases["last_column_and_first_column"] = edges_lr = np.zeros((h, w), dtype=bool)
    edges_lr[:, [0, w - 1]] = True
    return cases


SPECIAL_MASKS = _special_masks()


@st.composite
def random_masks(draw, max_side=16):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    density = draw(st.floats(0.0, 1.0))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).random((h, w)) < density


@st.composite
def blobs_with_holes(draw, max_side=16):
    """A filled rectangle with a rectangular hole, anywhere (often touching the edges)."""
    h = draw(st.integers(3, max_side))
    w = draw(st.integers(3, max_side))
    top, left = draw(st.integers(0, h - 3)), draw(st.integers(0, w - 3))
    bottom, right = draw(st.integers(top + 3, h)), draw(st.integers(left + 3, w))
    mask = np.zeros((h, w), dtype=bool)
    mask[top:bottom, left:right] = True
    hole_top = draw(st.integers(top + 1, bottom - 2))
    hole_left = draw(st.integers(left + 1, right - 2))
    hole_bottom = draw(st.integers(hole_top + 1, bottom - 1))
    hole_right = draw(st.integers(hole_left + 1, right - 1))
    mask[hole_top:hole_bottom, hole_left:hole_right] = False
    return mask


frame_masks = st.one_of(
    random_masks(), blobs_with_holes(), st.sampled_from(list(SPECIAL_MASKS.values()))
)


@st.composite
def mask_pairs_of_one_size(draw, count=2):
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=count, max_size=count))
    densities = draw(st.lists(st.floats(0.0, 1.0), min_size=count, max_size=count))
    return [
        np.random.default_rng(seed).random((h, w)) < density
        for seed, density in zip(seeds, densities, strict=True)
    ]


# --- rle_from_mask / rle_to_mask -----------------------------------------------------------


@EXAMPLES
@given(mask=frame_masks)
def test_rle_from_mask_equals_pycocotools_encode(mask):
    # Arrange
    expected = coco_encode(mask)

    # Act
    rle = rle_from_mask(mask)

    # Assert
    assert rle == expected


@pytest.mark.parametrize("name", sorted(SPECIAL_MASKS))
def test_rle_from_mask_edge_cases_equal_pycocotools_encode(name):
    # Arrange
    mask = SPECIAL_MASKS[name]

    # Act
    rle = rle_from_mask(mask)

    # Assert
    assert rle == coco_encode(mask)
    assert np.array_equal(rle_to_mask(rle), mask)


@EXAMPLES
@given(mask=frame_masks)
def test_rle_to_mask_round_trip_is_exact(mask):
    # Arrange
    rle = coco_encode(mask)

    # Act
    decoded = rle_to_mask(rle)

    # Assert
    assert decoded.dtype == np.bool_
    assert np.array_equal(decoded, mask)


def test_rle_from_mask_refuses_non_bool_mask():
    # Arrange
    mask = np.ones((3, 3), dtype=np.uint8)

    # Act / Assert
    with pytest.raises(MaskError, match="must be a bool array, got uint8"):
        rle_from_mask(mask)


# --- rle_to_crop, rle_area, rle_bbox -------------------------------------------------------


@EXAMPLES
@given(mask=frame_masks)
def test_rle_to_crop_equals_mask_cut_to_pycocotools_bbox(mask):
    # Arrange
    rle = coco_encode(mask)
    x, y, w, h = (int(v) for v in coco_mask.toBbox(rle))

    # Act
    crop, origin = rle_to_crop(rle)

    # Assert
    if not mask.any():
        assert crop.shape == (0, 0)
        assert origin == (0, 0)
    else:
        assert origin == (x, y)
        assert crop.dtype == np.bool_
        assert np.array_equal(crop, mask[y : y + h, x : x + w])


def test_rle_to_crop_of_empty_rle_is_zero_by_zero_at_origin():
    # Arrange
    rle = coco_encode(np.zeros((4, 5), dtype=bool))

    # Act
    crop, origin = rle_to_crop(rle)

    # Assert
    assert crop.shape == (0, 0)
    assert crop.dtype == np.bool_
    assert origin == (0, 0)


def test_rle_to_crop_run_across_columns_gives_full_height_crop():
    # Arrange: a run from the bottom of column 1 to the top of column 2 (column-major).
    mask = np.zeros((4, 4), dtype=bool)
    mask[3, 1] = mask[0, 2] = True

    # Act
    crop, origin = rle_to_crop(rle_from_mask(mask))

    # Assert
    assert origin == (1, 0)
    assert np.array_equal(crop, np.array([[0, 1], [0, 0], [0, 0], [1, 0]], dtype=bool))


@EXAMPLES
@given(mask=frame_masks)
def test_rle_area_equals_pycocotools_and_pixel_count(mask):
    # Arrange
    rle = coco_encode(mask)

    # Act
    area = rle_area(rle)

    # Assert
    assert area == int(coco_mask.area(rle)) == int(mask.sum())
    assert type(area) is int


@EXAMPLES
@given(mask=frame_masks)
def test_rle_bbox_equals_pycocotools_tobbox(mask):
    # Arrange
    rle = coco_encode(mask)

    # Act
    bbox = rle_bbox(rle)

    # Assert
    assert bbox == tuple(int(v) for v in coco_mask.toBbox(rle))
    assert all(type(v) is int for v in bbox)


def test_rle_bbox_of_single_corner_pixel_is_hand_computed():
    # Arrange
    mask = np.zeros((5, 7), dtype=bool)
    mask[4, 6] = True

    # Act
    bbox = rle_bbox(rle_from_mask(mask))

    # Assert
    assert bbox == (6, 4, 1, 1)


# --- rle_from_crop and crop_to_frame -------------------------------------------------------


@st.composite
def placed_crops(draw):
    """A random crop (with holes) at an origin that may put it partly or wholly outside."""
    height, width = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    crop = draw(st.one_of(random_masks(max_side=10), blobs_with_holes(max_side=10)))
    rows, cols = crop.shape
    x = draw(st.integers(-cols - 1, width + 1))
    y = draw(st.integers(-rows - 1, height + 1))
    return crop, (x, y), height, width


@settings(max_examples=100, deadline=None)
@given(placed=placed_crops())
def test_rle_from_crop_equals_encode_of_crop_pasted_and_clipped(placed):
    # Arrange
    crop, origin, height, width = placed
    expected_frame = paste_by_pixel(crop, origin, height, width)

    # Act / Assert
    if expected_frame.any():
        assert rle_from_crop(crop, origin=origin, height=height, width=width) == coco_encode(
            expected_frame
        )
    else:
        with pytest.raises(MaskError):
            rle_from_crop(crop, origin=origin, height=height, width=width)


@pytest.mark.parametrize(
    ("origin", "expected_rows", "expected_cols"),
    [
        ((-2, 1), slice(1, 4), slice(0, 2)),  # hangs over the left edge
        ((4, 1), slice(1, 4), slice(4, 6)),  # hangs over the right edge
        ((1, -2), slice(0, 1), slice(1, 5)),  # hangs over the top edge
        ((1, 4), slice(4, 5), slice(1, 5)),  # hangs over the bottom edge
        ((-3, -2), slice(0, 1), slice(0, 1)),  # hangs over the top-left corner
        ((5, 3), slice(3, 5), slice(5, 6)),  # hangs over the bottom-right corner
    ],
)
def test_rle_from_crop_clips_crop_hanging_over_an_edge(origin, expected_rows, expected_cols):
    # Arrange: a full 3x4 crop in a 5x6 image.
    crop = np.ones((3, 4), dtype=bool)
    expected = np.zeros((5, 6), dtype=bool)
    expected[expected_rows, expected_cols] = True

    # Act
    rle = rle_from_crop(crop, origin=origin, height=5, width=6)

    # Assert
    assert rle == coco_encode(expected)


def test_rle_from_crop_equals_encode_in_a_1024_image_at_the_corner():
    # Arrange: a bubble-like disc with a hole, cut off by the bottom-right corner.
    rows, cols = np.indices((80, 90))
    distance = np.hypot(rows - 40, cols - 45)
    crop = (distance < 38) & (distance > 6)
    origin = (1024 - 60, 1024 - 50)
    expected = paste_by_pixel(crop, origin, 1024, 1024)

    # Act
    rle = rle_from_crop(crop, origin=origin, height=1024, width=1024)

    # Assert
    assert rle == coco_encode(expected)


def test_rle_from_crop_full_height_columns_join_into_one_run():
    # Arrange: two full-height columns are one column-major run.
    crop = np.ones((4, 2), dtype=bool)

    # Act
    rle = rle_from_crop(crop, origin=(1, 0), height=4, width=5)

    # Assert
    assert rle == rle_from_uncompressed([4, 8, 8], height=4, width=5)
    assert rle == coco_encode(paste_by_pixel(crop, (1, 0), 4, 5))


@st.composite
def touching_columns(draw):
    """A crop as tall as its frame, at its top, whose columns are each empty, full or
    cut: runs that leave the bottom of one column and enter the top of the next touch (the
    RLE joins them), others do not; it may reach the last pixel of the frame."""
    height, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    width = draw(st.integers(cols, cols + 3))
    crop = np.zeros((height, cols), dtype=bool)
    for c in range(cols):
        kind = draw(st.sampled_from(["empty", "full", "top", "bottom", "middle"]))
        cut = draw(st.integers(0, height))
        if kind == "full":
            crop[:, c] = True
        elif kind == "top":
            crop[:cut, c] = True
        elif kind == "bottom":
            crop[cut:, c] = True
        elif kind == "middle" and height > 2:
            crop[1:-1, c] = True
    if not crop.any():
        crop[-1, -1] = True
    return crop, draw(st.integers(0, width - cols)), height, width


@settings(max_examples=1000)
@given(touching_columns())
def test_rle_from_runs_joins_runs_exactly_where_they_touch_across_columns(case):
    # rle_from_runs keeps the run bounds as they are unless a gap between two runs is
    # empty (a run ends at the bottom of a column and the next starts at the top of the
    # next): then it joins them. Both sides, against pycocotools' own encoding.
    crop, x, height, width = case
    runs = column_runs(ringed_columns(crop))
    rle = rle_from_runs(runs, origin=(x, 0), height=height, width=width)
    assert rle == coco_encode(paste_by_pixel(crop, (x, 0), height, width))


@pytest.mark.parametrize(
    "origin",
    [(-3, 0), (6, 0), (0, -2), (0, 5), (-3, -2), (6, 5)],
    ids=["left", "right", "above", "below", "above_left", "below_right"],
)
def test_rle_from_crop_refuses_crop_entirely_outside(origin):
    # Arrange
    crop = np.ones((2, 3), dtype=bool)

    # Act / Assert
    with pytest.raises(MaskError, match="lies entirely outside the 6x5 image"):
        rle_from_crop(crop, origin=origin, height=5, width=6)


def test_rle_from_crop_refuses_empty_crop():
    # Arrange
    crop = np.zeros((3, 3), dtype=bool)

    # Act / Assert
    with pytest.raises(MaskError, match="crop is empty"):
        rle_from_crop(crop, origin=(1, 1), height=5, width=5)


def test_rle_from_crop_refuses_crop_whose_foreground_is_all_outside():
    # Arrange: the crop overlaps the image, but its only True pixel is left of it.
    crop = np.zeros((2, 3), dtype=bool)
    crop[0, 0] = True

    # Act / Assert
    with pytest.raises(MaskError, match="no foreground pixel of the crop"):
        rle_from_crop(crop, origin=(-1, 0), height=5, width=5)


def test_rle_from_crop_refuses_zero_size_crop():
    # Arrange
    crop = np.zeros((0, 3), dtype=bool)

    # Act / Assert
    with pytest.raises(MaskError):
        rle_from_crop(crop, origin=(0, 0), height=5, width=5)


def test_rle_from_crop_refuses_non_bool_crop():
    # Arrange
    crop = np.full((2, 2), 255, dtype=np.uint8)

    # Act / Assert
    with pytest.raises(MaskError, match="crop must be a bool array"):
        rle_from_crop(crop, origin=(0, 0), height=5, width=5)


@EXAMPLES
@given(placed=placed_crops())
def test_crop_to_frame_equals_paste_by_pixel(placed):
    # Arrange
    crop, origin, height, width = placed

    # Act
    frame = crop_to_frame(crop, origin, height=height, width=width)

    # Assert
    assert np.array_equal(frame, paste_by_pixel(crop, origin, height, width))


@EXAMPLES
@given(mask=frame_masks)
def test_rle_to_crop_then_rle_from_crop_round_trip(mask):
    # Arrange
    rle = coco_encode(mask)
    crop, origin = rle_to_crop(rle)
    h, w = mask.shape

    # Act / Assert
    if mask.any():
        assert rle_from_crop(crop, origin=origin, height=h, width=w) == rle
        assert np.array_equal(crop_to_frame(crop, origin, height=h, width=w), mask)


# --- rle_from_uncompressed -----------------------------------------------------------------


@EXAMPLES
@given(mask=frame_masks)
def test_rle_from_uncompressed_equals_pycocotools(mask):
    # Arrange
    h, w = mask.shape
    counts = uncompressed_counts(mask)

    # Act
    rle = rle_from_uncompressed(counts, height=h, width=w)

    # Assert
    assert rle == coco_encode(mask)
    assert rle == coco_mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)


def test_rle_from_uncompressed_drops_zero_length_runs():
    # Arrange: [0 bg, 2 fg, 0 bg, 1 fg, 3 bg, 6 fg, 0 bg] is 3 fg pixels, 3 bg, 6 fg in 3x4.
    counts = [0, 2, 0, 1, 3, 6, 0]
    mask = np.zeros((3, 4), dtype=bool).ravel(order="F")
    mask[0:3] = mask[6:12] = True

    # Act
    rle = rle_from_uncompressed(counts, height=3, width=4)

    # Assert
    assert rle == coco_encode(mask.reshape((3, 4), order="F"))


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([3, 4, 4], "sum to 11 pixels but a 4x3 image has 12"),
        ([3, 4, 6], "sum to 13 pixels but a 4x3 image has 12"),
        ([], "sum to 0 pixels"),
        ([14, -2], "negative run length"),
        ([6.0, 6.0], "whole numbers"),
    ],
)
def test_rle_from_uncompressed_refuses_bad_counts(counts, message):
    # Act / Assert
    with pytest.raises(MaskError, match=message):
        rle_from_uncompressed(counts, height=3, width=4)


# --- strings -------------------------------------------------------------------------------


@EXAMPLES
@given(mask=frame_masks)
def test_rle_string_round_trip_is_exact(mask):
    # Arrange
    h, w = mask.shape
    rle = coco_encode(mask)

    # Act
    text = rle_to_string(rle)
    back = rle_from_string(text, height=h, width=w)

    # Assert
    assert text == rle["counts"].decode("ascii")
    assert back == rle


def test_rle_from_string_makes_non_canonical_counts_canonical():
    # Arrange: pycocotools keeps the zero-length runs of an uncompressed RLE in its string.
    mask = np.zeros((3, 4), dtype=bool)
    mask[:, 0] = True
    padded = coco_mask.frPyObjects({"size": [3, 4], "counts": [0, 2, 0, 1, 9, 0]}, 3, 4)

    # Act
    rle = rle_from_string(padded["counts"].decode("ascii"), height=3, width=4)

    # Assert
    assert padded != coco_encode(mask)
    assert rle == coco_encode(mask)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ("", "sum to 0 pixels"),
        ("3", "sum to 3 pixels but a 4x3 image has 12"),
        ("<1", "sum to 13 pixels"),  # 12 background + 1 foreground
        ("4 4", "outside the COCO alphabet"),
        ("4\u00e94", "outside the COCO alphabet"),
        ("4p", "outside the COCO alphabet"),
        ("4`", "cut short"),
        ("ooooooo0", "too long"),
        ("4O", "negative run length"),
    ],
)
def test_rle_from_string_refuses_malformed_counts(counts, message):
    # Act / Assert
    with pytest.raises(MaskError, match=message):
        rle_from_string(counts, height=3, width=4)


def test_rle_to_crop_refuses_counts_not_summing_to_image():
    # Arrange
    rle = {"size": [3, 4], "counts": b"3"}

    # Act / Assert
    with pytest.raises(MaskError, match="sum to 3 pixels"):
        rle_to_crop(rle)


def test_rle_functions_refuse_uncompressed_counts():
    # Arrange
    rle = {"size": [3, 4], "counts": [12]}

    # Act / Assert
    with pytest.raises(MaskError, match="rle_from_uncompressed"):
        rle_area(rle)


# --- union, intersection, IoU --------------------------------------------------------------


@EXAMPLES
@given(masks=mask_pairs_of_one_size(count=3))
def test_rle_union_equals_pycocotools_merge_and_numpy(masks):
    # Arrange
    rles = [coco_encode(m) for m in masks]

    # Act
    union = rle_union(rles)

    # Assert
    assert union == coco_mask.merge(rles, intersect=0)
    assert union == coco_encode(masks[0] | masks[1] | masks[2])


@EXAMPLES
@given(masks=mask_pairs_of_one_size(count=3))
def test_rle_intersection_equals_pycocotools_merge_and_numpy(masks):
    # Arrange
    rles = [coco_encode(m) for m in masks]

    # Act
    intersection = rle_intersection(rles)

    # Assert
    assert intersection == coco_mask.merge(rles, intersect=1)
    assert intersection == coco_encode(masks[0] & masks[1] & masks[2])


def test_rle_union_of_one_mask_is_that_mask():
    # Arrange
    rle = coco_encode(SPECIAL_MASKS["ring_with_hole_in_corner"])

    # Act / Assert
    assert rle_union([rle]) == rle


def test_rle_union_refuses_masks_of_different_sizes():
    # Arrange
    rles = [coco_encode(np.ones((3, 4), dtype=bool)), coco_encode(np.ones((4, 3), dtype=bool))]

    # Act / Assert
    with pytest.raises(MaskError, match="one image size, got 4x3, 3x4"):
        rle_union(rles)


def test_rle_intersection_refuses_no_masks():
    # Act / Assert
    with pytest.raises(MaskError, match="at least one mask"):
        rle_intersection([])


@EXAMPLES
@given(masks=mask_pairs_of_one_size(count=5))
def test_rle_iou_equals_pycocotools_and_numpy(masks):
    # Arrange
    rles = [coco_encode(m) for m in masks]
    a, b = rles[:2], rles[2:]
    expected = np.zeros((2, 3))
    for i, j in itertools.product(range(2), range(3)):
        inter = int((masks[i] & masks[2 + j]).sum())
        union = int((masks[i] | masks[2 + j]).sum())
        expected[i, j] = inter / union if inter else 0.0

    # Act
    iou = rle_iou(a, b)

    # Assert
    assert iou.dtype == np.float64
    assert np.array_equal(iou, coco_mask.iou(a, b, [0, 0, 0]))
    assert np.array_equal(iou, expected)


def test_rle_iou_is_hand_computed_for_overlapping_squares():
    # Arrange: 2x2 squares overlapping in one pixel: 1 / 7.
    first, second = np.zeros((4, 4), dtype=bool), np.zeros((4, 4), dtype=bool)
    first[0:2, 0:2] = True
    second[1:3, 1:3] = True

    # Act
    iou = rle_iou([rle_from_mask(first)], [rle_from_mask(second)])

    # Assert
    assert iou.tolist() == [[1 / 7]]


@pytest.mark.parametrize(("n_a", "n_b"), [(0, 0), (0, 2), (3, 0)])
def test_rle_iou_with_an_empty_side_is_an_empty_matrix(n_a, n_b):
    # Arrange
    rle = coco_encode(np.ones((2, 2), dtype=bool))

    # Act
    iou = rle_iou([rle] * n_a, [rle] * n_b)

    # Assert
    assert iou.shape == (n_a, n_b)
    assert iou.dtype == np.float64


def test_rle_iou_refuses_masks_of_different_sizes():
    # Arrange
    a = [coco_encode(np.ones((3, 4), dtype=bool))]
    b = [coco_encode(np.ones((3, 5), dtype=bool))]

    # Act / Assert
    with pytest.raises(MaskError, match="one image size"):
        rle_iou(a, b)


# --- polygons ------------------------------------------------------------------------------


@st.composite
def polygon_parts(draw, height, width, min_parts=1, max_parts=3):
    """Random (possibly self-intersecting) polygons, vertices up to 3 px outside the image."""
    coordinate_x = st.floats(-3, width + 3, allow_nan=False)
    coordinate_y = st.floats(-3, height + 3, allow_nan=False)
    points = st.lists(st.tuples(coordinate_x, coordinate_y), min_size=3, max_size=8)
    parts = draw(st.lists(points, min_size=min_parts, max_size=max_parts))
    return [[v for point in part for v in point] for part in parts]


@st.composite
def polygons_with_holes(draw):
    height, width = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    exteriors = draw(polygon_parts(height, width))
    holes = draw(polygon_parts(height, width, min_parts=0, max_parts=2))
    return exteriors, holes, height, width


@EXAMPLES
@given(case=polygons_with_holes())
def test_rle_from_polygons_equals_pycocotools_reference(case):
    # Arrange: union of exteriors via frPyObjects, minus the union of holes, done densely.
    exteriors, holes, height, width = case
    expected = coco_decode(coco_mask.merge(coco_mask.frPyObjects(exteriors, height, width)))
    if holes:
        expected &= ~coco_decode(coco_mask.merge(coco_mask.frPyObjects(holes, height, width)))

    # Act
    rle = rle_from_polygons(exteriors, height=height, width=width, holes=holes)

    # Assert
    assert rle == coco_encode(expected)


@EXAMPLES
@given(case=polygons_with_holes())
def test_rle_from_polygons_without_holes_equals_pycocotools_merge(case):
    # Arrange
    exteriors, _, height, width = case

    # Act
    rle = rle_from_polygons(exteriors, height=height, width=width)

    # Assert
    assert rle == coco_mask.merge(coco_mask.frPyObjects(exteriors, height, width))


def test_rle_from_polygons_square_with_hole_is_hand_computed():
    # Arrange: COCO rasterises the square (0,0)-(6,6) to pixels 0..5 and the hole
    # (2,2)-(4,4) to pixels 2..3.
    square = [0, 0, 6, 0, 6, 6, 0, 6]
    hole = [2, 2, 4, 2, 4, 4, 2, 4]
    expected = np.zeros((8, 8), dtype=bool)
    expected[0:6, 0:6] = True
    expected[2:4, 2:4] = False

    # Act
    rle = rle_from_polygons([square], height=8, width=8, holes=[hole])

    # Assert
    assert rle_area(rle) == 32
    assert np.array_equal(rle_to_mask(rle), expected)


def test_rle_from_polygons_triangle_past_the_edge_is_clipped():
    # Arrange: a large triangle over the whole 5x5 image.
    triangle = [-5.0, -5.0, 30.0, -5.0, -5.0, 30.0]

    # Act
    rle = rle_from_polygons([triangle], height=5, width=5)

    # Assert
    assert rle == coco_encode(np.ones((5, 5), dtype=bool))


@pytest.mark.parametrize(
    ("polygons", "holes", "message"),
    [
        ([[0, 0, 4, 4]], (), "polygon part 1 has 2 point"),
        ([[0, 0, 4, 0, 4, 4], [1, 1, 2, 2]], (), "polygon part 2 has 2 point"),
        ([[0, 0, 4, 0, 4, 4]], [[1, 1, 2, 2]], "hole part 1 has 2 point"),
        ([[0, 0, 4, 0, 4]], (), "odd count of numbers"),
        ([[0, 0, 4, 0, 4, float("nan")]], (), "not a finite number"),
        ([[0, 0, 4, 0, float("inf"), 4]], (), "not a finite number"),
        ([[0, 0, 4, 0, 4, "4"]], (), "flat list of numbers"),
        ([[0, 0, 4, 0, 4, 1e12]], (), "more than 1000 pixels outside the 8x6 image"),
        ([0, 0, 4, 0, 4, 4], (), "got a flat list of numbers"),
        ([], (), "no polygon given"),
    ],
)
def test_rle_from_polygons_refuses_bad_parts(polygons, holes, message):
    # Act / Assert
    with pytest.raises(MaskError, match=message):
        rle_from_polygons(polygons, height=6, width=8, holes=holes)


# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(0, 5), (5, 0), (-1, 5), (2.5, 5), (65536, 65536)])
def test_rle_from_uncompressed_refuses_bad_image_size(height, width):
    # Act / Assert
    with pytest.raises(MaskError, match="image"):
        rle_from_uncompressed([1], height=height, width=width)
