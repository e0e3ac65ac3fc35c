"""Imports: annotation files into submissions (DESIGN §8, §9).

``import_annotations`` reads a file or folder with a pure reader (:data:`qc.formats.READERS`)
and writes what it found -- images named by the file, users and label classes when asked,
tasks with status ``submitted``, one submission per (image, annotator), and the instances
with their features -- in one transaction. Any error changes nothing and names the file,
the image and the object (:class:`ImportRefused`). The same source (same bytes, format and
options: :func:`import_checksum`) imported again changes nothing and says so.

It is the bulk form of :func:`qc.services.workflow.submission_create` and keeps its
invariants: a task per image x annotator (an open task gets a new revision; a submitted,
accepted or cancelled one is an error), every instance's values from ``instance_values``
(features computed once), the current guideline versions and rule violations recorded, an AuditEvent
per created image, user, task and submission, and agreement queued on commit, once per image
that has two or more submissions. Large imports compute in worker processes (reading a
Supervisely folder in shards, and the per-instance features); the database work is one
transaction of bulk inserts.

Uploaded files run in the background through :mod:`qc.services.import_jobs`; image files
come in through :func:`projects.images.images_import`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef
from django.utils import timezone

from projects.audit import audit, audit_event
from projects.errors import ApplicationError, ImportRefused
from projects.files import file_sha256
from projects.models import (
    AuditEvent,
    Image,
    LabelClass,
    Membership,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.progress import ProgressCallback, ProgressThrottle
from projects.selectors import current_versions
from projects.services import label_class_create, membership_set
from qc.formats import READERS, FormatError, Limits, ParsedImage, ParseResult
from qc.formats.base import FormatErrorsAt, as_int, req
from qc.formats.sources import load_json, read_bounded
from qc.models import Instance, Submission
from qc.rules import check_rules
from qc.services.agreement import agreement_update_for_images_task
from qc.services.bulk import insert_fields, insert_rows
from qc.services.import_reading import (
    LABEL_COLUMN,
    SUBMISSION_COLUMN,
    default_workers,
    read_and_build,
)
from qc.services.workflow import OPEN_TASK_STATUSES

__all__ = [
    "FORMAT_OPTIONS",
    "ImportRefused",
    "ImportSummary",
    "import_annotations",
    "import_checksum",
    "import_limits",
    "import_options_clean",
]

# Reader options each format takes (``import_annotations(options=...)``), with their types.
FORMAT_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "supervisely": {},
    "coco": {"images_from": (str, Path), "all_mapped_images": bool},
    "cvat": {"subset": str},
    "labelme": {},
    "label-studio": {
        "image_key": str,
        "image_name": str,
        "image_size": (list, tuple),
        "include_predictions": bool,
    },
    "mask-png": {
        "pattern": str,
        "foreground": str,
        "instances": str,
        "label": str,
        "image_name": str,
    },
}
# Options that name a path on the server: accepted from the command line, never from uploads.
PATH_OPTIONS = frozenset({"images_from"})
# What a reader skips that an option would have imported: the option, by format and by what
# was skipped (ParseResult.skipped), named wherever the skipped objects are reported.
SKIP_REMEDIES: dict[str, dict[str, str]] = {
    "label-studio": {"annotation without image size": "--image-size WIDTHxHEIGHT"},
}
# Skips that lose no object: an empty mask file is an annotator's "found nothing here", and
# its image's empty submission is what the import stores (DESIGN §4.6).
NOTHING_DRAWN = frozenset({"empty_mask"})

# The metadata keys of an image's (a class's) id in the COCO file it was imported from,
# and of that file (its import checksum).
COCO_ID = "coco_id"
COCO_SOURCE = "coco_source"

_BULK_BATCH = 1000
_IN_CHUNK = 500
# Images per agreement task after an import: enough to make the queue's own cost small,
# few enough that several workers share a large import.
_AGREEMENT_GROUP = 20


# ----------------------------------------------------------------------------- errors


# ---------------------------------------------------------------------------- summary


@dataclass
class ImportSummary:
    """What an import did (or, when ``already_imported``, that it did nothing)."""

    project: str
    format: str
    source_name: str
    checksum: str
    already_imported: bool = False
    images: int = 0
    images_created: int = 0
    annotators: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    members_added: list[str] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    tasks_created: int = 0
    revisions: int = 0
    submissions: int = 0
    empty_submissions: int = 0
    instances: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    agreement_queued: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ImportJob.summary, API)."""
        return {
            "project": self.project,
            "format": self.format,
            "source_name": self.source_name,
            "checksum": self.checksum,
            "already_imported": self.already_imported,
            "images": self.images,
            "images_created": self.images_created,
            "annotators": list(self.annotators),
            "users_created": list(self.users_created),
            "members_added": list(self.members_added),
            "labels_created": list(self.labels_created),
            "tasks_created": self.tasks_created,
            "revisions": self.revisions,
            "submissions": self.submissions,
            "empty_submissions": self.empty_submissions,
            "instances": self.instances,
            "skipped": dict(sorted(self.skipped.items())),
            "agreement_queued": self.agreement_queued,
        }

    def line(self) -> str:
        """The one-line summary the command prints."""
        head = f"{self.project}: {self.format} {self.source_name!r} (sha256 {self.checksum[:12]})"
        if self.already_imported:
            return (
                f"{head} was already imported: {_n(self.submissions, 'submission')} come from "
                "it; nothing changed."
            )
        extras = []
        if self.users_created:
            extras.append(f"{_n(len(self.users_created), 'user')} created")
        if self.members_added:
            extras.append(f"{_n(len(self.members_added), 'member')} made annotators")
        if self.labels_created:
            extras.append(f"{_n(len(self.labels_created), 'class', 'classes')} created")
        skipped = _skipped_text(self.format, self.skipped) or "none"
        return (
            f"{head}: {_n(self.images, 'image')} ({self.images_created} created), "
            f"{_n(len(self.annotators), 'annotator')}, {_n(self.submissions, 'submission')} "
            f"({self.empty_submissions} empty, {self.revisions} new revisions of open tasks), "
            f"{_n(self.instances, 'instance')}"
            + (f"; {', '.join(extras)}" if extras else "")
            + f"; skipped: {skipped}."
        )


