"""Reads of the lead's assignment pages (DESIGN §6, §11): the images with their QC state and
tasks, the project's tasks, each annotator's load, and the images of a batch to assign.

Each page's function returns everything its template shows, in a fixed number of queries
whatever the page holds. Filters arrive parsed (the views' forms drop what does not parse);
an annotator filter is a username, as the overview's and the load table's links give it.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from projects.models import (
    OPEN_TASK_STATUSES,
    Acknowledgement,
    Image,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.selectors import (
    QC_STATE_LABELS,
    QCState,
    current_versions,
    images_with_qc_state,
    is_overdue,
    overdue_q,
    qc_state_counts,
)
from projects.selectors.people import can_log_in_flag

PER_PAGE_CHOICES = (25, 50, 100)
PER_PAGE = 50
# The task list's status filter takes every TaskStatus value and this one: every open task.
OPEN = "open"
STATUS_CHOICES = ((OPEN, "Open"), *TaskStatus.choices)
# The name the assignment views know the states' labels by.
STATE_LABELS = QC_STATE_LABELS


class Batch:
    """Which images an assignment takes."""

    SELECTED = "selected"
    UNASSIGNED = "unassigned"
    STATE = "state"
    CHOICES = (
        (SELECTED, "The selected images"),
        (UNASSIGNED, "The first unassigned images, by name"),
        (STATE, "Every image in a QC state"),
    )


def _annotators(project: Project) -> QuerySet[Any]:
    """The project's annotators and anyone else with a task in it (a former member)."""
    return (
        get_user_model()
        .objects.filter(
            Q(memberships__project=project, memberships__role=Role.ANNOTATOR)
            | Q(Exists(Task.objects.filter(image__project=project, annotator=OuterRef("pk"))))
        )
        .distinct()
        .order_by("username")
    )


def _state_counts(project: Project) -> list[tuple[str, str, int]]:
    return [
        (state, QC_STATE_LABELS[state], n) for state, n in qc_state_counts(project=project).items()
    ]


# --- images ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageFilters:
    """The images list's filters, each None when not applied: QC state ``state``, a live
    task of the annotator named ``annotator``, ``q`` in the name."""

    state: str | None = None
    annotator: str | None = None
    q: str | None = None

    @property
    def applied(self) -> bool:
        return any(v is not None for v in (self.state, self.annotator, self.q))


@dataclass(frozen=True)
class ImageRow:
    image: Image
    state: str
    state_label: str
    tasks: list[Task]  # every task of the image, cancelled ones too, by annotator


@dataclass(frozen=True)
class ImagesPage:
    rows: list[ImageRow]
    page: Page
    total: int
    matching: int
    filters: ImageFilters
    per_page: int
    states: list[tuple[str, str, int]]  # (state, label, images in it)
    annotators: list[str]
    per_page_choices: Sequence[int] = PER_PAGE_CHOICES

    @property
    def unassigned(self) -> int:
        return dict((state, n) for state, _, n in self.states)[QCState.UNASSIGNED]

    @property
    def owing(self) -> dict[str, tuple[str, ...]]:
        """Each annotator who still owes an acknowledgement, with the versions owed."""
        return {row.username: row.owes for row in self.loads if row.owes}

    @property
    def may_log_in(self) -> list[str]:
        """The annotators who can log in: those the form offers work to by default."""
        return [row.username for row in self.loads if row.can_log_in]


def images_page(
    *, project: Project, filters: ImageFilters, page: Any = 1, per_page: int = PER_PAGE
) -> ImagesPage:
    """Page ``page`` (any value: out of range or not a number gives the nearest page) of
    the project's images under ``filters``, by name, each with its QC state and tasks; the
    counts of images by state; the annotators to filter by. Five queries."""
    images = images_with_qc_state(project=project)
    if filters.state is not None:
        images = images.filter(qc_state=filters.state)
    if filters.annotator is not None:
        live = Task.objects.filter(image=OuterRef("pk"), annotator__username=filters.annotator)
        images = images.filter(Exists(live.exclude(status=TaskStatus.CANCELLED)))
    if filters.q is not None:
        images = images.filter(name__icontains=filters.q)
    tasks = Prefetch(
        "tasks",
        queryset=Task.objects.select_related("annotator").order_by("annotator__username", "pk"),
        to_attr="task_list",
    )
    paginator = Paginator(images.order_by("name", "pk").prefetch_related(tasks), per_page)
    current = paginator.get_page(page)
    states = _state_counts(project)
    rows = [
        ImageRow(image, image.qc_state, QC_STATE_LABELS[image.qc_state], image.task_list)
        for image in current.object_list
    ]
    return ImagesPage(
        rows=rows,
        page=current,
        total=sum(n for _, _, n in states),
        matching=paginator.count,
        filters=filters,
        per_page=per_page,
        states=states,
        annotators=list(_annotators(project).values_list("username", flat=True)),
    )


