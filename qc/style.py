"""Per-annotator style report (DESIGN §4, "Style report"), accumulated over many images.

Pure module; no Django. Two steps, so the per-image part can be stored and the aggregate
rebuilt when one image changes without recomputing any IoU:

1. :func:`observe_image` (called by :func:`qc.comparison.compare_image`) turns one image's
   comparisons into an :class:`ImageStyle`: for each annotator, against the **reference** --
   the consensus when the image has three or more annotators, the other annotator when it
   has two -- the area ratio and signed boundary offset of every matched instance, which
   reference instances were found (by COCO size), merges and splits; and for every pair of
   annotators the pairwise offset of every matched pair.
2. :func:`style_reports` accumulates any number of :class:`ImageStyle` into one
   :class:`StyleReport` per annotator; :func:`describe` says it in words.

Units: areas in pixels, offsets in pixels (positive: draws outside the reference edge).
``offset = (own area − reference area) / reference perimeter`` (Crofton perimeter, see
:mod:`qc.agreement`). The pairwise offset of a matched pair (u, v) is
``(area_u − area_v) / mean(perimeter_u, perimeter_v)``; per pair of annotators
``o(u, v)`` is its median over all their matched instances, and ``β`` solves
``o(u, v) ≈ β_u − β_v`` by least squares weighted by the number of matches, centred so the
(lower) median annotator of each connected group of annotators reads 0.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from qc.agreement import MeasuredInstance, PairComparison, PairResult

__all__ = [
    "MEDIUM_AREA",
    "SMALL_AREA",
    "AnnotatorObservation",
    "ImageStyle",
    "PairOffsets",
    "StyleReport",
    "describe",
    "fit_offsets",
    "observe_image",
    "style_from_json",
    "style_reports",
    "style_to_json",
]

# COCO object sizes: small < 32², medium < 96², large otherwise (reference instance area).
SMALL_AREA = 32 * 32
MEDIUM_AREA = 96 * 96

Reference = Literal["consensus", "peer"]


@dataclass(frozen=True)
class AnnotatorObservation:
    """One annotator against the reference on one image.

    ``area_ratios`` and ``offsets`` have one entry per matched instance (in match order);
    ``found``/``total``: reference instances matched / present, by size (small, medium,
    large); ``merges``: own instances covering ≥ 50 % of two or more reference instances;
    ``splits``: reference instances covering ≥ 50 % of two or more own instances;
    ``n_own``/``n_ref``/``iou_sum``: for pq against the reference.
    """

    annotator: str
    reference: Reference
    area_ratios: tuple[float, ...]
    offsets: tuple[float, ...]
    found: tuple[int, int, int]
    total: tuple[int, int, int]
    merges: int
    splits: int
    n_own: int
    n_ref: int
    iou_sum: float


@dataclass(frozen=True)
class PairOffsets:
    """Pairwise offsets ``(area_u − area_v) / mean perimeter`` of u's and v's matched
    instances on one image (``annotator_u < annotator_v``)."""

    annotator_u: str
    annotator_v: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class ImageStyle:
    """The style observations of one image (see the module docstring)."""

    annotators: tuple[str, ...]
    observations: tuple[AnnotatorObservation, ...]
    pair_offsets: tuple[PairOffsets, ...]


def _size_class(area: int) -> int:
    return 0 if area < SMALL_AREA else 1 if area < MEDIUM_AREA else 2


def _observe(
    annotator: str,
    reference_kind: Reference,
    own: Mapping[Hashable, MeasuredInstance],
    ref: Mapping[Hashable, MeasuredInstance],
    result: PairResult,
    *,
    own_is_a: bool,
) -> AnnotatorObservation:
    """Observation of ``own`` against ``ref`` from their :class:`PairResult` (``own`` is
    side a of the result when ``own_is_a``)."""
    ratios, offsets = [], []
    found_keys = set()
    for m in result.matches:
        o, r = (own[m.a_key], ref[m.b_key]) if own_is_a else (own[m.b_key], ref[m.a_key])
        ratios.append(o.area / r.area)
        offsets.append((o.area - r.area) / r.perimeter if r.perimeter > 0 else 0.0)
        found_keys.add(r.key)
    found, total = [0, 0, 0], [0, 0, 0]
    for r in ref.values():
        size = _size_class(r.area)
        total[size] += 1
        found[size] += r.key in found_keys
    # coverage of reference instance by own (|o ∩ r| / |r|) and the reverse, ≥ 50 %
    covers_ref: dict[Hashable, int] = {}
    covered_by_ref: dict[Hashable, int] = {}
    for ov in result.overlaps:
        o_key, r_key = (ov.a_key, ov.b_key) if own_is_a else (ov.b_key, ov.a_key)
        if 2 * ov.intersection >= ref[r_key].area:
            covers_ref[o_key] = covers_ref.get(o_key, 0) + 1
        if 2 * ov.intersection >= own[o_key].area:
            covered_by_ref[r_key] = covered_by_ref.get(r_key, 0) + 1
    return AnnotatorObservation(
        annotator=annotator,
        reference=reference_kind,
        area_ratios=tuple(ratios),
        offsets=tuple(offsets),
        found=(found[0], found[1], found[2]),
        total=(total[0], total[1], total[2]),
        merges=sum(1 for n in covers_ref.values() if n >= 2),
        splits=sum(1 for n in covered_by_ref.values() if n >= 2),
        n_own=len(own),
        n_ref=len(ref),
        iou_sum=result.iou_sum,
    )


def observe_image(
    annotations: Mapping[str, Sequence[MeasuredInstance]],
    *,
    pairs: Sequence[PairComparison],
    versus_consensus: Mapping[str, PairResult],
    consensus: Sequence[MeasuredInstance] = (),
) -> ImageStyle:
    """Style observations of one image.

    ``pairs`` are the image's pair comparisons (their ``overlaps`` are needed when there are
    exactly two annotators); ``versus_consensus`` each annotator's comparison against
    ``consensus`` (the consensus as :class:`qc.agreement.MeasuredInstance`, own side a, with
    overlaps), required when there are three or more annotators.
    """
    annotators = tuple(sorted(annotations))
    by_key = {a: {inst.key: inst for inst in annotations[a]} for a in annotators}
    pair_offsets = []
    for p in pairs:
        u, v = by_key[p.annotator_a], by_key[p.annotator_b]
        values = []
        for m in p.result.matches:
            iu, iv = u[m.a_key], v[m.b_key]
            mean_perimeter = 0.5 * (iu.perimeter + iv.perimeter)
            values.append((iu.area - iv.area) / mean_perimeter if mean_perimeter > 0 else 0.0)
        pair_offsets.append(PairOffsets(p.annotator_a, p.annotator_b, tuple(values)))

    observations = []
    if len(annotators) == 2 and pairs:
        (p,) = pairs
        a, b = p.annotator_a, p.annotator_b
        observations.append(_observe(a, "peer", by_key[a], by_key[b], p.result, own_is_a=True))
        observations.append(_observe(b, "peer", by_key[b], by_key[a], p.result, own_is_a=False))
    elif len(annotators) >= 3:
        reference = {inst.key: inst for inst in consensus}
        for a in annotators:
            observations.append(
                _observe(a, "consensus", by_key[a], reference, versus_consensus[a], own_is_a=True)
            )
    return ImageStyle(annotators, tuple(observations), tuple(pair_offsets))


def fit_offsets(
    medians: Mapping[tuple[str, str], tuple[float, int]],
    annotators: Iterable[str],
) -> dict[str, float | None]:
    """β per annotator from pairwise median offsets: ``{(u, v): (o(u, v), matches)}``.

    Least squares ``Σ n_uv (β_u − β_v − o_uv)²`` over pairs with ``n_uv > 0``; within each
    connected group of annotators the solution is fixed up to a constant, which is chosen so
    the group's median annotator (the lower median for an even count, ordered by β) gets 0.
    Annotators in no pair with matches get ``None``.
    """
    names = sorted(set(annotators) | {name for pair in medians for name in pair})
    index = {name: k for k, name in enumerate(names)}
    edges = [(index[u], index[v], o, n) for (u, v), (o, n) in medians.items() if n > 0]
    # connected groups by union-find
    parent = list(range(len(names)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for u, v, _, _ in edges:
        parent[root(u)] = root(v)
    beta: dict[str, float | None] = dict.fromkeys(names)
    groups: dict[int, list[int]] = {}
    for k in range(len(names)):
        groups.setdefault(root(k), []).append(k)
    for members in groups.values():
        if len(members) < 2:
            continue
        local = {k: pos for pos, k in enumerate(members)}
        rows = [(local[u], local[v], o, n) for u, v, o, n in edges if u in local]
        design = np.zeros((len(rows), len(members)))
        target = np.zeros(len(rows))
        for r, (u, v, o, n) in enumerate(rows):
            weight = np.sqrt(n)
            design[r, u], design[r, v], target[r] = weight, -weight, weight * o
        solution = np.linalg.lstsq(design, target, rcond=None)[0]
        centre = np.sort(solution)[(len(members) - 1) // 2]
        for k, value in zip(members, solution - centre, strict=True):
            beta[names[k]] = float(value)
    return beta


@dataclass(frozen=True)
class StyleReport:
    """One annotator's style over many images (DESIGN §4, §9 ``annotators`` entries).

    ``area_ratio`` and ``boundary_offset_vs_consensus_px``: medians over every instance
    matched to the reference (``matched`` of them, on ``images`` images); ``reference``
    says whether that was the consensus, the other annotator ("peer"), both ("mixed"), or
    nothing (``None``). ``boundary_offset_px`` is β, "compared with the team's typical
    annotator". ``recall_*``: reference instances found / present by size, ``None`` when none
    present. ``pq_vs_reference``: pq pooled over the images. Medians and rates are ``None``
    without data.
    """

    annotator: str
    images: int
    matched: int
    reference: Literal["consensus", "peer", "mixed"] | None
    area_ratio: float | None
    boundary_offset_vs_consensus_px: float | None
    boundary_offset_px: float | None
    recall_small: float | None
    recall_medium: float | None
    recall_large: float | None
    found: tuple[int, int, int]
    total: tuple[int, int, int]
    merges: int
    splits: int
    pq_vs_reference: float | None


def style_reports(images: Iterable[ImageStyle]) -> dict[str, StyleReport]:
    """Accumulate image observations into one :class:`StyleReport` per annotator (sorted)."""
    names: set[str] = set()
    ratios: dict[str, list[float]] = {}
    offsets: dict[str, list[float]] = {}
    kinds: dict[str, set[str]] = {}
    counts: dict[str, list[int]] = {}  # images, found×3, total×3, merges, splits, n_own, n_ref
    iou_sums: dict[str, list[float]] = {}
    pair_values: dict[tuple[str, str], list[float]] = {}
    for image in images:
        names.update(image.annotators)
        for ob in image.observations:
            a = ob.annotator
            ratios.setdefault(a, []).extend(ob.area_ratios)
            offsets.setdefault(a, []).extend(ob.offsets)
            kinds.setdefault(a, set()).add(ob.reference)
            c = counts.setdefault(a, [0] * 11)
            c[0] += 1
            for s in range(3):
                c[1 + s] += ob.found[s]
                c[4 + s] += ob.total[s]
            c[7] += ob.merges
            c[8] += ob.splits
            c[9] += ob.n_own
            c[10] += ob.n_ref
            iou_sums.setdefault(a, []).append(ob.iou_sum)
        for po in image.pair_offsets:
            pair_values.setdefault((po.annotator_u, po.annotator_v), []).extend(po.values)
    medians = {
        pair: (float(np.median(values)) if values else 0.0, len(values))
        for pair, values in pair_values.items()
    }
    beta = fit_offsets(medians, names)
    reports = {}
    for a in sorted(names):
        c = counts.get(a, [0] * 11)
        kind = kinds.get(a, set())
        denominator = 0.5 * (c[9] + c[10])
        reports[a] = StyleReport(
            annotator=a,
            images=c[0],
            matched=len(ratios.get(a, [])),
            reference=None if not kind else kind.pop() if len(kind) == 1 else "mixed",
            area_ratio=_median(ratios.get(a)),
            boundary_offset_vs_consensus_px=_median(offsets.get(a)),
            boundary_offset_px=beta.get(a),
            recall_small=c[1] / c[4] if c[4] else None,
            recall_medium=c[2] / c[5] if c[5] else None,
            recall_large=c[3] / c[6] if c[6] else None,
            found=(c[1], c[2], c[3]),
            total=(c[4], c[5], c[6]),
            merges=c[7],
            splits=c[8],
            pq_vs_reference=(
                (math.fsum(iou_sums[a]) / denominator if denominator else 1.0) if c[0] else None
            ),
        )
    return reports


def _median(values: list[float] | None) -> float | None:
    return float(np.median(values)) if values else None


def describe(
    report: StyleReport, *, noun: str = "instances", person: Literal["they", "you"] = "they"
) -> str:
    """One sentence a person reads, e.g. "draws 1.6 px outside the consensus edge (median of
    412 bubbles); 1.0 px wider than the team's typical annotator; finds 96 % of small, 99 %
    of medium and 100 % of large bubbles; 2 merges, 0 splits." ``noun`` names the objects.

    ``person="you"`` says it to the annotator, as a sentence of its own: "You draw 1.6 px
    outside the consensus edge (median of 412 bubbles); …; you find 96 % of small, …"."""
    you = person == "you"
    draws, finds = ("You draw", "you find") if you else ("draws", "finds")
    edge = {
        "consensus": "the consensus edge",
        "peer": "the other annotator's edge",
        "mixed": "the reference edge (consensus or the other annotator)",
    }
    if you:
        # Said to the annotator beside a page that explains the reference, without brackets.
        edge["mixed"] = "the reference edge"
    parts = []
    offset = report.boundary_offset_vs_consensus_px
    if offset is None or report.reference is None:
        parts.append(
            f"None of your {noun} matched a reference yet"
            if you
            else f"no {noun} matched to a reference yet"
        )
    else:
        where = edge[report.reference]
        if round(offset, 1) == 0:
            parts.append(f"{draws} on {where} (median of {report.matched} {noun})")
        else:
            side = "outside" if offset > 0 else "inside"
            parts.append(
                f"{draws} {abs(offset):.1f} px {side} {where} (median of {report.matched} {noun})"
            )
    beta = report.boundary_offset_px
    if beta is not None:
        if round(beta, 1) == 0:
            parts.append("about as wide as the team's typical annotator")
        else:
            parts.append(
                f"{abs(beta):.1f} px {'wider' if beta > 0 else 'tighter'} "
                "than the team's typical annotator"
            )
    recalls = [
        (name, value)
        for name, value in (
            ("small", report.recall_small),
            ("medium", report.recall_medium),
            ("large", report.recall_large),
        )
        if value is not None
    ]
    if recalls:
        listed = [f"{round(100 * value)} % of {name}" for name, value in recalls]
        joined = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        parts.append(f"{finds} {joined} {noun}")
    merges = f"{report.merges} merge{'s' if report.merges != 1 else ''}"
    splits = f"{report.splits} split{'s' if report.splits != 1 else ''}"
    parts.append(f"{merges}, {splits}")
    return "; ".join(parts) + "."


# --- storage ---------------------------------------------------------------------------------


def style_to_json(style: ImageStyle) -> dict[str, Any]:
    return asdict(style)


def style_from_json(data: dict[str, Any]) -> ImageStyle:
    return ImageStyle(
        annotators=tuple(data["annotators"]),
        observations=tuple(
            AnnotatorObservation(
                **{
                    **o,
                    "area_ratios": tuple(o["area_ratios"]),
                    "offsets": tuple(o["offsets"]),
                    "found": tuple(o["found"]),
                    "total": tuple(o["total"]),
                }
            )
            for o in data["observations"]
        ),
        pair_offsets=tuple(
            PairOffsets(p["annotator_u"], p["annotator_v"], tuple(p["values"]))
            for p in data["pair_offsets"]
        ),
    )
