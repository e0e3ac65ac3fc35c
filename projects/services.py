"""Every write to projects, members, label classes, images, guidelines and tasks."""

import random
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Model, Q
from django.utils import timezone

from projects.audit import audit, audit_event
from projects.errors import ApplicationError
from projects.markdown import render_markdown
from projects.models import (
    Acknowledgement,
    AuditEvent,
    Guideline,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.rules import RuleError, validate_rules

User = get_user_model()

_PALETTE = [
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#469990",
    "#9a6324",
]


def _full_clean(obj: Any) -> None:

    try:
        obj.full_clean()
    except ValidationError as error:
        messages = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items()
        )
        raise ApplicationError(
            f"{obj._meta.verbose_name} is invalid: {messages}", extra=error.message_dict
        ) from None


def _create(obj: Model, *, verb: str, actor: Any, project: Project, after: dict[str, Any]) -> None:
    """Validate and save a new row, and write its audit event."""
    _full_clean(obj)
    obj.save()
    audit(actor=actor, verb=verb, obj=obj, project=project, after=after)


@transaction.atomic
def project_create(
    *,
    slug: str,
    name: str | None = None,
    description: str = "",
    labels: Sequence[str] = (),
    actor: Any = None,
    **settings: Any,
) -> Project:
    if Project.objects.filter(slug=slug).exists():
        raise ApplicationError(f"A project with slug {slug!r} already exists.")
    project = Project(slug=slug, name=name or slug, description=description, **settings)
    _create(
        project,
        verb="project.create",
        actor=actor,
        project=project,
        after={"slug": slug, "name": project.name},
    )
    for label in labels:
        label_class_create(project=project, name=label, actor=actor)
    return project


@transaction.atomic
def label_class_create(
    *,
    project: Project,
    name: str,
    colour: str | None = None,
    match_iou: float | None = None,
    actor: Any = None,
) -> LabelClass:
    if LabelClass.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"Project {project.slug} already has a label class {name!r}.")
    if colour is None:
        colour = _PALETTE[project.label_classes.count() % len(_PALETTE)]
    label_class = LabelClass(project=project, name=name, colour=colour, match_iou=match_iou)
    _create(
        label_class,
        verb="label_class.create",
        actor=actor,
        project=project,
        after={"name": name, "colour": colour, "match_iou": match_iou},
    )
    return label_class


