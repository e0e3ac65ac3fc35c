"""A project's background jobs (annotation imports, exports, recomputes) as the API lists
them, and one job's run as a person reads it (:func:`job_state`): queued since when,
running with its last sign of life, stuck (``BackgroundJob.stuck``), failed with its
error, finished."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from projects.models import AuditEvent, Project
from qc.models import BackgroundJob, Export, ImportJob, JobStatus, Recompute

__all__ = [
    "ERROR_HEAD_CHARS",
    "JobState",
    "exports_of",
    "import_jobs_of",
    "job_queued_at",
    "job_state",
    "recomputes_of",
    "seconds_in_words",
]

# An error longer than this (or of several lines) shows its head, the rest folded.
ERROR_HEAD_CHARS = 300


def import_jobs_of(*, project: Project) -> QuerySet[ImportJob]:
    """The project's import jobs, newest first, with who started each (and the project,
    which their retry link names)."""
    return (
        ImportJob.objects.filter(project=project)
        .select_related("created_by", "project")
        .order_by("-created_at", "-id")
    )


def exports_of(*, project: Project) -> QuerySet[Export]:
    """The project's exports, newest first, with who started each (and the project, which
    their download and retry links name)."""
    return (
        Export.objects.filter(project=project)
        .select_related("created_by", "project")
        .order_by("-created_at", "-id")
    )


def recomputes_of(*, project: Project) -> QuerySet[Recompute]:
    """The project's recomputes, newest first, with who started each (and the project,
    which their retry link names)."""
    return (
        Recompute.objects.filter(project=project)
        .select_related("created_by", "project")
        .order_by("-created_at", "-id")
    )


def seconds_in_words(seconds: float) -> str:
    """A duration as a person says it, rounded down: "12 s", "4 min", "2 h 5 min",
    "3 days"; less than a second is "under a second"."""
    whole = max(0, int(seconds))
    if whole < 1:
        return "under a second"
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86_400:
        hours, minutes = divmod(whole // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days = whole // 86_400
    return f"{days} day{'' if days == 1 else 's'}"


def job_queued_at(job: BackgroundJob) -> datetime | None:
    """When a pending ``job`` was put in the queue: its creation, or for one queued again
    (it has run before) the time of its latest retry or re-queuing by the watcher, as its
    audit events record it. None for a job that is not pending. One query for a job
    queued again, none otherwise."""
    if job.status != JobStatus.PENDING:
        return None
    if job.started_at is None:
        return job.created_at
    noun = type(job).audit_noun
    return (
        AuditEvent.objects.filter(
            project_id=job.project_id,
            verb__in=[f"{noun}.retry", f"{noun}.worker_lost", f"{noun}.task_lost"],
            object_id=str(job.pk),
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )


def _error_parts(error: str) -> tuple[str, str]:
    """The line of an error a person reads first and, when there is more, the whole text
    to fold away. A traceback's head is its last line (the exception), not its first."""
    text = error.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "", ""
    head = lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()
    if len(head) > ERROR_HEAD_CHARS:
        head = head[: ERROR_HEAD_CHARS - 1].rstrip() + "…"
    return head, "" if head == text else text


@dataclass(frozen=True)
class JobState:
    """A background job's run as its pages show it.

    ``live`` while it may still change (its page polls then), ``percent`` its progress;
    ``queued_at`` when a queued job was put in the queue (None when not known: a list
    does not look it up for a job queued again) and ``waited`` how long ago that was;
    ``queued_again`` a queued job that has run before; ``beat_ago`` how long ago a running
    job last gave a sign of life (at ``last_sign``); ``stuck`` when that is longer than
    ``MASKQC_JOB_STUCK_SECONDS`` (``BackgroundJob.stuck``), and then ``lost_for_good`` when
    the watcher
    will fail it rather than queue it again (it has been claimed ``max_attempts`` times);
    ``took`` how long a finished or failed run took; ``error_head`` and ``error_rest`` the
    error as :func:`_error_parts` cuts it; ``may_retry`` a failed job the viewer may queue
    again; ``note`` the job's message while it may still change, unless it only repeats
    what the state says ("queued again").
    """

    job: Any
    live: bool
    percent: int
    queued_at: datetime | None
    waited: str | None
    queued_again: bool
    beat_ago: str | None
    last_sign: datetime | None
    stuck: bool
    lost_for_good: bool
    attempts: int
    max_attempts: int
    took: str | None
    error_head: str
    error_rest: str
    may_retry: bool
    note: str


def job_state(
    job: BackgroundJob,
    *,
    may_manage: bool,
    queued_at: datetime | None = None,
    now: datetime | None = None,
) -> JobState:
    """What a person needs to know of ``job``'s run, at ``now`` (default: now).
    ``may_manage``: the viewer leads the project (or is an admin), so a failed job offers
    them Retry. ``queued_at``: when a job queued again was (:func:`job_queued_at`); a job
    queued once was queued when it was created. Reads nothing from the database."""
    now = now or timezone.now()
    status = job.status
    pending = status == JobStatus.PENDING
    if not pending:
        queued_at = None
    elif job.started_at is None:
        queued_at = job.created_at
    last = job.last_sign_of_life
    running = status == JobStatus.RUNNING
    stuck = job.stuck
    max_attempts = settings.MASKQC_JOB_MAX_ATTEMPTS
    ended = job.finished_at if status in (JobStatus.DONE, JobStatus.FAILED) else None
    head, rest = _error_parts(job.error) if status == JobStatus.FAILED else ("", "")
    return JobState(
        job=job,
        live=job.live,
        percent=job.percent,
        queued_at=queued_at,
        waited=seconds_in_words((now - queued_at).total_seconds()) if queued_at else None,
        queued_again=pending and job.started_at is not None,
        beat_ago=seconds_in_words((now - last).total_seconds()) if running and last else None,
        last_sign=last if running else None,
        stuck=stuck,
        lost_for_good=stuck and job.claims >= max_attempts,
        attempts=job.claims,
        max_attempts=max_attempts,
        took=(
            seconds_in_words((ended - job.started_at).total_seconds())
            if ended and job.started_at
            else None
        ),
        error_head=head,
        error_rest=rest,
        may_retry=may_manage and status == JobStatus.FAILED,
        note=_note(job),
    )


# Messages a job's run writes that the state already says in its own words.
_SAID_BY_STATE = {"", "queued again", "starting", "failed"}


def _note(job: BackgroundJob) -> str:
    message = (getattr(job, "message", "") or "").strip()
    if not job.live or message.lower() in _SAID_BY_STATE:
        return ""
    # A recompute's parts are counted beside its bar, from the row's own counters.
    if getattr(job, "parts_total", 0) and message.endswith(" parts done"):
        return ""
    return message