# --- tasks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskFilters:
    """The task list's filters, each None (or False) when not applied: ``status`` a
    TaskStatus value or :data:`OPEN`; the annotator named ``annotator``; ``image`` an
    image's name, or its id when all digits; ``overdue``: open and due before today."""

    status: str | None = None
    annotator: str | None = None
    image: str | None = None
    overdue: bool = False

    @property
    def applied(self) -> bool:
        return self.overdue or any(v is not None for v in (self.status, self.annotator, self.image))


@dataclass(frozen=True)
class Choice:
    """An annotator a task could be reassigned to, or why not (``reason``)."""

    username: str
    reason: str | None


@dataclass(frozen=True)
class TaskRow:
    task: Task
    open: bool
    overdue: bool
    choices: list[Choice]  # the project's other annotators; empty for a task not open

    @property
    def can_move(self) -> bool:
        return any(choice.reason is None for choice in self.choices)


@dataclass(frozen=True)
class TasksPage:
    rows: list[TaskRow]
    page: Page
    total: int
    matching: int
    filters: TaskFilters
    per_page: int
    annotators: list[str]
    statuses: Sequence[tuple[str, str]] = STATUS_CHOICES
    per_page_choices: Sequence[int] = PER_PAGE_CHOICES


def _image_q(value: str) -> Q:
    by_name = Q(image__name=value)
    if value.isascii() and value.isdigit() and int(value) < 2**63:
        return by_name | Q(image_id=int(value))
    return by_name


def _filtered_tasks(project: Project, filters: TaskFilters, today: datetime.date) -> QuerySet:
    tasks = Task.objects.filter(image__project=project)
    if filters.status == OPEN:
        tasks = tasks.filter(status__in=OPEN_TASK_STATUSES)
    elif filters.status is not None:
        tasks = tasks.filter(status=filters.status)
    if filters.annotator is not None:
        tasks = tasks.filter(annotator__username=filters.annotator)
    if filters.image is not None:
        tasks = tasks.filter(_image_q(filters.image))
    if filters.overdue:
        tasks = tasks.filter(overdue_q(today=today))
    return tasks


def _choices(task: Task, members: list[str], holders: dict[int, set[str]]) -> list[Choice]:
    if task.status not in OPEN_TASK_STATUSES:
        return []
    have = holders.get(task.image_id, set())
    return [
        Choice(name, "has this image" if name in have else None)
        for name in members
        if name != task.annotator.username
    ]


def tasks_page(
    *,
    project: Project,
    filters: TaskFilters,
    today: datetime.date,
    page: Any = 1,
    per_page: int = PER_PAGE,
) -> TasksPage:
    """Page ``page`` of the project's tasks under ``filters``, newest first, each with
    whom it could be reassigned to (the project's other annotators, those who have the
    image marked so); overdue means open and due before ``today``. Six queries."""
    matching = _filtered_tasks(project, filters, today).select_related("image", "annotator")
    paginator = Paginator(matching.order_by("-created_at", "-pk"), per_page)
    current = paginator.get_page(page)
    tasks = list(current.object_list)
    holders: dict[int, set[str]] = {}
    for image_id, username in Task.objects.filter(
        image_id__in={task.image_id for task in tasks}
    ).values_list("image_id", "annotator__username"):
        holders.setdefault(image_id, set()).add(username)
    members = list(
        get_user_model()
        .objects.filter(memberships__project=project, memberships__role=Role.ANNOTATOR)
        .order_by("username")
        .values_list("username", flat=True)
    )
    rows = [
        TaskRow(
            task=task,
            open=task.status in OPEN_TASK_STATUSES,
            overdue=is_overdue(task, today=today),
            choices=_choices(task, members, holders),
        )
        for task in tasks
    ]
    total = Task.objects.filter(image__project=project).count() if filters.applied else None
    return TasksPage(
        rows=rows,
        page=current,
        total=paginator.count if total is None else total,
        matching=paginator.count,
        filters=filters,
        per_page=per_page,
        annotators=list(_annotators(project).values_list("username", flat=True)),
    )


