"""Inter-annotator agreement of instance masks (DESIGN §4): IoU, matching, PQ, boundary IoU.

Pure package: pycocotools RLE dicts, numpy arrays and frozen dataclasses in and out; no
Django, no settings. From the bottom up:

- :mod:`qc.agreement.geometry`: what depends on one instance alone (area, bbox, Crofton
  perimeter, boundary band), computed once when the instance is stored, and
  :class:`MeasuredInstance`, an instance with those features;
- :mod:`qc.agreement.matching`: IoU on stored RLE and the one-to-one matching;
- :mod:`qc.agreement.pairs`: the metrics of one pair of annotators on one image
  (:class:`PairMetrics`, per class and pooled over classes, with what a stored result keeps);
- :mod:`qc.agreement.aggregates`: pooled metrics and the bootstrap interval.

:mod:`qc.consensus` and :mod:`qc.style` build on these, and :mod:`qc.comparison` puts them
together for one image. Conventions:

- An **RLE** is pycocotools' compressed dict ``{"size": [height, width], "counts": bytes}``
  (see :mod:`qc.masks`). A **bbox** is ``(x, y, w, h)`` in whole pixels, x = column, y = row.
  A **crop** is a bool array indexed ``[row, col]`` with an origin ``(x, y)``.
- Comparing annotations reads stored RLE only: IoU and boundary IoU are RLE intersections
  (pycocotools, in C, one call per class and pair of annotators) after a pre-filter on the
  stored boxes and areas, and no pixel is decoded.

Each module states its fast paths and the exact condition under which each equals its
reference.
"""

from qc.agreement.aggregates import Pooled, bootstrap_pq_interval, pool
from qc.agreement.geometry import (
    InstanceFeatures,
    MeasuredInstance,
    boundary_band,
    boundary_width,
    crofton_from_counts,
    crofton_perimeter,
    features_from_crop,
    instance_features,
    measure_crop,
    one_run_per_column,
)
from qc.agreement.matching import iou_matrix, match_pairs, pair_ious
from qc.agreement.pairs import (
    ClassResult,
    Match,
    Mismatch,
    Overlap,
    PairComparison,
    PairMetrics,
    PairResult,
    compare_pair,
)

__all__ = [
    "ClassResult",
    "InstanceFeatures",
    "Match",
    "MeasuredInstance",
    "Mismatch",
    "Overlap",
    "PairComparison",
    "PairMetrics",
    "PairResult",
    "Pooled",
    "bootstrap_pq_interval",
    "boundary_band",
    "boundary_width",
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
