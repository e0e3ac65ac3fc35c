"""The metrics of one pair of annotators on one image (DESIGN §4.3–§4.5): counts, mean IoU,
F1, panoptic quality and boundary IoU, per class and pooled over classes, with the matches,
label mismatches and overlaps behind them.

Sums of IoU are taken with :func:`math.fsum` (correctly rounded, so independent of order):
swapping the two annotators gives bit-identical ``pq``, ``f1`` and ``mean_iou``.
Intersections are recovered from the IoU and the two areas (:func:`_overlaps`): exact below
2**31 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
from pycocotools import mask as coco_mask

from qc.agreement.geometry import MeasuredInstance
from qc.agreement.matching import _candidates, _IndexedSide, _match_candidates, pair_ious
from qc.masks import MaskError

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
class PairMetrics:
    """Counts, IoU sums and metrics of one pair of annotators (DESIGN §4.3–4.5), for one class
    (:class:`ClassResult`) or pooled over classes (:class:`PairResult`).

    ``n_a``/``n_b`` instances; ``matched`` = TP; ``unmatched_* = n_* − TP`` (including
    instances in a label mismatch). ``mean_iou`` and ``boundary_iou`` are ``None`` when
    TP = 0 (``boundary_iou`` also when it was not computed). ``f1 = 2·TP / (n_a + n_b)``,
    ``pq = iou_sum / (TP + ½·unmatched_a + ½·unmatched_b)``; both 1.0 when both sides are
    empty.

    :attr:`STORED_FIELDS` are what a stored result keeps (``n_a`` and ``n_b`` follow from
    ``matched`` and ``unmatched_*``); :meth:`stored_values` gives them.
    """

    STORED_FIELDS: ClassVar[tuple[str, ...]] = (
        "matched",
        "unmatched_a",
        "unmatched_b",
        "label_mismatch",
        "iou_sum",
        "boundary_iou_sum",
        "mean_iou",
        "f1",
        "pq",
        "boundary_iou",
    )

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

    def stored_values(self) -> dict[str, Any]:
        """The values of :attr:`STORED_FIELDS`, by name."""
        return {name: getattr(self, name) for name in self.STORED_FIELDS}


@dataclass(frozen=True)
class ClassResult(PairMetrics):
    """Metrics of one class ``label`` for one pair of annotators (DESIGN §4.3–4.4), as in
    :class:`PairMetrics`: ``n_a``/``n_b`` instances of the class; ``label_mismatch`` counts
    mismatch pairs with this class on either side. A class is empty on both sides only in
    pooled results.
    """

    label: Hashable


@dataclass(frozen=True)
class PairResult(PairMetrics):
    """Agreement of two annotators on one image, micro-pooled over classes (DESIGN §4.5).

    Counts and IoU sums are the sums of the per-class values; metrics as in
    :class:`PairMetrics`. Both annotations empty: ``pq = f1 = 1``, ``mean_iou`` ``None``.
    ``matches`` sorted by position in ``a``; ``mismatches`` likewise; ``per_class`` in order
    of first appearance of the label in ``a`` then ``b``.
    """

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


_Scored = TypeVar("_Scored", ClassResult, PairResult)


def _scored(
    result_type: type[_Scored],
    n_a: int,
    n_b: int,
    ious: list[float],
    boundaries: list[float] | None,
    label_mismatch: int,
    **details: Any,
) -> _Scored:
    """A ``result_type`` for ``n_a`` and ``n_b`` instances whose matched pairs have IoU
    ``ious`` and boundary IoU ``boundaries`` (``None``: not computed); ``details`` are the
    type's own fields."""
    matched = len(ious)
    iou_sum = math.fsum(ious)
    boundary_sum = math.fsum(boundaries) if boundaries is not None else None
    mean_iou, f1, pq, boundary = _metrics(n_a, n_b, matched, iou_sum, boundary_sum)
    return result_type(
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
        **details,
    )


