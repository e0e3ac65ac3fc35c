"""What the recompute pages show: a project's recomputes, newest first, and one of them with
its progress as the status partial polls it."""

from dataclasses import dataclass
from typing import Any

from projects.models import Project
from qc.models import AgreementSummary, Recompute

RECENT = 10


@dataclass(frozen=True)
class JobProgress:
    """A background job as its status partial shows it: ``live`` while it may still change
    (the partial polls then), its progress in whole per cent."""

    job: Any
    live: bool
    percent: int


def job_progress(job: Any) -> JobProgress:
    return JobProgress(job=job, live=job.live, percent=job.percent)


def recompute_page(*, project: Project) -> dict[str, Any]:
    """The project's recent recomputes (with who started them), whether one is under way,
    and when the stored agreement was last rebuilt."""
    recent = list(Recompute.objects.filter(project=project).select_related("created_by")[:RECENT])
    computed_at = (
        AgreementSummary.objects.filter(project=project)
        .values_list("computed_at", flat=True)
        .first()
    )
    return {
        "recomputes": [job_progress(r) for r in recent],
        "under_way": any(r.live for r in recent),
        "agreement_computed_at": computed_at,
    }


def recompute_of(*, project: Project, pk: int) -> JobProgress | None:
    """One recompute of ``project`` with its progress (None: the project has no such
    recompute, another project's included)."""
    recompute = (
        Recompute.objects.filter(project=project, pk=pk).select_related("created_by").first()
    )
    return None if recompute is None else job_progress(recompute)
