"""Reads of qc's stored rows: an image's latest submissions as the engine reads them, and
the project agreement report (DESIGN §4.7, §9) built from stored per-image results.

The report reads `AgreementResult` and `ImageAgreement` rows only; no mask is decoded and no
IoU is recomputed. The report is a plain dict in the JSON shape of `compute_agreement --json`, plus
breakdowns by class, by ISO week and by guideline version for the dashboards.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean
from typing import Any

from projects.models import Image, Project, TaskStatus
from qc.agreement import InstanceFeatures, MeasuredInstance, bootstrap_pq_interval, pool
from qc.models import AgreementResult, ImageAgreement, Instance, Submission
from qc.style import describe, style_from_json, style_reports

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
    version_sets = {pk: tuple(v) for pk, v in versions.items()}

    by_image: dict[int, list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        by_image[row.image_id].append(row)
    summary = _metrics(pooled_rows)
    interval = bootstrap_pq_interval(list(by_image.values()), seed=BOOTSTRAP_SEED)
    summary = {
        "pq": summary["pq"],
        "pq_ci95": list(interval) if interval else None,
        "mean_iou": summary["mean_iou"],
        "f1": summary["f1"],
        "boundary_iou": summary["boundary_iou"],
    }
    pairs = [
        {
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
        for row in pooled_rows
    ]

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
    annotators = []
    for user in sorted(set(peers) | set(styles)):
        style = styles.get(user)
        against = versus.get(user, [])
        half = 0.5 * sum(c["n_own"] + c["n_ref"] for c in against)
        iou_sum = math.fsum(c["iou_sum"] for c in against)
        annotators.append(
            {
                "username": user,
                "images": len(images_of[user]),
                "pq_vs_peers": fmean(peers[user]) if peers[user] else None,
                "pq_vs_consensus": (iou_sum / half if half else 1.0) if against else None,
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
                "pooled": _metrics(
                    r
                    for r in pooled_rows
                    if user in (r.annotator_a.username, r.annotator_b.username)
                ),
            }
        )

    by_class: dict[str, list[AgreementResult]] = defaultdict(list)
    for row in class_rows:
        by_class[row.label_class.name].append(row)
    by_week: dict[str, list[AgreementResult]] = defaultdict(list)
    by_version: dict[str, list[AgreementResult]] = defaultdict(list)
    for row in pooled_rows:
        newest = max(submitted_at[row.submission_a_id], submitted_at[row.submission_b_id])
        year, week, _ = newest.isocalendar()
        by_week[f"{year}-W{week:02d}"].append(row)
        by_version[_version_key(row, version_sets)].append(row)
    return {
        "project": project.slug,
        "images": len(by_image),
        "summary": summary,
        "pairs": pairs,
        "annotators": annotators,
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


def latest_submissions(*, image: Image) -> list[Submission]:
    """The newest revision of every live task of the image, with instances and annotator."""
    submissions = (
        Submission.objects.filter(task__image=image)
        .exclude(task__status=TaskStatus.CANCELLED)
        .select_related("task__annotator")
        .prefetch_related("instances")
        .order_by("task_id", "-revision")
    )
    newest: dict[int, Submission] = {}
    for submission in submissions:
        newest.setdefault(submission.task_id, submission)
    return list(newest.values())


def stored_instance(
    instance: Instance, *, height: int, width: int, band_px: int
) -> MeasuredInstance:
    """An engine instance from a stored row; no pixel is decoded unless the project's band
    width changed since the instance was stored."""
    rle = {"size": [height, width], "counts": instance.rle.encode()}
    if instance.boundary_px != band_px:
        return MeasuredInstance.from_rle(
            instance.pk, instance.label_class_id, rle, boundary_px=band_px
        )
    features = InstanceFeatures(
        area=instance.area,
        bbox=(instance.bbox_x, instance.bbox_y, instance.bbox_w, instance.bbox_h),
        perimeter=instance.perimeter,
        boundary_rle={"size": [height, width], "counts": instance.boundary_rle.encode()},
    )
    return MeasuredInstance.from_features(instance.pk, instance.label_class_id, rle, features)
