"""Agreement pooled over many pairs and images (DESIGN §4.7): micro-averaged counts and a
bootstrap interval for the project's panoptic quality."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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
