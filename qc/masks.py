"""COCO run-length encoding (RLE) toolbox: where MaskQC turns pixels into RLE and back.

Conventions (all lengths and coordinates in whole pixels unless said otherwise):

- An **RLE** is pycocotools' compressed dict ``{"size": [height, width], "counts": bytes}``.
  Runs are counted column-major (down each column, then the next column to the right) and
  alternate background / foreground, starting with background, so ``counts`` begins with 0
  when pixel (row 0, col 0) is foreground.
- Every RLE returned here is **canonical**: no zero-length run except that leading one and no
  empty final run. Equal masks therefore have byte-identical ``counts``, equal to what
  ``pycocotools.mask.encode`` gives for the same mask (checksums and exports rely on this).
- A **mask** is a full-frame 2-D ``bool`` array and a **crop** a 2-D ``bool`` array, both
  indexed ``[row, col]``. A crop's **origin** is ``(x, y)`` = (column, row) of its top-left
  pixel in the image. A **bbox** is ``(x, y, w, h)`` ints.
- **Polygons** are flat ``[x1, y1, x2, y2, ...]`` lists in pixel coordinates, rasterised the
  COCO way (pycocotools ``frPyObjects``), so results equal pycocotools exactly.

Functions that take an RLE check the dict's shape and image sizes but trust ``counts`` to be
well formed: this module produced it, or :func:`rle_from_string` validated it. Nothing here
allocates a full-frame array except :func:`rle_from_mask` (its input is one),
:func:`rle_to_mask` and :func:`crop_to_frame`; crops are encoded and decoded straight from
their runs.

Pure module: numpy and pycocotools only; no Django, no settings.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

__all__ = [
    "ColumnRuns",
    "MaskError",
    "column_runs",
    "crop_to_frame",
    "ringed_columns",
    "rle_area",
    "rle_bbox",
    "rle_from_crop",
    "rle_from_mask",
    "rle_from_polygons",
    "rle_from_runs",
    "rle_from_string",
    "rle_from_uncompressed",
    "rle_intersection",
    "rle_iou",
    "rle_to_crop",
    "rle_to_mask",
    "rle_to_string",
    "rle_union",
]

# pycocotools stores run lengths as 32-bit unsigned ints and polygon vertices (scaled by 5) as
# 32-bit signed ints; staying below 2**31 pixels keeps every count and flat index exact.
_MAX_PIXELS = 2**31 - 1

# Polygon vertices may lie outside the image (tools let them), but not further than
# max(height, width, this) pixels: pycocotools walks every edge at 1/5 pixel in 32-bit ints, so
# a far-away vertex makes it allocate without bound or overflow, and can only be a mistake.
_POLYGON_MIN_MARGIN = 1000

# A run length below 2**31 changes by less than 2**32 from the run two before it; that delta
# takes at most 7 characters of 5 payload bits in the COCO string code. More is malformed.
_MAX_CHARS_PER_NUMBER = 7


class MaskError(ValueError):
    """A mask, crop, polygon or RLE is malformed; the message says what is wrong, plainly."""


# --- checks ----------------------------------------------------------------------------------


def _frame(height: Any, width: Any) -> tuple[int, int]:
    try:
        h, w = operator.index(height), operator.index(width)
    except TypeError:
        raise MaskError(
            f"image size must be whole numbers of pixels, got height={height!r}, width={width!r}"
        ) from None
    if h < 1 or w < 1:
        raise MaskError(f"image size must be at least 1x1 pixel, got {w}x{h} (width x height)")
    if h * w > _MAX_PIXELS:
        raise MaskError(f"image of {w}x{h} pixels is larger than the limit of {_MAX_PIXELS} pixels")
    return h, w


def _rle_frame(rle: Any) -> tuple[int, int]:
    """Check the shape of an RLE dict and return its (height, width)."""
    if not isinstance(rle, Mapping) or "size" not in rle or "counts" not in rle:
        raise MaskError("an RLE must be a dict with 'size' [height, width] and 'counts'")
    counts = rle["counts"]
    if not isinstance(counts, (bytes, str)):
        raise MaskError(
            "RLE 'counts' must be a compressed COCO string (bytes or str); "
            "convert a list of run lengths with rle_from_uncompressed"
        )
    size = rle["size"]
    if (
        not isinstance(size, (Sequence, np.ndarray))
        or isinstance(size, (str, bytes))
        or len(size) != 2
    ):
        raise MaskError(f"RLE 'size' must be [height, width], got {size!r}")
    return _frame(size[0], size[1])


def _same_frame(rles: Sequence[Any], what: str) -> tuple[int, int]:
    frames = {_rle_frame(rle) for rle in rles}
    if len(frames) > 1:
        sizes = ", ".join(f"{w}x{h}" for h, w in sorted(frames))
        raise MaskError(f"{what} needs masks of one image size, got {sizes} (width x height)")
    return frames.pop()


def _bool_2d(array: Any, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise MaskError(f"{what} must be a 2-D array [row, col], got {array.ndim} dimension(s)")
    if array.dtype != np.bool_:
        raise MaskError(
            f"{what} must be a bool array, got {array.dtype}; "
            "compare with the foreground value first (e.g. pixels > 0)"
        )
    return array


def _origin(origin: Any) -> tuple[int, int]:
    try:
        x, y = origin
        return operator.index(x), operator.index(y)
    except (TypeError, ValueError):
        raise MaskError(f"origin must be (x, y) whole pixels, got {origin!r}") from None


# --- runs --------------------------------------------------------------------------------------
# Internally a mask is a sorted list of disjoint foreground intervals [start, end) of flat
# column-major pixel indices (index = col * height + row).


def _counts_from_string(data: bytes) -> np.ndarray:
    """Decode a COCO counts string into run lengths (int64), exactly as pycocotools does.

    Each number is written in 6-bit characters ('0' + value): 5 payload bits, least
    significant first, bit 0x20 = more characters follow, bit 0x10 of the last character =
    negative. Numbers from the fourth on are deltas against the run two before.
    """
    codes = np.frombuffer(data, dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if codes.min() < 0 or codes.max() > 63:
        raise MaskError("RLE counts string has a character outside the COCO alphabet '0'..'o'")
    more = (codes & 0x20) != 0
    if more[-1]:
        raise MaskError("RLE counts string is cut short: it ends inside a number")
    last = np.flatnonzero(~more)
    first = np.concatenate(([0], last[:-1] + 1))
    n_chars = last - first + 1
    if n_chars.max() > _MAX_CHARS_PER_NUMBER:
        raise MaskError("RLE counts string has a number too long for any run length")
    shift = 5 * (np.arange(codes.size) - np.repeat(first, n_chars))
    values = np.add.reduceat((codes & 0x1F) << shift, first)
    negative = (codes[last] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * n_chars)), values)
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])
    counts[2::2] = np.cumsum(values[2::2])
    return counts


def _checked_counts(counts: np.ndarray, h: int, w: int) -> np.ndarray:
    if counts.size and counts.min() < 0:
        raise MaskError("RLE counts contain a negative run length")
    total = int(counts.sum())
    if total != h * w:
        raise MaskError(
            f"RLE counts sum to {total} pixels but a {w}x{h} image has {h * w} "
            "(counts must sum to height x width)"
        )
    return counts


def _intervals_from_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground intervals [start, end) from run lengths, without empty ones."""
    bounds = np.cumsum(counts)
    n_fg = counts.size // 2
    starts = bounds[0 : 2 * n_fg : 2]
    ends = bounds[1 : 2 * n_fg : 2]
    keep = ends > starts
    return starts[keep], ends[keep]


