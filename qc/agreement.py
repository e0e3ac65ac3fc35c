"""Inter-annotator agreement of instance masks (DESIGN §4): IoU, matching, PQ, boundary IoU.

Pure module: pycocotools RLE dicts, numpy arrays and frozen dataclasses in and out; no Django,
no settings. Conventions:

- An **RLE** is pycocotools' compressed dict ``{"size": [height, width], "counts": bytes}``
  (see :mod:`qc.masks`). A **bbox** is ``(x, y, w, h)`` in whole pixels, x = column, y = row.
  A **crop** is a bool array indexed ``[row, col]`` with an origin ``(x, y)``.
- Everything that depends on one instance alone (area, bbox, perimeter, boundary band) is
  computed once by :func:`instance_features` when the instance is stored and carried by
  :class:`Inst`. Comparing annotations then reads stored RLE only: IoU and boundary IoU are
  RLE intersections (pycocotools, in C, one call per class and pair of annotators) after a
  pre-filter on the stored boxes and areas, and no pixel is decoded. The consensus
  (:mod:`qc.consensus`) votes on runs too; only STAPLE decodes pixels, inside a cluster's
  bounding box.
- Sums of IoU are taken with :func:`math.fsum` (correctly rounded, so independent of order):
  swapping the two annotators gives bit-identical ``pq``, ``f1`` and ``mean_iou``.

Fast paths, each equal to its reference exactly under the condition named, which is checked
in full (tests/qc/test_agreement.py generates inputs on both sides of every guard):

- band of a mask whose bbox is under 2d + 1 pixels in either direction: the whole mask (no
  (2d + 1)² window fits, so the erosion is empty);
- band from the runs (:func:`_band_of_one_run_columns`) when every column from the first to
  the last holds exactly one run (:func:`one_run_per_column`); otherwise pixels are eroded;
- IoU 0 without reading the masks when the boxes share no pixel (:func:`iou_matrix`);
- pairs left out before any IoU is computed when the bound from boxes and areas cannot reach
  τ (:func:`_candidates`, with a 1e-9 relative slack so that rounding never drops a pair);
- no assignment solved when every row and column has at most one candidate at or above τ
  (:func:`match_pairs`, :func:`_match_candidates`): those candidates are the optimum;
- intersections recovered from the IoU and the two areas (:func:`_overlaps`): exact below
  2**31 pixels.

Perimeter (used by the style report's boundary offsets, :mod:`qc.style`): the **Crofton
contour-length estimate** from pixel transitions in four directions, not the pixel-edge
count. A boundary offset divides an area difference by a perimeter; moving a boundary of
Euclidean length ``L`` outwards by ``t`` pixels adds ``L · t`` pixels, so the perimeter must
estimate the Euclidean length without a bias that depends on the edge direction. The
pixel-edge ("crack") count measures a curve in the city-block metric and overestimates every
edge that is not axis-parallel (a disk by 4/π ≈ 1.27, so a 1 px wider annotator would read
0.79 px); the 8-connected contour through boundary-pixel centres (``cv2.arcLength``) runs
half a pixel inside the edge and overestimates diagonal steps (about +5 % on large disks).
Crofton's formula counts, for the lines of the pixel grid at 0°, 45°, 90° and 135°, how often
they cross the boundary: a straight edge of any direction reads within −5 % (axis-parallel)
and +3 % (22.5°) of its length, and a curve turning through all directions, like a bubble's
outline, is unbiased (a digital disk of radius 50 reads within 1 % of 2π·50). Edges on the
image frame are not counted: nobody can draw past the frame, so they do not move with an
annotator's style. (The boundary *band* of boundary IoU, by contrast, follows the published
definition, where the frame does count as boundary.)
"""

from __future__ import annotations

import functools
import math
import typing
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.optimize import linear_sum_assignment

from qc.masks import ColumnRuns, MaskError, column_runs, ringed_columns, rle_from_runs, rle_to_crop

__all__ = [
    "ClassResult",
    "ImageAgreement",
    "Inst",
    "InstanceFeatures",
    "Match",
    "Mismatch",
    "Overlap",
    "PairComparison",
    "PairResult",
    "Pooled",
    "bootstrap_pq_interval",
    "boundary_band",
    "boundary_width",
    "compare_image",
    "compare_pair",
    "crofton_from_counts",
    "crofton_perimeter",
    "features_from_crop",
    "instance_features",
    "iou_matrix",
    "match_pairs",
    "measure_crop",
    "one_run_per_column",
    "pair_ious",
    "pool",
]

Rle = Mapping[str, Any]

# 2 % of the image diagonal (DESIGN §4.4), when the project sets no boundary_px.
_BOUNDARY_FRACTION = 0.02
# Crofton weights for 4 directions: P ≈ (π/8) · (n_0 + n_90 + (n_45 + n_135) / √2).
_CROFTON_AXIS = math.pi / 8.0
_CROFTON_DIAGONAL = math.pi / 8.0 / math.sqrt(2.0)
_SQUARE_3X3 = np.ones((3, 3), dtype=np.uint8)


# --- per-instance features (computed once, when an instance is stored) --------------------


def boundary_width(*, height: int, width: int, boundary_px: int | None) -> int:
    """Boundary band width ``d`` in pixels for an image of ``height`` × ``width`` pixels.

    ``boundary_px`` when the project sets it (must be ≥ 1), otherwise
    ``max(1, floor(0.02 · diagonal + 0.5))`` — 2 % of the diagonal, rounded half up
    (DESIGN §4.4; 1024 × 1024 gives 29).
    """
    if boundary_px is not None:
        if boundary_px < 1:
            raise ValueError(f"boundary_px must be at least 1, got {boundary_px}")
        return int(boundary_px)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be at least 1x1, got {width}x{height}")
    diagonal = math.hypot(height, width)
    return max(1, math.floor(_BOUNDARY_FRACTION * diagonal + 0.5))


