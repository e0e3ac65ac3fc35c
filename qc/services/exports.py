"""Exports of accepted labels as COCO, Supervisely or PNG masks (DESIGN §8, §9).

What an export contains -- accepted labels by default, the consensus or the latest
submission of unreviewed images on request, every annotation with its ``maskqc``
provenance -- is :mod:`qc.selectors.exports`'. COCO's ``info`` (a ``maskqc_export.json``
next to the Supervisely and PNG files) carries the project, the filters, the current
guideline versions and the export id. Ids are positions (images, annotations) and positions
in the project's classes sorted by name (categories); nothing depends on the clock, so the
same database state gives the same bytes.

Images and their rows are read in chunks of image ids and annotations streamed to the
writers, so memory does not grow with the number of annotations (the writers keep one row
per image).

A command writes an export straight to a path (:func:`export_write`); the API records one
(:func:`export_create`) for a worker to write into the row's file (:func:`export_run`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django_tasks import task

from projects.audit import audit
from projects.errors import ApplicationError
from projects.files import file_sha256, unguessable_name
from projects.models import LabelClass, Project
from projects.permissions import Action, require_action
from projects.progress import ProgressCallback, ProgressThrottle
from projects.selectors import current_versions
from qc.formats import ExportObject, write_coco, write_mask_png, write_supervisely
from qc.models import Export
from qc.selectors.exports import ExportSelection, export_objects, export_selection
from qc.services.jobs import job_progress, job_queue, job_run, job_slot_take

__all__ = [
    "EXPORT_FORMATS",
    "ExportSummary",
    "export_create",
    "export_run",
    "export_write",
]

EXPORT_FORMATS = ("coco", "supervisely", "mask-png")
FILTERS = ("classes", "images", "gold")
INFO_FILE = "maskqc_export.json"
_IMAGE_CHUNK = 100


@dataclass
class ExportSummary:
    """What an export wrote. ``sha256`` is the file's (COCO JSON, zip), or for a folder the
    sha256 of its manifest; ``manifest`` lists every file written with its sha256."""

    project: str
    format: str
    out: str
    include_unreviewed: bool
    images: int = 0
    annotations: int = 0
    categories: int = 0
    rle_fallbacks: int = 0
    overlapping_pixels: int = 0
    sent_back: int = 0
    sha256: str = ""
    manifest: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories,
            "rle_fallbacks": self.rle_fallbacks,
            "overlapping_pixels": self.overlapping_pixels,
            "sent_back": self.sent_back,
        }

    def line(self) -> str:
        """The one-line summary the command prints."""
        which = "accepted and unreviewed labels" if self.include_unreviewed else "accepted labels"
        extra = ""
        if self.rle_fallbacks:
            extra += f", {self.rle_fallbacks} kept as RLE"
        if self.overlapping_pixels:
            extra += f", {self.overlapping_pixels} overlapping pixels"
        if self.sent_back:
            extra += (
                ", 1 image sent back for rework, its label still in force"
                if self.sent_back == 1
                else f", {self.sent_back} images sent back for rework, their labels still in force"
            )
        return (
            f"{self.project}: exported {self.images} images, {self.annotations} annotations, "
            f"{self.categories} classes ({which}{extra}) as {self.format} to {self.out} "
            f"(sha256 {self.sha256})."
        )


# --------------------------------------------------------------------------- input


def _check(
    *, project: Project, format: str, polygons: bool, filters: dict[str, Any] | None
) -> dict[str, Any]:
    """Validated, normalised filters (sorted lists), or ApplicationError."""
    if format not in EXPORT_FORMATS:
        raise ApplicationError(
            f"Unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}."
        )
    if polygons and format != "coco":
        raise ApplicationError("Polygon output applies to COCO exports only.")
    if filters is not None and not isinstance(filters, dict):
        raise ApplicationError("Export filters must be an object of classes, images and gold.")
    clean: dict[str, Any] = {}
    for key, value in (filters or {}).items():
        if key not in FILTERS:
            raise ApplicationError(
                f"Unknown export filter {key!r}; filters are {', '.join(FILTERS)}."
            )
        if value is None:
            continue
        if key == "gold":
            if not isinstance(value, bool):
                raise ApplicationError("Filter 'gold' must be true or false.")
            if value:
                clean[key] = True
            continue
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ApplicationError(f"Filter {key!r} must be a list of names.")
        clean[key] = sorted(set(value))
    if "classes" in clean:
        known = set(
            LabelClass.objects.filter(project=project, name__in=clean["classes"]).values_list(
                "name", flat=True
            )
        )
        missing = [c for c in clean["classes"] if c not in known]
        if missing:
            raise ApplicationError(f"Project {project.slug} has no class {missing[0]!r}.")
    return clean


def _options(
    filters: dict[str, Any], *, include_unreviewed: bool, polygons: bool
) -> dict[str, Any]:
    """The export's filters with its two switches: what an Export row records as its
    ``filters`` and what the export's ``info`` names."""
    return {**filters, "include_unreviewed": include_unreviewed, "polygons": polygons}


