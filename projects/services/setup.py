"""Setting a project up: the project, its label classes, its members and its images.

Each create service checks before it inserts and inserts inside a savepoint, so two
identical calls at once end in one row: the other caller gets a ConflictError (HTTP 409),
never an IntegrityError. :func:`membership_set` is the exception by meaning: it *sets* a
role, so a caller that loses the race is handed the row the winner inserted.
"""

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, QuerySet

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import Image, LabelClass, Membership, Project, Role
from projects.permissions import Action, forget_roles, require_action
from projects.selectors.setup import next_class_colour


def full_clean(obj: Any, *, exclude: list[str] | None = None) -> None:
    """``obj.full_clean()``, its errors as one ApplicationError naming every field."""
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as error:
        messages = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in error.message_dict.items()
        )
        raise ApplicationError(
            f"{obj._meta.verbose_name} is invalid: {messages}", extra=error.message_dict
        ) from None


def insert_or_conflict(obj: Model, *, conflict: str) -> None:
    """Save a new row in a savepoint; a unique constraint hit by a concurrent identical
    insert becomes a ConflictError with the message ``conflict``."""
    try:
        with transaction.atomic():
            obj.save(force_insert=True)
    except IntegrityError:
        raise ConflictError(conflict) from None


def _create(
    obj: Model,
    *,
    verb: str,
    actor: Any,
    project: Project,
    after: dict[str, Any],
    twin: QuerySet,
    conflict: str,
) -> None:
    """Validate and insert a new row unless ``twin`` (the rows it would duplicate) exists,
    and audit it. A twin that appears meanwhile, in validation or in the insert, is a
    ConflictError with the message ``conflict``, never a field error or an IntegrityError."""
    if twin.exists():
        raise ConflictError(conflict)
    try:
        full_clean(obj)
    except ApplicationError:
        if twin.exists():
            raise ConflictError(conflict) from None
        raise
    insert_or_conflict(obj, conflict=conflict)
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
    """A new project, created by a site admin (active staff) or by the server's commands
    (``actor=None``); the creator does not become a member (admins manage every project).

    Anyone else is refused (403) before the slug is looked at, so whether a project of that
    slug exists is told only to those who may see every project. An existing slug, in any
    case (slugs are unique whatever their case), or one created at the same moment, is a
    ConflictError."""
    if actor is not None and not (actor.is_active and actor.is_staff):
        raise ApplicationError("Only a site admin creates projects.", status=403)
    project = Project(slug=slug, name=name or slug, description=description, **settings)
    _create(
        project,
        verb="project.create",
        actor=actor,
        project=project,
        after={"slug": slug, "name": project.name},
        twin=Project.objects.filter(slug__iexact=slug),
        conflict=f"A project with slug {slug!r} already exists.",
    )
    for label in labels:
        label_class_create(project=project, name=label, actor=actor)
    return project


# The settings a lead may change after the project is created (the slug names it for good).
PROJECT_SETTINGS = (
    "name",
    "description",
    "overlap",
    "overlap_fraction",
    "match_iou",
    "boundary_px",
    "review_policy",
    "auto_accept_pq",
    "sample_rate",
    "consensus_method",
    "quorum",
)


@transaction.atomic
def project_update(*, project: Project, actor: Any, **changes: Any) -> Project:
    """Change a project's settings (:data:`PROJECT_SETTINGS`; leads and admins), checked as
    the model checks them. A new review policy or threshold applies to images whose
    agreement is computed from now on."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="change its settings"
    )
    unknown = set(changes) - set(PROJECT_SETTINGS)
    if unknown:
        raise ApplicationError(f"Projects have no setting {', '.join(sorted(unknown))}.")
    before = {field: getattr(project, field) for field in changes}
    for field, value in changes.items():
        setattr(project, field, value)
    full_clean(project)
    changed = {field: value for field, value in changes.items() if before[field] != value}
    if changed:
        project.save(update_fields=list(changed))
        audit(
            actor=actor,
            verb="project.update",
            obj=project,
            project=project,
            before={field: before[field] for field in changed},
            after=changed,
        )
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
    """A new label class (leads and admins). A name the project has already, one that
    differs from one of its names only by case ("Bubble" beside "bubble": imports would
    mix them up), or one created at the same moment, is a ConflictError. Without a
    ``colour``, the first palette colour none of the project's classes has."""
    require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="add label classes"
    )
    _refuse_case_twin(project, name)
    if colour is None:
        colour = next_class_colour(
            list(LabelClass.objects.filter(project=project).values_list("colour", flat=True))
        )
    label_class = LabelClass(project=project, name=name, colour=colour, match_iou=match_iou)
    _create(
        label_class,
        verb="label_class.create",
        actor=actor,
        project=project,
        after={"name": name, "colour": colour, "match_iou": match_iou},
        twin=LabelClass.objects.filter(project=project, name=name),
        conflict=f"Project {project.slug} already has a label class {name!r}.",
    )
    return label_class