def _n(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _skipped_text(format: str, skipped: dict[str, int]) -> str:
    """``"keypointlabels 2, annotation without image size 1 (pass --image-size ...)"``: what
    was skipped, sorted, each with the option that would import it (:data:`SKIP_REMEDIES`)."""
    remedies = SKIP_REMEDIES.get(format, {})
    return ", ".join(
        f"{kind} {count}" + (f" (pass {remedies[kind]})" if kind in remedies else "")
        for kind, count in sorted(skipped.items())
    )


def _refuse_if_all_skipped(format: str, result: ParseResult, display: str) -> None:
    """An import that would store no instance while it skipped some objects is refused: it
    would report success having imported none of them. It names the first object skipped,
    one an option would import when there is one. (No instance and nothing skipped is a
    file of empty submissions, DESIGN §4.6, and imports; so do empty mask files, which skip
    no object: :data:`NOTHING_DRAWN`.)"""
    if result.objects or not set(result.skipped) - NOTHING_DRAWN:
        return
    remedies = SKIP_REMEDIES.get(format, {})
    first = next(iter(result.skipped_at), None)
    kind = next((k for k in result.skipped_at if k in remedies), first)
    image, obj = result.skipped_at.get(kind, (None, None)) if kind is not None else (None, None)
    raise ImportRefused(
        "nothing to import, every object was skipped: "
        + _skipped_text(format, dict(result.skipped)),
        file=display,
        image=image,
        obj=obj,
    )


# ----------------------------------------------------------------------- small helpers


def import_limits() -> Limits:
    """The readers' limits, from the MASKQC_MAX_* settings."""
    return Limits(
        max_file_bytes=settings.MASKQC_MAX_UPLOAD_BYTES,
        max_archive_bytes=settings.MASKQC_MAX_ARCHIVE_BYTES,
        max_decompressed_bytes=settings.MASKQC_MAX_DECOMPRESSED_BYTES,
        max_image_pixels=settings.MASKQC_MAX_IMAGE_PIXELS,
        max_instances_per_image=settings.MASKQC_MAX_INSTANCES_PER_IMAGE,
    )


def _display(path: Path) -> str:
    """How readers name a file or folder in messages."""
    return path.name or str(path)


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_options_clean(format: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The reader options, checked against the format (unknown or mistyped → refused)."""
    if format not in READERS:
        raise ApplicationError(
            f"Unknown format {format!r}; choose one of {', '.join(sorted(READERS))}."
        )
    allowed = FORMAT_OPTIONS[format]
    checked: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key not in allowed:
            names = ", ".join(sorted(allowed)) or "none"
            raise ApplicationError(
                f"Option {key!r} does not apply to format {format} (its options: {names})."
            )
        kinds = allowed[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
            raise ApplicationError(f"Option {key!r} has the wrong type ({type(value).__name__}).")
        checked[key] = value
    if format == "mask-png" and not checked.get("pattern"):
        raise ApplicationError("Format mask-png needs a pattern, e.g. '{annotator}/{image}.png'.")
    if "image_size" in checked:
        size = checked["image_size"]
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ApplicationError("Option 'image_size' must be [width, height] in pixels.")
        checked["image_size"] = (int(size[0]), int(size[1]))
    return checked


def _coco_index(path: Path, limits: Limits) -> tuple[dict[int, ParsedImage], dict[int, str]]:
    """Images by id and category names by id of a COCO instances file (``--images-from``)."""
    display = _display(path)
    try:
        document = load_json(read_bounded(path, limits, display), display)
        with FormatErrorsAt(display):
            images = req(document, "images", list, "COCO file")
            categories = req(document, "categories", list, "COCO file")
        by_id: dict[int, ParsedImage] = {}
        for index, entry in enumerate(images):
            with FormatErrorsAt(display, obj=f"images[{index}]"):
                image_id = req(entry, "id", int, "image")
                name = req(entry, "file_name", str, "image")
                width = as_int(req(entry, "width", (int, float, str), "image"), "width")
                height = as_int(req(entry, "height", (int, float, str), "image"), "height")
                by_id[image_id] = ParsedImage(name, width, height)
        names: dict[int, str] = {}
        for index, entry in enumerate(categories):
            with FormatErrorsAt(display, obj=f"categories[{index}]"):
                names[req(entry, "id", int, "category")] = req(entry, "name", str, "category")
    except FormatError as error:
        raise ImportRefused.from_format_error(error) from None
    return by_id, names


def _reader_kwargs(
    format: str, options: dict[str, Any], limits: Limits, project: Project
) -> dict[str, Any]:
    """Keyword arguments for the reader from the checked options. A COCO results file is
    matched to the images and classes of ``--images-from``, else to the COCO ids the
    project remembers, when one COCO file gave them all (:func:`_coco_ids_of`)."""
    kwargs = {k: v for k, v in options.items() if k not in PATH_OPTIONS}
    if format == "coco" and options.get("images_from"):
        images, categories = _coco_index(Path(options["images_from"]), limits)
        kwargs["images"], kwargs["categories"] = images, categories
    elif format == "coco":
        sources = _coco_sources(project)
        if len(sources) == 1:
            kwargs["images"], kwargs["categories"] = _coco_ids_of(project, *sources)
        elif len(sources) > 1:
            # Their ids may name different images: the results file must say which file.
            kwargs["unmapped"] = (
                f"a COCO results file names images by id, and the images of project "
                f"{project.slug} have COCO ids from {len(sources)} different files; pass "
                "--images-from with the instances file this one belongs to"
            )
    return kwargs


def _coco_sources(project: Project) -> set[str]:
    """The COCO files (import checksums) the project's images have their COCO ids from."""
    return set(
        project.images.filter(metadata__has_key=COCO_SOURCE).values_list(
            f"metadata__{COCO_SOURCE}", flat=True
        )
    )


def _coco_ids_of(project: Project, source: str) -> tuple[dict[int, ParsedImage], dict[int, str]]:
    """The project's images and classes by the COCO ids the file ``source`` gave them. A
    class the file's categories did not name is unknown to a results file, which is then
    refused rather than labelled by number."""
    images = {
        image.metadata[COCO_ID]: ParsedImage(image.name, image.width, image.height)
        for image in project.images.filter(**{f"metadata__{COCO_SOURCE}": source})
    }
    categories = {
        label.metadata[COCO_ID]: label.name
        for label in project.label_classes.filter(**{f"metadata__{COCO_SOURCE}": source})
    }
    return images, categories


def _remember_coco_ids(project: Project, result: ParseResult, plan: _Plan, checksum: str) -> None:
    """Keep the COCO ids of the file's images and categories, and which file gave them, in
    the metadata of the images and of the project's classes of those names, for results
    files to come (:func:`_coco_ids_of`). An image or class keeps the id it has."""
    ids = result.coco_ids
    if ids is None:
        return
    named = {
        label.name: label
        for label in LabelClass.objects.filter(project=project, name__in=list(ids.categories))
    }
    for model, rows, by_name in (
        (Image, plan.images, ids.images),
        (
            LabelClass,
            {**named, **{k: v for k, v in plan.labels.items() if v is not None}},
            ids.categories,
        ),
    ):
        changed = []
        for name, coco_id in by_name.items():
            row = rows.get(name)
            if row is None or COCO_ID in row.metadata:
                continue
            row.metadata = {**row.metadata, COCO_ID: coco_id, COCO_SOURCE: checksum}
            changed.append(row)
        model.objects.bulk_update(changed, ["metadata"], batch_size=_BULK_BATCH)


def import_checksum(*, path: Path, format: str, options: dict[str, Any] | None = None) -> str:
    """sha256 identifying an import: the source's bytes (a folder's relative paths and file
    contents), the format, and every option that changes what is imported.

    The same folder read with another pattern or annotator is another import (the dsb2018
    folder holds both the original and the fixed masks).
    """
    path = Path(path)
    if not path.exists():
        raise ImportRefused("no such file or folder", file=_display(path))
    meaning = {}
    for key, value in sorted((options or {}).items()):
        if value is None or value is False:
            continue
        if key in PATH_OPTIONS:
            value = file_sha256(Path(value)) if Path(value).is_file() else str(value)
        meaning[key] = list(value) if isinstance(value, tuple) else value
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": format, "options": meaning}, sort_keys=True).encode())
    if path.is_dir():
        files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
        for relative, file in files:
            digest.update(b"\0file\0" + relative.encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(file)))
    else:
        digest.update(b"\0file\0")
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _already_imported(project: Project, checksum: str) -> int:
    """How many submissions of the project came from this source (0: not imported)."""
    return Submission.objects.filter(task__image__project=project, source_checksum=checksum).count()


# ------------------------------------------------------------------------ the plan


@dataclass
class _Plan:
    """What the import will write, resolved against the database (read-only)."""

    pairs: dict[tuple[str, str], list[int]]  # (image, annotator) → object positions
    labels: dict[str, LabelClass | None]  # None: to be created
    users: dict[str, Any]  # None: to be created
    new_members: list[str]
    images: dict[str, Image | None]  # None: to be created
    tasks: dict[tuple[str, str], Task]  # existing open tasks
    last_revision: dict[int, int]  # task id → its newest revision


def _submission_pairs(
    result: ParseResult, *, display: str, annotator: str | None, labelers_saw_all: bool
) -> dict[tuple[str, str], list[int]]:
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

    pairs: dict[tuple[str, str], list[int]] = {}
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


def _first_object(result: ParseResult, test: Callable[[Any], bool]) -> Any:
    return next((obj for obj in result.objects if test(obj)), None)


def _plan(
    *,
    project: Project,
    result: ParseResult,
    pairs: dict[tuple[str, str], list[int]],
    display: str,
    create_users: bool,
    create_labels: bool,
) -> _Plan:
    """Resolve images, classes, users and tasks for the submissions ``pairs`` (from
    :func:`_submission_pairs`); refuse what cannot be imported."""
    User = get_user_model()

    # Label classes.
    wanted_labels = sorted({obj.label for obj in result.objects})
    labels: dict[str, LabelClass | None] = {
        c.name: c for c in LabelClass.objects.filter(project=project, name__in=wanted_labels)
    }
    if not create_labels and len(labels) < len(wanted_labels):
        obj = _first_object(result, lambda o: o.label not in labels)
        raise ImportRefused(
            f"class {obj.label!r} is not in project {project.slug}; "
            "pass --create-labels to create it",
            file=display,
            image=obj.image,
            obj=obj.source,
        )
    for name in wanted_labels:
        if name in labels:
            continue
        obj = _first_object(result, lambda o, name=name: o.label == name)
        if len(name) > LabelClass._meta.get_field("name").max_length:
            raise ImportRefused(
                f"class name {name[:40]!r}… is longer than 100 characters",
                file=display,
                image=obj.image,
                obj=obj.source,
            )
        labels[name] = None

    # Users.
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
        if not create_users:
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
    members = set(
        Membership.objects.filter(
            project=project, user__in=[u for u in users.values() if u is not None]
        ).values_list("user_id", flat=True)
    )
    new_members = [n for n in names if users[n] is not None and users[n].pk not in members]

    # Images.
    images: dict[str, Image | None] = {}
    parsed = {image.name: image for image in result.images}
    for chunk in _chunks(list(parsed)):
        for image in Image.objects.filter(project=project, name__in=chunk):
            images[image.name] = image
    for name, image in parsed.items():
        existing = images.get(name)
        if existing is None:
            if len(name) > Image._meta.get_field("name").max_length:
                raise ImportRefused(
                    "image name is longer than 255 characters", file=display, image=name[:80]
                )
            images[name] = None
        elif (existing.width, existing.height) != (image.width, image.height):
            raise ImportRefused(
                f"size {image.width}x{image.height} in the file disagrees with the project's "
                f"image of {existing.width}x{existing.height} (width x height)",
                file=display,
                image=name,
            )

    # Tasks: an open one takes a new revision; any other is refused.
    user_ids = {u.pk: n for n, u in users.items() if u is not None}
    image_ids = {image.pk: name for name, image in images.items() if image is not None}
    tasks: dict[tuple[str, str], Task] = {}
    for chunk in _chunks(list(image_ids)):
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
    last_revision: dict[int, int] = {}
    task_ids = [task.pk for task in tasks.values()]
    for chunk in _chunks(task_ids):
        last_revision.update(
            Submission.objects.filter(task_id__in=chunk)
            .values("task_id")
            .annotate(last=Max("revision"))
            .values_list("task_id", "last")
        )
    return _Plan(
        pairs=pairs,
        labels=labels,
        users=users,
        new_members=new_members,
        images=images,
        tasks=tasks,
        last_revision=last_revision,
    )


# ------------------------------------------------------------------------ writing


def _write(
    *,
    project: Project,
    plan: _Plan,
    result: ParseResult,
    instances: list[list[Any]],
    actor: Any,
    format: str,
    source_name: str,
    checksum: str,
    summary: ImportSummary,
) -> list[int]:
    """Write everything the plan says; inside the import's transaction. Returns the ids of
    the images whose agreement must be recomputed."""
    User = get_user_model()
    audits: list[AuditEvent] = []

    for name in sorted(n for n, c in plan.labels.items() if c is None):
        plan.labels[name] = label_class_create(project=project, name=name, actor=actor)
        summary.labels_created.append(name)
    for name in sorted(n for n, u in plan.users.items() if u is None):
        user = User.objects.create_user(username=name, email=name if "@" in name else "")
        plan.users[name] = user
        audit(
            actor=actor,
            verb="user.create",
            obj=user,
            project=project,
            after={"username": name, "by": "import", "source": source_name},
        )
        membership_set(project=project, user=user, role=Role.ANNOTATOR, actor=actor)
        summary.users_created.append(name)
    for name in plan.new_members:
        membership_set(project=project, user=plan.users[name], role=Role.ANNOTATOR, actor=actor)
        summary.members_added.append(name)

    new_images = []
    for image in result.images:
        if plan.images[image.name] is None:
            row = Image(project=project, name=image.name, width=image.width, height=image.height)
            try:
                # The project is the one locked above: only the image's own fields are checked.
                row.clean_fields(exclude=["project"])
            except ValidationError as error:
                raise ImportRefused(
                    f"image is invalid: {error}", file=source_name, image=image.name
                ) from None
            new_images.append(row)
    Image.objects.bulk_create(new_images, batch_size=_BULK_BATCH)
    for row in new_images:
        plan.images[row.name] = row
        audits.append(
            audit_event(
                actor=actor,
                verb="image.create",
                obj=row,
                project=project,
                after={
                    "name": row.name,
                    "width": row.width,
                    "height": row.height,
                    "source": source_name,
                },
            )
        )
    summary.images_created = len(new_images)
    _remember_coco_ids(project, result, plan, checksum)

    new_tasks: dict[tuple[str, str], Task] = {}
    for key in plan.pairs:
        if key not in plan.tasks:
            new_tasks[key] = Task(
                image=plan.images[key[0]],
                annotator=plan.users[key[1]],
                status=TaskStatus.SUBMITTED,
                assigned_by=actor if actor is not None and actor.pk else None,
            )
    Task.objects.bulk_create(list(new_tasks.values()), batch_size=_BULK_BATCH)
    for (image, name), task in new_tasks.items():
        audits.append(
            audit_event(
                actor=actor,
                verb="task.create",
                obj=task,
                project=project,
                after={"image": image, "annotator": name, "source": source_name},
            )
        )
    reopened = [task.pk for task in plan.tasks.values()]
    for chunk in _chunks(reopened):
        Task.objects.filter(pk__in=chunk).update(
            status=TaskStatus.SUBMITTED, updated_at=timezone.now()
        )
    summary.tasks_created = len(new_tasks)
    summary.revisions = len(reopened)

    versions = current_versions(project=project)
    rules = [rule for version in versions for rule in version.rules]
    submissions: list[Submission] = []
    for key, positions in plan.pairs.items():
        task = plan.tasks.get(key) or new_tasks[key]
        annotator = plan.users[key[1]]
        violations = (
            check_rules(
                rules, [(result.objects[p].label, result.objects[p].rle) for p in positions]
            )
            if rules
            else []
        )
        submissions.append(
            Submission(
                task=task,
                revision=plan.last_revision.get(task.pk, 0) + 1,
                source_format=format,
                source_name=source_name[:500],
                source_checksum=checksum,
                imported_by=actor if actor is not None and actor.pk != annotator.pk else None,
                rule_violations=[v.as_dict() for v in violations],
            )
        )
    Submission.objects.bulk_create(submissions, batch_size=_BULK_BATCH)
    through = Submission.guideline_versions.through
    through.objects.bulk_create(
        [
            through(submission_id=submission.pk, guidelineversion_id=version.pk)
            for submission in submissions
            for version in versions
        ],
        batch_size=_BULK_BATCH,
    )
    label_ids = {name: label.pk for name, label in plan.labels.items()}
    for (key, positions), submission in zip(plan.pairs.items(), submissions, strict=True):
        for position in positions:
            row = instances[position]
            row[SUBMISSION_COLUMN] = submission.pk
            row[LABEL_COLUMN] = label_ids[result.objects[position].label]
        audits.append(
            audit_event(
                actor=actor,
                verb="submission.create",
                obj=submission,
                project=project,
                before={"task_status": plan.tasks[key].status if key in plan.tasks else None},
                after={
                    "task": submission.task_id,
                    "revision": submission.revision,
                    "instances": len(positions),
                    "violations": len(submission.rule_violations),
                    "source": source_name,
                },
            )
        )
    insert_rows(Instance, instances)
    insert_rows(AuditEvent, _audit_rows(audits))

    summary.submissions = len(submissions)
    summary.empty_submissions = sum(1 for positions in plan.pairs.values() if not positions)
    summary.instances = len(instances)
    summary.annotators = sorted({name for _, name in plan.pairs})
    audit(
        actor=actor,
        verb="annotations.import",
        obj=project,
        project=project,
        after={k: v for k, v in summary.as_dict().items() if k != "project"},
    )

    # Agreement needs two submissions: queue the touched images that have them, once each.
    touched = sorted({plan.images[image].pk for image, _ in plan.pairs})
    queued: list[int] = []
    for chunk in _chunks(touched):
        queued += (
            Task.objects.filter(image_id__in=chunk)
            .exclude(status=TaskStatus.CANCELLED)
            .filter(Exists(Submission.objects.filter(task=OuterRef("pk"))))
            .values("image_id")
            .annotate(n=Count("id"))
            .filter(n__gte=2)
            .values_list("image_id", flat=True)
        )
    return sorted(queued)


def _audit_rows(events: list[AuditEvent]) -> list[list[Any]]:
    """``insert_rows`` rows of unsaved events, stamped now (their ``auto_now_add``)."""
    now = timezone.now()
    names = [f.attname for f in insert_fields(AuditEvent)]
    rows = []
    for event in events:
        event.created_at = now
        rows.append([getattr(event, name) for name in names])
    return rows


def _queue_agreement(image_ids: list[int]) -> None:
    """Agreement tasks for the images, a group of images per task, enqueued in one
    transaction (one commit on SQLite)."""

    with transaction.atomic():
        for group in _chunks(image_ids, _AGREEMENT_GROUP):
            agreement_update_for_images_task.enqueue(image_ids=list(group))


# ------------------------------------------------------------------------ service


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while an import holds its parse result and rows.

    Those are hundreds of thousands of long-lived objects, and every full collection walks
    all of them again: with the collector on, a large import spends seconds in it, for no
    garbage (the import's objects are freed by reference counting). Worker processes forked
    inside the block inherit the pause. The previous state is restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_cyclic_gc_paused()
def import_annotations(
    *,
    project: Project,
    path: Path | str,
    format: str,
    actor: Any,
    annotator: str | None = None,
    create_users: bool = False,
    create_labels: bool = False,
    labelers_saw_all_images: bool = False,
    options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    source_name: str | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import an annotation file or folder into ``project`` (DESIGN §8), all or nothing.

    ``format`` is a key of :data:`qc.formats.READERS`; ``options`` are that reader's options
    (:data:`FORMAT_OPTIONS`: ``pattern``, ``foreground``, ``instances``, ``label`` and
    ``image_name`` for mask-png; ``images_from`` (a COCO instances file naming a results
    file's image ids and categories) and ``all_mapped_images`` for COCO; ``subset`` for
    CVAT; ``image_key``, ``image_name``, ``image_size`` ([width, height]) and
    ``include_predictions`` for Label Studio). ``annotator`` (a username) overrides the
    file's annotator for every object. ``create_users`` creates missing users and
    ``create_labels`` missing classes; an existing user who is not a member becomes an
    annotator of the project. ``source_name`` names the source in submissions (default: the
    file or folder name). ``workers`` caps the worker processes (default: the CPUs, up to 8).

    Raises :class:`ImportRefused` (an ApplicationError naming file, image and object) or
    ApplicationError; nothing is written then. A source whose every object is skipped is
    refused too, naming the option that would import them when there is one. An import of a
    source already imported into the project returns a summary with ``already_imported`` set
    and writes nothing.
    """
    path = Path(path)
    display = _display(path)
    source_name = source_name or display
    checked = import_options_clean(format, options)
    limits = import_limits()
    report = ProgressThrottle(progress)
    report(0.0, f"checking {display}")
    checksum = import_checksum(
        path=path,
        format=format,
        options={**checked, "annotator": annotator, "all_labelers": labelers_saw_all_images},
    )
    summary = ImportSummary(
        project=project.slug, format=format, source_name=source_name, checksum=checksum
    )
    existing = _already_imported(project, checksum)
    if existing:
        summary.already_imported, summary.submissions = True, existing
        report(1.0, "already imported")
        return summary
    kwargs = _reader_kwargs(format, checked, limits, project)
    result, instances = read_and_build(
        format=format,
        path=path,
        display=display,
        limits=limits,
        kwargs=kwargs,
        boundary_px=project.boundary_px,
        workers=default_workers() if workers is None else max(1, workers),
        report=report,
    )
    _refuse_if_all_skipped(format, result, display)
    summary.images = len(result.images)
    summary.skipped = dict(result.skipped)
    plan_options = {
        "project": project,
        "result": result,
        "pairs": _submission_pairs(
            result,
            display=display,
            annotator=annotator,
            labelers_saw_all=labelers_saw_all_images,
        ),
        "display": display,
        "create_users": create_users,
        "create_labels": create_labels,
    }
    # Resolve once before the transaction, so bad input is refused without holding locks.
    _plan(**plan_options)
    report(0.9, "writing")
    with transaction.atomic():
        # One import per project at a time: a second import of the same source waits here,
        # then finds the first one's submissions and changes nothing.
        project = Project.objects.select_for_update().get(pk=project.pk)
        existing = _already_imported(project, checksum)
        if existing:
            summary.already_imported, summary.submissions = True, existing
            summary.images, summary.skipped = 0, {}
            report(1.0, "already imported")
            return summary
        plan = _plan(**{**plan_options, "project": project})
        queued = _write(
            project=project,
            plan=plan,
            result=result,
            instances=instances,
            actor=actor,
            format=format,
            source_name=source_name,
            checksum=checksum,
            summary=summary,
        )
        summary.agreement_queued = len(queued)
        if queued:
            transaction.on_commit(lambda: _queue_agreement(queued))
    report(1.0, "done")
    return summary
