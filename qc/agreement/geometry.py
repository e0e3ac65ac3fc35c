"""Per-instance geometry (DESIGN §4.4, §5): what agreement needs of one instance alone.

Area, bbox, Crofton perimeter and boundary band, computed once when an instance is stored
(:func:`instance_features`, :func:`measure_crop`) and carried by
:class:`MeasuredInstance`. Conventions as in :mod:`qc.agreement`.

Fast paths, each equal to its reference exactly under the condition named, which is checked
in full (tests/qc/test_agreement.py generates inputs on both sides of every guard):

- band of a mask whose bbox is under 2d + 1 pixels in either direction: the whole mask (no
  (2d + 1)² window fits, so the erosion is empty);
- band from the runs (:func:`_band_of_one_run_columns`) when every column from the first to
  the last holds exactly one run (:func:`one_run_per_column`); otherwise pixels are eroded.

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
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from qc.masks import ColumnRuns, MaskError, column_runs, ringed_columns, rle_from_runs, rle_to_crop

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
class MeasuredInstance:
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
    def from_rle(
        cls, key: Hashable, label: Hashable, rle: Rle, *, boundary_px: int
    ) -> MeasuredInstance:
        """Build an instance, computing its features (store-time work) from ``rle``."""
        features = instance_features(rle, boundary_px=boundary_px)
        return cls.from_features(key, label, rle, features)

    @classmethod
    def from_features(
        cls, key: Hashable, label: Hashable, rle: Rle, features: InstanceFeatures
    ) -> MeasuredInstance:
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
