"""Agreement persistence: recompute one image when a submission arrives (DESIGN §4, §6).

The pure engine (:mod:`qc.comparison` on :mod:`qc.agreement`, :mod:`qc.consensus`,
:mod:`qc.style`) does the work on stored RLE; this module reads the image's latest revisions
(:mod:`qc.selectors`), runs it, and replaces the image's stored results in one transaction,
so readers see either the old results or the new ones. What lives where:

- :func:`agreement_update_for_image`: one image, in steps: the engine's comparison
  (:func:`_image_compare`), the AgreementResult rows (:func:`_pair_rows`; the fields of
  ``PairMetrics.STORED_FIELDS``), the ConsensusInstance rows (:func:`_consensus_rows`;
  ``StoredMask.mask_columns_for``) and the ImageAgreement (:func:`_image_agreement_store`);
- :func:`agreement_summary_update` (queued by :func:`agreement_summary_queue`, one rebuild
  waiting per project), :func:`agreement_recompute_project`: the project's stored report;
- the background tasks that run them: ``agreement_update_for_image_task`` (and ``_images_``
  for a group), ``agreement_summary_task``.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from projects.models import Image, Project
from qc.agreement import boundary_width, pool
from qc.comparison import ImageComparison, compare_image
from qc.models import (
    AgreementResult,
    AgreementSummary,
    ConsensusInstance,
    ImageAgreement,
    Submission,
)
from qc.selectors import agreement_report, latest_submissions, stored_instance
from qc.services.labels import review_policy_apply
from qc.style import style_to_json

logger = logging.getLogger("maskqc.agreement")


@transaction.atomic
def agreement_update_for_image(*, image_id: int) -> ImageAgreement | None:
    """Recompute and store the agreement of one image; None when it has < 2 submissions.
    Then the project's review policy may accept the image (:func:`review_policy_apply`).

    The image row is locked, so two submissions arriving at once recompute one after the
    other and the second sees both.
    """
    image = Image.objects.select_for_update(of=("self",)).select_related("project").get(pk=image_id)
    AgreementResult.objects.filter(image=image).delete()
    ConsensusInstance.objects.filter(image=image).delete()
    submissions = latest_submissions(image=image)
    if len(submissions) < 2:
        _image_agreement_delete(image=image)
        return None
    by_user = {s.task.annotator.username: s for s in submissions}
    result = _image_compare(image=image, by_user=by_user)
    AgreementResult.objects.bulk_create(_pair_rows(image=image, result=result, by_user=by_user))
    ConsensusInstance.objects.bulk_create(_consensus_rows(image=image, result=result))
    stored = _image_agreement_store(image=image, result=result)
    review_policy_apply(image=image)
    return stored


def _image_agreement_delete(*, image: Image) -> None:
    """Drop the image's stored agreement, and the project report when there was one."""
    removed, _ = ImageAgreement.objects.filter(image=image).delete()
    if removed:
        # No newer image result will mark the report stale: drop it to be rebuilt.
        AgreementSummary.objects.filter(project=image.project).delete()


def _image_compare(*, image: Image, by_user: dict[str, Submission]) -> ImageComparison:
    """The engine's comparison of the image's latest submissions (by annotator's username)
    under the project's settings."""
    project = image.project
    band_px = boundary_width(
        height=image.height, width=image.width, boundary_px=project.boundary_px
    )
    annotations = {
        username: [
            stored_instance(i, height=image.height, width=image.width, band_px=band_px)
            for i in submission.instances.all()
        ]
        for username, submission in by_user.items()
    }
    class_match_iou = dict(
        project.label_classes.filter(match_iou__isnull=False).values_list("id", "match_iou")
    )
    return compare_image(
        annotations,
        height=image.height,
        width=image.width,
        match_iou=project.match_iou,
        class_match_iou=class_match_iou,
        consensus_method=project.consensus_method,
        quorum=project.quorum,
    )