@transaction.atomic
def membership_set(*, project: Project, user: Any, role: str, actor: Any = None) -> Membership:
    """Make `user` a member of `project` with `role`; changes the role of an existing member."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        membership = Membership.objects.create(project=project, user=user, role=role)
        audit(
            actor=actor,
            verb="membership.create",
            obj=membership,
            project=project,
            after={"user": user.username, "role": role},
        )
    elif membership.role != role:
        before = {"role": membership.role}
        membership.role = role
        membership.save(update_fields=["role"])
        audit(
            actor=actor,
            verb="membership.update",
            obj=membership,
            project=project,
            before=before,
            after={"role": role},
        )
    return membership


@transaction.atomic
def image_create(
    *,
    project: Project,
    name: str,
    width: int,
    height: int,
    actor: Any = None,
    metadata: dict | None = None,
    sha256: str = "",
    source: str = "",
    file: Any = None,
) -> Image:
    if Image.objects.filter(project=project, name=name).exists():
        raise ApplicationError(f"Project {project.slug} already has an image named {name!r}.")
    image = Image(
        project=project,
        name=name,
        width=width,
        height=height,
        metadata=metadata or {},
        sha256=sha256,
        source=source,
    )
    if file is not None:
        image.file = file
    _create(
        image,
        verb="image.create",
        actor=actor,
        project=project,
        after={"name": name, "width": width, "height": height},
    )
    return image


@transaction.atomic
def guideline_version_create(
    *,
    project: Project,
    title: str,
    body: str,
    author: Any,
    change_summary: str = "",
    rules: list[dict] | None = None,
    publish: bool = False,
) -> GuidelineVersion:
    """A new version of the guideline `title` (created when missing), optionally published."""
    try:
        rules = validate_rules(rules or [])
    except RuleError as error:
        raise ApplicationError(f"Guideline {title!r}: {error}") from None
    guideline, _ = Guideline.objects.get_or_create(project=project, title=title)
    # Lock the guideline so two leads writing at once get consecutive numbers.
    guideline = Guideline.objects.select_for_update().get(pk=guideline.pk)
    last = guideline.versions.order_by("-number").values_list("number", flat=True).first()
    version = GuidelineVersion.objects.create(
        guideline=guideline,
        number=(last or 0) + 1,
        body=body,
        body_html=render_markdown(body),
        change_summary=change_summary,
        rules=rules,
        author=author,
        published_at=timezone.now() if publish else None,
    )
    audit(
        actor=author,
        verb="guideline_version.create",
        obj=version,
        project=project,
        after={"guideline": title, "number": version.number, "published": publish},
    )
    return version


@transaction.atomic
def guideline_version_publish(*, version: GuidelineVersion, actor: Any) -> GuidelineVersion:
    version = GuidelineVersion.objects.select_for_update().get(pk=version.pk)
    if version.published_at is not None:
        raise ApplicationError(f"{version} is already published.")
    version.published_at = timezone.now()
    version.save(update_fields=["published_at"])
    audit(
        actor=actor,
        verb="guideline_version.publish",
        obj=version,
        project=version.guideline.project,
        after={"published_at": version.published_at.isoformat()},
    )
    return version


@transaction.atomic
def guideline_acknowledge(*, version: GuidelineVersion, user: Any) -> Acknowledgement:
    if version.published_at is None:
        raise ApplicationError(f"{version} is not published yet.")
    ack, created = Acknowledgement.objects.get_or_create(version=version, user=user)
    if created:
        audit(
            actor=user,
            verb="guideline_version.acknowledge",
            obj=version,
            project=version.guideline.project,
            after={"user": user.username},
        )
    return ack


def _plan_annotators_per_image(project: Project, count: int, seed: int) -> list[int]:
    """How many annotators each of `count` images gets: `overlap` for the overlapped share."""
    overlapped = round(count * project.overlap_fraction)
    plan = [project.overlap] * overlapped + [1] * (count - overlapped)
    random.Random(seed).shuffle(plan)
    return plan


@transaction.atomic
def task_assign(
    *,
    project: Project,
    images: Iterable[Image],
    actor: Any,
    annotators: Sequence[Any] | None = None,
    due_date: Any = None,
    seed: int = 0,
) -> list[Task]:
    """Create tasks so each image gets 1 or `overlap` annotators per the project's plan.

    Load is balanced: each task goes to the annotator with the fewest open tasks who does not
    already have the image. Images that already have their planned annotators are left alone.
    """
    if annotators is None:
        annotators = list(
            User.objects.filter(
                memberships__project=project, memberships__role=Role.ANNOTATOR
            ).order_by("username")
        )
    if not annotators:
        raise ApplicationError(f"Project {project.slug} has no annotators to assign tasks to.")
    images = list(images)
    # Lock the annotators' task rows' parent images to serialise concurrent assignment.
    Image.objects.select_for_update().filter(pk__in=[image.pk for image in images]).exists()
    load = dict(
        User.objects.filter(pk__in=[a.pk for a in annotators])
        .annotate(
            open_tasks=Count(
                "tasks",
                filter=Q(
                    tasks__status__in=[
                        TaskStatus.ASSIGNED,
                        TaskStatus.IN_PROGRESS,
                        TaskStatus.REJECTED,
                    ]
                ),
            )
        )
        .values_list("pk", "open_tasks")
    )
    existing: dict[int, set[int]] = {}
    for image_id, annotator_id in Task.objects.filter(image__in=images).values_list(
        "image_id", "annotator_id"
    ):
        existing.setdefault(image_id, set()).add(annotator_id)
    plan = _plan_annotators_per_image(project, len(images), seed)
    by_pk = {a.pk: a for a in annotators}
    created: list[Task] = []
    for image, wanted in zip(images, plan, strict=True):
        have = existing.get(image.pk, set())
        wanted = min(wanted, len(annotators))
        candidates = sorted(
            (pk for pk in by_pk if pk not in have), key=lambda pk: (load[pk], by_pk[pk].username)
        )
        for pk in candidates[: max(0, wanted - len(have))]:
            created.append(
                Task(image=image, annotator=by_pk[pk], assigned_by=actor, due_date=due_date)
            )
            load[pk] += 1
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
