"""Exports of accepted labels as COCO, Supervisely or PNG masks (DESIGN §8, §9).

What an export contains, per image, in image-name order:

* by default, accepted labels only: images with an ImageLabel, whose instances are the
  accepted submission's instances or, for a consensus label, its copied LabelInstances;
  an accepted label with no instance is an image with no annotation ("looked and found
  nothing");
* with ``include_unreviewed``, every image that has a submission: its accepted label when
  it has one, else its consensus when agreement has been computed (two or more
  annotators), else its most recent submission (the newest revision of the task submitted
  last; with one annotator, simply that annotator's latest revision).

Every annotation carries ``maskqc`` provenance: ``annotator`` (null for a consensus),
``reviewer`` (who accepted the label; null when unreviewed), ``agreement_pq`` (the image's
pooled pq, null below two annotators), ``label`` (``accepted`` or ``unreviewed``) and
``from`` (``submission`` or ``consensus``). COCO's ``info`` (a ``maskqc_export.json`` next
to the Supervisely and PNG files) carries the project, the filters, the current guideline
versions and the export id. Ids are positions (images, annotations) and positions in the
project's classes sorted by name (categories); nothing depends on the clock, so the same
database state gives the same bytes.

Images and their rows are read in chunks of image ids and annotations streamed to the
writers, so memory does not grow with the number of annotations (the writers keep one row
per image).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_tasks import task

from projects.audit import audit
from projects.errors import ApplicationError
from projects.files import file_sha256
from projects.models import Image, LabelClass, Project, TaskStatus
from projects.progress import ProgressCallback, ProgressThrottle
from projects.selectors import current_versions
from qc.formats import (
    ExportCategory,
    ExportImage,
    ExportObject,
    write_coco,
    write_mask_png,
    write_supervisely,
)
from qc.models import (
    ConsensusInstance,
    Export,
    ImageAgreement,
    ImageLabel,
    Instance,
    JobStatus,
    LabelInstance,
    Submission,
)

__all__ = [
    "EXPORT_FORMATS",
    "ExportSummary",
    "export_create",
    "export_run",
    "export_write",
]

EXPORT_FORMATS = ("coco", "supervisely", "mask-png")
# Shared by every image without metadata: the export keeps one row per image, keep it small.
_NO_METADATA: dict[str, Any] = {}
FILTERS = ("classes", "images", "gold")
INFO_FILE = "maskqc_export.json"
_IMAGE_CHUNK = 100
_ROW_CHUNK = 2000


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
    sha256: str = ""
    manifest: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories,
            "rle_fallbacks": self.rle_fallbacks,
            "overlapping_pixels": self.overlapping_pixels,
        }

    def line(self) -> str:
        """The one-line summary the command prints."""
        which = "accepted and unreviewed labels" if self.include_unreviewed else "accepted labels"
        extra = ""
        if self.rle_fallbacks:
            extra += f", {self.rle_fallbacks} kept as RLE"
        if self.overlapping_pixels:
            extra += f", {self.overlapping_pixels} overlapping pixels"
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


@dataclass
class _Selection:
    categories: list[ExportCategory]
    class_names: dict[int, str]
    images: list[ExportImage]
    image_ids: list[int]


def _select(*, project: Project, include_unreviewed: bool, filters: dict[str, Any]) -> _Selection:
    """Categories and the images to export, in name order."""
    classes = list(
        LabelClass.objects.filter(project=project)
        .order_by("name")
        .values_list("pk", "name", "colour")
    )
    wanted = set(filters.get("classes", [c[1] for c in classes]))
    categories = [
        ExportCategory(name=name, id=position, color=colour)
        for position, (_, name, colour) in enumerate(classes, start=1)
        if name in wanted
    ]
    class_names = {pk: name for pk, name, _ in classes if name in wanted}
    images = Image.objects.filter(project=project)
    labelled = ImageLabel.objects.filter(image=OuterRef("pk"))
    if filters.get("gold"):
        labelled = labelled.filter(is_gold=True)
    if include_unreviewed and not filters.get("gold"):
        submitted = Submission.objects.filter(task__image=OuterRef("pk")).exclude(
            task__status=TaskStatus.CANCELLED
        )
        images = images.filter(Exists(labelled) | Exists(submitted))
    else:
        images = images.filter(Exists(labelled))
    if "images" in filters:
        images = images.filter(name__in=filters["images"])
    selection = _Selection(categories, class_names, [], [])
    for pk, name, width, height, metadata in (
        images.order_by("name")
        .values_list("pk", "name", "width", "height", "metadata")
        .iterator(chunk_size=_ROW_CHUNK)
    ):
        selection.images.append(
            ExportImage(name=name, width=width, height=height, metadata=metadata or _NO_METADATA)
        )
        selection.image_ids.append(pk)
    return selection


def _info(
    *,
    project: Project,
    include_unreviewed: bool,
    polygons: bool,
    filters: dict[str, Any],
    export_id: int | None,
) -> dict[str, Any]:
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
            if include_unreviewed
            else "accepted labels only"
        ),
        "filters": {**filters, "include_unreviewed": include_unreviewed, "polygons": polygons},
        "guideline_versions": [
            {
                "guideline": v.guideline.title,
                "number": v.number,
                "published_at": v.published_at.isoformat() if v.published_at else None,
            }
            for v in versions
        ],
    }


# --------------------------------------------------------------------- annotations


def _chunk_objects(
    chunk: Sequence[int],
    *,
    selection: _Selection,
    images: dict[int, ExportImage],
    include_unreviewed: bool,
) -> Iterator[tuple[int, list[ExportObject]]]:
    """The export objects of a chunk of images, image by image (three queries per chunk,
    four with unreviewed images)."""
    labels = {
        label.image_id: label
        for label in ImageLabel.objects.filter(image_id__in=chunk).select_related(
            "accepted_by", "submission__task__annotator"
        )
    }
    agreement = dict(
        ImageAgreement.objects.filter(image_id__in=chunk).values_list("image_id", "pq")
    )
    # image id → (kind, key, annotator, reviewer, label state)
    sources: dict[int, tuple[str, int, str | None, str | None, str]] = {}
    for image_id, label in labels.items():
        reviewer = label.accepted_by.username if label.accepted_by else None
        if label.submission_id is not None:
            annotator = label.submission.task.annotator.username
            sources[image_id] = ("submission", label.submission_id, annotator, reviewer, "accepted")
        else:
            sources[image_id] = ("label", label.pk, None, reviewer, "accepted")
    if include_unreviewed:
        rest = [i for i in chunk if i not in sources and i in agreement]
        for image_id in rest:
            sources[image_id] = ("consensus", image_id, None, None, "unreviewed")
        rest = [i for i in chunk if i not in sources]
        latest = (
            Submission.objects.filter(task__image_id__in=rest)
            .exclude(task__status=TaskStatus.CANCELLED)
            .order_by("task__image_id", "-submitted_at", "-pk")
            .values_list("pk", "task__image_id", "task__annotator__username")
        )
        for pk, image_id, username in latest:
            if image_id not in sources:
                sources[image_id] = ("submission", pk, username, None, "unreviewed")

    rows: dict[int, list[tuple[int, str, Any, Any]]] = defaultdict(list)
    classes = list(selection.class_names)
    by_key: dict[str, dict[int, int]] = defaultdict(dict)
    for image_id, (kind, key, *_) in sources.items():
        by_key[kind][key] = image_id
    if by_key["submission"]:
        query = Instance.objects.filter(
            submission_id__in=list(by_key["submission"]), label_class_id__in=classes
        ).order_by("pk")
        for submission_id, class_id, rle, polygon, attributes in query.values_list(
            "submission_id", "label_class_id", "rle", "polygon", "attributes"
        ).iterator(chunk_size=_ROW_CHUNK):
            rows[by_key["submission"][submission_id]].append((class_id, rle, polygon, attributes))
    if by_key["label"]:
        query = LabelInstance.objects.filter(
            label_id__in=list(by_key["label"]), label_class_id__in=classes
        ).order_by("pk")
        for label_id, class_id, rle in query.values_list("label_id", "label_class_id", "rle"):
            rows[by_key["label"][label_id]].append((class_id, rle, None, None))
    if by_key["consensus"]:
        query = ConsensusInstance.objects.filter(
            image_id__in=list(by_key["consensus"]), label_class_id__in=classes
        ).order_by("pk")
        for image_id, class_id, rle in query.values_list("image_id", "label_class_id", "rle"):
            rows[image_id].append((class_id, rle, None, None))

    # Objects are made one image at a time, as the writer asks for them.
    for image_id in chunk:
        if image_id not in sources:
            continue
        kind, _, annotator, reviewer, state = sources[image_id]
        provenance = {
            "annotator": annotator,
            "reviewer": reviewer,
            "agreement_pq": agreement.get(image_id),
            "label": state,
            "from": "submission" if kind == "submission" else "consensus",
        }
        image = images[image_id]
        objects = []
        for class_id, rle, polygon, attributes in rows.pop(image_id, []):
            polygon = polygon or {}
            objects.append(
                ExportObject(
                    image=image.name,
                    label=selection.class_names[class_id],
                    rle={"size": [image.height, image.width], "counts": rle.encode("ascii")},
                    polygon=polygon.get("parts") or None,
                    holes=polygon.get("holes") or None,
                    attributes=dict(attributes or {}),
                    provenance=provenance,
                )
            )
        yield image_id, objects


def _annotations(
    *, selection: _Selection, include_unreviewed: bool, report: ProgressThrottle, counter: list[int]
) -> Iterator[ExportObject]:
    """Every export object, grouped by image in the selection's order."""
    total = max(1, len(selection.image_ids))
    done = 0
    for start in range(0, len(selection.image_ids), _IMAGE_CHUNK):
        chunk = selection.image_ids[start : start + _IMAGE_CHUNK]
        images = dict(zip(chunk, selection.images[start : start + _IMAGE_CHUNK], strict=True))
        for _, objects in _chunk_objects(
            chunk, selection=selection, images=images, include_unreviewed=include_unreviewed
        ):
            for obj in objects:
                counter[0] += 1
                yield obj
            done += 1
            report(done / total, "writing annotations")