@dataclass(frozen=True)
class InstanceFeatures:
    """What agreement needs of one instance, computed once when it is stored.

    ``area`` in pixels (> 0); ``bbox`` ``(x, y, w, h)`` tight around the mask; ``perimeter``
    the Crofton contour length in pixels, frame edges excluded (see the module docstring);
    ``boundary_rle`` the boundary band of width ``d`` (DESIGN §4.4), an RLE of the same image
    size, never empty for a non-empty mask.
    """

    area: int
    bbox: tuple[int, int, int, int]
    perimeter: float
    boundary_rle: dict[str, Any]


def instance_features(rle: Rle, *, boundary_px: int) -> InstanceFeatures:
    """Features of one stored instance mask ``rle`` for band width ``boundary_px`` = ``d``.

    ``d`` is the value :func:`boundary_width` gives for the image. Decodes the mask into its
    bbox crop only (never the full frame). Raises :class:`qc.masks.MaskError` for an empty or
    malformed mask.
    """
    height, width = (int(v) for v in rle["size"])
    crop, origin = rle_to_crop(dict(rle))
    if crop.size == 0:
        raise MaskError("an instance mask must not be empty")
    return features_from_crop(
        crop, origin=origin, height=height, width=width, boundary_px=boundary_px
    )


def features_from_crop(
    crop: np.ndarray,
    *,
    origin: tuple[int, int],
    height: int,
    width: int,
    boundary_px: int,
) -> InstanceFeatures:
    """:func:`instance_features` for a mask already held as a crop (e.g. just rasterised).

    ``crop`` is bool ``[row, col]`` at ``origin`` ``(x, y)``, entirely inside the
    ``height`` × ``width`` image, with at least one True pixel; it need not be tight.
    """
    return _measure(crop, origin, height, width, boundary_px, with_rle=False)[1]


def measure_crop(
    crop: np.ndarray,
    *,
    origin: tuple[int, int],
    height: int,
    width: int,
    boundary_px: int,
) -> tuple[dict[str, Any], InstanceFeatures]:
    """The mask's RLE (:func:`qc.masks.rle_from_crop`) and its features
    (:func:`features_from_crop`) in one go: what storing a decoded bitmap needs.

    Both read one column-major copy of the crop (:func:`qc.masks.ringed_columns`): the
    mask's runs give the RLE, the area, the bbox and, for a mask narrower than 2d + 1 or
    with one run down each column, the band (else an erosion of the copy does); its
    neighbour pairs give the perimeter. Same input rules as :func:`features_from_crop`.
    """
    rle, features = _measure(crop, origin, height, width, boundary_px, with_rle=True)
    return typing.cast(dict[str, Any], rle), features


def _measure(
    crop: np.ndarray,
    origin: tuple[int, int],
    height: int,
    width: int,
    boundary_px: int,
    *,
    with_rle: bool,
) -> tuple[dict[str, Any] | None, InstanceFeatures]:
    """The mask's RLE (when ``with_rle``, else None) and its features."""
    crop = np.asarray(crop, dtype=bool)
    x, y = origin
    rows, cols = crop.shape
    if x < 0 or y < 0 or x + cols > width or y + rows > height:
        raise MaskError("the crop must lie inside the image")
    ringed = ringed_columns(crop)
    runs = column_runs(ringed)
    col, first, stop = runs
    if col.size == 0:
        raise MaskError("an instance mask must not be empty")
    top, bottom = int(first.min()), int(stop.max())
    bbox = (x + int(col[0]), y + top, int(col[-1] - col[0]) + 1, bottom - top)
    rle = rle_from_runs(runs, origin=origin, height=height, width=width) if with_rle else None
    side = 2 * boundary_px + 1
    if bbox[2] < side or bbox[3] < side:
        # No (2d + 1)² window fits in the mask, so its erosion is empty: the band is the
        # whole mask. Common (every instance under 2d + 1 pixels across) and exact.
        band = (
            rle
            if rle is not None
            else rle_from_runs(runs, origin=origin, height=height, width=width)
        )
    else:
        if one_run_per_column(col):
            band_runs = _band_of_one_run_columns(runs, boundary_px)
        else:
            band_runs = column_runs(ringed - _erode(ringed, boundary_px))
        band = rle_from_runs(band_runs, origin=origin, height=height, width=width)
    features = InstanceFeatures(
        area=int((stop - first).sum()),
        bbox=bbox,
        # The ringed layout is the transpose: its rows are the image's columns.
        perimeter=_crofton_of_ringed(
            ringed,
            origin=(y, x),
            height=width,
            width=height,
            along_axis1=_vertical_transitions(first, stop, y=y, rows=rows, height=height),
        ),
        boundary_rle=band,
    )
    return rle, features


def _vertical_transitions(
    first: np.ndarray, stop: np.ndarray, *, y: int, rows: int, height: int
) -> int:
    """Mask/background neighbours down the image columns, both inside the image, from the
    column runs of a crop at row ``y``: each run has one at its top and one below its end,
    except where that neighbour would lie past the top or bottom edge of the frame."""
    count = 2 * int(first.size)
    if y == 0:
        count -= int(np.count_nonzero(first == 0))
    if y + rows == height:
        count -= int(np.count_nonzero(stop == rows))
    return count


def one_run_per_column(col: np.ndarray) -> bool:
    """Does every crop column from the first run's to the last run's hold exactly one run?

    ``col`` is the column of each run, in column-major order (:func:`qc.masks.column_runs`).
    True exactly when consecutive runs lie in consecutive columns: a step of 0 is a column
    with two runs, a step of more than 1 skips an empty column. (Comparing the number of
    runs with the column span is not enough: an empty column and a column of two runs
    balance out.)
    """
    return bool(col.size) and bool((np.diff(col) == 1).all())


