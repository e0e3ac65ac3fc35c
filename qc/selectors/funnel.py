"""The work dashboard of a project (DESIGN §10, §11) and the site admin's page of all
projects: where the images and tasks stand, how much work got done each day, what waits
for review and what is late. Counts only, each in one grouped query, so the number of
queries is the same whatever the project (or the site) holds.

- An image **waits for review** while it is in review (:class:`QCState`), since its latest
  submission of a live task; its reviewer is the one its open review assignment names.
- **Throughput** per day (in the site's time zone): submissions made, reviews decided
  (accepted or rejected), labels accepted (the labels in force and those they replaced,
  :class:`ImageLabelHistory`, each counted on the day it was accepted).
- A task is **overdue** while it is open (the annotator still owes work) past its due date
  (:func:`projects.selectors.overdue_q`).

Images are counted by state, and the states named, as everywhere
(:func:`projects.selectors.qc_state_counts`, :data:`projects.selectors.QC_STATE_LABELS`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, DateField, F, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from projects.models import OPEN_TASK_STATUSES, AuditEvent, Image, Project, Task, TaskStatus
from projects.selectors import (
    QC_STATE_LABELS,
    QCState,
    images_with_qc_state,
    overdue_tasks,
    qc_state_counts,
    qc_state_expression,
    review_queue,
)
from qc.models import AgreementSummary, ImageLabel, ImageLabelHistory, Review, Submission
from qc.selectors.workflow import open_reviewer_expression

WEEKS_CHOICES = (4, 8)
WEEKS = 4
# The longest lists the page shows in full; their counts always cover everything.
OLDEST_SHOWN = 10
OVERDUE_SHOWN = 10


@dataclass(frozen=True)
class Day:
    """The work done on one day."""

    day: date
    submissions: int
    reviews: int
    accepted: int  # of the reviews
    rejected: int  # of the reviews
    labels: int


@dataclass(frozen=True)
class ReviewerBacklog:
    """The images waiting for one reviewer (``reviewer`` None: none is assigned)."""

    reviewer: str | None
    waiting: int
    oldest: datetime | None


@dataclass(frozen=True)
class WaitingImage:
    pk: int
    name: str
    reviewer: str | None
    waiting_since: datetime | None
    may_open: bool  # the user may open it in the viewer


@dataclass(frozen=True)
class OverdueTask:
    pk: int
    image: str
    annotator: str
    status: str
    due_date: date
    days_late: int


def waiting_since_expression() -> Subquery:
    """When the outer image's newest submission of a live task was made: since then it has
    waited for review (while it is in review)."""
    return Subquery(
        Submission.objects.filter(task__image=OuterRef("pk"))
        .exclude(task__status=TaskStatus.CANCELLED)
        .order_by("-submitted_at")
        .values("submitted_at")[:1]
    )


def images_waiting(*, project: Project) -> QuerySet[Image]:
    """The project's images in review with ``waiting_since`` and ``reviewer_name``."""
    return (
        images_with_qc_state(project=project)
        .filter(qc_state=QCState.IN_REVIEW)
        .annotate(
            waiting_since=waiting_since_expression(), reviewer_name=open_reviewer_expression()
        )
    )


def _per_day(rows: QuerySet, field: str, start: datetime) -> dict[date, int]:
    """Counts of ``rows`` by the local day of ``field``, from ``start`` on."""
    tz = timezone.get_current_timezone()
    return dict(
        rows.filter(**{f"{field}__gte": start})
        .annotate(day=TruncDate(field, tzinfo=tz, output_field=DateField()))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )


def _throughput(project: Project, *, days: list[date], start: datetime) -> list[Day]:
    submissions = _per_day(
        Submission.objects.filter(task__image__project=project), "submitted_at", start
    )
    reviews = Review.objects.filter(submission__task__image__project=project)
    accepted = _per_day(reviews.filter(decision=Review.Decision.ACCEPT), "created_at", start)
    rejected = _per_day(reviews.filter(decision=Review.Decision.REJECT), "created_at", start)
    labels = _per_day(ImageLabel.objects.filter(image__project=project), "accepted_at", start)
    replaced = _per_day(
        ImageLabelHistory.objects.filter(image__project=project), "accepted_at", start
    )
    return [
        Day(
            day=day,
            submissions=submissions.get(day, 0),
            reviews=accepted.get(day, 0) + rejected.get(day, 0),
            accepted=accepted.get(day, 0),
            rejected=rejected.get(day, 0),
            labels=labels.get(day, 0) + replaced.get(day, 0),
        )
        for day in days
    ]


def throughput(*, project: Project, weeks: int = WEEKS, today: date | None = None) -> list[Day]:
    """The work of each of the last ``weeks`` weeks' days, oldest first, today last."""
    today = today or timezone.localdate()
    days = [today - timedelta(days=n) for n in range(7 * weeks - 1, -1, -1)]
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    return _throughput(project, days=days, start=start)


