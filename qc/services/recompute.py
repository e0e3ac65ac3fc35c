"""A project recomputed in the background (:class:`qc.models.Recompute`): a lead starts it
from the Recompute tab of the project's Settings (``/p/<slug>/recompute/``) after changing
how agreement is measured (match IoU, band width, consensus method, quorum), a worker runs
:func:`qc.services.features.instance_features_recompute` over every image and records its
progress and summary on the row."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import transaction
from django_tasks import task

from projects.audit import audit
from projects.models import Project
from projects.permissions import Action, require_action
from qc.models import Recompute
from qc.services.features import instance_features_recompute
from qc.services.jobs import job_run, job_slot_take

__all__ = ["recompute_create", "recompute_run", "recompute_run_task"]


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
        transaction.on_commit(lambda: recompute_run_task.enqueue(recompute_id=recompute.pk))
    return recompute


def recompute_run(*, recompute_id: int) -> Recompute:
    """Run a pending recompute: claim it (a second runner finds it taken), recompute every
    image and record the summary, or the error, on its row."""

    def progress(fraction: float, message: str) -> None:
        Recompute.objects.filter(pk=recompute_id).update(progress=fraction, message=message[:500])

    def work(recompute: Recompute) -> dict[str, Any]:
        summary = instance_features_recompute(
            project=recompute.project, all_images=True, progress=progress
        )
        return {"message": summary.line()[:500], "summary": asdict(summary)}

    return job_run(
        Recompute,
        pk=recompute_id,
        related=("project",),
        work=work,
        running={"message": "starting"},
        failed={"message": "failed"},
    )


@task()
def recompute_run_task(*, recompute_id: int) -> None:
    """Run one project recompute in the background (:func:`recompute_run`)."""
    recompute_run(recompute_id=recompute_id)
