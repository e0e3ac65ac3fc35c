"""Members leaving the annotators of a project (DESIGN §6): removal, and a change of role away
from annotating, rebalance the member's open tasks onto the project's other annotators."""

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from projects.audit import audit
from projects.errors import ApplicationError
from projects.models import OPEN_TASK_STATUSES, Membership, Project, Role, Task
from projects.permissions import ADMIN, Action, forget_roles, require_action
from projects.services.setup import membership_role_apply, role_check
from projects.services.tasks import annotators_of, cancel_open, hand_over, open_load

OPEN = OPEN_TASK_STATUSES


@transaction.atomic
def membership_role_change(*, membership: Membership, role: str, actor: Any) -> Membership:
    """Change a member's role (leads and admins; nobody but site staff changes their own).
    An annotator who becomes a reviewer or a lead no longer annotates: their open tasks
    are rebalanced as when they leave (:func:`membership_remove`), and the audit event of
    the change counts what moved and what was cancelled."""
    role_check(role)
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("project", "user")
        .get(pk=membership.pk)
    )
    acting = require_action(
        actor=actor, project=membership.project, action=Action.MANAGE_PROJECT, what="change roles"
    )
    if actor is not None and acting != ADMIN and membership.user_id == actor.pk:
        raise ApplicationError("You may not change your own role.", status=403)
    if membership.role == Role.ANNOTATOR and role != Role.ANNOTATOR:
        result = _rebalance(project=membership.project, user=membership.user, actor=actor)
        audit(
            actor=actor,
            verb="membership.rebalance",
            obj=membership,
            project=membership.project,
            before={"user": membership.user.username, "role": membership.role},
            after={"moved": len(result.moved), "cancelled": len(result.cancelled)},
        )
    return membership_role_apply(membership, role=role, actor=actor)


@dataclass
class MembershipRemoved:
    """What removing a member did to their open tasks: each moved one with its new task,
    and those nobody could take (cancelled)."""

    moved: list[tuple[Task, Task]] = field(default_factory=list)
    cancelled: list[Task] = field(default_factory=list)


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Any) -> MembershipRemoved:
    """Remove a member (leads and admins; nobody but site staff removes themselves).

    Their open tasks are rebalanced onto the project's other annotators, each to the least
    loaded one (open tasks over every project, then username) who has no task on that image;
    a task nobody can take is cancelled. Both are reported in the result.
    """
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("project", "user")
        .get(pk=membership.pk)
    )
    project, user = membership.project, membership.user
    role = require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="remove members"
    )
    if actor is not None and role != ADMIN and user.pk == actor.pk:
        raise ApplicationError("You may not remove yourself from a project.", status=403)
    result = _rebalance(project=project, user=user, actor=actor)
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


def _rebalance(*, project: Project, user: Any, actor: Any) -> MembershipRemoved:
    tasks = list(
        Task.objects.select_for_update(of=("self",))
        .filter(image__project=project, annotator=user, status__in=OPEN)
        .select_related("image__project", "annotator")
        .order_by("image__name")
    )
    others = [a for a in annotators_of(project) if a.pk != user.pk]
    load = open_load(a.pk for a in others)
    have: dict[int, set[int]] = {}
    for image_id, annotator_id in Task.objects.filter(
        image__in=[task.image_id for task in tasks]
    ).values_list("image_id", "annotator_id"):
        have.setdefault(image_id, set()).add(annotator_id)
    result = MembershipRemoved()
    for task in tasks:
        free = [a for a in others if a.pk not in have.get(task.image_id, set())]
        if not free:
            cancel_open(task, actor=actor, reason=f"{user} left the project; nobody can take it")
            result.cancelled.append(task)
            continue
        to = min(free, key=lambda a: (load[a.pk], a.username))
        result.moved.append(
            (task, hand_over(task, to=to, actor=actor, reason=f"{user} left the project"))
        )
        load[to.pk] += 1
        have.setdefault(task.image_id, set()).add(to.pk)
    return result
