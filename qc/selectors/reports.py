"""The project agreement report (DESIGN §4.7, §9) built from stored per-image results, and
the stored report as the API and the dashboards read it.

The report reads `AgreementResult` and `ImageAgreement` rows only; no mask is decoded and no
IoU is recomputed. The report is a plain dict in the JSON shape of `compute_agreement --json`, plus
breakdowns by class, by ISO week and by guideline version for the dashboards.
"""

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from statistics import fmean
from typing import Any

from projects.models import Project
from projects.permissions import Action, has_permission
from qc.agreement import bootstrap_pq_interval, pool
from qc.models import AgreementResult, AgreementSummary, ImageAgreement, Submission
from qc.style import StyleReport, describe, style_from_json, style_reports

BOOTSTRAP_SEED = 0  # the interval is part of a reproducible report


def _metrics(rows: Iterable[AgreementResult]) -> dict[str, Any]:
    pooled = pool(rows)
    return {
        "pairs": pooled.pairs,
        "matched": pooled.matched,
        "pq": pooled.pq,
        "mean_iou": pooled.mean_iou,
        "f1": pooled.f1,
        "boundary_iou": pooled.boundary_iou,
    }


# A submission's guideline versions: (title, number, id) of each, by title; an empty tuple
# when it names none. A group of pairs is keyed by the versions both submissions name, or
# None when they name different ones ("mixed versions").
VersionSet = tuple[tuple[str, int, int], ...]


def version_order(versions: VersionSet | None) -> tuple[int, list[tuple[str, int]]]:
    """Where a group of pairs comes among the guideline versions: by title, then by the
    version's number as a number (v9 before v10), then "mixed versions", then "no
    guideline"."""
    if versions is None:
        return (1, [])
    if not versions:
        return (2, [])
    return (0, [(title.casefold(), number) for title, number, _ in versions])


def version_name(versions: VersionSet | None) -> str:
    """The group's name as the report keys it: "Bubbles v2", "mixed versions"."""
    if versions is None:
        return "mixed versions"
    return ", ".join(f"{title} v{number}" for title, number, _ in versions) or "no guideline"


def _version_key(row: AgreementResult, versions: dict[int, VersionSet]) -> VersionSet | None:
    a, b = versions.get(row.submission_a_id, ()), versions.get(row.submission_b_id, ())
    return None if a != b else a


