"""The life of a background job row (an ImportJob, an Export): claimed by one runner, then
done with its results or failed with its error, all recorded on the row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from projects.errors import ApplicationError
from projects.models import Project
from qc.models import JobStatus

__all__ = ["job_run", "job_slot_take"]

Job = TypeVar("Job", bound=Model)


def job_run(
    model: type[Job],
    *,
    pk: int,
    work: Callable[[Job], dict[str, Any]],
    related: Sequence[str] = (),
    running: dict[str, Any] | None = None,
    failed: dict[str, Any] | None = None,
) -> Job:
    """Run the pending job ``pk`` of ``model`` and record how it ended on its row.

    The job is claimed with a conditional update (pending to running, progress 0, and the
    fields in ``running``): a second runner finds it taken and gets the row as it is.
    ``work(job)`` (``job`` read with ``related``) does the work and returns the fields to
    record when it is done (with status done and progress 1). A refusal
    (:class:`ApplicationError`) fails the job with its message; any other exception fails
    it as an internal error and is raised again. A failed job also gets the fields in
    ``failed``. Returns the job as it ended.
    """
    claimed = model.objects.filter(pk=pk, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING, progress=0.0, **(running or {})
    )
    job = model.objects.select_related(*related).get(pk=pk)
    if claimed != 1:
        return job
    row = model.objects.filter(pk=pk)
    try:
        done = work(job)
    except Exception as error:
        refused = isinstance(error, ApplicationError)
        row.update(
            status=JobStatus.FAILED,
            error=error.message if refused else f"internal error: {type(error).__name__}: {error}",
            **(failed or {}),
            finished_at=timezone.now(),
        )
        if not refused:
            raise
    else:
        row.update(status=JobStatus.DONE, progress=1.0, **done, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def job_slot_take(model: type[Model], *, project: Project, noun: str) -> None:
    """Refuse (HTTP 429, with a ``retry_after`` hint in seconds) a new job of ``model`` when
    the project already has ``MASKQC_MAX_PENDING_JOBS`` of them pending or running.

    Call it inside the transaction that creates the job: it locks the project's row, so
    two concurrent starts are counted one after the other and the limit holds.
    """
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").get()
    limit = settings.MASKQC_MAX_PENDING_JOBS
    pending = model.objects.filter(
        project=project, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
    ).count()
    if pending >= limit:
        retry_after = settings.MASKQC_JOB_RETRY_AFTER_SECONDS
        raise ApplicationError(
            f"{project.slug} already has {pending} {noun} queued or running (at most {limit}); "
            f"try again when one has finished.",
            extra={"pending": pending, "limit": limit, "retry_after": retry_after},
            status=429,
        )