def _counts_from_intervals(starts: np.ndarray, ends: np.ndarray, n_pixels: int) -> np.ndarray:
    """Canonical run lengths from sorted, disjoint, non-empty foreground intervals."""
    if starts.size == 0:
        return np.array([n_pixels], dtype=np.int64)
    # Intervals that touch (a run leaving the bottom of a column and one entering the top of
    # the next) are one run.
    apart = starts[1:] != ends[:-1]
    starts = starts[np.concatenate(([True], apart))]
    ends = ends[np.concatenate((apart, [True]))]
    counts = np.empty(2 * starts.size + 1, dtype=np.int64)
    counts[0] = starts[0]
    counts[1::2] = ends - starts
    counts[2:-1:2] = starts[1:] - ends[:-1]
    counts[-1] = n_pixels - ends[-1]
    return counts if counts[-1] else counts[:-1]


def _rle_from_counts(counts: np.ndarray, h: int, w: int) -> dict[str, Any]:
    """Compress canonical run lengths with pycocotools (C), so the bytes equal its own."""
    return coco_mask.frPyObjects(
        {"size": [h, w], "counts": counts.astype(np.uint32, copy=False)}, h, w
    )


def _decode_counts(rle: Mapping[str, Any]) -> tuple[int, int, np.ndarray]:
    h, w = _rle_frame(rle)
    data = rle["counts"]
    if isinstance(data, str):
        try:
            data = data.encode("ascii")
        except UnicodeEncodeError:
            raise MaskError(
                "RLE counts string has a character outside the COCO alphabet '0'..'o'"
            ) from None
    return h, w, _checked_counts(_counts_from_string(data), h, w)