def _pair_rows(
    *, image: Image, result: ImageComparison, by_user: dict[str, Submission]
) -> list[AgreementResult]:
    """One row per annotator pair pooled over classes (class null), then one per class."""
    rows = []
    for pair in result.pairs:
        sub_a, sub_b = by_user[pair.annotator_a], by_user[pair.annotator_b]
        common = {
            "image": image,
            "annotator_a": sub_a.task.annotator,
            "annotator_b": sub_b.task.annotator,
            "submission_a": sub_a,
            "submission_b": sub_b,
        }
        for metrics, label_class_id in [(pair.result, None)] + [
            (c, c.label) for c in pair.result.per_class
        ]:
            rows.append(
                AgreementResult(**common, label_class_id=label_class_id, **metrics.stored_values())
            )
    return rows


def _consensus_rows(*, image: Image, result: ImageComparison) -> list[ConsensusInstance]:
    """The consensus instances of the comparison, as rows."""
    return [
        ConsensusInstance(
            image=image,
            label_class_id=item.label,
            **ConsensusInstance.mask_columns_for(rle=item.rle, bbox=item.bbox, area=item.area),
            support=len(item.members),
            members=[key for _, key in item.members],
        )
        for item in result.consensus
    ]


def _image_agreement_store(*, image: Image, result: ImageComparison) -> ImageAgreement:
    """Store the image's pooled metrics, each annotator against the consensus and the style
    observations."""
    pooled = pool(p.result for p in result.pairs)
    versus = {
        username: {
            "n_own": r.n_a,
            "n_ref": r.n_b,
            "matched": r.matched,
            "iou_sum": r.iou_sum,
            "pq": r.pq,
        }
        for username, r in result.versus_consensus.items()
    }
    agreement, _ = ImageAgreement.objects.update_or_create(
        image=image,
        defaults={
            "annotators": len(result.annotators),
            "pq": pooled.pq,
            "mean_iou": pooled.mean_iou,
            "f1": pooled.f1,
            "boundary_iou": pooled.boundary_iou,
            "consensus_method": image.project.consensus_method,
            "versus_consensus": versus,
            "style": style_to_json(result.style),
        },
    )
    return agreement


def agreement_summary_update(*, project_id: int) -> AgreementSummary:
    """Rebuild the project's stored report from its per-image results.

    The report is read without a lock (at 10,000 images it takes seconds, and image tasks
    that queue the next rebuild write to the same row); its ``computed_at`` is when the read
    began. A rebuild that began earlier than the stored one's does not overwrite it, so of
    two concurrent rebuilds the one that read later results wins, whichever ends last.
    """

    project = Project.objects.get(pk=project_id)
    started = timezone.now()
    report = agreement_report(project=project)
    with transaction.atomic():
        summary, created = AgreementSummary.objects.select_for_update().get_or_create(
            project=project, defaults={"report": report, "computed_at": started}
        )
        if not created and summary.computed_at <= started:
            summary.report = report
            summary.computed_at = started
            summary.save(update_fields=["report", "computed_at"])
    return summary


def agreement_recompute_project(*, project: Any) -> AgreementSummary:
    """Recompute every image of the project (one transaction each), then its report."""
    image_ids = (
        Submission.objects.filter(task__image__project=project)
        .values_list("task__image_id", flat=True)
        .distinct()
        .order_by("task__image_id")
    )
    for image_id in list(image_ids):
        agreement_update_for_image(image_id=image_id)
    return agreement_summary_update(project_id=project.pk)


# ------------------------------------------------------------------ background tasks


@task()
def agreement_update_for_image_task(*, image_id: int) -> None:
    """Recompute one image, then queue the project report that depends on it.

    The report is its own task so that after a large import (one task per image, queued in
    order) the first report task rebuilds once and the ones behind it find nothing stale.
    """
    agreement_update_for_image(image_id=image_id)
    project_id = Image.objects.values_list("project_id", flat=True).get(pk=image_id)
    agreement_summary_queue(project_id=project_id)


