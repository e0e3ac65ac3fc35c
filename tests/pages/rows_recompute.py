"""The rows of the role matrix for recomputing a project's agreement, and retrying a
failed recompute."""

from typing import Any

from projects.models import Project
from qc.models import JobStatus, Recompute
from tests.pages.matrix import STAFF, Args, Case, statuses


def a_recompute(project: Project, subject: Any) -> Args:
    """The project's newest recompute; one is started (by the project's lead) when there is
    none."""
    recompute = Recompute.objects.filter(project=project).first()
    if recompute is None:
        lead = project.memberships.filter(role="lead").select_related("user").first().user
        recompute = Recompute.objects.create(project=project, created_by=lead, status="done")
    return (recompute.pk,)


def failed_recompute(project: Project, subject: Any) -> Args:
    """A failed recompute of the project (one is made, as the watcher fails one whose
    worker was lost for good, when there is none)."""
    recompute = Recompute.objects.filter(project=project, status=JobStatus.FAILED).first()
    if recompute is None:
        lead = project.memberships.filter(role="lead").select_related("user").first().user
        recompute = Recompute.objects.create(
            project=project,
            created_by=lead,
            status=JobStatus.FAILED,
            error="worker lost 3 times",
            attempts=3,
        )
    return (recompute.pk,)


def _queued_again(args: Args) -> bool:
    return Recompute.objects.get(pk=args[0]).status == JobStatus.PENDING


def _started(args: Args) -> bool:
    return Recompute.objects.exists()


MANAGERS_ONLY = statuses(**STAFF, reviewer=403, annotator=403)

ROWS: list[Case] = [
    Case("project-recompute", MANAGERS_ONLY),
    Case(
        "project-recompute",
        statuses(admin=302, lead=302, reviewer=403, annotator=403),
        method="POST",
        changed=_started,
        page=False,
        variant="start",
    ),
    Case("recompute-detail", MANAGERS_ONLY, target=a_recompute),
    Case("recompute-detail", MANAGERS_ONLY, target=failed_recompute, variant="failed"),
    Case(
        "recompute-retry",
        statuses(admin=302, lead=302, reviewer=403, annotator=403),
        target=failed_recompute,
        method="POST",
        changed=_queued_again,
        page=False,
    ),
]