def _band_of_one_run_columns(runs: ColumnRuns, boundary_px: int) -> ColumnRuns:
    """The band's runs worked out from the mask's runs, for a mask with exactly one run
    down every column from its first to its last (:func:`one_run_per_column`: a bubble, a
    cell, any shape convex down its columns) that is at least 2d + 1 columns wide. Equal to
    the published band exactly under that condition, which the caller checks in full; on
    any other mask the result is wrong (two runs of one column would be taken for two
    columns).

    The (2d + 1)² erosion is a vertical erosion then a horizontal one: each run shrinks by
    d at both ends, and a pixel then stays when the shrunk runs of the d columns on either
    side all hold its row, i.e. the eroded column is the intersection of 2d + 1 shrunk runs
    (empty near the first and last columns). The band keeps what the erosion removes: the
    whole run, or its two ends. The same runs as eroding the pixels, at a fraction of the
    cost.
    """
    col, first, stop = runs
    count = col.size
    window = 2 * boundary_px + 1
    # Centred running max / min over 2d + 1 columns; within d of either end the window
    # reaches past the mask's columns, where nothing is left.
    kept_top = maximum_filter1d(first + boundary_px, window)
    kept_bottom = minimum_filter1d(stop - boundary_px, window)
    kept_top[:boundary_px] = kept_top[count - boundary_px :] = np.iinfo(np.int64).max
    split = kept_top < kept_bottom  # columns whose middle survives: two band runs
    # Column k's first band run goes at k plus the number of split columns before it.
    at = np.arange(count) + np.cumsum(split) - split
    size = count + int(np.count_nonzero(split))
    band_col = np.empty(size, dtype=np.int64)
    band_first = np.empty(size, dtype=np.int64)
    band_stop = np.empty(size, dtype=np.int64)
    band_col[at], band_first[at] = col, first
    band_stop[at] = np.where(split, kept_top, stop)
    second = at[split] + 1
    band_col[second], band_first[second], band_stop[second] = (
        col[split],
        kept_bottom[split],
        stop[split],
    )
    return band_col, band_first, band_stop


@functools.lru_cache(maxsize=64)
def _square(side: int) -> np.ndarray:
    return np.ones((side, side), dtype=np.uint8)


def _erode(ringed: np.ndarray, boundary_px: int) -> np.ndarray:
    """Erosion of a crop inside its background ring by a (2d + 1)² square: ``d`` rounds of
    the 3 × 3 erosion of :func:`boundary_band` in one pass (squares compose). The ring
    erodes the crop's edge as the zero padding of the frame does; outside the ring OpenCV's
    default border never erodes."""
    if boundary_px < 1:
        raise ValueError(f"boundary_px must be at least 1, got {boundary_px}")
    return cv2.erode(ringed, _square(2 * int(boundary_px) + 1))