def agreement_report(*, project: Project) -> dict[str, Any]:
    """Build the report of DESIGN §9 (and breakdowns) from the project's stored results."""

    pooled_rows = list(
        AgreementResult.objects.filter(image__project=project, label_class__isnull=True)
        .select_related("image", "annotator_a", "annotator_b")
        .order_by("image__name", "annotator_a__username", "annotator_b__username")
    )
    class_rows = list(
        AgreementResult.objects.filter(image__project=project, label_class__isnull=False)
        .select_related("label_class")
        .order_by("label_class__name")
    )
    agreements = list(ImageAgreement.objects.filter(image__project=project).order_by("image__name"))
    submitted_at, version_sets = _submission_times_and_versions(pooled_rows)
    by_image: dict[int, list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        by_image[row.image_id].append(row)
    summary = _summary(pooled_rows, by_image=by_image)
    annotators = _annotators(pooled_rows, agreements=agreements)
    groups = _groups(
        pooled_rows, class_rows=class_rows, submitted_at=submitted_at, versions=version_sets
    )
    return {
        "project": project.slug,
        "images": len(by_image),
        "summary": summary,
        "pairs": [_pair(row) for row in pooled_rows],
        "annotators": annotators,
        "by_class": _group_metrics(groups["by_class"]),
        "by_week": _group_metrics(groups["by_week"]),
        "by_guideline_version": {
            version_name(key): _metrics(rows) for key, rows in groups["by_version"].items()
        },
        "dashboard": dashboard_section(
            pooled_rows,
            summary=summary,
            annotators=annotators,
            groups=groups,
            agreements=agreements,
        ),
    }


def _submission_times_and_versions(
    pooled_rows: Sequence[AgreementResult],
) -> tuple[dict[int, datetime], dict[int, VersionSet]]:
    """When each compared submission was submitted, and the guideline versions it names,
    by submission id."""
    submission_ids = {r.submission_a_id for r in pooled_rows} | {
        r.submission_b_id for r in pooled_rows
    }
    versions: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    submitted_at = {}
    for pk, at, version_id, title, number in (
        Submission.objects.filter(pk__in=submission_ids)
        .values_list(
            "pk",
            "submitted_at",
            "guideline_versions__pk",
            "guideline_versions__guideline__title",
            "guideline_versions__number",
        )
        .order_by("pk")
    ):
        submitted_at[pk] = at
        if title is not None:
            versions[pk].append((title, number, version_id))
    return submitted_at, {
        pk: tuple(sorted(v, key=lambda t: (t[0].casefold(), t[1]))) for pk, v in versions.items()
    }


def _summary(
    pooled_rows: Sequence[AgreementResult], *, by_image: dict[int, list[AgreementResult]]
) -> dict[str, Any]:
    """The project's pooled figures, with the pq's 95 % bootstrap interval over images."""
    metrics = _metrics(pooled_rows)
    interval = bootstrap_pq_interval(list(by_image.values()), seed=BOOTSTRAP_SEED)
    return {
        "pq": metrics["pq"],
        "pq_ci95": list(interval) if interval else None,
        "mean_iou": metrics["mean_iou"],
        "f1": metrics["f1"],
        "boundary_iou": metrics["boundary_iou"],
    }


def _pair(row: AgreementResult) -> dict[str, Any]:
    return {
        "image": row.image.name,
        "annotator_a": row.annotator_a.username,
        "annotator_b": row.annotator_b.username,
        "matched": row.matched,
        "unmatched_a": row.unmatched_a,
        "unmatched_b": row.unmatched_b,
        "label_mismatch": row.label_mismatch,
        "mean_iou": row.mean_iou,
        "f1": row.f1,
        "pq": row.pq,
        "boundary_iou": row.boundary_iou,
    }


def _annotators(
    pooled_rows: Sequence[AgreementResult], *, agreements: Sequence[ImageAgreement]
) -> list[dict[str, Any]]:
    """One row per annotator, by username: against their peers, against the consensus, and
    their style."""
    peers: dict[str, list[float]] = defaultdict(list)
    images_of: dict[str, set[int]] = defaultdict(set)
    for row in pooled_rows:
        for user in (row.annotator_a.username, row.annotator_b.username):
            peers[user].append(row.pq)
            images_of[user].add(row.image_id)
    versus: dict[str, list[dict]] = defaultdict(list)
    for agreement in agreements:
        for user, counts in agreement.versus_consensus.items():
            versus[user].append(counts)
    styles = style_reports(style_from_json(a.style) for a in agreements if a.style)
    return [
        {
            "username": user,
            "images": len(images_of[user]),
            "pq_vs_peers": fmean(peers[user]) if peers[user] else None,
            "pq_vs_consensus": _pq_vs_consensus(versus.get(user, [])),
            **_style_figures(styles.get(user)),
            "pooled": _metrics(
                r for r in pooled_rows if user in (r.annotator_a.username, r.annotator_b.username)
            ),
        }
        for user in sorted(set(peers) | set(styles))
    ]


def _pq_vs_consensus(against: list[dict]) -> float | None:
    """Pooled pq of an annotator's images against their consensus (None without one)."""
    if not against:
        return None
    half = 0.5 * sum(c["n_own"] + c["n_ref"] for c in against)
    iou_sum = math.fsum(c["iou_sum"] for c in against)
    return iou_sum / half if half else 1.0


def _style_figures(style: StyleReport | None) -> dict[str, Any]:
    return {
        "area_ratio": style.area_ratio if style else None,
        "boundary_offset_px": style.boundary_offset_px if style else None,
        "boundary_offset_vs_consensus_px": (
            style.boundary_offset_vs_consensus_px if style else None
        ),
        "recall_small": style.recall_small if style else None,
        "recall_medium": style.recall_medium if style else None,
        "recall_large": style.recall_large if style else None,
        "merges": style.merges if style else 0,
        "splits": style.splits if style else 0,
        "description": describe(style) if style else None,
    }


Groups = dict[str, dict[Any, list[AgreementResult]]]


def _groups(
    pooled_rows: Sequence[AgreementResult],
    *,
    class_rows: Sequence[AgreementResult],
    submitted_at: dict[int, datetime],
    versions: dict[int, VersionSet],
) -> Groups:
    """The results by class (the class rows), by ISO week of the newer submission of each
    pair, and by the guideline versions both submissions name (the pooled rows, keyed by
    :data:`VersionSet`), each in the order of its keys (:func:`version_order`)."""
    by_class: dict[str, list[AgreementResult]] = defaultdict(list)
    for row in class_rows:
        by_class[row.label_class.name].append(row)
    by_week: dict[str, list[AgreementResult]] = defaultdict(list)
    by_version: dict[VersionSet | None, list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        newest = max(submitted_at[row.submission_a_id], submitted_at[row.submission_b_id])
        year, week, _ = newest.isocalendar()
        by_week[f"{year}-W{week:02d}"].append(row)
        by_version[_version_key(row, versions)].append(row)
    return {
        "by_class": dict(sorted(by_class.items())),
        "by_week": dict(sorted(by_week.items())),
        "by_version": dict(sorted(by_version.items(), key=lambda item: version_order(item[0]))),
    }


def _group_metrics(group: dict[Any, list[AgreementResult]]) -> dict[str, dict[str, Any]]:
    return {key: _metrics(rows) for key, rows in group.items()}


# The keys of `compute_agreement --json` (DESIGN §9); the rest of the report is for dashboards.
ANNOTATOR_KEYS = (
    "username",
    "images",
    "pq_vs_peers",
    "pq_vs_consensus",
    "area_ratio",
    "boundary_offset_px",
    "boundary_offset_vs_consensus_px",
    "recall_small",
    "recall_medium",
    "recall_large",
    "merges",
    "splits",
)


# --- what the dashboard reads ---------------------------------------------------------------
# The dashboard reads the report's "dashboard" key only: a few kilobytes whatever the number
# of images, where the pairs alone of 10,000 images by 3 annotators are megabytes.

# The shape of the stored "dashboard" key: a report stored with another (or none) is read as
# stale by the page, which says how to rebuild it. 2: version rows name their versions.
DASHBOARD_FORMAT = 2
HISTOGRAM_BIN = 0.05
# The histogram's bin edges, rounded as a bin's link (?pq_min=&pq_max=) gives them to the
# image pq CSV and the review queue, so that a bin counts exactly the images of the CSV it
# opens (every compared image; the queue holds only those still in review).
HISTOGRAM_EDGES = tuple(round(k * HISTOGRAM_BIN, 2) for k in range(round(1 / HISTOGRAM_BIN) + 1))
WORST_IMAGES = 10
# A week's, a class's or a version's interval needs this many images: resampling one image
# gives an interval of width 0, and a handful gives one that looks far surer than it is.
INTERVAL_MIN_IMAGES = 5


def _interval(rows: Iterable[AgreementResult]) -> list[float] | None:
    """The pooled pq's 95 % bootstrap interval over the images of ``rows`` (None with fewer
    than :data:`INTERVAL_MIN_IMAGES` images)."""
    by_image: dict[int, list[AgreementResult]] = defaultdict(list)
    for row in rows:
        by_image[row.image_id].append(row)
    if len(by_image) < INTERVAL_MIN_IMAGES:
        return None
    interval = bootstrap_pq_interval(list(by_image.values()), seed=BOOTSTRAP_SEED)
    return list(interval) if interval else None


def _with_interval(rows: Sequence[AgreementResult]) -> dict[str, Any]:
    return {
        **_metrics(rows),
        "images": len({row.image_id for row in rows}),
        "pq_ci95": _interval(rows),
    }


def _heatmap(pooled_rows: Sequence[AgreementResult]) -> list[dict[str, Any]]:
    """Per annotator pair, pooled over their shared images (DESIGN §4.7):
    Σ iou_sum / (½ Σ (n_a + n_b)), with the images and matches behind it."""
    by_pair: dict[tuple[str, str], list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        by_pair[(row.annotator_a.username, row.annotator_b.username)].append(row)
    return [
        {"a": a, "b": b, **_metrics(rows), "images": len({r.image_id for r in rows})}
        for (a, b), rows in sorted(by_pair.items())
    ]


def histogram_bin(pq: float) -> int:
    """The histogram bin of an image's pq: the last edge at or below it (1.0 goes in the
    last bin), as the ``pq_min ≤ pq < pq_max`` filter of the image pq CSV and of the review
    queue draws it."""
    return min(bisect_right(HISTOGRAM_EDGES, pq) - 1, len(HISTOGRAM_EDGES) - 2)


def _histogram(agreements: Sequence[ImageAgreement]) -> list[int]:
    counts = [0] * (len(HISTOGRAM_EDGES) - 1)
    for agreement in agreements:
        if agreement.pq is not None:
            counts[histogram_bin(agreement.pq)] += 1
    return counts


def _worst(
    agreements: Sequence[ImageAgreement], *, by_image: dict[int, list[AgreementResult]]
) -> list[dict[str, Any]]:
    """The images of lowest pq (then by name), with their annotators."""
    compared = [a for a in agreements if a.pq is not None and a.image_id in by_image]
    compared.sort(key=lambda a: (a.pq, by_image[a.image_id][0].image.name))
    worst = []
    for agreement in compared[:WORST_IMAGES]:
        rows = by_image[agreement.image_id]
        names = {r.annotator_a.username for r in rows} | {r.annotator_b.username for r in rows}
        worst.append(
            {
                "id": agreement.image_id,
                "name": rows[0].image.name,
                "pq": agreement.pq,
                "mean_iou": agreement.mean_iou,
                "f1": agreement.f1,
                "annotators": sorted(names),
            }
        )
    return worst


def dashboard_section(
    pooled_rows: Sequence[AgreementResult],
    *,
    summary: dict[str, Any],
    annotators: Sequence[dict[str, Any]],
    groups: Groups,
    agreements: Sequence[ImageAgreement],
) -> dict[str, Any]:
    """What the agreement dashboard shows, computed when the report is built so that the
    page reads it and nothing else: the headline, the figures by week, class and guideline
    version each with its 95 % bootstrap interval over images, the annotator × annotator
    cells, the annotators' rows with their user ids, the histogram of image pq and the
    worst images. Ids are those of the queue's filters (class, annotator, version). Each
    version row names its versions (title, number, id) so that the page compares a version
    with the one before it without parsing its name back; ``format`` is
    :data:`DASHBOARD_FORMAT`, which the page checks before reading the rest."""
    by_image: dict[int, list[AgreementResult]] = defaultdict(list)
    ids: dict[str, int] = {}
    for row in pooled_rows:
        by_image[row.image_id].append(row)
        ids[row.annotator_a.username] = row.annotator_a_id
        ids[row.annotator_b.username] = row.annotator_b_id
    class_ids = {
        rows[0].label_class.name: rows[0].label_class_id for rows in groups["by_class"].values()
    }
    return {
        "format": DASHBOARD_FORMAT,
        "summary": {
            **summary,
            "images": len(by_image),
            "pairs": len(pooled_rows),
            "annotators": len(ids),
        },
        "weeks": [
            {"week": week, **_with_interval(rows)} for week, rows in groups["by_week"].items()
        ],
        "classes": [
            {"name": name, "id": class_ids[name], **_with_interval(rows)}
            for name, rows in groups["by_class"].items()
        ],
        "versions": [
            {
                "key": version_name(key),
                "versions": [
                    {"title": title, "number": number, "id": pk}
                    for title, number, pk in (key or ())
                ],
                **_with_interval(rows),
            }
            for key, rows in groups["by_version"].items()
        ],
        "heatmap": _heatmap(pooled_rows),
        "annotators": [
            {**{k: a[k] for k in (*ANNOTATOR_KEYS, "description")}, "id": ids.get(a["username"])}
            for a in annotators
        ],
        "histogram": {"edges": list(HISTOGRAM_EDGES), "counts": _histogram(agreements)},
        "worst": _worst(agreements, by_image=by_image),
    }


def report_as_interface(report: dict[str, Any]) -> dict[str, Any]:
    """The report restricted to exactly the JSON of DESIGN §9."""
    return {
        "project": report["project"],
        "images": report["images"],
        "summary": report["summary"],
        "pairs": report["pairs"],
        "annotators": [{k: a[k] for k in ANNOTATOR_KEYS} for a in report["annotators"]],
    }


def _stored_report(project: Project) -> dict[str, Any]:
    """The report stored when the project's agreement was last updated; before that, a
    report of no image."""
    summary = AgreementSummary.objects.filter(project=project).first()
    if summary is None or not summary.report:
        return {
            "project": project.slug,
            "images": 0,
            "summary": None,
            "pairs": [],
            "annotators": [],
        }
    return summary.report


def agreement_report_stored(*, project: Project) -> dict[str, Any]:
    """The stored report as `compute_agreement --json` prints it, plus its breakdowns by
    class, week and guideline version (empty before any agreement)."""
    report = _stored_report(project)
    base = report_as_interface(report) if report.get("summary") else report
    return {
        **base,
        "by_class": report.get("by_class", {}),
        "by_week": report.get("by_week", {}),
        "by_guideline_version": report.get("by_guideline_version", {}),
    }


def style_reports_visible_to(*, user: Any, project: Project) -> list[dict[str, Any]]:
    """The stored style rows (numbers and words) of the project's annotators that ``user``
    may see: everyone's for those who may view the agreement, their own for those who may
    see their own style, none for anyone else."""
    if has_permission(user=user, project=project, action=Action.VIEW_AGREEMENT):
        return _stored_report(project)["annotators"]
    if not has_permission(user=user, project=project, action=Action.VIEW_OWN_STYLE):
        return []
    return [a for a in _stored_report(project)["annotators"] if a["username"] == user.username]
