"""The life of a background job row (an ImportJob, an Export, a Recompute).

A service queues the job's task with :func:`job_queue` (the backend's task id is recorded
on the row); a worker claims the row with :func:`job_run`, which beats the row's
``heartbeat_at`` while the work runs and records how it ended. A job whose worker was lost
(killed, its machine gone) stops beating: :func:`jobs_reap_stuck` finds it and queues it
again, or fails it once it was claimed ``MASKQC_JOB_MAX_ATTEMPTS`` times. A lead queues a
failed job again with :func:`job_retry`.

Every write a run makes after its claim is conditional on the row still being that run's
(status running, its claim's ``attempts``): once the job was queued again, nothing a lost
worker that wakes up writes can reach the row, and the new claim is pending to running, so
the old run cannot take it either.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Model, Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus, default_task_backend
from django_tasks.base import Task
from django_tasks.exceptions import TaskResultDoesNotExist

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import Project
from projects.permissions import Action, require_action
from qc.models import BackgroundJob, Export, ImportJob, JobStatus, Recompute

__all__ = [
    "JOB_MODELS",
    "PART_TASKS",
    "ReapSummary",
    "job_heartbeat",
    "job_progress",
    "job_queue",
    "job_retry",
    "job_run",
    "job_slot_take",
    "jobs_reap_stuck",
]

logger = logging.getLogger(__name__)

Job = TypeVar("Job", bound=Model)

# Every kind of job, with the noun of its audit verbs ("import_job.retry").
JOB_MODELS: dict[type[BackgroundJob], str] = {
    model: model.audit_noun for model in (ImportJob, Export, Recompute)
}
# What a project's limit on jobs waiting or running calls each kind (job_slot_take).
_SLOT_NOUNS: dict[type[BackgroundJob], str] = {
    ImportJob: "imports",
    Export: "exports",
    Recompute: "recomputes",
}
# A job fanned out into parts (a recompute) lists the task ids of its parts under this key
# of its summary while it runs: a job whose parts wait in the queue is waiting, not lost.
PART_TASKS = "part_tasks"


# ----------------------------------------------------------------------- queuing


def _run_task(model: type[BackgroundJob]) -> tuple[Task, str]:
    """The task that runs a job of ``model`` and the name of its job id argument.

    Imported when called: the modules defining these tasks import this one."""
    from qc.services.exports import export_run_task
    from qc.services.import_jobs import import_run_task
    from qc.services.recompute import recompute_run_task

    tasks: dict[type[BackgroundJob], tuple[Task, str]] = {
        ImportJob: (import_run_task, "job_id"),
        Export: (export_run_task, "export_id"),
        Recompute: (recompute_run_task, "recompute_id"),
    }
    return tasks[model]


def job_queue(*, job: BackgroundJob) -> None:
    """Queue the task that runs ``job`` once the current transaction commits (at once
    outside one) and record the backend's id of that task (``TaskResult.id``) on the row.

    A task queue that cannot be reached (Redis down) fails the job, saying so, instead of
    leaving it queued with no task behind it: a lead retries it once the queue is back
    (:func:`job_retry`).
    """
    model, pk = type(job), job.pk

    def enqueue() -> None:
        task, argument = _run_task(model)
        try:
            result = task.enqueue(**{argument: pk})
        except Exception as error:  # whatever the backend raises, the job must not hang
            logger.exception("could not queue %s %s", model._meta.label_lower, pk)
            model.objects.filter(pk=pk, status=JobStatus.PENDING).update(
                status=JobStatus.FAILED,
                error=(
                    f"The task queue could not be reached ({type(error).__name__}: {error}); "
                    "retry the job once it is back."
                ),
                finished_at=timezone.now(),
            )
            return
        model.objects.filter(pk=pk).update(task_id=str(result.id)[:64])

    transaction.on_commit(enqueue)


# ------------------------------------------------------------------------ running


def job_run(
    model: type[Job],
    *,
    pk: int,
    work: Callable[[Job], dict[str, Any] | None],
    related: Sequence[str] = (),
    running: dict[str, Any] | None = None,
    failed: dict[str, Any] | None = None,
) -> Job:
    """Run the pending job ``pk`` of ``model`` and record how it ended on its row.

    The job is claimed with a conditional update (pending to running, progress 0, started
    and beating now, one more attempt, and the fields in ``running``): a second runner
    finds it taken and gets the row as it is. ``work(job)`` (``job`` read with
    ``related``) does the work while :func:`job_heartbeat` beats the row, and returns the
    fields to record when it is done (with status done and progress 1), or None when the
    work goes on elsewhere (a recompute's parts record how it ends). A refusal
    (:class:`ApplicationError`) fails the job with its message; any other exception fails
    it as an internal error and is raised again. A failed job also gets the fields in
    ``failed``. Returns the job as it ended (or as it is, when its work goes on).
    """
    now = timezone.now()
    claimed = model.objects.filter(pk=pk, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING,
        progress=0.0,
        started_at=now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
        **(running or {}),
    )
    job = model.objects.select_related(*related).get(pk=pk)
    if claimed != 1:
        return job
    mine = model.objects.filter(pk=pk, status=JobStatus.RUNNING, attempts=job.attempts)
    try:
        with job_heartbeat(mine):
            done = work(job)
    except Exception as error:
        refused = isinstance(error, ApplicationError)
        mine.update(
            status=JobStatus.FAILED,
            error=error.message if refused else f"internal error: {type(error).__name__}: {error}",
            **(failed or {}),
            finished_at=timezone.now(),
        )
        if not refused:
            raise
    else:
        if done is not None:
            mine.update(status=JobStatus.DONE, progress=1.0, **done, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def job_progress(job: BackgroundJob) -> Callable[[float, str], None]:
    """A progress callback for the run that claimed ``job``: it writes the fraction (and the
    message, for jobs that have one) only while the row is still this claim's, so a lost
    run that wakes up never writes over the run that took its place, or over the end."""
    mine = type(job).objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)
    messages = _has_message(type(job))

    def progress(fraction: float, message: str) -> None:
        fields: dict[str, Any] = {"progress": fraction}
        if messages:
            fields["message"] = message[:500]
        mine.update(**fields)

    return progress


@contextlib.contextmanager
def job_heartbeat(row: QuerySet) -> Iterator[None]:
    """Set ``heartbeat_at`` of ``row`` (a queryset of one job, filtered so that it matches
    only while the job is still this run's) to now every ``MASKQC_JOB_HEARTBEAT_SECONDS``
    while the enclosed block runs, however long a step of it takes without progress.

    The beats come from a daemon thread with a database connection of its own, closed when
    the block ends; the thread stops early once the row no longer matches. A beat that
    fails (a locked SQLite database, a dropped connection) is logged and the next one tries
    again. Inside a transaction (a job run inline by a caller holding one, as tests do)
    nothing beats: no other connection could see the row's changes before the commit.
    """
    if connections[row.db].in_atomic_block:
        yield
        return
    stop = threading.Event()
    beats = threading.Thread(
        target=_beat,
        args=(row, stop, float(settings.MASKQC_JOB_HEARTBEAT_SECONDS)),
        name=f"heartbeat of {row.model._meta.label_lower}",
        daemon=True,
    )
    beats.start()
    try:
        yield
    finally:
        stop.set()
        beats.join()


def _beat(row: QuerySet, stop: threading.Event, every: float) -> None:
    try:
        while not stop.wait(every):
            try:
                if row.update(heartbeat_at=timezone.now()) != 1:
                    return  # queued again or ended: no longer this run's to beat
            except DatabaseError as error:
                logger.warning("heartbeat of %s failed: %s", row.model._meta.label_lower, error)
                connections[row.db].close()  # opened anew by the next beat
    finally:
        connections.close_all()  # this thread's connections only


# ---------------------------------------------------------------------- stuck jobs


@dataclass(frozen=True)
class ReapSummary:
    """What :func:`jobs_reap_stuck` did: jobs queued again, and jobs failed."""

    requeued: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed)

    def line(self) -> str:
        """The one-line report of a round that did something."""
        return f"stuck jobs: {self.requeued} queued again, {self.failed} failed"


def jobs_reap_stuck(*, now: datetime | None = None) -> ReapSummary:
    """Queue again, or fail, every running job whose last sign of life (``heartbeat_at``;
    ``created_at`` for a job claimed before jobs beat) is older than
    ``MASKQC_JOB_STUCK_SECONDS``: its worker is gone.

    A job claimed fewer than ``MASKQC_JOB_MAX_ATTEMPTS`` times is set pending again, with
    the message "worker lost; queued again (attempt n of N)", and its task queued after
    the commit; otherwise it fails with "worker lost N times; last sign of life at ...".
    A job fanned out into parts (:data:`PART_TASKS`) some of which still wait in the task
    queue is waiting for a worker, not lost, and is left alone. Each change is a
    conditional update on the row's id, status and heartbeat, so two watchers, or a late
    heartbeat, never queue one job twice. Each writes an audit event (no actor).

    A job queued longer than that whose task the backend no longer knows (or that was
    never queued) is queued again too: nothing would ever run it.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MASKQC_JOB_STUCK_SECONDS)
    limit = settings.MASKQC_JOB_MAX_ATTEMPTS
    requeued = failed = 0
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    for model, noun in JOB_MODELS.items():
        for job in model.objects.filter(silent, status=JobStatus.RUNNING).select_related("project"):
            if _parts_waiting(job):
                continue
            outcome = _reap(job, noun=noun, limit=limit, now=now)
            requeued += outcome == JobStatus.PENDING
            failed += outcome == JobStatus.FAILED
        queued = model.objects.filter(status=JobStatus.PENDING, created_at__lt=cutoff)
        for job in queued.select_related("project"):
            requeued += _task_lost(job) and _requeue_lost(job, noun=noun)
    return ReapSummary(requeued=requeued, failed=failed)


def _task_lost(job: BackgroundJob) -> bool:
    """Whether the task that should run the queued ``job`` is gone: never recorded (the
    process died between the commit and the queuing), unknown to the task backend (a Redis
    restarted without persistence, a flushed queue), ended without claiming the job, or
    taken longer than ``MASKQC_JOB_STUCK_SECONDS`` ago by a worker that never claimed it. A
    backend that keeps no results (immediate) loses none."""
    if not default_task_backend.supports_get_result:
        return False
    if not job.task_id:
        return True
    try:
        result = default_task_backend.get_result(job.task_id)
    except TaskResultDoesNotExist:
        return True
    except Exception as error:  # the queue cannot say (Redis down): ask again next round
        logger.warning("could not read the task of %s %s: %s", type(job).__name__, job.pk, error)
        return False
    if result.status in (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL):
        # The task ended and the job is still queued: it failed before its claim (the
        # database dropped the connection as a worker took it, say).
        return True
    # Taken by a worker that never claimed the job, and long ago: that worker is gone.
    cutoff = timezone.now() - timedelta(seconds=settings.MASKQC_JOB_STUCK_SECONDS)
    started = result.started_at
    return result.status == TaskResultStatus.RUNNING and started is not None and started < cutoff


def _requeue_lost(job: BackgroundJob, *, noun: str) -> bool:
    """Queue ``job``'s task again, unless it was queued anew or claimed meanwhile.

    Two watchers may both queue it: harmless, as the claim (pending to running) lets one
    task run the job and the other finds it taken."""
    model = type(job)
    with transaction.atomic():
        unchanged = model.objects.select_for_update().filter(
            pk=job.pk, status=JobStatus.PENDING, task_id=job.task_id
        )
        if not unchanged.exists():
            return False
        if _has_message(model):
            unchanged.update(message="its task was lost from the queue; queued again")
        audit(
            actor=None,
            verb=f"{noun}.task_lost",
            obj=job,
            project=job.project,
            before={"task_id": job.task_id},
        )
        job_queue(job=job)
    return True


def _reap(job: BackgroundJob, *, noun: str, limit: int, now: datetime) -> str | None:
    """Queue ``job`` again or fail it; the status it was given, or None when a heartbeat
    or another watcher came first."""
    model = type(job)
    last = job.last_sign_of_life
    unchanged = model.objects.filter(
        pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at
    )
    messages = _has_message(model)
    with transaction.atomic():
        claims = job.claims
        if claims < limit:
            message = f"worker lost; queued again (attempt {claims + 1} of {limit})"
            fields: dict[str, Any] = {"status": JobStatus.PENDING, "progress": 0.0}
        else:
            message = "failed"
            fields = {
                "status": JobStatus.FAILED,
                "error": (
                    f"worker lost {'once' if claims == 1 else f'{claims} times'}; "
                    f"last sign of life at {last.isoformat(timespec='seconds')}"
                ),
                "finished_at": now,
            }
        if messages:
            fields["message"] = message
        if unchanged.update(**fields) != 1:
            return None
        outcome = fields["status"]
        audit(
            actor=None,
            verb=f"{noun}.worker_lost",
            obj=job,
            project=job.project,
            after={"status": outcome, "attempts": job.attempts, "last_sign": last.isoformat()},
        )
        if outcome == JobStatus.PENDING:
            job_queue(job=job)
    return outcome


def _parts_waiting(job: BackgroundJob) -> bool:
    """Whether a part of ``job`` still waits in the task queue (the backend says it is
    ready and not yet taken). A backend that keeps no results (immediate) has no waiting
    parts."""
    part_tasks = (getattr(job, "summary", None) or {}).get(PART_TASKS) or []
    if not part_tasks or not default_task_backend.supports_get_result:
        return False
    # Parts are taken in the order they were queued: the last ones wait the longest.
    for task_id in reversed(part_tasks):
        try:
            status = default_task_backend.get_result(task_id).status
        except TaskResultDoesNotExist:
            continue
        if status == TaskResultStatus.READY:
            return True
    return False


def _has_message(model: type[BackgroundJob]) -> bool:
    return any(f.name == "message" for f in model._meta.get_fields())


# ------------------------------------------------------------------------- retry


def job_retry(*, job: BackgroundJob, actor: Any) -> BackgroundJob:
    """Queue a failed ``job`` again (leads and admins of its project; an outsider is refused
    as if the project did not exist). A job that has not failed is refused with 409.

    In one transaction, with the row locked: status pending, no error, progress 0, no
    finish time, its claims counted afresh (``attempts`` itself never goes back: it fences
    the writes of the runs before), the message "queued again" (for jobs
    that have one), an audit event ``<noun>.retry``; its task is queued after the commit.
    Returns the job as it is then.
    """
    model = type(job)
    noun = JOB_MODELS[model]
    require_action(
        actor=actor, project=job.project, action=Action.MANAGE_PROJECT, what="retry a job"
    )
    with transaction.atomic():
        locked = (
            model.objects.select_for_update(of=("self",)).select_related("project").get(pk=job.pk)
        )
        if locked.status != JobStatus.FAILED:
            raise ConflictError(
                f"Only a failed job can be retried; this one is {locked.get_status_display()}.",
                extra={"status": locked.status},
            )
        # A retried job counts against the project's limit like a new one.
        job_slot_take(model, project=locked.project, noun=_SLOT_NOUNS[model])
        fields: dict[str, Any] = {
            "status": JobStatus.PENDING,
            "error": "",
            "progress": 0.0,
            "finished_at": None,
            "attempts_before_retry": locked.attempts,
        }
        if _has_message(model):
            fields["message"] = "queued again"
        before = {"status": locked.status, "error": locked.error, "attempts": locked.attempts}
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        audit(
            actor=actor,
            verb=f"{noun}.retry",
            obj=locked,
            project=job.project,
            before=before,
        )
        job_queue(job=locked)
    return locked


# -------------------------------------------------------------------------- limits


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
