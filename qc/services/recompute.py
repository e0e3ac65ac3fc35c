"""A project recomputed in the background (:class:`qc.models.Recompute`): a lead starts it
from the Recompute tab of the project's Settings (``/p/<slug>/recompute/``) after changing
how agreement is measured (match IoU, band width, consensus method, quorum).

The work fans out so that every worker, on every machine, may share it: the run task
claims the recompute, lists the images to recompute and cuts them into parts of
``MASKQC_RECOMPUTE_PART_IMAGES`` images, one part task each. A part recomputes its images
(:func:`qc.services.features.instance_features_recompute` on those ids) and adds what it
did to the row; the part that completes the last one rebuilds the project report once and
marks the recompute done with the merged summary.

While it runs, the row's ``summary`` holds the counts merged so far, the parts done
(``done_parts``, so a part run twice counts once) and the task ids of the parts
(:data:`qc.services.jobs.PART_TASKS`, so a recompute whose parts wait in the queue is not
taken for lost). A part carries its recompute's claim (``attempt``): once the recompute is
queued again, the parts of the earlier claim change nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import task

from projects.audit import audit
from projects.models import Project
from projects.permissions import Action, require_action
from qc.models import JobStatus, Recompute
from qc.services.agreement import agreement_summary_update
from qc.services.features import (
    FeaturesRecomputeSummary,
    images_with_submissions,
    instance_features_recompute,
)
from qc.services.jobs import PART_TASKS, job_heartbeat, job_queue, job_run, job_slot_take

__all__ = [
    "recompute_create",
    "recompute_part_run",
    "recompute_part_task",
    "recompute_run",
    "recompute_run_task",
]

# The summary's counts, added up over the parts.
COUNTS = ("images", "instances", "instances_changed", "images_recomputed", "consensus_changed")
DONE_PARTS = "done_parts"


def recompute_create(*, project: Project, actor: Any) -> Recompute:
    """Queue a recompute of ``project`` (leads and admins). A project with
    ``MASKQC_MAX_PENDING_JOBS`` recomputes pending or running refuses another with 429."""
    require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="recompute agreement"
    )
    with transaction.atomic():
        job_slot_take(Recompute, project=project, noun="recomputes")
        recompute = Recompute.objects.create(project=project, created_by=actor)
        audit(actor=actor, verb="recompute.create", obj=recompute, project=project)
        job_queue(job=recompute)
    return recompute


def recompute_run(*, recompute_id: int) -> Recompute:
    """Run a pending recompute: claim it (a second runner finds it taken), cut its images
    into parts and queue one part task each (:func:`recompute_part_run`), its parts total
    on the row. A project without an image to recompute is done at once. Returns the
    recompute as it is then (done already when the backend ran the parts inline)."""

    def fan_out(recompute: Recompute) -> dict[str, Any] | None:
        image_ids = images_with_submissions(project=recompute.project)
        size = settings.MASKQC_RECOMPUTE_PART_IMAGES
        parts = [image_ids[start : start + size] for start in range(0, len(image_ids), size)]
        if not parts:
            return _done_fields(_empty_summary(recompute.project.slug))
        mine = _claimed(recompute.pk, recompute.attempts)
        mine.update(
            parts_total=len(parts),
            parts_done=0,
            message=f"{len(image_ids)} images in {len(parts)} parts queued",
            summary=_empty_summary(recompute.project.slug),
        )
        task_ids = [
            str(
                recompute_part_task.enqueue(
                    recompute_id=recompute.pk,
                    attempt=recompute.attempts,
                    part=index,
                    image_ids=part,
                ).id
            )
            for index, part in enumerate(parts)
        ]
        with transaction.atomic():
            running = mine.select_for_update().first()
            if running is not None:  # else every part ran already (an inline backend)
                running.summary[PART_TASKS] = task_ids
                running.save(update_fields=["summary"])
        return None

    return job_run(
        Recompute,
        pk=recompute_id,
        related=("project",),
        work=fan_out,
        running={"message": "starting", "parts_total": 0, "parts_done": 0},
        failed={"message": "failed"},
    )


def recompute_part_run(*, recompute_id: int, attempt: int, part: int, image_ids: list[int]) -> None:
    """Recompute part ``part`` (the images ``image_ids``) of the recompute's claim
    ``attempt`` and add what it did to the row, its heartbeat beating meanwhile.

    Nothing happens when that claim is over (the recompute ended, or was queued again) or
    the part was done already: a part run twice counts once. The part that completes the
    last one rebuilds the project report and marks the recompute done with the merged
    summary. A part that fails (an error outside its images: each image's own error is
    recorded in the summary and the others go on) fails the recompute with its error.
    """
    mine = _claimed(recompute_id, attempt)
    recompute = mine.select_related("project").first()
    if recompute is None or part in recompute.summary.get(DONE_PARTS, []):
        return
    try:
        with job_heartbeat(mine):
            mine.update(heartbeat_at=timezone.now())
            summary = instance_features_recompute(
                project=recompute.project,
                all_images=True,
                image_ids=image_ids,
                rebuild_report=False,
            )
    except Exception as error:
        mine.update(
            status=JobStatus.FAILED,
            error=(
                f"part {part + 1} of {recompute.parts_total}: internal error: "
                f"{type(error).__name__}: {error}"
            ),
            message="failed",
            finished_at=timezone.now(),
        )
        raise
    merged = _part_record(mine, part=part, summary=summary)
    if merged is None:
        return
    if merged["images"]:
        agreement_summary_update(project_id=recompute.project_id)
    mine.update(
        status=JobStatus.DONE, progress=1.0, **_done_fields(merged), finished_at=timezone.now()
    )


def _claimed(recompute_id: int, attempt: int) -> QuerySet[Recompute]:
    """The recompute while it is running under claim ``attempt``; nothing once not."""
    return Recompute.objects.filter(pk=recompute_id, status=JobStatus.RUNNING, attempts=attempt)


def _part_record(
    mine: QuerySet[Recompute], *, part: int, summary: FeaturesRecomputeSummary
) -> dict[str, Any] | None:
    """Add a part's counts to the row, the row locked, and count the part done (once);
    the merged summary when this was the last part, else None."""
    with transaction.atomic():
        recompute = mine.select_for_update().first()
        if recompute is None or part in recompute.summary.get(DONE_PARTS, []):
            return None
        merged = recompute.summary
        for key in COUNTS:
            merged[key] += getattr(summary, key)
        merged["failed"].update(summary.failed)
        merged.setdefault(DONE_PARTS, []).append(part)
        recompute.parts_done += 1
        recompute.progress = recompute.parts_done / recompute.parts_total
        recompute.message = f"{recompute.parts_done} of {recompute.parts_total} parts done"
        recompute.heartbeat_at = timezone.now()
        recompute.save(
            update_fields=["summary", "parts_done", "progress", "message", "heartbeat_at"]
        )
    return merged if recompute.parts_done == recompute.parts_total else None


def _empty_summary(slug: str) -> dict[str, Any]:
    return asdict(FeaturesRecomputeSummary(project=slug))


def _done_fields(merged: dict[str, Any]) -> dict[str, Any]:
    """What a done recompute records: the one-line summary and the merged counts (without
    the bookkeeping of its parts)."""
    summary = FeaturesRecomputeSummary(
        project=merged["project"],
        failed=dict(merged["failed"]),
        **{key: merged[key] for key in COUNTS},
    )
    return {"message": summary.line()[:500], "summary": asdict(summary)}


@task()
def recompute_run_task(*, recompute_id: int) -> None:
    """Claim one project recompute and queue its parts (:func:`recompute_run`)."""
    recompute_run(recompute_id=recompute_id)


@task()
def recompute_part_task(
    *, recompute_id: int, attempt: int, part: int, image_ids: list[int]
) -> None:
    """Recompute one part of a project recompute (:func:`recompute_part_run`)."""
    recompute_part_run(recompute_id=recompute_id, attempt=attempt, part=part, image_ids=image_ids)
