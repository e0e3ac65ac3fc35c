"""What an import will write, resolved against the database and read-only (a selector):
which submissions the file holds (:func:`submission_pairs`), and which of their classes,
users, images and tasks exist (:func:`import_plan`). Whatever cannot be imported is
refused here, naming the file, the image and the object, before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from projects.errors import ImportRefused
from projects.models import OPEN_TASK_STATUSES, Image, LabelClass, Membership, Project, Task
from qc.formats import ParseResult
from qc.services.bulk import chunks

__all__ = ["ImportPlan", "Pairs", "import_plan", "submission_pairs"]

# (image name, annotator) → positions of that submission's objects in ``result.objects``
Pairs = dict[tuple[str, str], list[int]]


@dataclass
class ImportPlan:
    """What the import will write: None marks a class, user or image to be created."""

    pairs: Pairs
    labels: dict[str, LabelClass | None]
    users: dict[str, Any]
    new_members: list[str]  # existing users who become annotators of the project
    images: dict[str, Image | None]
    tasks: dict[tuple[str, str], Task]  # the open tasks that take a new revision


def submission_pairs(
    result: ParseResult, *, display: str, annotator: str | None, labelers_saw_all: bool
) -> Pairs:
    """(image, annotator) → positions of its objects, for every submission of the file.

    DESIGN §4.6: a file that says who looked at what (``result.submissions``) gives exactly
    those submissions; a single-annotator file (``annotators_saw_all``, or any file read
    with ``annotator``) gives every listed image a submission of that annotator, empty or
    not; otherwise (Supervisely ``labelerLogin``) a labeler has a submission only where they
    drew, unless ``labelers_saw_all`` gives each of them every listed image.
    """

    def who(name: str | None, image: str | None, source: str | None) -> str:
        person = annotator or name
        if not person:
            raise ImportRefused(
                "the file does not name the annotator; pass --annotator",
                file=display,
                image=image,
                obj=source,
            )
        return person

    pairs: Pairs = {}
    if result.submissions is not None and annotator is None:
        for image, name in result.submissions:
            pairs.setdefault((image, who(name, image, None)), [])
    for position, obj in enumerate(result.objects):
        pairs.setdefault((obj.image, who(obj.annotator, obj.image, obj.source)), []).append(
            position
        )
    everyone: set[str] = set()
    if annotator is not None:
        everyone = {annotator}
    elif result.submissions is None and (result.annotators_saw_all or labelers_saw_all):
        everyone = {name for _, name in pairs}
        if not everyone and result.annotators_saw_all and result.images:
            who(None, result.images[0].name, None)
    if annotator is not None and result.submissions is not None:
        # The file lists who looked at what; with one annotator for all, that is every
        # image that anybody looked at.
        looked = {image for image, _ in result.submissions}
        images = [image.name for image in result.images if image.name in looked]
    else:
        images = [image.name for image in result.images]
    for image in images:
        for name in sorted(everyone):
            pairs.setdefault((image, name), [])
    order = {image.name: index for index, image in enumerate(result.images)}
    return dict(sorted(pairs.items(), key=lambda item: (order[item[0][0]], item[0][1])))


def import_plan(
    *,
    project: Project,
    result: ParseResult,
    pairs: Pairs,
    display: str,
    create_users: bool,
    create_labels: bool,
    own_tasks_only: bool = False,
    only_image: str | None = None,
) -> ImportPlan:
    """Resolve the classes, users, images and tasks of the submissions ``pairs`` (from
    :func:`submission_pairs`); refuse what cannot be imported. ``own_tasks_only`` (an
    annotator's upload): every image must exist and every submission must go to an open
    task of its annotator; nothing else is created. ``only_image``: the upload is for the
    task on that image, the one image the file may hold."""
    if only_image is not None:
        _require_only_image(result, pairs, only_image, display)
    labels = _labels(project, result, display, create_labels, upload=own_tasks_only)
    users = _users(result, pairs, display, create_users)
    members = set(
        Membership.objects.filter(
            project=project, user__in=[u for u in users.values() if u is not None]
        ).values_list("user_id", flat=True)
    )
    images = _images(project, result, display)
    tasks = _open_tasks(result, pairs, users, images, display)
    if own_tasks_only:
        _require_own_open_tasks(result, pairs, images, tasks, display)
    return ImportPlan(
        pairs=pairs,
        labels=labels,
        users=users,
        new_members=[n for n, u in users.items() if u is not None and u.pk not in members],
        images=images,
        tasks=tasks,
    )


def _require_only_image(result: ParseResult, pairs: Pairs, image: str, display: str) -> None:
    """The file holds a submission for ``image`` and for no other image."""
    for (other, _), positions in pairs.items():
        if other != image:
            raise ImportRefused(
                f"not the image of this task ({image}); upload each image's masks from "
                "its own task",
                file=display,
                image=other,
                obj=result.objects[positions[0]].source if positions else None,
            )
    if not pairs:
        raise ImportRefused(
            "the file holds nothing for this image; check that it names the image "
            "as the project does",
            file=display,
            image=image,
        )


def _require_own_open_tasks(
    result: ParseResult,
    pairs: Pairs,
    images: dict[str, Image | None],
    tasks: dict[tuple[str, str], Task],
    display: str,
) -> None:
    """Every submission of the file goes to an existing image and an open task of its
    annotator; the first that does not is refused, naming file, image and object."""
    for key, positions in pairs.items():
        image, annotator = key
        source = result.objects[positions[0]].source if positions else None
        if images.get(image) is None:
            raise ImportRefused(
                f"image is not in the project; {annotator} can submit only for their own tasks",
                file=display,
                image=image,
                obj=source,
            )
        if key not in tasks:
            raise ImportRefused(
                f"{annotator} has no task on this image; an upload submits only for the "
                "uploader's own open tasks",
                file=display,
                image=image,
                obj=source,
            )


def _first_object(result: ParseResult, test: Callable[[Any], bool]) -> Any:
    return next((obj for obj in result.objects if test(obj)), None)


def _labels(
    project: Project, result: ParseResult, display: str, create: bool, *, upload: bool = False
) -> dict[str, LabelClass | None]:
    """The project's classes by name; None for one to be created (with ``create``). An
    annotator's ``upload`` cannot create classes: its refusal lists the project's."""
    wanted = sorted({obj.label for obj in result.objects})
    labels: dict[str, LabelClass | None] = {
        c.name: c for c in LabelClass.objects.filter(project=project, name__in=wanted)
    }
    if not create and len(labels) < len(wanted):
        obj = _first_object(result, lambda o: o.label not in labels)
        remedy = "pass --create-labels to create it"
        if upload:
            names = project.label_classes.order_by("name").values_list("name", flat=True)
            remedy = f"its classes: {', '.join(names) or 'none yet'}"
        raise ImportRefused(
            f"class {obj.label!r} is not in project {project.slug}; {remedy}",
            file=display,
            image=obj.image,
            obj=obj.source,
        )
    longest = LabelClass._meta.get_field("name").max_length
    for name in wanted:
        if name in labels:
            continue
        if len(name) > longest:
            obj = _first_object(result, lambda o, name=name: o.label == name)
            raise ImportRefused(
                f"class name {name[:40]!r}… is longer than {longest} characters",
                file=display,
                image=obj.image,
                obj=obj.source,
            )
        labels[name] = None
    return labels


def _users(result: ParseResult, pairs: Pairs, display: str, create: bool) -> dict[str, Any]:
    """The annotators as users, by username or else by a unique e-mail address; None for one
    to be created (with ``create``; the name must be a valid username)."""
    User = get_user_model()
    names = sorted({name for _, name in pairs})
    users: dict[str, Any] = {u.username: u for u in User.objects.filter(username__in=names)}
    for name in names:
        if name in users or "@" not in name:
            continue
        matches = list(User.objects.filter(email__iexact=name)[:2])
        if len(matches) == 1:
            users[name] = matches[0]
    for name in names:
        if name in users:
            continue
        image, positions = next((key[0], p) for key, p in pairs.items() if key[1] == name)
        source = result.objects[positions[0]].source if positions else None
        if not create:
            raise ImportRefused(
                f"annotator {name!r} is not a user; pass --create-users to create them",
                file=display,
                image=image,
                obj=source,
            )
        try:
            User.username_validator(name)
            if len(name) > User._meta.get_field("username").max_length:
                raise ValidationError("too long")
        except ValidationError:
            raise ImportRefused(
                f"annotator {name!r} cannot be a username (letters, digits and @.+-_ only, "
                "at most 150 characters)",
                file=display,
                image=image,
                obj=source,
            ) from None
        users[name] = None
    return {name: users[name] for name in names}


def _images(project: Project, result: ParseResult, display: str) -> dict[str, Image | None]:
    """The project's images of the file by name, None for one to be created; an existing
    image must have the size the file gives it."""
    images: dict[str, Image | None] = {}
    parsed = {image.name: image for image in result.images}
    for chunk in chunks(list(parsed)):
        for image in Image.objects.filter(project=project, name__in=chunk):
            images[image.name] = image
    longest = Image._meta.get_field("name").max_length
    for name, image in parsed.items():
        existing = images.get(name)
        if existing is None:
            if len(name) > longest:
                raise ImportRefused(
                    f"image name is longer than {longest} characters",
                    file=display,
                    image=name[:80],
                )
            images[name] = None
        elif (existing.width, existing.height) != (image.width, image.height):
            raise ImportRefused(
                f"size {image.width}x{image.height} in the file disagrees with the project's "
                f"image of {existing.width}x{existing.height} (width x height)",
                file=display,
                image=name,
            )
    return images


def _open_tasks(
    result: ParseResult,
    pairs: Pairs,
    users: dict[str, Any],
    images: dict[str, Image | None],
    display: str,
) -> dict[tuple[str, str], Task]:
    """The existing tasks of the submissions: an open one takes a new revision; any other
    is refused."""
    user_ids = {u.pk: n for n, u in users.items() if u is not None}
    image_ids = {image.pk: name for name, image in images.items() if image is not None}
    tasks: dict[tuple[str, str], Task] = {}
    for chunk in chunks(list(image_ids)):
        for task in Task.objects.filter(image_id__in=chunk, annotator_id__in=list(user_ids)):
            key = (image_ids[task.image_id], user_ids[task.annotator_id])
            if key not in pairs:
                continue
            if task.status not in OPEN_TASK_STATUSES:
                positions = pairs[key]
                raise ImportRefused(
                    f"{key[1]} already has a {task.status} task on this image; only assigned, "
                    "in-progress or rejected tasks take a new revision",
                    file=display,
                    image=key[0],
                    obj=result.objects[positions[0]].source if positions else None,
                )
            tasks[key] = task
    return tasks
