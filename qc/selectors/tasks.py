"""What an annotator's task pages show (DESIGN §11): their tasks, each with the feedback
waiting on a rejected one (the review or the send-back that explains it), and one task's
submit page. Blind: only the user's own tasks."""

from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from projects.models import OPEN_TASK_STATUSES, Project, Task, TaskStatus
from projects.selectors import (
    current_versions,
    not_acknowledged,
    tasks_of_annotator,
    unacknowledged_versions,
)
from qc.models import ReasonCode, Review

REASON_LABELS = dict(ReasonCode.choices)


def _reason_words(code: str) -> str:
    """A reason code's label ("boundary_too_loose" → "Boundary too loose")."""
    return REASON_LABELS.get(code, code)


def _feedback(task: Task) -> dict[str, Any] | None:
    """What waits for the annotator of a rejected task (its prefetched submissions with
    their reviews, and its send-backs): the reasons, the comment and the submission whose
    review explains them; None for a task that is not rejected."""
    if task.status != TaskStatus.REJECTED:
        return None
    submissions = sorted(task.submissions.all(), key=lambda s: s.revision)
    latest = submissions[-1] if submissions else None
    review = getattr(latest, "review", None) if latest is not None else None
    send_backs = sorted(task.send_backs.all(), key=lambda s: (s.created_at, s.pk))
    if review is not None and review.decision == Review.Decision.REJECT:
        reasons, comment, when = review.reasons, review.comment, review.created_at
    elif send_backs:
        last = send_backs[-1]
        reasons, comment, when = last.reasons, last.comment, last.created_at
    else:
        reasons, comment, when = [], "", None
    return {
        "reasons": [_reason_words(code) for code in reasons],
        "comment": comment,
        "at": when,
        "submission": latest,
        "sent_back": review is None or review.decision != Review.Decision.REJECT,
    }


def _with_feedback(tasks: QuerySet[Task]) -> list[Task]:
    """The tasks, each with ``feedback`` (:func:`_feedback`), ``is_open`` and ``overdue``
    (an open task past its due date)."""
    today = timezone.localdate()
    rows = list(tasks.prefetch_related("submissions__review", "send_backs"))
    for task in rows:
        task.feedback = _feedback(task)
        task.is_open = task.status in OPEN_TASK_STATUSES
        task.overdue = task.is_open and task.due_date is not None and task.due_date < today
    return rows


def annotator_tasks_page(
    *, user: Any, project: Project, status: str | None = None
) -> dict[str, Any]:
    """Everything the annotator's task list shows: their tasks (open first, each with its
    feedback and whether it is overdue, :func:`_with_feedback`), only those of ``status``
    when it is one; the count of each status over all of them, how many wait to be
    claimed, and the guideline versions they have yet to acknowledge."""
    tasks = _with_feedback(tasks_of_annotator(user=user, project=project))
    counts = {status: 0 for status in TaskStatus.values}
    for task in tasks:
        counts[task.status] += 1
    shown = status if status in counts and status != TaskStatus.CANCELLED else None
    return {
        "tasks": [task for task in tasks if shown is None or task.status == shown],
        "shown_status": shown,
        "total": len(tasks),
        "counts": [
            (status.value, status.label, counts[status.value])
            for status in TaskStatus
            if status != TaskStatus.CANCELLED
        ],
        "claimable": counts[TaskStatus.ASSIGNED],
        "feedback_waiting": counts[TaskStatus.REJECTED],
        "unacknowledged": unacknowledged_versions(user=user, project=project),
    }


def submit_page(*, user: Any, project: Project, pk: int) -> dict[str, Any] | None:
    """What the submit page of task ``pk`` shows, or None unless it is the user's own task
    in ``project`` (the blind rule: nobody else's task is even named): the task with its
    image, revisions and feedback, the current guideline versions, those the user has yet
    to acknowledge, and the project's classes."""
    tasks = _with_feedback(
        Task.objects.filter(pk=pk, image__project=project, annotator=user)
        .select_related("image")
        .annotate(revisions=Count("submissions"))
    )
    if not tasks:
        return None
    versions = current_versions(project=project)
    return {
        "task": tasks[0],
        "versions": versions,
        "unacknowledged": not_acknowledged(user, versions),
        "label_classes": list(project.label_classes.order_by("name")),
    }
