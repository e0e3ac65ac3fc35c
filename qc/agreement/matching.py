"""IoU and one-to-one matching of two annotators' instances (DESIGN §4.1, §4.2).

Instances are prepared once per image (:class:`_IndexedSide`); IoU is exact on the stored RLE
(pycocotools ``iou``, ``iscrowd = 0``). Fast paths, each exact under the condition named:

- IoU 0 without reading the masks when the boxes share no pixel (:func:`iou_matrix`);
- pairs left out before any IoU is computed when the bound from boxes and areas cannot reach
  τ (:func:`_candidates`, with a 1e-9 relative slack so that rounding never drops a pair);
- no assignment solved when every row and column has at most one candidate at or above τ
  (:func:`match_pairs`, :func:`_match_candidates`): those candidates are the optimum.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from pycocotools import mask as coco_mask
from scipy.optimize import linear_sum_assignment

from qc.agreement.geometry import MeasuredInstance, Rle
from qc.masks import MaskError

# --- IoU and matching -------------------------------------------------------------------------


def _bbox_array(insts: Sequence[MeasuredInstance]) -> np.ndarray:
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


def _frame_of(insts: Iterable[MeasuredInstance]) -> tuple[int, int] | None:
    frames = {(inst.rle["size"][0], inst.rle["size"][1]) for inst in insts}
    if len(frames) > 1:
        raise MaskError(f"instances of one comparison must share one image size, got {frames}")
    if not frames:
        return None
    height, width = frames.pop()
    return int(height), int(width)


class _IndexedSide:
    """One annotator's instances prepared for comparisons (arrays built once per image)."""

    __slots__ = ("areas", "boxes", "by_label", "frame", "insts", "keys", "labels", "rles")

    def __init__(self, insts: Sequence[MeasuredInstance]) -> None:
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
    a: _IndexedSide, b: _IndexedSide, ia: np.ndarray, ib: np.ndarray, tau: float, overlaps: bool
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