def _info(*, project: Project, options: dict[str, Any], export_id: int | None) -> dict[str, Any]:
    versions = sorted(
        current_versions(project=project), key=lambda v: (v.guideline.title, v.number)
    )
    return {
        "description": f"MaskQC export of project {project.name}",
        "contributor": "MaskQC",
        "version": "1",
        "project": {"slug": project.slug, "name": project.name},
        "export_id": export_id,
        "labels": (
            "accepted labels, else the consensus, else the latest submission"
            if options["include_unreviewed"]
            else "accepted labels only"
        ),
        "filters": options,
        "guideline_versions": [
            {
                "guideline": v.guideline.title,
                "number": v.number,
                "published_at": v.published_at.isoformat() if v.published_at else None,
            }
            for v in versions
        ],
    }


def _check_target(out: Path, format: str) -> None:
    """Refuse an ``out`` that cannot take the export: a folder where a file is written
    (COCO, a zip); a file, or a folder that is not empty, where a folder is."""
    wants_file = format == "coco" or out.suffix.lower() == ".zip"
    if wants_file and out.is_dir():
        raise ApplicationError(f"{out} is a folder; give a file name.")
    if not wants_file and out.exists() and not out.is_dir():
        raise ApplicationError(f"{out} is a file; give a folder (or a name ending in .zip).")
    if not wants_file and out.is_dir() and any(out.iterdir()):
        raise ApplicationError(f"{out} is a folder that is not empty.")


# --------------------------------------------------------------------- annotations


def _annotations(
    *,
    selection: ExportSelection,
    include_unreviewed: bool,
    report: ProgressThrottle,
    counter: list[int],
) -> Iterator[ExportObject]:
    """Every export object, grouped by image in the selection's order."""
    total = max(1, len(selection.image_ids))
    done = 0
    for start in range(0, len(selection.image_ids), _IMAGE_CHUNK):
        chunk = selection.image_ids[start : start + _IMAGE_CHUNK]
        images = dict(zip(chunk, selection.images[start : start + _IMAGE_CHUNK], strict=True))
        for _, objects in export_objects(
            chunk, selection=selection, images=images, include_unreviewed=include_unreviewed
        ):
            for obj in objects:
                counter[0] += 1
                yield obj
            done += 1
            report(done / total, "writing annotations")


# -------------------------------------------------------------------------- output


def _files_in(folder: Path) -> list[tuple[str, Path]]:
    """Every file under ``folder`` as (its path relative to ``folder``, its path), sorted."""
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())