# -------------------------------------------------------------------------- output


def _manifest(folder: Path) -> list[dict[str, Any]]:
    """Every file under ``folder`` with its size and sha256, sorted by path."""
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    return [{"path": rel, "bytes": p.stat().st_size, "sha256": file_sha256(p)} for rel, p in files]


def _zip_folder(folder: Path, target: Path) -> None:
    """A zip of ``folder`` whose bytes depend only on the files (sorted, fixed times)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, path in sorted(
            (p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file()
        ):
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
    """Write the project's labels to ``out_path`` (see the module docstring for what).

    ``coco``: one JSON file (RLE; ``polygons`` writes polygons that rasterise exactly to
    each mask, RLE where none does). ``supervisely`` and ``mask-png``: a folder that must
    not exist or be empty, or a ``.zip``. ``filters``: ``classes`` (names), ``images``
    (names), ``gold`` (only gold labels). The file appears only when complete (written
    beside it, then renamed). Reads only; refuses bad input with ApplicationError.
    """
    out = Path(out_path)
    filters = _check(project=project, format=format, polygons=polygons, filters=filters)
    wants_file = format == "coco" or out.suffix.lower() == ".zip"
    if wants_file and out.is_dir():
        raise ApplicationError(f"{out} is a folder; give a file name.")
    if not wants_file and out.exists() and not out.is_dir():
        raise ApplicationError(f"{out} is a file; give a folder (or a name ending in .zip).")
    if not wants_file and out.is_dir() and any(out.iterdir()):
        raise ApplicationError(f"{out} is a folder that is not empty.")
    report = ProgressThrottle(progress)
    report(0.0, "selecting images")
    selection = _select(project=project, include_unreviewed=include_unreviewed, filters=filters)
    info = _info(
        project=project,
        include_unreviewed=include_unreviewed,
        polygons=polygons,
        filters=filters,
        export_id=export_id,
    )
    summary = ExportSummary(
        project=project.slug,
        format=format,
        out=str(out),
        include_unreviewed=include_unreviewed,
        images=len(selection.images),
        categories=len(selection.categories),
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
                {"path": out.name, "bytes": staging.stat().st_size, "sha256": file_sha256(staging)}
            ]
        else:
            folder = Path(tmp) / "folder"
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
            if out.suffix.lower() == ".zip":
                _zip_folder(folder, staging)
            else:
                folder.rename(staging)
        summary.annotations = counter[0]
        if staging.is_dir():
            summary.sha256 = hashlib.sha256(_json_bytes(summary.manifest)).hexdigest()
            if out.is_dir():
                out.rmdir()
        else:
            summary.sha256 = file_sha256(staging)
        os.replace(staging, out)
    report(1.0, "done")
    return summary


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
    """Record an export and queue it (:func:`export_run` after commit). The caller checks
    that ``actor`` may export (DESIGN §10)."""
    clean = _check(project=project, format=format, polygons=polygons, filters=filters)
    with transaction.atomic():
        export = Export.objects.create(
            project=project,
            created_by=actor,
            format=format,
            filters={**clean, "include_unreviewed": include_unreviewed, "polygons": polygons},
        )
        audit(
            actor=actor,
            verb="export.create",
            obj=export,
            project=project,
            after={"format": format, "filters": export.filters},
        )
        transaction.on_commit(lambda: _queue_export(export.pk))
    return export


def _queue_export(export_id: int) -> None:

    export_run_task.enqueue(export_id=export_id)


def export_run(*, export_id: int) -> Export:
    """Write a pending export into its FileField (default storage): COCO as JSON,
    Supervisely and PNG masks as a zip; record sha256, manifest and counts. A second
    runner finds the export taken and returns it. Progress goes to the row every ~2 %."""
    claimed = Export.objects.filter(pk=export_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING, progress=0.0
    )
    export = Export.objects.select_related("project").get(pk=export_id)
    if claimed != 1:
        return export

    def progress(fraction: float, _message: str) -> None:
        Export.objects.filter(pk=export_id).update(progress=fraction)

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
            with target.open("rb") as handle:
                export.file.save(name, File(handle, name=name), save=False)
    except ApplicationError as error:
        Export.objects.filter(pk=export_id).update(
            status=JobStatus.FAILED, error=error.message, finished_at=timezone.now()
        )
    except Exception as error:
        with contextlib.suppress(Exception):
            if export.file:
                export.file.delete(save=False)
        Export.objects.filter(pk=export_id).update(
            status=JobStatus.FAILED,
            error=f"internal error: {type(error).__name__}: {error}",
            finished_at=timezone.now(),
        )
        raise
    else:
        Export.objects.filter(pk=export_id).update(
            status=JobStatus.DONE,
            progress=1.0,
            file=export.file.name,
            sha256=summary.sha256,
            manifest={"files": summary.manifest},
            counts=summary.counts(),
            finished_at=timezone.now(),
        )
    export.refresh_from_db()
    return export


@task()
def export_run_task(*, export_id: int) -> None:
    """Write one export's file in the background (:func:`export_run`)."""
    export_run(export_id=export_id)