def _backlog(user: Any, project: Project, *, may_open_all: bool) -> dict[str, Any]:
    waiting = images_waiting(project=project)
    by_reviewer = [
        ReviewerBacklog(reviewer=row["reviewer_name"], waiting=row["n"], oldest=row["oldest"])
        for row in waiting.order_by()
        .values("reviewer_name")
        .annotate(n=Count("pk"), oldest=Min("waiting_since"))
        .order_by(F("oldest").asc(nulls_last=True), "reviewer_name")
    ]
    oldest = [
        WaitingImage(
            pk=image.pk,
            name=image.name,
            reviewer=image.reviewer_name,
            waiting_since=image.waiting_since,
            may_open=may_open_all or image.reviewer_name == user.get_username(),
        )
        for image in waiting.order_by(F("waiting_since").asc(nulls_last=True), "name")[
            :OLDEST_SHOWN
        ]
    ]
    return {
        "by_reviewer": by_reviewer,
        "oldest": oldest,
        "total": sum(row.waiting for row in by_reviewer),
        "in_queue": review_queue(user=user, project=project).count(),
        "oldest_since": oldest[0].waiting_since if oldest else None,
    }


def _overdue(project: Project, today: date) -> dict[str, Any]:
    tasks = overdue_tasks(project=project, today=today)
    shown = [
        OverdueTask(
            pk=task.pk,
            image=task.image.name,
            annotator=task.annotator.get_username(),
            status=task.get_status_display(),
            due_date=task.due_date,
            days_late=(today - task.due_date).days,
        )
        for task in tasks.select_related("image", "annotator")[:OVERDUE_SHOWN]
    ]
    return {"total": tasks.count(), "shown": shown}


def funnel_page(
    *, user: Any, project: Project, weeks: int = WEEKS, may_open_all: bool = False
) -> dict[str, Any]:
    """Everything the work dashboard shows: images by QC state and tasks by status (each in
    their funnel's order, with totals), the throughput of the last ``weeks`` weeks by day,
    the review backlog (by reviewer, oldest waiting first; the oldest images waiting, each
    with whether ``user`` may open it: every one when ``may_open_all``, else those waiting
    for ``user``; ``in_queue``, how many of them ``user``'s review queue holds) and the
    overdue tasks."""
    today = timezone.localdate()
    states = qc_state_counts(project=project)
    statuses = dict(
        Task.objects.filter(image__project=project)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "images": [(s, QC_STATE_LABELS[s], n) for s, n in states.items()],
        "images_total": sum(states.values()),
        "tasks": [(s.value, s.label, statuses.get(s.value, 0)) for s in TaskStatus],
        "tasks_total": sum(statuses.values()),
        "days": throughput(project=project, weeks=weeks, today=today),
        "weeks": weeks,
        "backlog": _backlog(user, project, may_open_all=may_open_all),
        "overdue": _overdue(project, today),
        "today": today,
    }


# --- the site's page of all projects ---------------------------------------------------------


@dataclass(frozen=True)
class ProjectRow:
    """One project as the site admin's page shows it."""

    project: Project
    images: int
    states: list[tuple[str, str, int]]
    open_tasks: int
    waiting: int
    oldest_waiting: datetime | None
    pq: float | None
    pq_ci95: Sequence[float] | None
    compared: int | None
    last_activity: datetime | None


def site_projects() -> list[ProjectRow]:
    """Every project, by name, with its images by QC state, open tasks, review backlog,
    headline pq with its interval (only the stored summary of its agreement report) and
    its last audited change: four queries whatever the number of projects (so the images
    are counted by project and state in one query, with the expression
    :func:`projects.selectors.qc_state_counts` groups by, not once a project)."""
    open_tasks = (
        Task.objects.filter(image__project=OuterRef("pk"), status__in=OPEN_TASK_STATUSES)
        .order_by()
        .values("image__project")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last = (
        AuditEvent.objects.filter(project=OuterRef("pk"))
        .order_by()
        .values("project")
        .annotate(at=Max("created_at"))
        .values("at")
    )
    projects = list(
        Project.objects.annotate(
            open_tasks=Subquery(open_tasks), last_activity=Subquery(last)
        ).order_by("name", "pk")
    )
    counts: dict[int, dict[str, int]] = {}
    oldest: dict[int, datetime | None] = {}
    for project_id, state, n, since in (
        Image.objects.annotate(
            qc_state=qc_state_expression(), waiting_since=waiting_since_expression()
        )
        .order_by()
        .values_list("project_id", "qc_state")
        .annotate(n=Count("pk"), oldest=Min("waiting_since"))
        .values_list("project_id", "qc_state", "n", "oldest")
    ):
        counts.setdefault(project_id, {})[state] = n
        if state == QCState.IN_REVIEW:
            oldest[project_id] = since
    summaries = {
        row["project_id"]: row
        for row in AgreementSummary.objects.filter(project__in=[p.pk for p in projects]).values(
            "project_id", summary=F("report__summary"), compared=F("report__images")
        )
    }
    result = []
    for project in projects:
        summary = summaries.get(project.pk, {}).get("summary") or {}
        by_state = counts.get(project.pk, {})
        result.append(
            ProjectRow(
                project=project,
                images=sum(by_state.values()),
                states=[(s, QC_STATE_LABELS[s], by_state.get(s, 0)) for s in QCState.ORDER],
                open_tasks=project.open_tasks or 0,
                waiting=by_state.get(QCState.IN_REVIEW, 0),
                oldest_waiting=oldest.get(project.pk),
                pq=summary.get("pq"),
                pq_ci95=summary.get("pq_ci95"),
                compared=summaries.get(project.pk, {}).get("compared"),
                last_activity=project.last_activity,
            )
        )
    return result