def compare_pair(
    a: Sequence[MeasuredInstance],
    b: Sequence[MeasuredInstance],
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
    side_a, side_b = _IndexedSide(a), _IndexedSide(b)
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
    a: _IndexedSide,
    b: _IndexedSide,
    *,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float] | None,
    with_boundary: bool,
    keep_overlaps: bool,
) -> PairResult:
    """:func:`compare_pair` on indexed sides: same-class matches, then label mismatches among
    the leftovers, boundary IoU of the matches, and the metrics per class and pooled."""
    labels = list(a.by_label) + [label for label in b.by_label if label not in a.by_label]
    found, overlaps = _match_within_classes(
        a,
        b,
        labels,
        match_iou=match_iou,
        class_match_iou=class_match_iou or {},
        keep_overlaps=keep_overlaps,
    )
    matched_i = [i for i, _, _ in found]
    matched_j = [j for _, j, _ in found]
    matched_iou = [value for _, _, value in found]
    mismatches: list[Mismatch] = []
    if len(labels) > 1:
        mismatches = _cross_class(a, b, matched_i, matched_j, match_iou)
    boundaries: list[float] | None = None
    if with_boundary:
        boundaries = _boundary_ious(a, b, matched_i, matched_j)
    matches, per_class = _per_class(a, b, labels, found, boundaries, mismatches)
    return _scored(
        PairResult,
        len(a.insts),
        len(b.insts),
        matched_iou,
        boundaries,
        len(mismatches),
        per_class=per_class,
        matches=matches,
        mismatches=tuple(mismatches),
        overlaps=tuple(overlaps),
    )


def _match_within_classes(
    a: _IndexedSide,
    b: _IndexedSide,
    labels: list[Hashable],
    *,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float],
    keep_overlaps: bool,
) -> tuple[list[tuple[int, int, float]], list[Overlap]]:
    """The same-class matches ``(i, j, IoU)`` of every label both sides have, sorted, and
    (``keep_overlaps``) the same-class overlaps of :func:`_overlaps`."""
    found: list[tuple[int, int, float]] = []
    overlaps: list[Overlap] = []
    for label in labels:
        ia, ib = a.by_label.get(label), b.by_label.get(label)
        if ia is None or ib is None:
            continue
        tau = float(class_match_iou.get(label, match_iou))
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
    return found, overlaps


def _per_class(
    a: _IndexedSide,
    b: _IndexedSide,
    labels: list[Hashable],
    found: list[tuple[int, int, float]],
    boundaries: list[float] | None,
    mismatches: list[Mismatch],
) -> tuple[tuple[Match, ...], tuple[ClassResult, ...]]:
    """The :class:`Match` of each found pair (``boundaries`` in the same order, ``None``
    when not computed) and the :class:`ClassResult` of each label, in ``labels`` order."""
    by_label_ious: dict[Hashable, list[float]] = {label: [] for label in labels}
    by_label_bounds: dict[Hashable, list[float]] = {label: [] for label in labels}
    matches = []
    for k, (i, j, value) in enumerate(found):
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
        _scored(
            ClassResult,
            a.by_label.get(label, empty).size,
            b.by_label.get(label, empty).size,
            by_label_ious[label],
            by_label_bounds[label] if boundaries is not None else None,
            mismatch_count[label],
            label=label,
        )
        for label in labels
    )
    return tuple(matches), per_class


def _overlaps(
    a: _IndexedSide,
    b: _IndexedSide,
    gi: np.ndarray,
    gj: np.ndarray,
    values: np.ndarray,
    label: Hashable,
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
    a: _IndexedSide,
    b: _IndexedSide,
    matched_i: list[int],
    matched_j: list[int],
    match_iou: float,
) -> list[Mismatch]:
    """Second pass of DESIGN §4.2: match the instances that no same-class match took
    (positions ``matched_i`` in ``a``, ``matched_j`` in ``b``) across classes."""
    a_left = np.ones(len(a.insts), dtype=bool)
    b_left = np.ones(len(b.insts), dtype=bool)
    a_left[matched_i] = False
    b_left[matched_j] = False
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


def _boundary_ious(
    a: _IndexedSide, b: _IndexedSide, matched_i: list[int], matched_j: list[int]
) -> list[float]:
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


@dataclass(frozen=True)
class PairComparison:
    """The :class:`PairResult` of two annotators, ``annotator_a < annotator_b``."""

    annotator_a: str
    annotator_b: str
    result: PairResult
