"""Task life (DESIGN §6): assignment with the overlap plan, claim-next, start, cancel and
reassign. Removing a member, which rebalances their open tasks, is in :mod:`.members`.

A task is *open* while its annotator still owes work on it: assigned, in progress, or
rejected (rework). Moving an open task to someone else cancels it (it stays, with its
history and any submissions, for the one who had it) and creates a fresh assigned task
for the new annotator with the same due date; the unique (image, annotator) pair means
nobody ever gets the same image twice.
"""

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from projects.audit import audit, audit_event
from projects.errors import ApplicationError, ConflictError
from projects.models import (
    OPEN_TASK_STATUSES,
    AuditEvent,
    Image,
    Membership,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.permissions import Action, require_action
from projects.selectors.people import can_log_in_q

User = get_user_model()

OPEN = OPEN_TASK_STATUSES


def open_load(project: Project, annotator_ids: Iterable[int]) -> dict[int, int]:
    """Each annotator's number of open tasks in ``project``. Only this project's: a lead
    sees and balances the work of their own project, and learns nothing of the others an
    annotator works in."""
    in_project = Q(tasks__status__in=OPEN, tasks__image__project=project)
    return dict(
        User.objects.filter(pk__in=list(annotator_ids))
        .annotate(open_tasks=Count("tasks", filter=in_project))
        .values_list("pk", "open_tasks")
    )


def annotators_of(project: Project) -> list[Any]:
    """The annotators of ``project`` who can log in, by username: those work is given to
    when nobody is named. An account an import created for its labels' author has no usable
    password; tasks given to it would never be done."""
    return list(
        User.objects.filter(
            can_log_in_q(), memberships__project=project, memberships__role=Role.ANNOTATOR
        ).order_by("username")
    )


def _check_assignable(project: Project, images: list[Image], annotators: Sequence[Any]) -> None:
    foreign = sorted(image.name for image in images if image.project_id != project.pk)
    if foreign:
        raise ApplicationError(f"Not images of {project.slug}: {', '.join(foreign)}.")
    members = set(
        Membership.objects.filter(
            project=project, role=Role.ANNOTATOR, user__in=[a.pk for a in annotators]
        ).values_list("user_id", flat=True)
    )
    strangers = sorted(str(a) for a in annotators if a.pk not in members)
    if strangers:
        raise ApplicationError(f"Not annotators of {project.slug}: {', '.join(strangers)}.")


@dataclass(frozen=True)
class AnnotatorLoad:
    """One annotator in a plan: open tasks in the project (what the balance weighs) before
    the batch, and the batch's new tasks."""

    annotator: Any
    before: int
    new: int

    @property
    def after(self) -> int:
        return self.before + self.new


@dataclass(frozen=True)
class ShortImage:
    """An image of the batch that cannot get its planned annotators: every other chosen
    annotator had it already, or fewer annotators were chosen than planned."""

    image: Image
    planned: int
    gets: int


@dataclass(frozen=True)
class AssignmentPlan:
    """What :func:`task_assign` would create for a batch, computed without writing.

    ``tasks`` are the (image, annotator) pairs to create, in order; ``planned`` says how
    many annotators each image of the batch is to have (1 or ``overlap``); an image keeps
    its live tasks and gets only the missing ones. ``digest`` names the pairs, so an
    assignment can insist on being the plan that was shown."""

    overlap: int
    overlap_fraction: float
    images: list[Image]
    planned: list[int]
    tasks: list[tuple[Image, Any]]
    loads: list[AnnotatorLoad]
    short: list[ShortImage]
    complete: int  # images of the batch that already have their planned annotators

    @property
    def single(self) -> int:
        return sum(1 for wanted in self.planned if wanted == 1)

    @property
    def overlapped(self) -> int:
        return len(self.planned) - self.single

    @property
    def digest(self) -> str:
        pairs = ",".join(f"{image.pk}:{annotator.pk}" for image, annotator in self.tasks)
        return hashlib.sha256(pairs.encode()).hexdigest()[:16]


def _planned_per_image(count: int, overlap: int, fraction: float, seed: int) -> list[int]:
    """How many annotators each of ``count`` images gets: ``overlap`` for the overlapped
    share (``fraction``, rounded), 1 for the rest, in an order shuffled by ``seed``."""
    overlapped = round(count * fraction)
    plan = [overlap] * overlapped + [1] * (count - overlapped)
    random.Random(seed).shuffle(plan)
    return plan


def _overrides(project: Project, overlap: int | None, fraction: float | None) -> tuple[int, float]:
    overlap = project.overlap if overlap is None else overlap
    fraction = project.overlap_fraction if fraction is None else fraction
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 1:
        raise ApplicationError("The overlap is a whole number of annotators, at least 1.")
    if not 0 <= fraction <= 1:
        raise ApplicationError("The share of overlapped images is between 0 and 1.")
    return overlap, float(fraction)


def _plan(
    project: Project,
    images: list[Image],
    annotators: Sequence[Any],
    *,
    overlap: int,
    fraction: float,
    seed: int,
) -> AssignmentPlan:
    """The planner both the preview and the assignment use (three queries).

    Each missing task goes to the chosen annotator with the fewest open tasks in the
    project, then by
    username, who never had a task on the image (a cancelled one included: the unique
    image and annotator pair). Only live tasks count toward an image's planned number,
    so an image whose task was cancelled gets a new annotator."""
    load = open_load(project, (a.pk for a in annotators))
    taken: dict[int, set[int]] = {}
    live: dict[int, int] = {}
    for image_id, annotator_id, status in Task.objects.filter(image__in=images).values_list(
        "image_id", "annotator_id", "status"
    ):
        taken.setdefault(image_id, set()).add(annotator_id)
        live[image_id] = live.get(image_id, 0) + (status != TaskStatus.CANCELLED)
    planned = _planned_per_image(len(images), overlap, fraction, seed)
    by_pk = {a.pk: a for a in annotators}
    new = dict.fromkeys(by_pk, 0)
    tasks: list[tuple[Image, Any]] = []
    short: list[ShortImage] = []
    complete = 0
    for image, wanted in zip(images, planned, strict=True):
        need = max(0, wanted - live.get(image.pk, 0))
        if not need:
            complete += 1
            continue
        have = taken.get(image.pk, set())
        candidates = sorted(
            (pk for pk in by_pk if pk not in have), key=lambda pk: (load[pk], by_pk[pk].username)
        )
        for pk in candidates[:need]:
            tasks.append((image, by_pk[pk]))
            load[pk] += 1
            new[pk] += 1
        if len(candidates) < need:
            short.append(ShortImage(image, wanted, wanted - need + len(candidates)))
    loads = [
        AnnotatorLoad(annotator=a, before=load[a.pk] - new[a.pk], new=new[a.pk])
        for a in sorted(annotators, key=lambda a: a.username)
    ]
    return AssignmentPlan(overlap, fraction, images, planned, tasks, loads, short, complete)


def _checked(
    project: Project, images: Iterable[Image], annotators: Sequence[Any] | None
) -> tuple[list[Image], Sequence[Any]]:
    images = list(images)
    if annotators is None:
        annotators = annotators_of(project)
    _check_assignable(project, images, annotators)
    if not annotators:
        raise ApplicationError(
            f"Project {project.slug} has no annotators who can log in to assign tasks to."
        )
    return images, annotators


def task_assign_plan(
    *,
    project: Project,
    images: Iterable[Image],
    actor: Any,
    annotators: Sequence[Any] | None = None,
    overlap: int | None = None,
    overlap_fraction: float | None = None,
    seed: int = 0,
) -> AssignmentPlan:
    """The tasks :func:`task_assign` would create with the same arguments, created by the
    same planner but not written: the preview a lead checks before assigning."""
    require_action(actor=actor, project=project, action=Action.ASSIGN_TASKS, what="assign tasks")
    overlap, overlap_fraction = _overrides(project, overlap, overlap_fraction)
    images, annotators = _checked(project, images, annotators)
    return _plan(project, images, annotators, overlap=overlap, fraction=overlap_fraction, seed=seed)


@transaction.atomic
def task_assign(
    *,
    project: Project,
    images: Iterable[Image],
    actor: Any,
    annotators: Sequence[Any] | None = None,
    due_date: Any = None,
    overlap: int | None = None,
    overlap_fraction: float | None = None,
    seed: int = 0,
    expect: str | None = None,
) -> list[Task]:
    """Create tasks so each image gets 1 or ``overlap`` annotators per the project's plan
    (leads and admins); ``overlap`` and ``overlap_fraction`` override the project's for
    this batch.

    Load is balanced: each task goes to the annotator with the fewest open tasks in the
    project who never had the image (see :func:`_plan`). Images that already have their
    planned annotators are left alone. ``annotators`` (default: every annotator of the
    project who can log in, see :func:`annotators_of`) must be annotators of it.
    ``expect`` is the digest of a previewed plan (:attr:`AssignmentPlan.digest`): when the
    plan differs now (someone assigned or finished work in between), nothing is created
    and a ConflictError says so.
    """
    require_action(actor=actor, project=project, action=Action.ASSIGN_TASKS, what="assign tasks")
    overlap, overlap_fraction = _overrides(project, overlap, overlap_fraction)
    images, annotators = _checked(project, images, annotators)
    # Lock the images to serialise concurrent assignment of the same ones.
    Image.objects.select_for_update().filter(pk__in=[image.pk for image in images]).exists()
    plan = _plan(project, images, annotators, overlap=overlap, fraction=overlap_fraction, seed=seed)
    if expect is not None and plan.digest != expect:
        raise ConflictError(
            "The plan changed since its preview (tasks were assigned or finished in the "
            "meantime); nothing was assigned. Check the new preview and assign again."
        )
    created = [
        Task(image=image, annotator=annotator, assigned_by=actor, due_date=due_date)
        for image, annotator in plan.tasks
    ]
    Task.objects.bulk_create(created)
    AuditEvent.objects.bulk_create(
        audit_event(
            actor=actor,
            verb="task.assign",
            obj=task,
            project=project,
            after={"image": task.image.name, "annotator": task.annotator.username},
        )
        for task in created
    )
    return created


def _claimable(*, user: Any, project: Project):
    """The caller's own assigned (not yet started) tasks, soonest due first, then oldest."""
    return Task.objects.filter(
        image__project=project, annotator=user, status=TaskStatus.ASSIGNED
    ).order_by(F("due_date").asc(nulls_last=True), "created_at", "pk")


@transaction.atomic
def task_claim_next(*, project: Project, actor: Any) -> Task:
    """Hand the annotator ``actor`` their next task and move it to in progress.

    Claimable: the caller's own tasks that are still ``assigned`` (tasks always have an
    annotator; a lead's assignment is the pool each annotator pulls from), the soonest due
    first, then the oldest. One task never goes to two callers: on PostgreSQL the row is
    taken with ``SELECT … FOR UPDATE SKIP LOCKED`` (a concurrent caller skips it and takes
    the next); elsewhere with a conditional UPDATE (``WHERE status = 'assigned'``) that only
    one caller can win. Nothing left to claim is a ConflictError (HTTP 409).
    """
    require_action(actor=actor, project=project, action=Action.SUBMIT, what="claim tasks")
    claimable = _claimable(user=actor, project=project)
    task = None
    if connection.features.has_select_for_update_skip_locked:
        task = claimable.select_for_update(skip_locked=True, of=("self",)).first()
        if task is not None:
            task.status = TaskStatus.IN_PROGRESS
            task.save(update_fields=["status", "updated_at"])
    else:
        for pk in claimable.values_list("pk", flat=True):
            if _advance(pk, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS):
                task = Task.objects.get(pk=pk)
                break
    if task is None:
        raise ConflictError(f"No assigned task is waiting for you in {project.slug}.")
    audit(
        actor=actor,
        verb="task.claim",
        obj=task,
        project=project,
        before={"status": TaskStatus.ASSIGNED},
        after={"status": TaskStatus.IN_PROGRESS},
    )
    return task


def _advance(pk: int, source: str, target: str) -> bool:
    """Move one task from ``source`` to ``target`` status if it is still in ``source``."""
    return bool(
        Task.objects.filter(pk=pk, status=source).update(status=target, updated_at=timezone.now())
    )


@transaction.atomic
def task_start(*, task: Task, actor: Any) -> Task:
    """Its annotator starts an assigned task (assigned → in progress). Someone else's task
    is refused (403); a task no longer assigned is a ConflictError."""
    project = task.image.project
    require_action(actor=actor, project=project, action=Action.SUBMIT, what="start tasks")
    if actor is not None and task.annotator_id != actor.pk:
        raise ApplicationError(f"{actor} may not start {task.annotator}'s task.", status=403)
    if not _advance(task.pk, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS):
        task.refresh_from_db(fields=["status"])
        raise ConflictError(f"Task {task.image.name} is {task.status}; only assigned tasks start.")
    task.refresh_from_db()
    audit(
        actor=actor,
        verb="task.start",
        obj=task,
        project=project,
        before={"status": TaskStatus.ASSIGNED},
        after={"status": TaskStatus.IN_PROGRESS},
    )
    return task


def _locked_open(task: Task, *, verb: str) -> Task:
    task = (
        Task.objects.select_for_update(of=("self",))
        .select_related("image__project", "annotator")
        .get(pk=task.pk)
    )
    if task.status not in OPEN:
        raise ConflictError(
            f"Task {task.image.name} for {task.annotator} is {task.status}; "
            f"only open tasks (assigned, in progress, rejected) can be {verb}."
        )
    return task


def cancel_open(task: Task, *, actor: Any, reason: str) -> None:
    before = task.status
    task.status = TaskStatus.CANCELLED
    task.save(update_fields=["status", "updated_at"])
    audit(
        actor=actor,
        verb="task.cancel",
        obj=task,
        project=task.image.project,
        before={"status": before},
        after={"status": TaskStatus.CANCELLED, "reason": reason},
    )


@transaction.atomic
def task_cancel(*, task: Task, actor: Any) -> Task:
    """A lead or an admin cancels an open task; any other status is a ConflictError."""
    require_action(
        actor=actor, project=task.image.project, action=Action.ASSIGN_TASKS, what="cancel tasks"
    )
    task = _locked_open(task, verb="cancelled")
    cancel_open(task, actor=actor, reason="cancelled")
    return task


def hand_over(task: Task, *, to: Any, actor: Any, reason: str) -> Task:
    """Cancel ``task`` and give its image to ``to`` as a new assigned task."""
    cancel_open(task, actor=actor, reason=reason)
    new = Task(image=task.image, annotator=to, assigned_by=actor, due_date=task.due_date)
    try:
        with transaction.atomic():
            new.save(force_insert=True)
    except IntegrityError:
        raise ConflictError(f"{to} already has a task on {task.image.name}.") from None
    audit(
        actor=actor,
        verb="task.assign",
        obj=new,
        project=task.image.project,
        after={"image": task.image.name, "annotator": to.username, "from_task": task.pk},
    )
    return new


@transaction.atomic
def task_reassign(*, task: Task, annotator: Any, actor: Any) -> Task:
    """A lead or an admin moves an open task to another annotator of the project who has
    no task on that image (refused otherwise). Returns the new task; the old one is
    cancelled."""
    project = task.image.project
    require_action(actor=actor, project=project, action=Action.ASSIGN_TASKS, what="reassign tasks")
    task = _locked_open(task, verb="reassigned")
    if not Membership.objects.filter(project=project, user=annotator, role=Role.ANNOTATOR).exists():
        raise ApplicationError(
            f"{annotator} is not an annotator of {project.slug}.", extra={"annotator": ["invalid"]}
        )
    if Task.objects.filter(image=task.image, annotator=annotator).exists():
        raise ConflictError(f"{annotator} already has a task on {task.image.name}.")
    return hand_over(task, to=annotator, actor=actor, reason=f"reassigned to {annotator}")