def _manifest(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` with its size and sha256, sorted by path."""
    return [
        {"path": rel, "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for rel, p in _files_in(folder)
    ]


def _zip_folder(folder: Path, target: Path) -> None:
    """A zip of ``folder`` whose bytes depend only on the files (sorted, fixed times)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, path in _files_in(folder):
            info = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode()


def export_write(
    *,
    project: Project,
    format: str,
    out_path: Path | str,
    include_unreviewed: bool = False,
    polygons: bool = False,
    filters: dict[str, Any] | None = None,
    export_id: int | None = None,
    progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Write the project's labels to ``out_path`` (:mod:`qc.selectors.exports` says what).

    ``coco``: one JSON file (RLE; ``polygons`` writes polygons that rasterise exactly to
    each mask, RLE where none does). ``supervisely`` and ``mask-png``: a folder that must
    not exist or be empty, or a ``.zip``. ``filters``: ``classes`` (names), ``images``
    (names), ``gold`` (only gold labels). The file appears only when complete (written
    beside it, then renamed). Reads only; refuses bad input with ApplicationError.
    """
    out = Path(out_path)
    filters = _check(project=project, format=format, polygons=polygons, filters=filters)
    _check_target(out, format)
    report = ProgressThrottle(progress)
    report(0.0, "selecting images")
    selection = export_selection(
        project=project, include_unreviewed=include_unreviewed, filters=filters
    )
    options = _options(filters, include_unreviewed=include_unreviewed, polygons=polygons)
    info = _info(project=project, options=options, export_id=export_id)
    summary = ExportSummary(
        project=project.slug,
        format=format,
        out=str(out),
        include_unreviewed=include_unreviewed,
        images=len(selection.images),
        categories=len(selection.categories),
        sent_back=selection.sent_back,
    )
    counter = [0]
    annotations = _annotations(
        selection=selection, include_unreviewed=include_unreviewed, report=report, counter=counter
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".maskqc-export-", dir=out.parent) as tmp,
        _writer_errors(format),
    ):
        staging = Path(tmp) / out.name
        if format == "coco":
            _write_coco_file(
                staging,
                info=info,
                selection=selection,
                annotations=annotations,
                polygons=polygons,
                summary=summary,
            )
        else:
            _write_folder(
                Path(tmp) / "folder",
                staging,
                format=format,
                info=info,
                selection=selection,
                annotations=annotations,
                summary=summary,
            )
        summary.annotations = counter[0]
        _move_into_place(staging, out, summary=summary)
    report(1.0, "done")
    return summary


def _write_coco_file(
    staging: Path,
    *,
    info: dict[str, Any],
    selection: ExportSelection,
    annotations: Iterator[ExportObject],
    polygons: bool,
    summary: ExportSummary,
) -> None:
    """The COCO JSON file at ``staging``, and its manifest entry in ``summary``."""
    with staging.open("wb") as handle:
        written = write_coco(
            handle,
            info=info,
            categories=selection.categories,
            images=selection.images,
            annotations=annotations,
            polygons=polygons,
        )
    summary.rle_fallbacks = written.rle_fallbacks
    summary.manifest = [
        {"path": staging.name, "bytes": staging.stat().st_size, "sha256": file_sha256(staging)}
    ]


def _write_folder(
    folder: Path,
    staging: Path,
    *,
    format: str,
    info: dict[str, Any],
    selection: ExportSelection,
    annotations: Iterator[ExportObject],
    summary: ExportSummary,
) -> None:
    """A Supervisely project or PNG masks written into ``folder`` with the info file, then
    zipped to ``staging`` (a name ending in .zip) or renamed to it; the manifest of its
    files in ``summary``."""
    writer = write_supervisely if format == "supervisely" else write_mask_png
    written = writer(
        folder,
        categories=selection.categories,
        images=selection.images,
        annotations=annotations,
    )
    summary.overlapping_pixels = getattr(written, "overlapping_pixels", 0)
    (folder / INFO_FILE).write_bytes(_json_bytes(info))
    summary.manifest = _manifest(folder)
    if staging.suffix.lower() == ".zip":
        _zip_folder(folder, staging)
    else:
        folder.rename(staging)


def _move_into_place(staging: Path, out: Path, *, summary: ExportSummary) -> None:
    """The export's sha256 into ``summary`` (a file's own, a folder's: its manifest's), then
    the staged file or folder renamed to ``out`` (which may be an empty folder)."""
    if staging.is_dir():
        summary.sha256 = hashlib.sha256(_json_bytes(summary.manifest)).hexdigest()
        if out.is_dir():
            out.rmdir()
    else:
        summary.sha256 = file_sha256(staging)
    os.replace(staging, out)


@contextlib.contextmanager
def _writer_errors(format: str) -> Iterator[None]:
    """The writers refuse what the format cannot hold with ValueError (an image name that
    is not a safe path, two names that give one PNG file, ...): an ApplicationError here."""
    try:
        yield
    except ValueError as error:
        raise ApplicationError(f"Cannot export as {format}: {error}") from None


# ------------------------------------------------------------------- export rows


def export_create(
    *,
    project: Project,
    actor: Any,
    format: str,
    include_unreviewed: bool = False,
    polygons: bool = False,
    filters: dict[str, Any] | None = None,
) -> Export:
    """Record an export and queue it (:func:`export_run` after commit). Only those who may
    export (DESIGN §10: leads and admins) start one; an outsider is refused as if the
    project did not exist. A project with ``MASKQC_MAX_PENDING_JOBS`` exports pending or
    running refuses another with 429."""
    require_action(actor=actor, project=project, action=Action.EXPORT, what="export labels")
    clean = _check(project=project, format=format, polygons=polygons, filters=filters)
    with transaction.atomic():
        job_slot_take(Export, project=project, noun="exports")
        export = Export.objects.create(
            project=project,
            created_by=actor,
            format=format,
            filters=_options(clean, include_unreviewed=include_unreviewed, polygons=polygons),
        )
        audit(
            actor=actor,
            verb="export.create",
            obj=export,
            project=project,
            after={"format": format, "filters": export.filters},
        )
        job_queue(job=export)
    return export


def export_run(*, export_id: int) -> Export:
    """Write a pending export into its FileField (default storage): COCO as JSON,
    Supervisely and PNG masks as a zip; record sha256, manifest and counts. A second
    runner finds the export taken and returns it. Progress goes to the row every ~2 %."""

    return job_run(
        Export,
        pk=export_id,
        related=("project",),
        work=lambda export: _export_file(export, progress=job_progress(export)),
    )


def _export_file(export: Export, *, progress: ProgressCallback) -> dict[str, Any]:
    """Write the export into its FileField; the fields its row records when done (its
    counts with the archive's size in ``bytes``)."""
    options = dict(export.filters)
    include_unreviewed = bool(options.pop("include_unreviewed", False))
    polygons = bool(options.pop("polygons", False))
    suffix = ".json" if export.format == "coco" else ".zip"
    name = f"{export.project.slug}-export-{export.pk}{suffix}"
    try:
        with tempfile.TemporaryDirectory(prefix="maskqc-export-") as tmp:
            target = Path(tmp) / name
            summary = export_write(
                project=export.project,
                format=export.format,
                out_path=target,
                include_unreviewed=include_unreviewed,
                polygons=polygons,
                filters=options,
                export_id=export.pk,
                progress=progress,
            )
            size = target.stat().st_size
            with target.open("rb") as handle:
                export.file.save(unguessable_name(name), File(handle, name=name), save=False)
    except ApplicationError:
        raise  # a refusal comes before anything is stored
    except Exception:
        # Storage is not transactional: remove the file this run stored, if it got that far.
        with contextlib.suppress(Exception):
            if export.file:
                export.file.delete(save=False)
        raise
    return {
        "file": export.file.name,
        "sha256": summary.sha256,
        "manifest": {"files": summary.manifest},
        # The archive's size, so that the exports pages need not ask storage for it.
        "counts": {**summary.counts(), "bytes": size},
    }


@task()
def export_run_task(*, export_id: int) -> None:
    """Write one export's file in the background (:func:`export_run`)."""
    export_run(export_id=export_id)