@task()
def agreement_update_for_images_task(*, image_ids: list[int]) -> None:
    """Recompute several images (an import queues its images in groups: one task row per
    image costs more than the queue's workers save), then queue their projects' reports.

    Every image is attempted; if some fail, the task fails afterwards naming them."""
    failed: dict[int, str] = {}
    for image_id in image_ids:
        try:
            agreement_update_for_image(image_id=image_id)
        except Exception as error:  # one bad image must not stop the others
            failed[image_id] = f"{type(error).__name__}: {error}"
    projects = Image.objects.filter(pk__in=image_ids).values_list("project_id", flat=True)
    for project_id in sorted(set(projects)):
        agreement_summary_queue(project_id=project_id)
    if failed:
        raise RuntimeError(
            "agreement failed: " + "; ".join(f"image {i}: {why}" for i, why in failed.items())
        )


def agreement_summary_queue(*, project_id: int) -> None:
    """Queue a rebuild of the project's report (:func:`agreement_summary_enqueue`). The
    images' results are stored already, so a task queue that refuses the rebuild (Redis
    gone for a moment) is logged and does not fail their task: the agreement backlog
    (:mod:`qc.services.agreement_backlog`) queues a stale report."""
    try:
        agreement_summary_enqueue(project_id=project_id)
    except Exception as error:  # the stored results stand; the backlog has the report
        logger.warning(
            "agreement report of project %s not queued (%s: %s); the agreement backlog "
            "queues it once the task queue takes work again",
            project_id,
            type(error).__name__,
            error,
        )


def agreement_summary_enqueue(*, project_id: int) -> None:
    """Queue a rebuild of the project's report, unless one is queued and has not started.

    At 10,000 images a rebuild takes seconds, and every image task after a submission asks
    for one: one waiting rebuild per project takes them all. Where the task backend can
    defer a task, the rebuild runs no sooner than ``MASKQC_REPORT_INTERVAL_SECONDS`` after
    the stored report was read, so that under a stream of submissions the workers spend
    their time on images and the dashboards lag by at most about that much. A claim older
    than that interval plus ``MASKQC_JOB_STUCK_SECONDS`` is taken as lost (its worker
    killed) and queued again. A task queue that refuses the rebuild raises, the claim let
    go.
    """
    interval = timedelta(seconds=settings.MASKQC_REPORT_INTERVAL_SECONDS)
    now = timezone.now()
    rows = AgreementSummary.objects.filter(project_id=project_id)
    stored = rows.values_list("computed_at", flat=True).first()
    task = agreement_summary_task
    if stored is not None:
        lost = now - interval - timedelta(seconds=settings.MASKQC_JOB_STUCK_SECONDS)
        free = Q(queued_at__isnull=True) | Q(queued_at__lt=lost)
        if not rows.filter(free).update(queued_at=now):
            return  # a rebuild is waiting; it will read these results too
        if stored + interval > now and task.get_backend().supports_defer:
            task = task.using(run_after=stored + interval)
    try:
        task.enqueue(project_id=project_id)
    except Exception:
        rows.filter(queued_at=now).update(queued_at=None)
        raise


@task()
def agreement_summary_task(*, project_id: int) -> None:
    """Rebuild the project's agreement report. The waiting claim is let go first: results
    stored from now on queue the next rebuild.

    It rebuilds whether or not the stored report looks older than the images' results:
    it is queued after an image's results committed, and a result saved (its
    ``computed_at`` taken) just before a rebuild began reading but committed just after
    would look included when it is not. One rebuild waits per project
    (:func:`agreement_summary_queue`), so this costs no extra rebuilds."""
    AgreementSummary.objects.filter(project_id=project_id).update(queued_at=None)
    if Project.objects.filter(pk=project_id).exists():
        agreement_summary_update(project_id=project_id)