def _complement(rle: Mapping[str, Any]) -> dict[str, Any]:
    h, w, counts = _decode_counts(rle)
    starts, ends = _intervals_from_counts(counts)
    # The gaps between foreground intervals, including before the first and after the last.
    bounds = np.concatenate(([0], np.column_stack((starts, ends)).ravel(), [h * w]))
    gap_starts, gap_ends = bounds[0::2], bounds[1::2]
    keep = gap_ends > gap_starts
    return _rle_from_counts(_counts_from_intervals(gap_starts[keep], gap_ends[keep], h * w), h, w)


# --- encoding ----------------------------------------------------------------------------------


def rle_from_crop(
    crop: np.ndarray, *, origin: tuple[int, int], height: int, width: int
) -> dict[str, Any]:
    """Encode a bool crop placed at ``origin`` in a ``height`` x ``width`` image.

    ``crop`` is a 2-D bool array ``[row, col]``; ``origin`` is (x, y) = (column, row) of its
    top-left pixel, and may be negative or put part of the crop past the right/bottom edge:
    the part outside the image is clipped. The crop is run-length encoded directly, column by
    column (:func:`column_runs`); no full-frame array is built.

    Raises MaskError when the crop lies entirely outside the image, has no True pixel, or has
    no True pixel left inside the image after clipping, or is not a 2-D bool array.
    """
    h, w = _frame(height, width)
    crop = _bool_2d(crop, "crop")
    x, y = _origin(origin)
    rows, cols = crop.shape
    row_lo, row_hi = max(0, -y), min(rows, h - y)
    col_lo, col_hi = max(0, -x), min(cols, w - x)
    if row_lo >= row_hi or col_lo >= col_hi:
        raise MaskError(
            f"crop of {cols}x{rows} pixels at origin (x={x}, y={y}) lies entirely outside "
            f"the {w}x{h} image"
        )
    runs = column_runs(ringed_columns(crop[row_lo:row_hi, col_lo:col_hi]))
    if runs[0].size == 0:
        if not crop.any():
            raise MaskError("crop is empty: it has no foreground (True) pixel")
        raise MaskError(
            f"no foreground pixel of the crop at origin (x={x}, y={y}) lies inside the "
            f"{w}x{h} image"
        )
    return rle_from_runs(runs, origin=(x + col_lo, y + row_lo), height=h, width=w)


def ringed_columns(crop: np.ndarray) -> np.ndarray:
    """The crop's transpose inside a one-pixel ring of background: uint8 0/1 indexed
    ``[col + 1, row + 1]``.

    The column-major layout that runs are read from (:func:`column_runs`), and one that
    erosion and neighbour counts can use as it is: the ring is the background around the crop.
    """
    rows, cols = crop.shape
    ringed = np.zeros((cols + 2, rows + 2), dtype=np.uint8)
    ringed[1:-1, 1:-1] = crop.T
    return ringed