def boundary_band(crop: np.ndarray, *, boundary_px: int) -> np.ndarray:
    """Boundary band of a bbox-tight bool crop: the mask minus its erosion (DESIGN §4.4).

    Erosion by a 3 × 3 square, ``boundary_px`` iterations, with everything outside the crop
    taken as background -- which is the published definition's zero padding of the frame
    (Cheng et al. 2021), since a tight crop has only background (or the frame) around it.
    One pixel of zero padding suffices: the padding ring stays background through every
    iteration and eats one more pixel each time, exactly as the full-frame code's ring does,
    so no wider (``d + 1``) padding is needed. Returns a bool array of the crop's shape.
    """
    if boundary_px < 1:
        raise ValueError(f"boundary_px must be at least 1, got {boundary_px}")
    padded = np.zeros((crop.shape[0] + 2, crop.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = crop
    eroded = cv2.erode(padded, _SQUARE_3X3, iterations=int(boundary_px))[1:-1, 1:-1]
    return crop & (eroded == 0)


def crofton_perimeter(
    crop: np.ndarray, *, origin: tuple[int, int], height: int, width: int
) -> float:
    """Crofton estimate of the contour length (pixels) of the mask held in ``crop``.

    ``P = (π/8) · (n_h + n_v + (n_d + n_a) / √2)`` where ``n_*`` count neighbouring pixel
    pairs (horizontal, vertical, diagonal, anti-diagonal) with one pixel inside the mask and
    one outside, both inside the image: transitions across the image frame are not counted.
    Hole boundaries count. See the module docstring for why this estimate, and its accuracy.
    """
    rows, cols = crop.shape
    padded = np.zeros((rows + 2, cols + 2), dtype=bool)
    padded[1:-1, 1:-1] = crop
    return _crofton_of_ringed(padded, origin=origin, height=height, width=width)


def _crofton_of_ringed(
    ringed: np.ndarray,
    *,
    origin: tuple[int, int],
    height: int,
    width: int,
    along_axis1: int | None = None,
) -> float:
    """:func:`crofton_perimeter` of the crop inside ``ringed`` (a one-pixel background ring
    around it; bool or 0/1) at ``origin`` (x, y) = (axis 1, axis 0) in a ``height`` (axis 0)
    × ``width`` (axis 1) frame. The count is the same for the transpose, so the column-major
    layout of :func:`qc.masks.ringed_columns` can be passed with the frame transposed.
    ``along_axis1``: the transitions between neighbours along axis 1, when the caller has
    counted them already (from the runs)."""
    x, y = origin
    rows, cols = ringed.shape[0] - 2, ringed.shape[1] - 2
    # Padded rows / columns [r0, r1) x [c0, c1) lie inside the image (the ring may not);
    # a pair counts when both its pixels are inside, so slicing drops the others.
    r0, r1 = int(y == 0), rows + 2 - int(y + rows == height)
    c0, c1 = int(x == 0), cols + 2 - int(x + cols == width)
    inside = ringed[r0:r1, c0:c1]
    if along_axis1 is None:
        along_axis1 = np.count_nonzero(inside[:, 1:] ^ inside[:, :-1])
    vertical = np.count_nonzero(inside[1:, :] ^ inside[:-1, :])
    diagonal = np.count_nonzero(inside[1:, 1:] ^ inside[:-1, :-1])
    anti = np.count_nonzero(inside[1:, :-1] ^ inside[:-1, 1:])
    # Whole-number counts in Python floats: the float64 result of crofton_from_counts.
    return _CROFTON_AXIS * (along_axis1 + vertical) + _CROFTON_DIAGONAL * (diagonal + anti)


def crofton_from_counts(horizontal: Any, vertical: Any, diagonal: Any, anti: Any) -> Any:
    """Crofton perimeter from transition counts (numbers or arrays of whole numbers):
    ``(π/8) · (n_h + n_v) + (π/(8√2)) · (n_d + n_a)``."""
    return _CROFTON_AXIS * (np.asarray(horizontal, dtype=np.float64) + vertical) + (
        _CROFTON_DIAGONAL * (np.asarray(diagonal, dtype=np.float64) + anti)
    )


@dataclass(frozen=True, eq=False)
class Inst:
    """One stored instance as agreement reads it: the caller's ``key``, class ``label`` and
    mask ``rle``, plus the :class:`InstanceFeatures` computed when it was stored.

    ``key`` is unique among one annotator's instances of one image (e.g. the database id);
    ``label`` is any hashable class identifier; ``boundary_rle`` may be ``None`` when boundary
    IoU is not wanted (``compare_pair(..., with_boundary=False)``). Compared by identity.
    """

    key: Hashable
    label: Hashable
    rle: Rle
    area: int
    bbox: tuple[int, int, int, int]
    perimeter: float
    boundary_rle: Rle | None = None

    @classmethod
    def from_rle(cls, key: Hashable, label: Hashable, rle: Rle, *, boundary_px: int) -> Inst:
        """Build an instance, computing its features (store-time work) from ``rle``."""
        features = instance_features(rle, boundary_px=boundary_px)
        return cls.from_features(key, label, rle, features)

    @classmethod
    def from_features(
        cls, key: Hashable, label: Hashable, rle: Rle, features: InstanceFeatures
    ) -> Inst:
        """Build an instance from stored features."""
        return cls(
            key=key,
            label=label,
            rle=rle,
            area=features.area,
            bbox=features.bbox,
            perimeter=features.perimeter,
            boundary_rle=features.boundary_rle,
        )


# --- IoU and matching -------------------------------------------------------------------------


def _bbox_array(insts: Sequence[Inst]) -> np.ndarray:
    """``[n, 4]`` int64 of (x0, y0, x1, y1) with exclusive x1, y1."""
    boxes = np.array([inst.bbox for inst in insts], dtype=np.int64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def _boxes_overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bool ``[len(a), len(b)]``: do the pixel boxes share at least one pixel?"""
    return (
        (a[:, None, 0] < b[None, :, 2])
        & (b[None, :, 0] < a[:, None, 2])
        & (a[:, None, 1] < b[None, :, 3])
        & (b[None, :, 1] < a[:, None, 3])
    )


def iou_matrix(
    a_rles: Sequence[Rle],
    b_rles: Sequence[Rle],
    a_boxes: np.ndarray,
    b_boxes: np.ndarray,
) -> np.ndarray:
    """IoU ``[len(a), len(b)]`` float64 of two lists of RLEs of one image size.

    ``a_boxes``/``b_boxes`` are ``[n, 4]`` (x0, y0, x1, y1) with exclusive ends (the stored
    bboxes). Pairs whose boxes share no pixel have no common pixel, so they are 0 without
    looking at the masks; the rest go to one pycocotools ``iou`` call (``iscrowd = 0``: exact
    ``|a ∩ b| / |a ∪ b|`` in double precision).
    """
    out = np.zeros((len(a_rles), len(b_rles)), dtype=np.float64)
    if out.size == 0:
        return out
    overlap = _boxes_overlap(a_boxes, b_boxes)
    rows = np.flatnonzero(overlap.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(overlap.any(axis=0))
    sub = coco_mask.iou([a_rles[i] for i in rows], [b_rles[j] for j in cols], [0] * int(cols.size))
    out[np.ix_(rows, cols)] = sub
    return out


def match_pairs(iou: np.ndarray, *, threshold: float) -> list[tuple[int, int]]:
    """The matching of DESIGN §4.2 on an IoU matrix: ``[(row, col), ...]`` sorted by row.

    The one-to-one assignment maximising the sum of IoU over pairs with ``IoU ≥ threshold``:
    Hungarian (scipy ``linear_sum_assignment``) on cost ``1 − IoU``, cost 1 below the
    threshold, then assigned pairs below the threshold are dropped. Rows and columns with no
    pair at or above the threshold cost 1 against everything, so they are left out of the
    assignment (the optimum is unchanged); when no row or column has two candidates the
    candidates are the matching and no assignment is solved at all.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the match threshold must be in (0, 1], got {threshold}")
    candidate = iou >= threshold
    if not candidate.any():
        return []
    rows = np.flatnonzero(candidate.any(axis=1))
    cols = np.flatnonzero(candidate.any(axis=0))
    sub = candidate[np.ix_(rows, cols)]
    if (sub.sum(axis=1) == 1).all() and (sub.sum(axis=0) == 1).all():
        r, c = np.nonzero(sub)
    else:
        cost = np.where(sub, 1.0 - iou[np.ix_(rows, cols)], 1.0)
        r, c = linear_sum_assignment(cost)
        keep = sub[r, c]
        r, c = r[keep], c[keep]
    order = np.argsort(rows[r], kind="stable")
    return [(int(rows[r[k]]), int(cols[c[k]])) for k in order]


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Two instances of one class matched (IoU ≥ τ). ``dice = 2·IoU / (1 + IoU)``;
    ``boundary_iou`` is ``None`` when boundary IoU was not computed."""

    a_key: Hashable
    b_key: Hashable
    label: Hashable
    iou: float
    dice: float
    boundary_iou: float | None


@dataclass(frozen=True)
class Mismatch:
    """Two instances left unmatched in their classes but matched across classes (IoU ≥ the
    project τ): a ``label_mismatch``. Both count as unmatched in the metrics."""

    a_key: Hashable
    b_key: Hashable
    a_label: Hashable
    b_label: Hashable
    iou: float


@dataclass(frozen=True)
class Overlap:
    """A same-class pair whose ``intersection`` (pixels) is at least half of the smaller
    instance, with its ``iou``. Collected only with ``compare_pair(..., keep_overlaps=True)``,
    for merges and splits."""

    a_key: Hashable
    b_key: Hashable
    label: Hashable
    iou: float
    intersection: int


@dataclass(frozen=True)
class ClassResult:
    """Metrics of one class for one pair of annotators (DESIGN §4.3–4.4).

    ``n_a``/``n_b`` instances of the class; ``matched`` = TP; ``unmatched_* = n_* − TP``
    (including instances in a label mismatch); ``label_mismatch`` counts mismatch pairs with
    this class on either side. ``mean_iou`` and ``boundary_iou`` are ``None`` when TP = 0
    (``boundary_iou`` also when it was not computed). ``f1 = 2·TP / (n_a + n_b)``,
    ``pq = iou_sum / (TP + ½·unmatched_a + ½·unmatched_b)``; both 1.0 when the class is empty
    on both sides (which happens only in pooled results).
    """

    label: Hashable
    n_a: int
    n_b: int
    matched: int
    unmatched_a: int
    unmatched_b: int
    label_mismatch: int
    iou_sum: float
    boundary_iou_sum: float | None
    mean_iou: float | None
    f1: float
    pq: float
    boundary_iou: float | None


@dataclass(frozen=True)
class PairResult:
    """Agreement of two annotators on one image, micro-pooled over classes (DESIGN §4.5).

    Counts and IoU sums are the sums of the per-class values; metrics as in
    :class:`ClassResult`. Both annotations empty: ``pq = f1 = 1``, ``mean_iou`` ``None``.
    ``matches`` sorted by position in ``a``; ``mismatches`` likewise; ``per_class`` in order
    of first appearance of the label in ``a`` then ``b``.
    """

    n_a: int
    n_b: int
    matched: int
    unmatched_a: int
    unmatched_b: int
    label_mismatch: int
    iou_sum: float
    boundary_iou_sum: float | None
    mean_iou: float | None
    f1: float
    pq: float
    boundary_iou: float | None
    per_class: tuple[ClassResult, ...]
    matches: tuple[Match, ...]
    mismatches: tuple[Mismatch, ...]
    overlaps: tuple[Overlap, ...] = field(default=(), repr=False)

    def for_class(self, label: Hashable) -> ClassResult | None:
        """The :class:`ClassResult` of ``label``, or ``None`` when neither side has it."""
        for result in self.per_class:
            if result.label == label:
                return result
        return None


def _metrics(
    n_a: int, n_b: int, matched: int, iou_sum: float, boundary_sum: float | None
) -> tuple[float | None, float, float, float | None]:
    """(mean_iou, f1, pq, boundary_iou) from pooled counts, by DESIGN §4.4–4.5."""
    total = n_a + n_b
    if total == 0:
        return None, 1.0, 1.0, None
    mean_iou = iou_sum / matched if matched else None
    boundary = boundary_sum / matched if matched and boundary_sum is not None else None
    # TP + ½·(n_a − TP) + ½·(n_b − TP) = ½·(n_a + n_b)
    return mean_iou, 2.0 * matched / total, iou_sum / (0.5 * total), boundary


def _class_result(
    label: Hashable,
    n_a: int,
    n_b: int,
    ious: list[float],
    boundaries: list[float] | None,
    label_mismatch: int,
) -> ClassResult:
    matched = len(ious)
    iou_sum = math.fsum(ious)
    boundary_sum = math.fsum(boundaries) if boundaries is not None else None
    mean_iou, f1, pq, boundary = _metrics(n_a, n_b, matched, iou_sum, boundary_sum)
    return ClassResult(
        label=label,
        n_a=n_a,
        n_b=n_b,
        matched=matched,
        unmatched_a=n_a - matched,
        unmatched_b=n_b - matched,
        label_mismatch=label_mismatch,
        iou_sum=iou_sum,
        boundary_iou_sum=boundary_sum,
        mean_iou=mean_iou,
        f1=f1,
        pq=pq,
        boundary_iou=boundary,
    )


def _frame_of(insts: Iterable[Inst]) -> tuple[int, int] | None:
    frames = {(inst.rle["size"][0], inst.rle["size"][1]) for inst in insts}
    if len(frames) > 1:
        raise MaskError(f"instances of one comparison must share one image size, got {frames}")
    if not frames:
        return None
    height, width = frames.pop()
    return int(height), int(width)


class _Side:
    """One annotator's instances prepared for comparisons (arrays built once per image)."""

    __slots__ = ("areas", "boxes", "by_label", "frame", "insts", "keys", "labels", "rles")

    def __init__(self, insts: Sequence[Inst]) -> None:
        self.insts = list(insts)
        self.frame = _frame_of(self.insts)
        self.keys = [inst.key for inst in self.insts]
        self.labels = [inst.label for inst in self.insts]
        self.rles = [inst.rle for inst in self.insts]
        self.boxes = _bbox_array(self.insts)
        self.areas = np.array([inst.area for inst in self.insts], dtype=np.int64)
        by_label: dict[Hashable, list[int]] = {}
        for i, label in enumerate(self.labels):
            by_label.setdefault(label, []).append(i)
        self.by_label = {label: np.array(ix, dtype=np.intp) for label, ix in by_label.items()}


def _box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels shared by the boxes, ``[len(a), len(b)]`` int64 (boxes x0, y0, x1, y1)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.maximum(w, 0) * np.maximum(h, 0)


def _candidates(
    a: _Side, b: _Side, ia: np.ndarray, ib: np.ndarray, tau: float, overlaps: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(rows, cols)`` (into ``ia``, ``ib``) whose IoU may reach ``tau`` -- or, with
    ``overlaps``, whose intersection may reach half of the smaller instance.

    Bounds from the stored boxes and areas: ``I ≤ I_max = min(|a|, |b|, |box_a ∩ box_b|)``
    and IoU increases with I, so ``IoU ≤ I_max / (|a| + |b| − I_max)``. The test keeps a
    relative slack of 1e-9 so that a pair whose IoU rounds to exactly ``tau`` (say 7000 /
    10000 against 0.7) is never left out; a few extra candidates cost nothing.
    """
    box = _box_intersection(a.boxes[ia], b.boxes[ib])
    area_a, area_b = a.areas[ia][:, None], b.areas[ib][None, :]
    smaller = np.minimum(area_a, area_b)
    most = np.minimum(smaller, box)
    keep = most >= tau * (1.0 - 1e-9) * (area_a + area_b - most)
    if overlaps:
        keep |= (box > 0) & (2 * box >= smaller)
    return np.nonzero(keep)


def pair_ious(
    a_rles: Sequence[Rle], b_rles: Sequence[Rle], rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """IoU of ``a_rles[rows[k]]`` with ``b_rles[cols[k]]`` for each k (float64), exact.

    One pycocotools ``iou`` call over the distinct rows and columns: it computes every
    box-overlapping pair of that sub-matrix, which costs less than one call per pair (a
    call's fixed cost, ~40 µs, is worth a dozen pair intersections).
    """
    rows, cols = np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)
    if rows.size == 0:
        return np.zeros(0, dtype=np.float64)
    unique_rows, row_of = np.unique(rows, return_inverse=True)
    unique_cols, col_of = np.unique(cols, return_inverse=True)
    matrix = coco_mask.iou(
        [a_rles[i] for i in unique_rows.tolist()],
        [b_rles[j] for j in unique_cols.tolist()],
        [0] * int(unique_cols.size),
    )
    matrix = np.asarray(matrix, dtype=np.float64).reshape(unique_rows.size, unique_cols.size)
    return matrix[row_of, col_of]


def _match_candidates(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, tau: float, shape: tuple[int, int]
) -> list[tuple[int, int, float]]:
    """:func:`match_pairs` on a sparse IoU matrix given by its computed entries.

    When no row or column has two entries at or above ``tau`` those entries are the
    matching; otherwise the dense matrix goes to :func:`match_pairs`.
    """
    hit = values >= tau
    r, c, v = rows[hit].tolist(), cols[hit].tolist(), values[hit].tolist()
    if len(set(r)) == len(r) and len(set(c)) == len(c):
        return list(zip(r, c, v, strict=True))
    dense = np.zeros(shape, dtype=np.float64)
    dense[rows, cols] = values
    return [(i, j, float(dense[i, j])) for i, j in match_pairs(dense, threshold=tau)]


def compare_pair(
    a: Sequence[Inst],
    b: Sequence[Inst],
    *,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float] | None = None,
    with_boundary: bool = True,
    keep_overlaps: bool = False,
) -> PairResult:
    """Compare annotator a's instances ``a`` with annotator b's ``b`` on one image.

    ``match_iou`` is the project τ, ``class_match_iou`` per-label overrides (DESIGN §4.2).
    Per class, the IoU of every pair that may reach τ (a bound from the stored boxes and
    areas, see :func:`_candidates`; the others are below τ and cannot match) is computed
    exactly on the RLEs (:func:`pair_ious`), then :func:`match_pairs`. Instances left
    unmatched are then matched across classes with τ = ``match_iou``: those pairs are
    ``label_mismatch`` and stay unmatched in the metrics. ``with_boundary``: IoU of the
    stored boundary bands of each matched pair (needs ``boundary_rle`` on each).
    ``keep_overlaps``: also return the same-class pairs whose intersection is at least half
    of the smaller instance (what merges and splits look at). All instances must belong to
    one image (same RLE size); keys must be unique per side.
    """
    side_a, side_b = _Side(a), _Side(b)
    if side_a.frame and side_b.frame and side_a.frame != side_b.frame:
        raise MaskError("instances of one comparison must share one image size")
    return _compare(
        side_a,
        side_b,
        match_iou=match_iou,
        class_match_iou=class_match_iou,
        with_boundary=with_boundary,
        keep_overlaps=keep_overlaps,
    )


def _compare(
    a: _Side,
    b: _Side,
    *,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float] | None,
    with_boundary: bool,
    keep_overlaps: bool,
) -> PairResult:
    thresholds = class_match_iou or {}
    labels = list(a.by_label) + [label for label in b.by_label if label not in a.by_label]
    found: list[tuple[int, int, float]] = []  # (i, j, IoU) of same-class matches
    overlaps: list[Overlap] = []
    for label in labels:
        ia, ib = a.by_label.get(label), b.by_label.get(label)
        if ia is None or ib is None:
            continue
        tau = float(thresholds.get(label, match_iou))
        if not 0.0 < tau <= 1.0:
            raise ValueError(f"the match threshold must be in (0, 1], got {tau}")
        rows, cols = _candidates(a, b, ia, ib, tau, keep_overlaps)
        if rows.size == 0:
            continue
        gi, gj = ia[rows], ib[cols]
        values = pair_ious(a.rles, b.rles, gi, gj)
        ia_list, ib_list = ia.tolist(), ib.tolist()
        found += [
            (ia_list[r], ib_list[c], value)
            for r, c, value in _match_candidates(rows, cols, values, tau, (ia.size, ib.size))
        ]
        if keep_overlaps:
            overlaps += _overlaps(a, b, gi, gj, values, label)
    found.sort()

    mismatches: list[Mismatch] = []
    if len(labels) > 1:
        a_left = np.ones(len(a.insts), dtype=bool)
        b_left = np.ones(len(b.insts), dtype=bool)
        a_left[[i for i, _, _ in found]] = False
        b_left[[j for _, j, _ in found]] = False
        mismatches = _cross_class(a, b, a_left, b_left, match_iou)
    matched_i = [i for i, _, _ in found]
    matched_j = [j for _, j, _ in found]
    matched_iou = [value for _, _, value in found]

    boundaries: list[float] | None = None
    if with_boundary:
        boundaries = _boundary_ious(a, b, matched_i, matched_j)

    by_label_ious: dict[Hashable, list[float]] = {label: [] for label in labels}
    by_label_bounds: dict[Hashable, list[float]] = {label: [] for label in labels}
    matches = []
    for k, (i, j, value) in enumerate(zip(matched_i, matched_j, matched_iou, strict=True)):
        label = a.labels[i]
        boundary = boundaries[k] if boundaries is not None else None
        by_label_ious[label].append(value)
        if boundary is not None:
            by_label_bounds[label].append(boundary)
        matches.append(
            Match(a.keys[i], b.keys[j], label, value, 2.0 * value / (1.0 + value), boundary)
        )
    mismatch_count: dict[Hashable, int] = dict.fromkeys(labels, 0)
    for m in mismatches:
        mismatch_count[m.a_label] += 1
        mismatch_count[m.b_label] += 1
    empty = np.zeros(0, dtype=np.intp)
    per_class = tuple(
        _class_result(
            label,
            a.by_label.get(label, empty).size,
            b.by_label.get(label, empty).size,
            by_label_ious[label],
            by_label_bounds[label] if with_boundary else None,
            mismatch_count[label],
        )
        for label in labels
    )

    n_a, n_b, matched = len(a.insts), len(b.insts), len(matched_i)
    iou_sum = math.fsum(matched_iou)
    boundary_sum = math.fsum(boundaries) if boundaries is not None else None
    mean_iou, f1, pq, boundary = _metrics(n_a, n_b, matched, iou_sum, boundary_sum)
    return PairResult(
        n_a=n_a,
        n_b=n_b,
        matched=matched,
        unmatched_a=n_a - matched,
        unmatched_b=n_b - matched,
        label_mismatch=len(mismatches),
        iou_sum=iou_sum,
        boundary_iou_sum=boundary_sum,
        mean_iou=mean_iou,
        f1=f1,
        pq=pq,
        boundary_iou=boundary,
        per_class=per_class,
        matches=tuple(matches),
        mismatches=tuple(mismatches),
        overlaps=tuple(overlaps),
    )


def _overlaps(
    a: _Side, b: _Side, gi: np.ndarray, gj: np.ndarray, values: np.ndarray, label: Hashable
) -> list[Overlap]:
    """The computed pairs whose intersection is at least half of the smaller instance."""
    # |a ∩ b| = IoU · (|a| + |b|) / (1 + IoU), exact after rounding (< 2**31 px).
    area_a, area_b = a.areas[gi], b.areas[gj]
    inter = np.rint(values * (area_a + area_b) / (1.0 + values)).astype(np.int64)
    keep = (2 * inter >= np.minimum(area_a, area_b)) & (inter > 0)
    return [
        Overlap(a.keys[i], b.keys[j], label, v, n)
        for i, j, v, n in zip(
            gi[keep].tolist(),
            gj[keep].tolist(),
            values[keep].tolist(),
            inter[keep].tolist(),
            strict=True,
        )
    ]


def _cross_class(
    a: _Side, b: _Side, a_left: np.ndarray, b_left: np.ndarray, match_iou: float
) -> list[Mismatch]:
    """Second pass of DESIGN §4.2: match leftovers of different classes."""
    ia, ib = np.flatnonzero(a_left), np.flatnonzero(b_left)
    if ia.size == 0 or ib.size == 0:
        return []
    rows, cols = _candidates(a, b, ia, ib, match_iou, False)
    # Same-class leftovers are below their class τ already; only other classes may pair up.
    other = [a.labels[ia[r]] != b.labels[ib[c]] for r, c in zip(rows, cols, strict=True)]
    rows, cols = rows[other], cols[other]
    if rows.size == 0:
        return []
    values = pair_ious(a.rles, b.rles, ia[rows], ib[cols])
    return [
        Mismatch(a.keys[ia[r]], b.keys[ib[c]], a.labels[ia[r]], b.labels[ib[c]], value)
        for r, c, value in _match_candidates(rows, cols, values, match_iou, (ia.size, ib.size))
    ]


def _boundary_ious(a: _Side, b: _Side, matched_i: list[int], matched_j: list[int]) -> list[float]:
    """IoU of the stored boundary bands of each matched pair, in the given order."""
    if not matched_i:
        return []
    a_bands = [a.insts[i].boundary_rle for i in matched_i]
    b_bands = [b.insts[j].boundary_rle for j in matched_j]
    if any(band is None for band in a_bands) or any(band is None for band in b_bands):
        raise ValueError("boundary IoU needs boundary_rle on every matched instance")
    # One call; the matched pairs are its diagonal (pycocotools skips box-disjoint pairs).
    matrix = coco_mask.iou(a_bands, b_bands, [0] * len(b_bands))
    return np.asarray(matrix, dtype=np.float64).reshape(len(a_bands), -1).diagonal().tolist()


# --- aggregates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooled:
    """Counts and IoU sums pooled over many pair results (micro average, DESIGN §4.7).

    ``pq = iou_sum / (½ · (n_a + n_b))`` and ``f1 = 2·matched / (n_a + n_b)``: 1.0 when every
    pooled pair was empty on both sides, ``None`` when there were no pairs. ``mean_iou`` is
    ``None`` without matches; ``boundary_iou`` pools only pairs compared with boundaries.
    """

    pairs: int
    n_a: int
    n_b: int
    matched: int
    label_mismatch: int
    iou_sum: float
    boundary_matched: int
    boundary_iou_sum: float
    mean_iou: float | None
    f1: float | None
    pq: float | None
    boundary_iou: float | None


def pool(results: Iterable[Any]) -> Pooled:
    """Pool pair (or class) results by summing their counts and IoU sums.

    Reads only ``matched``, ``unmatched_a``, ``unmatched_b``, ``label_mismatch``,
    ``iou_sum`` and ``boundary_iou_sum`` (``None`` when boundary IoU was not computed), so
    :class:`PairResult`, :class:`ClassResult` and stored rows with those fields all pool.
    """
    pairs = n_a = n_b = matched = mismatched = boundary_matched = 0
    ious: list[float] = []
    bounds: list[float] = []
    for r in results:
        pairs += 1
        n_a += r.matched + r.unmatched_a
        n_b += r.matched + r.unmatched_b
        matched += r.matched
        mismatched += r.label_mismatch
        ious.append(r.iou_sum)
        if r.boundary_iou_sum is not None:
            boundary_matched += r.matched
            bounds.append(r.boundary_iou_sum)
    iou_sum, boundary_sum = math.fsum(ious), math.fsum(bounds)
    total = n_a + n_b
    if pairs == 0:
        f1 = pq = None
    elif total == 0:
        f1 = pq = 1.0
    else:
        f1, pq = 2.0 * matched / total, iou_sum / (0.5 * total)
    return Pooled(
        pairs=pairs,
        n_a=n_a,
        n_b=n_b,
        matched=matched,
        label_mismatch=mismatched,
        iou_sum=iou_sum,
        boundary_matched=boundary_matched,
        boundary_iou_sum=boundary_sum,
        mean_iou=iou_sum / matched if matched else None,
        f1=f1,
        pq=pq,
        boundary_iou=boundary_sum / boundary_matched if boundary_matched else None,
    )


def bootstrap_pq_interval(
    images: Sequence[Sequence[Any]],
    *,
    seed: int,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the pooled pq, resampling images with replacement.

    ``images[k]`` holds the pair results of image k (all its annotator pairs; images with no
    pair are ignored); as in :func:`pool`, only their counts and ``iou_sum`` are read. Each
    resample draws as many images as there are, pools their counts and takes pq (1.0 when
    the drawn images are all empty). Returns the
    ``(1 − confidence)/2`` and ``(1 + confidence)/2`` quantiles (numpy's default linear
    interpolation); ``None`` without any image. Deterministic for a given ``seed``.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    sums, halves = [], []
    for results in images:
        if not results:
            continue
        sums.append(math.fsum(r.iou_sum for r in results))
        halves.append(0.5 * sum(2 * r.matched + r.unmatched_a + r.unmatched_b for r in results))
    if not sums:
        return None
    iou_sums, half_counts = np.array(sums), np.array(halves)
    n = iou_sums.size
    rng = np.random.default_rng(seed)
    values = np.empty(resamples, dtype=np.float64)
    block = max(1, 4_000_000 // n)  # bound the index matrix to ~32 MB
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        draw = rng.integers(0, n, size=(stop - start, n))
        num, den = iou_sums[draw].sum(axis=1), half_counts[draw].sum(axis=1)
        values[start:stop] = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi)


# --- one image, all annotators ----------------------------------------------------------------


@dataclass(frozen=True)
class PairComparison:
    """The :class:`PairResult` of two annotators, ``annotator_a < annotator_b``."""

    annotator_a: str
    annotator_b: str
    result: PairResult


@dataclass(frozen=True)
class ImageAgreement:
    """Everything agreement computes for one image (DESIGN §4), ready to store.

    ``annotators`` sorted; ``pairs`` for every ``annotator_a < annotator_b`` in that order;
    ``consensus`` the consensus instances (empty with fewer than two annotators);
    ``versus_consensus`` each annotator against the consensus (three or more annotators;
    boundary IoU not computed); ``style`` the per-image observations that
    :func:`qc.style.style_reports` accumulates over images.
    """

    annotators: tuple[str, ...]
    pairs: tuple[PairComparison, ...]
    consensus: tuple[Any, ...]  # tuple[qc.consensus.ConsensusInstance, ...]
    versus_consensus: Mapping[str, PairResult]
    style: Any  # qc.style.ImageStyle


def compare_image(
    annotations: Mapping[str, Sequence[Inst]],
    *,
    height: int,
    width: int,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float] | None = None,
    consensus_method: Literal["majority", "staple"] = "majority",
    quorum: float = 0.5,
    with_boundary: bool = True,
) -> ImageAgreement:
    """Agreement of all annotators of one ``height`` × ``width`` image.

    ``annotations`` maps each annotator who submitted (an empty sequence is an empty
    submission, DESIGN §4.6) to their instances. Computes every pair, the consensus
    (:func:`qc.consensus.build_consensus`; two or more annotators), each annotator against
    the consensus (three or more), and the style observations (against the consensus, or
    the other annotator when there are two). ``with_boundary=False`` skips boundary IoU
    (then ``boundary_rle`` may be ``None``). Options as in :func:`compare_pair` and
    :func:`qc.consensus.build_consensus`.
    """
    from qc import consensus as consensus_module  # consensus and style build on this module
    from qc import style as style_module

    sides = {annotator: _Side(insts) for annotator, insts in annotations.items()}
    for side in sides.values():
        if side.frame is not None and side.frame != (height, width):
            raise MaskError(
                f"instances of a {side.frame[1]}x{side.frame[0]} image given for {width}x{height}"
            )
    annotators = tuple(sorted(annotations))
    options = {"match_iou": match_iou, "class_match_iou": class_match_iou}
    pairs = []
    for index, annotator_a in enumerate(annotators):
        for annotator_b in annotators[index + 1 :]:
            result = _compare(
                sides[annotator_a],
                sides[annotator_b],
                **options,
                with_boundary=with_boundary,
                keep_overlaps=len(annotators) == 2,
            )
            pairs.append(PairComparison(annotator_a, annotator_b, result))
    consensus: tuple[Any, ...] = ()
    reference: list[Inst] = []
    versus: dict[str, PairResult] = {}
    if len(annotators) >= 2:
        consensus = consensus_module.build_consensus(
            annotations,
            {(p.annotator_a, p.annotator_b): p.result.matches for p in pairs},
            height=height,
            width=width,
            method=consensus_method,
            quorum=quorum,
        )
    if len(annotators) >= 3:
        reference = consensus_module.consensus_insts(consensus)
        reference_side = _Side(reference)
        for annotator in annotators:
            versus[annotator] = _compare(
                sides[annotator],
                reference_side,
                **options,
                with_boundary=False,
                keep_overlaps=True,
            )
    style = style_module.observe_image(
        annotations, pairs=pairs, versus_consensus=versus, consensus=reference
    )
    return ImageAgreement(
        annotators=annotators,
        pairs=tuple(pairs),
        consensus=consensus,
        versus_consensus=versus,
        style=style,
    )