def task_of_project(*, project: Project, pk: int) -> Task | None:
    """The project's task ``pk`` with its image and annotator, or None."""
    return (
        Task.objects.filter(image__project=project, pk=pk)
        .select_related("image__project", "annotator")
        .first()
    )


# --- the assignment page ----------------------------------------------------------------------


@dataclass(frozen=True)
class LoadRow:
    """An annotator's tasks in the project: open (assigned, in progress or rework), of
    those in progress and rejected, submitted (waiting for review), and overdue; whether
    they can log in (an account an import created cannot, and is offered no work by
    default), and the current guideline versions they have not acknowledged (``owes``:
    until they do, they cannot submit what they are given)."""

    username: str
    open: int
    in_progress: int
    rejected: int
    submitted: int
    overdue: int
    can_log_in: bool = True
    owes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssignmentPage:
    loads: list[LoadRow]
    totals: LoadRow
    states: list[tuple[str, str, int]]
    selected: list[Image]

    @property
    def unassigned(self) -> int:
        return dict((state, n) for state, _, n in self.states)[QCState.UNASSIGNED]

    @property
    def owing(self) -> dict[str, tuple[str, ...]]:
        """Each annotator who still owes an acknowledgement, with the versions owed."""
        return {row.username: row.owes for row in self.loads if row.owes}

    @property
    def may_log_in(self) -> list[str]:
        """The annotators who can log in: those the form offers work to by default."""
        return [row.username for row in self.loads if row.can_log_in]


_LOAD_COUNTS = ("open", "in_progress", "rejected", "submitted", "overdue")


def assignment_page(
    *, project: Project, today: datetime.date, selected: Sequence[int] = ()
) -> AssignmentPage:
    """The load of each annotator of the project (overdue: due before ``today``) with
    whether they can log in and the guideline versions they owe, the images by QC state
    and the images of ``selected`` (ids; others' and unknown ones left out) by name. Five
    queries, six with a selection."""
    in_project = Q(tasks__image__project=project)
    counts = (
        get_user_model()
        .objects.filter(memberships__project=project, memberships__role=Role.ANNOTATOR)
        .annotate(
            open=Count("tasks", filter=in_project & Q(tasks__status__in=OPEN_TASK_STATUSES)),
            in_progress=Count("tasks", filter=in_project & Q(tasks__status="in_progress")),
            rejected=Count("tasks", filter=in_project & Q(tasks__status="rejected")),
            submitted=Count("tasks", filter=in_project & Q(tasks__status="submitted")),
            overdue=Count("tasks", filter=in_project & overdue_q(today=today, prefix="tasks__")),
            can_log_in=can_log_in_flag(),
        )
        .order_by("username")
        .values_list("pk", "username", *_LOAD_COUNTS, "can_log_in")
    )
    rows = list(counts)
    owed = _owed(project, [row[0] for row in rows])
    loads = [LoadRow(*row[1:], owes=owed.get(row[0], ())) for row in rows]
    totals = LoadRow("", *(sum(getattr(row, name) for row in loads) for name in _LOAD_COUNTS))
    chosen = (
        list(Image.objects.filter(project=project, pk__in=list(selected)).order_by("name", "pk"))
        if selected
        else []
    )
    return AssignmentPage(
        loads=loads, totals=totals, states=_state_counts(project), selected=chosen
    )


def _owed(project: Project, user_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Per user of ``user_ids``, the current guideline versions of ``project`` they have
    not acknowledged (as "Title v4"); two queries."""
    versions = current_versions(project=project)
    done = set(
        Acknowledgement.objects.filter(version__in=versions, user_id__in=user_ids).values_list(
            "user_id", "version_id"
        )
    )
    return {
        user_id: owes
        for user_id in user_ids
        if (
            owes := tuple(
                f"{v.guideline.title} v{v.number}" for v in versions if (user_id, v.pk) not in done
            )
        )
    }


def batch_images(
    *,
    project: Project,
    batch: str,
    selected: Sequence[Image] = (),
    count: int | None = None,
    state: str | None = None,
) -> list[Image]:
    """The images of a batch, by name: the ``selected`` ones (the project's), the first
    ``count`` unassigned ones, or every one in QC state ``state``."""
    if batch == Batch.SELECTED:
        return sorted(
            (image for image in selected if image.project_id == project.pk),
            key=lambda image: (image.name, image.pk),
        )
    images = images_with_qc_state(project=project).order_by("name", "pk")
    if batch == Batch.UNASSIGNED:
        return list(images.filter(qc_state=QCState.UNASSIGNED)[: count or 0])
    return list(images.filter(qc_state=state))