ColumnRuns = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(col, first, stop)``: for every foreground run down a column of a crop, in column-major
order, its crop column, its first crop row and the row just below it (int64 arrays)."""


def column_runs(ringed: np.ndarray) -> ColumnRuns:
    """The foreground runs down each column of a crop given as :func:`ringed_columns`
    (values 0/1, ring 0)."""
    inner = ringed[1:-1]
    stride = inner.shape[1]
    flat = inner.reshape(-1)
    # A change between flat[q - 1] and flat[q] starts or ends a run at q; they alternate,
    # and the ring rows keep every run inside its own column.
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    col, row = np.divmod(changes, stride)
    row -= 1
    return col[0::2], row[0::2], row[1::2]


def rle_from_runs(
    runs: ColumnRuns, *, origin: tuple[int, int], height: int, width: int
) -> dict[str, Any]:
    """Encode the runs of a crop at ``origin`` (x, y) lying inside a ``height`` x ``width``
    image (its columns and rows are not clipped here). Raises MaskError when there is no run.

    The runs' bounds are the RLE's counts as they are, which is canonical exactly when no
    gap between two runs is empty; a gap is empty only when a run ends at the bottom of a
    column and the next starts at the top of the next column, and then the runs are joined
    (:func:`_counts_from_intervals`). An empty last run (the mask reaches the frame's last
    pixel) is dropped.
    """
    col, first, stop = runs
    if col.size == 0:
        raise MaskError("crop is empty: it has no foreground (True) pixel")
    x, y = origin
    # Run bounds in image pixel order, between 0 and the pixel count: their differences
    # alternate background and foreground counts.
    bounds = np.empty(2 * col.size + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, height * width
    column_start = col * height + (x * height + y)
    np.add(column_start, first, out=bounds[1:-1:2])
    np.add(column_start, stop, out=bounds[2:-1:2])
    counts = np.empty(bounds.size - 1, dtype=np.uint32)
    np.subtract(bounds[1:], bounds[:-1], out=counts, casting="unsafe")
    if not counts[2:-1:2].all():
        # A run leaving the bottom of one column and one entering the top of the next are
        # one run: a zero-length gap between them is not canonical.
        counts = _counts_from_intervals(bounds[1:-1:2], bounds[2:-1:2], height * width)
    elif counts[-1] == 0:
        counts = counts[:-1]
    return _rle_from_counts(counts, height, width)


def rle_from_mask(mask: np.ndarray) -> dict[str, Any]:
    """Encode a full-frame 2-D bool mask ``[row, col]``; the image size is its shape.

    An all-False mask gives the empty RLE (``counts`` is one background run).
    """
    mask = _bool_2d(mask, "mask")
    _frame(*mask.shape)
    return coco_mask.encode(np.asfortranarray(mask, dtype=np.uint8))


def _polygon_parts(parts: Sequence[Sequence[float]], kind: str, h: int, w: int) -> list[np.ndarray]:
    if isinstance(parts, (str, bytes)) or not isinstance(parts, (Sequence, np.ndarray)):
        raise MaskError(f"{kind}s must be a list of flat [x1, y1, x2, y2, ...] lists")
    if len(parts) and np.ndim(parts[0]) == 0:
        raise MaskError(
            f"{kind}s must be a list of parts, each a flat [x1, y1, x2, y2, ...] list; "
            "got a flat list of numbers"
        )
    margin = max(h, w, _POLYGON_MIN_MARGIN)
    checked = []
    for number, part in enumerate(parts, start=1):
        name = f"{kind} part {number}"
        try:
            coords = np.asarray(part)
        except ValueError:
            raise MaskError(f"{name} must be a flat list of numbers [x1, y1, ...]") from None
        if coords.ndim != 1 or coords.dtype.kind not in "iuf":
            raise MaskError(f"{name} must be a flat list of numbers [x1, y1, ...]")
        if coords.size % 2:
            raise MaskError(f"{name} has an odd count of numbers ({coords.size}): x, y pairs")
        if coords.size < 6:
            raise MaskError(
                f"{name} has {coords.size // 2} point(s); a polygon needs at least 3 "
                "(a 4-number list is not read as a box)"
            )
        coords = coords.astype(np.float64)
        if not np.isfinite(coords).all():
            raise MaskError(f"{name} has a coordinate that is not a finite number")
        xs, ys = coords[0::2], coords[1::2]
        if (
            xs.min() < -margin
            or xs.max() > w + margin
            or ys.min() < -margin
            or ys.max() > h + margin
        ):
            raise MaskError(
                f"{name} has a vertex more than {margin} pixels outside the {w}x{h} image"
            )
        checked.append(coords)
    return checked


def rle_from_polygons(
    polygons: Sequence[Sequence[float]],
    *,
    height: int,
    width: int,
    holes: Sequence[Sequence[float]] = (),
) -> dict[str, Any]:
    """Rasterise polygons into one RLE: union of the ``polygons`` minus union of the ``holes``.

    Each part is a flat ``[x1, y1, x2, y2, ...]`` list in pixel coordinates (x = column,
    y = row), implicitly closed, rasterised with pycocotools ``frPyObjects`` (the COCO
    convention: the square 0,0 4,0 4,4 0,4 covers pixels 0..3 in both directions). Parts
    may cross the image edge; they are clipped. The result may be empty (a polygon entirely
    outside the image, or covered by holes); callers that refuse empty masks check
    :func:`rle_area`.

    Raises MaskError when there is no exterior part, or a part has fewer than 3 points (a
    4-number list is NOT a box), an odd count of numbers, a non-finite or non-numeric
    coordinate, or a vertex more than max(height, width, 1000) pixels outside the image.
    """
    h, w = _frame(height, width)
    exteriors = _polygon_parts(polygons, "polygon", h, w)
    if not exteriors:
        raise MaskError("no polygon given: at least one exterior part is needed")
    hole_parts = _polygon_parts(holes, "hole", h, w)
    rle = coco_mask.merge(coco_mask.frPyObjects(exteriors, h, w))
    if hole_parts:
        hole = coco_mask.merge(coco_mask.frPyObjects(hole_parts, h, w))
        rle = coco_mask.merge([rle, _complement(hole)], intersect=1)
    return rle


def rle_from_uncompressed(counts: Sequence[int], *, height: int, width: int) -> dict[str, Any]:
    """Compress COCO uncompressed RLE run lengths (column-major, background first).

    Zero-length runs inside the list and a trailing empty run are accepted and dropped, so
    the result is canonical. Raises MaskError when a count is negative or not a whole
    number, or the counts do not sum to ``height`` x ``width``.
    """
    h, w = _frame(height, width)
    array = np.asarray(counts)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise MaskError("RLE counts must be a flat list of whole numbers")
    array = _checked_counts(array.astype(np.int64), h, w)
    return _rle_from_counts(_counts_from_intervals(*_intervals_from_counts(array), h * w), h, w)


def rle_from_string(counts: str, *, height: int, width: int) -> dict[str, Any]:
    """Build an RLE from a COCO compressed counts string (as stored on an Instance).

    The string is decoded and checked (COCO alphabet, no number cut short, no negative run,
    runs summing to ``height`` x ``width``), then re-encoded canonically. Raises MaskError
    when any check fails.
    """
    h, w = _frame(height, width)
    if not isinstance(counts, (str, bytes)):
        raise MaskError(f"RLE counts must be a string, got {type(counts).__name__}")
    _, _, runs = _decode_counts({"size": [h, w], "counts": counts})
    return _rle_from_counts(_counts_from_intervals(*_intervals_from_counts(runs), h * w), h, w)


def rle_to_string(rle: dict[str, Any]) -> str:
    """The RLE's compressed counts as a str (ASCII), for storage and JSON."""
    _rle_frame(rle)
    counts = rle["counts"]
    return counts if isinstance(counts, str) else counts.decode("ascii")


