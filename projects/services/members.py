"""Members leaving the annotators of a project (DESIGN §6): removal, and a change of role away
from annotating, rebalance the member's open tasks onto the project's other annotators.

One planner (:func:`_plan`) decides where each open task goes. The preview a lead confirms
(:func:`membership_rebalance_plan`) and the change itself (:func:`membership_remove`,
:func:`membership_role_change`) both ask it, after the same checks of the actor; the change
may be told which plan was confirmed (``expected``, the preview's :attr:`digest`) and is
refused, changing nothing, when the plan is no longer the one the lead saw.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import OPEN_TASK_STATUSES, Membership, Project, Role, Task
from projects.permissions import ADMIN, Action, forget_roles, require_action
from projects.services.setup import membership_role_apply, role_check
from projects.services.tasks import annotators_of, cancel_open, hand_over, open_load

OPEN = OPEN_TASK_STATUSES

# Each open task of the leaving member with the annotator it goes to (None: nobody can take it).
Plan = list[tuple[Task, Any | None]]


@dataclass
class MembershipRemoved:
    """What a member's leaving did (or, from :func:`membership_rebalance_plan`, would do) to
    their open tasks: each moved one with its new task (unsaved in a preview), and those
    nobody could take (cancelled)."""

    moved: list[tuple[Task, Task]] = field(default_factory=list)
    cancelled: list[Task] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """A short fingerprint of the plan (which task goes to whom), so a change can check
        that it does what its preview showed."""
        steps = sorted(
            [f"{old.pk}>{new.annotator_id}" for old, new in self.moved]
            + [f"{task.pk}>-" for task in self.cancelled]
        )
        return hashlib.sha256(",".join(steps).encode()).hexdigest()[:16]

    @property
    def tasks(self) -> int:
        return len(self.moved) + len(self.cancelled)


def _checked(
    membership: Membership, *, actor: Any, what: str, refusal: str, lock: bool
) -> Membership:
    """The membership (locked for a change) once ``actor`` may manage the project and is
    not acting on themselves (nobody but site staff removes themselves or changes their own
    role: ``refusal`` says so)."""
    members = Membership.objects.select_related("project", "user")
    if lock:
        members = members.select_for_update(of=("self",))
    current = members.filter(pk=membership.pk).first()
    if current is None:
        # Removed meanwhile (another lead's removal committed first): nothing to change.
        raise ConflictError(no_longer_member(membership))
    membership = current
    role = require_action(
        actor=actor, project=membership.project, action=Action.MANAGE_PROJECT, what=what
    )
    if actor is not None and role != ADMIN and membership.user_id == actor.pk:
        raise ApplicationError(refusal, status=403)
    return membership


_REMOVE = ("remove members", "You may not remove yourself from a project.")
_ROLE = ("change roles", "You may not change your own role.")


def membership_rebalance_plan(
    *, membership: Membership, actor: Any, role: str | None = None
) -> MembershipRemoved:
    """What removing ``membership`` (or, with ``role``, changing it to ``role``) would do to
    the member's open tasks, refused as the change itself would be; nothing is written. The
    new tasks of the result are unsaved. A change that does not stop an annotator
    annotating moves nothing."""
    what, refusal = _REMOVE if role is None else _ROLE
    if role is not None:
        role_check(role)
    membership = _checked(membership, actor=actor, what=what, refusal=refusal, lock=False)
    if role is not None and not _leaves_annotating(membership, role):
        return MembershipRemoved()
    plan = _plan(project=membership.project, user=membership.user, lock=False)
    result = MembershipRemoved()
    for task, to in plan:
        if to is None:
            result.cancelled.append(task)
        else:
            new = Task(image=task.image, annotator=to, assigned_by=actor, due_date=task.due_date)
            result.moved.append((task, new))
    return result


@transaction.atomic
def membership_role_change(
    *, membership: Membership, role: str, actor: Any, expected: str | None = None
) -> Membership:
    """Change a member's role (leads and admins; nobody but site staff changes their own).
    An annotator who becomes a reviewer or a lead no longer annotates: their open tasks
    are rebalanced as when they leave (:func:`membership_remove`), and the audit event of
    the change counts what moved and what was cancelled. With ``expected`` (a preview's
    digest) a different plan is a ConflictError and nothing changes."""
    role_check(role)
    what, refusal = _ROLE
    membership = _checked(membership, actor=actor, what=what, refusal=refusal, lock=True)
    if _leaves_annotating(membership, role):
        result = _rebalance(membership=membership, actor=actor, expected=expected)
        audit(
            actor=actor,
            verb="membership.rebalance",
            obj=membership,
            project=membership.project,
            before={"user": membership.user.username, "role": membership.role},
            after={"moved": len(result.moved), "cancelled": len(result.cancelled)},
        )
    elif expected is not None and expected != MembershipRemoved().digest:
        raise ConflictError(plan_changed(membership))
    return membership_role_apply(membership, role=role, actor=actor)


@transaction.atomic
def membership_remove(
    *, membership: Membership, actor: Any, expected: str | None = None
) -> MembershipRemoved:
    """Remove a member (leads and admins; nobody but site staff removes themselves).

    Their open tasks are rebalanced onto the project's other annotators who can log in
    (an account an import created holds imported work only), each to the least loaded one
    (open tasks in the project, then username) who has no task on that image; a task
    nobody can take is cancelled. Both are reported in the result. With ``expected``
    (a preview's digest) a different plan is a ConflictError and nothing changes.
    """
    what, refusal = _REMOVE
    membership = _checked(membership, actor=actor, what=what, refusal=refusal, lock=True)
    project, user = membership.project, membership.user
    result = _rebalance(membership=membership, actor=actor, expected=expected)
    audit(
        actor=actor,
        verb="membership.delete",
        obj=membership,
        project=project,
        before={"user": user.username, "role": membership.role},
        after={"moved": len(result.moved), "cancelled": len(result.cancelled)},
    )
    membership.delete()
    forget_roles(user)
    return result


def _leaves_annotating(membership: Membership, role: str) -> bool:
    return membership.role == Role.ANNOTATOR and role != Role.ANNOTATOR


def no_longer_member(membership: Membership) -> str:
    """The refusal of a change to a membership that was removed in the meantime."""
    return f"{membership.user} is no longer a member of {membership.project}."


def plan_changed(membership: Membership) -> str:
    """The refusal of a change whose plan is not the one previewed."""
    return (
        f"{membership.user}'s open tasks changed since the preview: nothing was changed. "
        "Look at the new plan before confirming."
    )


def _plan(*, project: Project, user: Any, lock: bool) -> Plan:
    """Where each of ``user``'s open tasks in ``project`` goes, by image name: to the least
    loaded other annotator who can log in (open tasks in the project, then username) who
    has no task on that image, counting what the plan gives out as it goes; None when
    nobody can take it. ``lock`` locks the tasks for the change that follows."""
    tasks = Task.objects.filter(image__project=project, annotator=user, status__in=OPEN)
    if lock:
        tasks = tasks.select_for_update(of=("self",))
    tasks = list(tasks.select_related("image__project", "annotator").order_by("image__name"))
    others = [a for a in annotators_of(project) if a.pk != user.pk]
    load = open_load(project, (a.pk for a in others))
    have: dict[int, set[int]] = {}
    for image_id, annotator_id in Task.objects.filter(
        image__in=[task.image_id for task in tasks]
    ).values_list("image_id", "annotator_id"):
        have.setdefault(image_id, set()).add(annotator_id)
    plan: Plan = []
    for task in tasks:
        free = [a for a in others if a.pk not in have.get(task.image_id, set())]
        if not free:
            plan.append((task, None))
            continue
        to = min(free, key=lambda a: (load[a.pk], a.username))
        plan.append((task, to))
        load[to.pk] += 1
        have.setdefault(task.image_id, set()).add(to.pk)
    return plan


def _rebalance(*, membership: Membership, actor: Any, expected: str | None) -> MembershipRemoved:
    """Carry out the plan for the (locked) membership's user; refused first when it is not
    the ``expected`` one."""
    user = membership.user
    plan = _plan(project=membership.project, user=user, lock=True)
    if expected is not None and expected != _digest_of(plan):
        raise ConflictError(plan_changed(membership))
    result = MembershipRemoved()
    for task, to in plan:
        if to is None:
            cancel_open(task, actor=actor, reason=f"{user} left the project; nobody can take it")
            result.cancelled.append(task)
        else:
            result.moved.append(
                (task, hand_over(task, to=to, actor=actor, reason=f"{user} left the project"))
            )
    return result


def _digest_of(plan: Plan) -> str:
    preview = MembershipRemoved(
        moved=[(task, Task(annotator=to)) for task, to in plan if to is not None],
        cancelled=[task for task, to in plan if to is None],
    )
    return preview.digest