def _refuse_case_twin(project: Project, name: Any, *, exclude: int | None = None) -> None:
    """Refuse ``name`` when another class of ``project`` has it in other letter case."""
    if not isinstance(name, str):
        return
    twin = (
        LabelClass.objects.filter(project=project, name__iexact=name)
        .exclude(name=name)
        .exclude(pk=exclude)
        .values_list("name", flat=True)
        .first()
    )
    if twin is not None:
        message = (
            f"Project {project.slug} already has a label class {twin!r}: a name that differs "
            "only by case would be mistaken for it. Use that class, or rename it."
        )
        raise ConflictError(message, extra={"name": [message]})


@transaction.atomic
def label_class_update(*, label_class: LabelClass, actor: Any, **changes: Any) -> LabelClass:
    """Change a label class's ``name``, ``colour`` or ``match_iou`` (leads and admins); a
    name another class of the project has, in any letter case, is a ConflictError."""
    label_class = LabelClass.objects.select_for_update().get(pk=label_class.pk)
    project = label_class.project
    require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="edit label classes"
    )
    unknown = set(changes) - {"name", "colour", "match_iou"}
    if unknown:
        raise ApplicationError(f"Label classes have no field {', '.join(sorted(unknown))}.")
    before = {field: getattr(label_class, field) for field in changes}
    for field, value in changes.items():
        setattr(label_class, field, value)
    if "name" in changes:
        _refuse_case_twin(project, label_class.name, exclude=label_class.pk)
    conflict = f"Project {project.slug} already has a label class {label_class.name!r}."
    if (
        LabelClass.objects.filter(project=project, name=label_class.name)
        .exclude(pk=label_class.pk)
        .exists()
    ):
        raise ConflictError(conflict)
    full_clean(label_class)
    try:
        with transaction.atomic():
            label_class.save(update_fields=list(changes))
    except IntegrityError:
        raise ConflictError(conflict) from None
    if changes:
        audit(
            actor=actor,
            verb="label_class.update",
            obj=label_class,
            project=project,
            before=before,
            after=changes,
        )
    return label_class


def role_check(role: str) -> None:
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")


@transaction.atomic
def membership_set(*, project: Project, user: Any, role: str, actor: Any = None) -> Membership:
    """Make ``user`` a member of ``project`` with ``role``, or change an existing member's
    role (leads and admins). Setting a role twice changes nothing; when two callers add the
    same user at once, the one whose insert loses gets the winner's row (with ``role`` set)."""
    role_check(role)
    require_action(actor=actor, project=project, action=Action.MANAGE_PROJECT, what="add members")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        try:
            return _membership_insert(project=project, user=user, role=role, actor=actor)
        except ConflictError:
            membership = Membership.objects.select_for_update().get(project=project, user=user)
    return membership_role_apply(membership, role=role, actor=actor)


@transaction.atomic
def membership_add(*, project: Project, user: Any, role: str, actor: Any = None) -> Membership:
    """Add a new member (leads and admins); a user who is a member already (or was added at
    the same moment) is a ConflictError."""
    role_check(role)
    require_action(actor=actor, project=project, action=Action.MANAGE_PROJECT, what="add members")
    if Membership.objects.filter(project=project, user=user).exists():
        raise ConflictError(f"{user} is already a member of {project.slug}.")
    return _membership_insert(project=project, user=user, role=role, actor=actor)


def _membership_insert(*, project: Project, user: Any, role: str, actor: Any) -> Membership:
    membership = Membership(project=project, user=user, role=role)
    insert_or_conflict(membership, conflict=f"{user} is already a member of {project.slug}.")
    audit(
        actor=actor,
        verb="membership.create",
        obj=membership,
        project=project,
        after={"user": user.username, "role": role},
    )
    forget_roles(user)
    return membership


def membership_role_apply(membership: Membership, *, role: str, actor: Any) -> Membership:
    """Set a locked membership's role and audit the change (no check of the actor)."""
    if membership.role == role:
        return membership
    before = {"role": membership.role}
    membership.role = role
    membership.save(update_fields=["role"])
    audit(
        actor=actor,
        verb="membership.update",
        obj=membership,
        project=membership.project,
        before=before,
        after={"role": role},
    )
    forget_roles(membership.user)
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
    """A new image (leads and admins). A name the project has already, or one created at
    the same moment, is a ConflictError."""
    require_action(actor=actor, project=project, action=Action.MANAGE_PROJECT, what="add images")
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
        twin=Image.objects.filter(project=project, name=name),
        conflict=f"Project {project.slug} already has an image named {name!r}.",
    )
    return image
