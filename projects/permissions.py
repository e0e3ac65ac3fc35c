"""The one place that answers "may this user do this on this project" (DESIGN §10).

Views, API views and commands all ask here. Site staff are admins of every project. Anyone
else needs a membership; an outsider gets a 404 for everything in a project so it does not
learn the project exists, while a member who lacks a right gets a 403.
"""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.errors import ApplicationError
from projects.models import Membership, Project, Role

ADMIN = "admin"


class Action(StrEnum):
    VIEW_PROJECT = "view_project"
    VIEW_OVERVIEW = "view_overview"
    MANAGE_PROJECT = "manage_project"  # settings, label classes, members
    WRITE_GUIDELINES = "write_guidelines"
    READ_GUIDELINES = "read_guidelines"
    ACKNOWLEDGE_GUIDELINES = "acknowledge_guidelines"
    ASSIGN_TASKS = "assign_tasks"
    SUBMIT = "submit"  # own tasks only; see may_submit_task
    SEE_ALL_SUBMISSIONS = "see_all_submissions"
    REVIEW = "review"  # assigned images, never own work; see may_review_image
    VIEW_AGREEMENT = "view_agreement"
    VIEW_OWN_STYLE = "view_own_style"
    EXPORT = "export"


_EVERY_MEMBER = {Action.VIEW_PROJECT, Action.READ_GUIDELINES}
_MANAGER = _EVERY_MEMBER | {
    Action.VIEW_OVERVIEW,
    Action.MANAGE_PROJECT,
    Action.WRITE_GUIDELINES,
    Action.ASSIGN_TASKS,
    Action.SEE_ALL_SUBMISSIONS,
    Action.REVIEW,
    Action.VIEW_AGREEMENT,
    Action.EXPORT,
}
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    ADMIN: frozenset(_MANAGER),
    Role.LEAD: frozenset(_MANAGER),
    Role.REVIEWER: frozenset(
        _EVERY_MEMBER | {Action.VIEW_OVERVIEW, Action.REVIEW, Action.VIEW_AGREEMENT}
    ),
    Role.ANNOTATOR: frozenset(
        _EVERY_MEMBER | {Action.ACKNOWLEDGE_GUIDELINES, Action.SUBMIT, Action.VIEW_OWN_STYLE}
    ),
}


def project_role(*, user: AbstractBaseUser | AnonymousUser, project: Project) -> str | None:
    """The user's role on the project: "admin" for active staff, the membership role, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_staff:
        return ADMIN
    # A page asks several questions about one project: remember the answer on the user object.
    cache = user.__dict__.setdefault("_maskqc_roles", {})
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(user=user, project=project)
            .values_list("role", flat=True)
            .first()
        )
    return cache[project.pk]


def has_permission(
    *, user: AbstractBaseUser | AnonymousUser, project: Project, action: Action
) -> bool:
    role = project_role(user=user, project=project)
    return role is not None and action in ROLE_ACTIONS[role]


def check_permission(
    *, user: AbstractBaseUser | AnonymousUser, project: Project, action: Action
) -> str:
    """Return the user's role, or raise Http404 (outsider) / PermissionDenied (member)."""
    role = project_role(user=user, project=project)
    if role is None:
        raise Http404("No such project.")
    if action not in ROLE_ACTIONS[role]:
        raise PermissionDenied(f"Your role ({role}) may not {action.replace('_', ' ')}.")
    return role


def project_for(
    *, user: AbstractBaseUser | AnonymousUser, slug: str, action: Action = Action.VIEW_PROJECT
) -> tuple[Project, str]:
    """The project named by `slug` with the user's role, if the user may do `action` on it.

    An unknown slug and a project the user is not in both give Http404, indistinguishably.
    """
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    role = check_permission(user=user, project=project, action=action)
    return project, role


def may_submit_task(*, user: AbstractBaseUser | AnonymousUser, task) -> bool:
    """Annotators submit masks for their own tasks only (admins and leads do not)."""
    return task.annotator_id == user.pk and has_permission(
        user=user, project=task.image.project, action=Action.SUBMIT
    )


def may_review_image(*, user: AbstractBaseUser | AnonymousUser, image) -> bool:
    """Admins and leads review any image; reviewers the images assigned to them. Nobody
    reviews an image they annotated."""
    role = project_role(user=user, project=image.project)
    if role is None or Action.REVIEW not in ROLE_ACTIONS[role]:
        return False
    if image.tasks.filter(annotator=user).exists():
        return False
    if role == Role.REVIEWER:
        return image.review_assignments.filter(reviewer=user, status="open").exists()
    return True


def may_see_submission(*, user: AbstractBaseUser | AnonymousUser, submission) -> bool:
    """All for admins and leads; reviewers for images assigned to them; annotators their own."""
    task = submission.task
    project = task.image.project
    role = project_role(user=user, project=project)
    if role is None:
        return False
    if Action.SEE_ALL_SUBMISSIONS in ROLE_ACTIONS[role]:
        return True
    if role == Role.REVIEWER:
        return task.image.review_assignments.filter(reviewer=user).exists()
    return task.annotator_id == user.pk


def require_action(
    *, actor: AbstractBaseUser | AnonymousUser | None, project: Project, action: Action, what: str
) -> str | None:
    """What services ask before a write: the actor's role when they may do ``action``.

    ``None`` is the server's operator (a command, a background task) and may do anything.
    An outsider is refused with a 404 (they do not learn the project exists), a member
    without the right with a 403 saying they may not ``what``.
    """
    if actor is None:
        return None
    role = project_role(user=actor, project=project)
    if role is None:
        raise ApplicationError("No such project.", status=404)
    if action not in ROLE_ACTIONS[role]:
        raise ApplicationError(f"{actor} ({role}) may not {what}.", status=403)
    return role


def forget_roles(user: AbstractBaseUser | AnonymousUser | None) -> None:
    """Drop the roles remembered on ``user`` after a service changed their memberships."""
    if user is not None:
        user.__dict__.pop("_maskqc_roles", None)
