"""The rows of the role matrix for project settings, label classes and members (leads and
admins only: DESIGN §10), and the site admins' page that creates a project."""

from typing import Any

from projects.models import LabelClass, Membership, Project, Role, Task
from tests.pages.matrix import OPEN, STAFF, Args, Case, statuses

MANAGERS_ONLY = statuses(**STAFF, reviewer=403, annotator=403)
# A change refused to reviewers and annotators, done (then a redirect) for leads and admins.
MANAGER_WRITE = statuses(admin=302, lead=302, reviewer=403, annotator=403)


def label_class(project: Project, subject: Any) -> Args:
    chosen = LabelClass.objects.filter(project=project).order_by("name").first()
    return None if chosen is None else (chosen.pk,)


def own_membership(project: Project, subject: Any) -> Args:
    """The subject's membership (an annotator's, for the removal and role-change pages)."""
    membership = Membership.objects.filter(project=project, user=subject).first()
    return None if membership is None else (membership.pk,)


def annotator_with_open_tasks(project: Project, subject: Any) -> Args:
    """The subject's membership when they have an open task (a role change shows a plan)."""
    has_open = Task.objects.filter(
        image__project=project, annotator=subject, status__in=OPEN
    ).exists()
    return own_membership(project, subject) if has_open else None


def another_reviewer(project: Project, subject: Any) -> Args:
    """A reviewer's membership other than the subject's, the last by username."""
    membership = (
        Membership.objects.filter(project=project, role=Role.REVIEWER)
        .exclude(user=subject)
        .order_by("-user__username")
        .first()
    )
    return None if membership is None else (membership.pk,)


def _made_lead(args: Args) -> bool:
    return Membership.objects.get(pk=args[0]).role == Role.LEAD


def _role_changed(args: Args) -> bool:
    return Membership.objects.get(pk=args[0]).role != Role.ANNOTATOR


def _removed(args: Args) -> bool:
    return not Membership.objects.filter(pk=args[0]).exists()


ROWS = [
    Case("project-settings", MANAGERS_ONLY),
    Case("project-classes", MANAGERS_ONLY),
    Case("project-class-edit", MANAGERS_ONLY, target=label_class),
    Case("project-members", MANAGERS_ONLY),
    Case("project-member-remove", MANAGERS_ONLY, target=own_membership),
    Case(
        "project-member-role",
        MANAGER_WRITE,
        target=another_reviewer,
        subject="reviewer",
        method="POST",
        data={"role": Role.LEAD},
        changed=_made_lead,
        page=False,
    ),
    Case(
        "project-member-role",
        # The first request shows where the open tasks would go: a page, nothing changed.
        MANAGERS_ONLY,
        target=annotator_with_open_tasks,
        method="POST",
        data={"role": Role.REVIEWER},
        changed=_role_changed,
        variant="annotator with open tasks",
    ),
    Case(
        "project-member-delete",
        MANAGER_WRITE,
        target=own_membership,
        method="POST",
        changed=_removed,
        page=False,
    ),
    Case(
        "project-create", statuses(admin=200, lead=403, reviewer=403, annotator=403, outsider=403)
    ),
]
