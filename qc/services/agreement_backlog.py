"""Agreement that is never lost: queueing it, and finding the images whose queueing was.

A submission commits first and queues its images' agreement afterwards
(``transaction.on_commit``). When the task queue cannot take the work then (Redis down
under ``TASKS_BACKEND=rq``, say), the submission stands: the annotator's work is stored and
answered as such, the failure is logged (:func:`agreement_queue`), and the agreement is
left for the backlog. So while Redis is down submissions still commit; their agreement is
queued by the backlog once Redis is back. Refusing the submission instead would throw away
work already committed, and the same holds for a worker killed in the middle of an image
(its transaction rolls back, nothing of it is stored, nothing queues it again).

The backlog (:func:`agreement_backlog_images`) is what the stored data says is missing or
out of date, in the terms of :func:`qc.services.agreement.agreement_update_for_image`,
which stores agreement for an image with two or more live (not cancelled) tasks that have
a submission and removes it below that:

- ``missing``: two or more such tasks and no ImageAgreement;
- ``stale``: an ImageAgreement computed before the image's newest submission of a live
  task, or counting another number of annotators than the image's live submitted tasks
  (a task cancelled since);
- ``removed``: an ImageAgreement while fewer than two such tasks remain.

An image's task queues its project's report after it; a report whose task was lost (the
queue refused it, its worker was killed) is found older than one of the project's image
results, or missing (:func:`agreement_backlog_reports`), and queued the one way every
rebuild is (:func:`qc.services.agreement.agreement_summary_queue`: one waiting per
project).

:func:`agreement_backlog_queue` queues the backlog (the images; when none is due, the
stale reports), unless agreement work is still waiting in the task queue
(:func:`agreement_work_waiting`): that work may be the very images the backlog finds (a
large import queues its images faster than workers drain them), so the round queues
nothing and the round after the queue drained sees what is really missing.
Reading which images the waiting tasks hold would mean reading every waiting task's
arguments (unpickling every RQ job), for the saving of one round's wait. Work a worker has
started is not counted as waiting: a worker killed mid-task leaves such work behind for
good (a database task row stays "running", an RQ job stays started until RQ gives it up),
and it is exactly the work the backlog is for. An image being computed while the backlog
runs may so be queued once more; computing it again stores the same result (the image row
is locked, the second update sees what the first stored).

``python manage.py jobs_watch`` calls :func:`agreement_backlog_queue` every round;
``python manage.py agreement_backlog`` runs one round. Both are the server's operator's:
no user is checked.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Case, CharField, Count, F, Max, Q, Value, When
from django_tasks import TaskResultStatus, task_backends

from projects.models import Image, Project, TaskStatus
from qc.services.agreement import (
    agreement_summary_enqueue,
    agreement_summary_task,
    agreement_update_for_image_task,
    agreement_update_for_images_task,
)
from qc.services.bulk import chunks

__all__ = [
    "AGREEMENT_GROUP",
    "AgreementBacklogRound",
    "agreement_backlog_images",
    "agreement_backlog_queue",
    "agreement_backlog_reports",
    "agreement_backlog_round",
    "agreement_queue",
    "agreement_work_waiting",
]

logger = logging.getLogger("maskqc.agreement")

# Images per agreement task: enough to make the queue's own cost small after an import,
# few enough that several workers share a large one.
AGREEMENT_GROUP = 20

# The agreement tasks (the images' and the report's), by the paths a queue records them
# under (their module's, and the task index's, ``qc.tasks``, for rows queued under it).
_AGREEMENT_TASKS = (
    agreement_update_for_images_task,
    agreement_update_for_image_task,
    agreement_summary_task,
)
_AGREEMENT_PATHS = tuple(
    sorted(
        {t.module_path for t in _AGREEMENT_TASKS} | {f"qc.tasks.{t.name}" for t in _AGREEMENT_TASKS}
    )
)
# How many image ids a log line names before it says only how many more.
_LOGGED_IDS = 20
# RQ job ids read per round trip while looking for waiting agreement jobs.
_RQ_BATCH = 1000


def agreement_queue(*, image_ids: Sequence[int]) -> bool:
    """Queue agreement tasks for the images, a group of :data:`AGREEMENT_GROUP` images per
    task, enqueued in one transaction (one commit on SQLite); True when they were queued.

    Meant to run after the commit that changed the images (``on_commit``), so it never
    raises: when the task queue refuses the work (Redis down, a database error of the
    database backend), it logs one warning naming the images and the error and returns
    False; the backlog (:func:`agreement_backlog_queue`) queues them once the queue takes
    work again.
    """
    ids = list(image_ids)
    if not ids:
        return True
    try:
        with transaction.atomic():
            for group in chunks(ids, AGREEMENT_GROUP):
                agreement_update_for_images_task.enqueue(image_ids=list(group))
    except Exception as error:  # a committed change must not fail because the queue did
        logger.warning(
            "agreement not queued for %s (%s: %s); the agreement backlog queues it "
            "once the task queue takes work again",
            _images_named(ids),
            type(error).__name__,
            error,
        )
        return False
    return True


def agreement_backlog_images(
    *, project: Project | None = None, limit: int | None = None
) -> dict[int, str]:
    """The images whose stored agreement is missing, stale or to be removed (see the
    module's docstring), as ``{image id: "missing" | "stale" | "removed"}`` in the order
    of their ids; only ``project``'s when given, at most ``limit`` when given.

    One query: the images (of the project) with their live tasks' submissions and their
    ImageAgreement, grouped by image.
    """
    live = ~Q(tasks__status=TaskStatus.CANCELLED)
    images = Image.objects.all() if project is None else Image.objects.filter(project=project)
    found = (
        images.annotate(
            submitted=Count(
                "tasks", filter=live & Q(tasks__submissions__isnull=False), distinct=True
            ),
            newest=Max("tasks__submissions__submitted_at", filter=live),
            stored_at=F("agreement__computed_at"),
            stored_annotators=F("agreement__annotators"),
        )
        .filter(
            Q(submitted__gte=2, stored_at__isnull=True)
            | Q(submitted__gte=2, stored_at__lt=F("newest"))
            | (Q(submitted__gte=2, stored_at__isnull=False) & ~Q(stored_annotators=F("submitted")))
            | Q(submitted__lt=2, stored_at__isnull=False)
        )
        .annotate(
            reason=Case(
                When(stored_at__isnull=True, then=Value("missing")),
                When(submitted__lt=2, then=Value("removed")),
                default=Value("stale"),
                output_field=CharField(),
            )
        )
        .order_by("pk")
        .values_list("pk", "reason")
    )
    if limit is not None:
        found = found[:limit]
    return dict(found)


def agreement_backlog_reports(*, project: Project | None = None) -> list[int]:
    """The projects (only ``project`` when given) whose stored report is older than one of
    their images' stored agreement, or missing while they have some. Their ids, in order;
    one query."""
    projects = Project.objects.all() if project is None else Project.objects.filter(pk=project.pk)
    return list(
        projects.annotate(newest=Max("images__agreement__computed_at"))
        .filter(newest__isnull=False)
        .filter(
            Q(agreement_summary__isnull=True) | Q(agreement_summary__computed_at__lt=F("newest"))
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def agreement_work_waiting() -> bool:
    """Whether agreement tasks (an image's or a report's) wait in the task queue, not yet
    started: with the database
    backend its task rows ready to run, with RQ the jobs in the agreement task's queue;
    never with the immediate backend (nothing waits there)."""
    task = agreement_update_for_images_task
    backend = task_backends[task.backend]
    path = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if path.startswith("django_tasks_db."):
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.filter(
            status=TaskResultStatus.READY,
            backend_name=backend.alias,
            queue_name=task.queue_name,
            task_path__in=_AGREEMENT_PATHS,
        ).exists()
    if path.startswith("django_tasks_rq."):
        return _rq_agreement_waiting(task.queue_name)
    return False


@dataclass(frozen=True)
class AgreementBacklogRound:
    """What one round of the backlog did: the images it queued, why each (``reasons``:
    how many were missing, stale, removed), and why it queued none when it did not
    (``waiting``: agreement work was still waiting; ``failed``: the task queue could not
    be read or refused the work);
    ``reports``: the projects whose stale report it queued (when no image was due)."""

    queued: list[int] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    reports: list[int] = field(default_factory=list)
    waiting: bool = False
    failed: bool = False


def agreement_backlog_round(
    *, project: Project | None = None, limit: int | None = None
) -> AgreementBacklogRound:
    """One round of the backlog: unless agreement work waits in the task queue, queue
    the backlog's images (:func:`agreement_backlog_images`) as a submission does
    (:func:`agreement_queue`), or when there are none the reports that are out of date
    (:func:`agreement_backlog_reports`; an image's task queues its report after it), and
    say what was queued."""
    try:
        waiting = agreement_work_waiting()
    except Exception as error:  # the queue is down: so is queueing; the next round tries
        logger.warning(
            "agreement backlog: the task queue cannot be read (%s: %s); nothing queued",
            type(error).__name__,
            error,
        )
        return AgreementBacklogRound(failed=True)
    if waiting:
        return AgreementBacklogRound(waiting=True)
    images = agreement_backlog_images(project=project, limit=limit)
    if not images:
        reports = agreement_backlog_reports(project=project)
        if reports and not _reports_queue(project_ids=reports):
            return AgreementBacklogRound(failed=True)
        return AgreementBacklogRound(reports=reports)
    ids = list(images)
    if not agreement_queue(image_ids=ids):
        return AgreementBacklogRound(failed=True)
    reasons = dict(sorted(Counter(images.values()).items()))
    logger.info("agreement backlog: queued %s (%s)", _images_named(ids), _reasons_said(reasons))
    return AgreementBacklogRound(queued=ids, reasons=reasons)


def agreement_backlog_queue(*, project: Project | None = None, limit: int | None = None) -> int:
    """Queue agreement for the images whose stored agreement is missing or out of date
    (only ``project``'s when given, at most ``limit`` images), unless agreement work is
    still waiting in the task queue; the number of images queued.
    See :func:`agreement_backlog_round`."""
    return len(agreement_backlog_round(project=project, limit=limit).queued)


def _reports_queue(*, project_ids: Sequence[int]) -> bool:
    """Queue the projects' report tasks in one transaction; False (and one warning) when
    the task queue refuses them."""
    try:
        with transaction.atomic():
            for project_id in project_ids:
                agreement_summary_enqueue(project_id=project_id)
    except Exception as error:  # the next round tries again
        logger.warning(
            "agreement reports of projects %s not queued (%s: %s)",
            ", ".join(str(p) for p in project_ids),
            type(error).__name__,
            error,
        )
        return False
    logger.info("agreement backlog: queued the reports of projects %s", list(project_ids))
    return True


def _rq_agreement_waiting(queue_name: str) -> bool:
    """Whether RQ's ``queue_name`` holds a job of an agreement task. An RQ job records its
    call as its description, ``<task path>(<arguments>)``; it is read in batches, without
    unpickling the job."""
    import django_rq
    from rq.job import Job

    queue = django_rq.get_queue(queue_name)
    connection = queue.connection
    prefixes = tuple(f"{path}(" for path in _AGREEMENT_PATHS)
    offset = 0
    while True:
        ids = queue.get_job_ids(offset=offset, length=_RQ_BATCH)
        if not ids:
            return False
        with connection.pipeline(transaction=False) as pipeline:
            for job_id in ids:
                pipeline.hget(Job.key_for(job_id), "description")
            descriptions = pipeline.execute()
        for description in descriptions:
            text = description.decode() if isinstance(description, bytes) else description or ""
            if text.startswith(prefixes):
                return True
        offset += len(ids)


def _images_named(ids: Sequence[int]) -> str:
    """``image 4`` / ``images 4, 5, 9`` / ``1200 images: 4, 5, … and 1180 more``."""
    if len(ids) == 1:
        return f"image {ids[0]}"
    named = ", ".join(str(i) for i in ids[:_LOGGED_IDS])
    if len(ids) <= _LOGGED_IDS:
        return f"images {named}"
    return f"{len(ids)} images: {named} and {len(ids) - _LOGGED_IDS} more"


def _reasons_said(reasons: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in reasons.items())
