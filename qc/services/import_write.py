"""What an import creates before its submissions, inside its transaction: the missing
classes, users and memberships, images (metadata only) and tasks (already submitted), each
with its audit event. The submissions themselves are stored by
:func:`qc.services.submissions.submissions_create`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from projects.audit import audit, audit_event
from projects.errors import ImportRefused
from projects.models import AuditEvent, Image, Project, Role, Task, TaskStatus
from projects.services import label_class_create, membership_set
from qc.formats import ParseResult
from qc.services.import_plan import ImportPlan
from qc.services.import_summary import ImportSummary

__all__ = ["create_images", "create_labels_and_users", "create_tasks"]


def create_labels_and_users(
    project: Project, plan: ImportPlan, actor: Any, summary: ImportSummary
) -> None:
    """The missing classes and users; new users and existing non-members become
    annotators of the project."""
    for name in sorted(n for n, c in plan.labels.items() if c is None):
        plan.labels[name] = label_class_create(project=project, name=name, actor=actor)
        summary.labels_created.append(name)
    for name in sorted(n for n, u in plan.users.items() if u is None):
        user = get_user_model().objects.create_user(
            username=name, email=name if "@" in name else ""
        )
        plan.users[name] = user
        audit(
            actor=actor,
            verb="user.create",
            obj=user,
            project=project,
            after={"username": name, "by": "import", "source": summary.source_name},
        )
        membership_set(project=project, user=user, role=Role.ANNOTATOR, actor=actor)
        summary.users_created.append(name)
    for name in plan.new_members:
        membership_set(project=project, user=plan.users[name], role=Role.ANNOTATOR, actor=actor)
        summary.members_added.append(name)


def create_images(
    project: Project,
    plan: ImportPlan,
    result: ParseResult,
    actor: Any,
    summary: ImportSummary,
    events: list[AuditEvent],
) -> None:
    """The images the file names that the project lacks (metadata only, no pixels)."""
    new_images = []
    for image in result.images:
        if plan.images[image.name] is None:
            row = Image(project=project, name=image.name, width=image.width, height=image.height)
            try:
                # The project is the one locked above: only the image's own fields are checked.
                row.clean_fields(exclude=["project"])
            except ValidationError as error:
                raise ImportRefused(
                    f"image is invalid: {error}", file=summary.source_name, image=image.name
                ) from None
            new_images.append(row)
    Image.objects.bulk_create(new_images, batch_size=1000)
    for row in new_images:
        plan.images[row.name] = row
        events.append(
            audit_event(
                actor=actor,
                verb="image.create",
                obj=row,
                project=project,
                after={
                    "name": row.name,
                    "width": row.width,
                    "height": row.height,
                    "source": summary.source_name,
                },
            )
        )
    summary.images_created = len(new_images)


def create_tasks(
    project: Project,
    plan: ImportPlan,
    actor: Any,
    summary: ImportSummary,
    events: list[AuditEvent],
) -> dict[tuple[str, str], Task]:
    """A task, already submitted, for each submission without an open task."""
    new_tasks = {
        key: Task(
            image=plan.images[key[0]],
            annotator=plan.users[key[1]],
            status=TaskStatus.SUBMITTED,
            assigned_by=actor if actor is not None and actor.pk else None,
        )
        for key in plan.pairs
        if key not in plan.tasks
    }
    Task.objects.bulk_create(list(new_tasks.values()), batch_size=1000)
    for (image, name), task in new_tasks.items():
        events.append(
            audit_event(
                actor=actor,
                verb="task.create",
                obj=task,
                project=project,
                after={"image": image, "annotator": name, "source": summary.source_name},
            )
        )
    summary.tasks_created = len(new_tasks)
    summary.revisions = len(plan.tasks)
    return new_tasks
