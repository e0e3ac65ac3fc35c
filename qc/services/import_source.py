"""An import's source: its reader options checked (:func:`import_options_clean`), its
identity (:func:`import_checksum`), the readers' limits, and the reader's keyword arguments
-- with, for COCO results files, the COCO ids of the images and classes the project keeps
from the instances file they came from (:func:`remember_coco_ids`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.conf import settings

from projects.errors import ApplicationError, ImportRefused
from projects.files import file_sha256
from projects.models import Image, LabelClass, Project
from qc.formats import (
    PATH_OPTIONS,
    READER_OPTIONS,
    READERS,
    FormatError,
    Limits,
    ParsedImage,
    ParseResult,
)
from qc.formats.base import FormatErrorsAt, as_int, req
from qc.formats.sources import load_json, read_bounded
from qc.models import Submission

__all__ = [
    "display_name",
    "import_checksum",
    "import_limits",
    "import_options_clean",
    "imported_submissions",
    "reader_kwargs",
    "remember_coco_ids",
]

# The metadata keys of an image's (a class's) id in the COCO file it was imported from,
# and of that file (its import checksum).
COCO_ID = "coco_id"
COCO_SOURCE = "coco_source"


def import_limits() -> Limits:
    """The readers' limits, from the MASKQC_MAX_* settings."""
    return Limits(
        max_file_bytes=settings.MASKQC_MAX_UPLOAD_BYTES,
        max_archive_bytes=settings.MASKQC_MAX_ARCHIVE_BYTES,
        max_decompressed_bytes=settings.MASKQC_MAX_DECOMPRESSED_BYTES,
        max_image_pixels=settings.MASKQC_MAX_IMAGE_PIXELS,
        max_instances_per_image=settings.MASKQC_MAX_INSTANCES_PER_IMAGE,
    )


def display_name(path: Path) -> str:
    """How readers name a file or folder in messages."""
    return path.name or str(path)


def import_options_clean(format: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The reader options, checked against the format (unknown or mistyped → refused)."""
    if format not in READERS:
        raise ApplicationError(
            f"Unknown format {format!r}; choose one of {', '.join(sorted(READERS))}."
        )
    allowed = READER_OPTIONS[format]
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


def import_checksum(*, path: Path, format: str, options: dict[str, Any] | None = None) -> str:
    """sha256 identifying an import: the source's bytes (a folder's relative paths and file
    contents), the format, and every option that changes what is imported.

    The same folder read with another pattern or annotator is another import (the dsb2018
    folder holds both the original and the fixed masks).
    """
    path = Path(path)
    if not path.exists():
        raise ImportRefused("no such file or folder", file=display_name(path))
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


def imported_submissions(project: Project, checksum: str) -> int:
    """How many submissions of the project came from this source (0: not imported)."""
    return Submission.objects.filter(task__image__project=project, source_checksum=checksum).count()


def reader_kwargs(
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


def _coco_index(path: Path, limits: Limits) -> tuple[dict[int, ParsedImage], dict[int, str]]:
    """Images by id and category names by id of a COCO instances file (``--images-from``)."""
    display = display_name(path)
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


def remember_coco_ids(
    project: Project,
    result: ParseResult,
    *,
    images: dict[str, Image],
    labels: dict[str, LabelClass],
    checksum: str,
) -> None:
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
        (Image, images, ids.images),
        (
            LabelClass,
            {**named, **labels},
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
        model.objects.bulk_update(changed, ["metadata"], batch_size=1000)
