"""What the recompute pages show: a project's recomputes, newest first, and one of them with
its run (:class:`qc.selectors.jobs.JobState`) as the status partial polls it."""

from typing import Any

from projects.models import Project
from qc.models import AgreementSummary
from qc.selectors.jobs import JobState, job_queued_at, job_state, recomputes_of

RECENT = 10


def recompute_page(*, project: Project, may_manage: bool = True) -> dict[str, Any]:
    """The project's recent recomputes (with who started them) and their runs, whether one
    is under way, and when the stored agreement was last rebuilt. ``may_manage``: the
    viewer may retry a failed one."""
    recent = list(recomputes_of(project=project)[:RECENT])
    computed_at = (
        AgreementSummary.objects.filter(project=project)
        .values_list("computed_at", flat=True)
        .first()
    )
    return {
        "recomputes": [job_state(r, may_manage=may_manage) for r in recent],
        "under_way": any(r.live for r in recent),
        "agreement_computed_at": computed_at,
    }


def recompute_of(*, project: Project, pk: int, may_manage: bool = True) -> JobState | None:
    """One recompute of ``project`` with its run (None: the project has no such
    recompute, another project's included)."""
    recompute = recomputes_of(project=project).filter(pk=pk).first()
    if recompute is None:
        return None
    return job_state(recompute, may_manage=may_manage, queued_at=job_queued_at(recompute))