# --- decoding ----------------------------------------------------------------------------------


def rle_to_crop(rle: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an RLE into its bbox-tight bool crop ``[row, col]`` and the crop's origin (x, y).

    Decoded from the runs into the bbox only (no full-frame array). The crop's shape is
    (bbox h, bbox w) of :func:`rle_bbox`. An empty RLE gives ``(np.zeros((0, 0), bool), (0,
    0))``. Raises MaskError when the counts are malformed or do not sum to height x width.
    """
    h, _, counts = _decode_counts(rle)
    starts, ends = _intervals_from_counts(counts)
    if starts.size == 0:
        return np.zeros((0, 0), dtype=bool), (0, 0)
    first_col, first_row = np.divmod(starts, h)
    last_col, last_row = np.divmod(ends - 1, h)
    # Split every run into its pieces, one per column it passes through.
    n_pieces = last_col - first_col + 1
    run = np.repeat(np.arange(starts.size), n_pieces)
    piece_in_run = np.arange(run.size) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
    col = first_col[run] + piece_in_run
    top = np.where(piece_in_run == 0, first_row[run], 0)
    bottom = np.where(col == last_col[run], last_row[run] + 1, h)  # exclusive
    x0, x1 = int(first_col[0]), int(last_col[-1])
    y0, y1 = int(top.min()), int(bottom.max())
    crop_w, crop_h = x1 - x0 + 1, y1 - y0
    # Per crop column: +1 where a piece starts, -1 where it ends; a running sum fills it.
    # Every column's steps sum to zero, so one cumulative sum over all columns is enough.
    stride = crop_h + 1
    base = (col - x0) * stride - y0
    size = crop_w * stride
    steps = np.bincount(base + top, minlength=size) - np.bincount(base + bottom, minlength=size)
    filled = np.cumsum(steps).reshape(crop_w, stride)[:, :crop_h] > 0
    return np.ascontiguousarray(filled.T), (x0, y0)


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode an RLE into a full-frame bool mask of shape (height, width), indexed [row, col].

    Raises MaskError when the counts are malformed or do not sum to height x width.
    """
    h, w = _rle_frame(rle)
    crop, origin = rle_to_crop(rle)
    return crop_to_frame(crop, origin, height=h, width=w)


def crop_to_frame(
    crop: np.ndarray, origin: tuple[int, int], *, height: int, width: int
) -> np.ndarray:
    """Paste a bool crop at ``origin`` (x, y) into an all-False (height, width) bool mask.

    The part of the crop outside the image is clipped (a crop entirely outside gives an
    all-False mask). For tests and PNG export; agreement code stays on crops and RLE.
    """
    h, w = _frame(height, width)
    crop = _bool_2d(crop, "crop")
    x, y = _origin(origin)
    frame = np.zeros((h, w), dtype=bool)
    rows, cols = crop.shape
    row_lo, row_hi = max(0, -y), min(rows, h - y)
    col_lo, col_hi = max(0, -x), min(cols, w - x)
    if row_lo < row_hi and col_lo < col_hi:
        frame[y + row_lo : y + row_hi, x + col_lo : x + col_hi] = crop[row_lo:row_hi, col_lo:col_hi]
    return frame


# --- measures and set operations -----------------------------------------------------------


def rle_area(rle: dict[str, Any]) -> int:
    """Foreground pixel count."""
    _rle_frame(rle)
    return int(coco_mask.area(rle))


def rle_bbox(rle: dict[str, Any]) -> tuple[int, int, int, int]:
    """Tight bounding box (x, y, w, h) of the foreground in pixels; (0, 0, 0, 0) when empty.

    Same as pycocotools ``toBbox`` (which returns floats holding whole numbers).
    """
    _rle_frame(rle)
    x, y, w, h = coco_mask.toBbox(rle)
    return int(x), int(y), int(w), int(h)


def rle_union(rles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Union of one or more RLEs of the same image size (pycocotools ``merge``)."""
    return _merge(rles, intersect=False)


def rle_intersection(rles: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Intersection of one or more RLEs of the same image size (pycocotools ``merge``)."""
    return _merge(rles, intersect=True)


def _merge(rles: Sequence[dict[str, Any]], *, intersect: bool) -> dict[str, Any]:
    what = "intersection" if intersect else "union"
    rles = list(rles)
    if not rles:
        raise MaskError(f"{what} needs at least one mask")
    _same_frame(rles, what)
    return coco_mask.merge(rles, intersect=int(intersect))


def rle_iou(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> np.ndarray:
    """Pairwise IoU = |a_i ∩ b_j| / |a_i ∪ b_j|, a len(a) x len(b) float64 array.

    pycocotools ``iou`` with ``iscrowd=0`` (exact pixel counts; 0.0 when the masks do not
    overlap, including two empty masks). All masks must share one image size.
    """
    a, b = list(a), list(b)
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    _same_frame(a + b, "IoU")
    return np.asarray(coco_mask.iou(a, b, [0] * len(b)), dtype=np.float64)
