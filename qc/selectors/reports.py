"""The project agreement report (DESIGN §4.7, §9) built from stored per-image results, and
the stored report as the API and the dashboards read it.

The report reads `AgreementResult` and `ImageAgreement` rows only; no mask is decoded and no
IoU is recomputed. The report is a plain dict in the JSON shape of `compute_agreement --json`, plus
breakdowns by class, by ISO week and by guideline version for the dashboards.
"""

import math
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


def _version_key(row: AgreementResult, versions: dict[int, tuple[str, ...]]) -> str:
    a, b = versions.get(row.submission_a_id, ()), versions.get(row.submission_b_id, ())
    if a != b:
        return "mixed versions"
    return ", ".join(a) or "no guideline"


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
    return {
        "project": project.slug,
        "images": len(by_image),
        "summary": _summary(pooled_rows, by_image=by_image),
        "pairs": [_pair(row) for row in pooled_rows],
        "annotators": _annotators(pooled_rows, agreements=agreements),
        **_breakdowns(
            pooled_rows, class_rows=class_rows, submitted_at=submitted_at, versions=version_sets
        ),
    }


def _submission_times_and_versions(
    pooled_rows: Sequence[AgreementResult],
) -> tuple[dict[int, datetime], dict[int, tuple[str, ...]]]:
    """When each compared submission was submitted, and the guideline versions it names
    ("Title vN", by title), by submission id."""
    submission_ids = {r.submission_a_id for r in pooled_rows} | {
        r.submission_b_id for r in pooled_rows
    }
    versions: dict[int, list[str]] = defaultdict(list)
    submitted_at = {}
    for pk, at, title, number in (
        Submission.objects.filter(pk__in=submission_ids)
        .values_list(
            "pk",
            "submitted_at",
            "guideline_versions__guideline__title",
            "guideline_versions__number",
        )
        .order_by("pk", "guideline_versions__guideline__title")
    ):
        submitted_at[pk] = at
        if title is not None:
            versions[pk].append(f"{title} v{number}")
    return submitted_at, {pk: tuple(v) for pk, v in versions.items()}


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


def _breakdowns(
    pooled_rows: Sequence[AgreementResult],
    *,
    class_rows: Sequence[AgreementResult],
    submitted_at: dict[int, datetime],
    versions: dict[int, tuple[str, ...]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """The pooled figures by class, by ISO week of the newer submission of each pair, and by
    guideline version."""
    by_class: dict[str, list[AgreementResult]] = defaultdict(list)
    for row in class_rows:
        by_class[row.label_class.name].append(row)
    by_week: dict[str, list[AgreementResult]] = defaultdict(list)
    by_version: dict[str, list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        newest = max(submitted_at[row.submission_a_id], submitted_at[row.submission_b_id])
        year, week, _ = newest.isocalendar()
        by_week[f"{year}-W{week:02d}"].append(row)
        by_version[_version_key(row, versions)].append(row)
    return {
        "by_class": {name: _metrics(rows) for name, rows in sorted(by_class.items())},
        "by_week": {week: _metrics(rows) for week, rows in sorted(by_week.items())},
        "by_guideline_version": {key: _metrics(rows) for key, rows in sorted(by_version.items())},
    }


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
