"""What the imports and exports pages show (DESIGN §8, §9, §11): a project's past jobs, a
page at a time, and one job in full, each read in a fixed number of queries.

A job's figures come from its row: an import's summary (:class:`qc.services.import_summary.
ImportSummary` as stored), an export's counts (with its archive's size), manifest and
sha256. The one figure a row does not hold, how many instances of each class an import
stored, is counted from the submissions that carry the import's source checksum. Nothing
here decodes a mask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count

from projects.errors import ApplicationError, ConflictError
from projects.models import LabelClass, Membership, Project, Role
from qc.formats import SKIP_REMEDIES
from qc.models import Export, ImportJob, Instance, JobStatus
from qc.selectors.jobs import JobState, exports_of, import_jobs_of, job_queued_at, job_state

__all__ = [
    "PER_PAGE",
    "ExportRow",
    "ImportRow",
    "export_choices",
    "export_detail",
    "export_for_download",
    "export_of",
    "exports_page",
    "import_detail",
    "import_job_of",
    "imports_page",
    "in_form_words",
    "refusal_parts",
]

PER_PAGE = 20
# What the command-line remedy of a skipped kind is called on the upload form.
_FORM_REMEDIES = {"--image-size WIDTHxHEIGHT": "fill in “Image size” under Label Studio"}
# The command's options that an error names, as the upload form calls them.
_FORM_WORDS = (
    ("pass --create-users", "tick “Create missing users”"),
    ("pass --create-user", "tick “Create missing users”"),
    ("pass --create-labels", "tick “Create missing classes”"),
    ("pass --annotator", "fill in “Annotator”"),
    ("pass --image-size WIDTHxHEIGHT", "fill in “Image size”"),
    ("pass --image-size", "fill in “Image size”"),
)
# How an import's refusal names where it is (projects.errors.ImportRefused).
_REFUSAL = re.compile(
    r"(?P<file>.+?): image (?P<image>.+?): object (?P<object>.+?): (?P<reason>.+)", re.S
)
_EXPORT_FORMATS = {"coco": "COCO", "supervisely": "Supervisely", "mask-png": "PNG masks"}


@dataclass(frozen=True)
class ImportRow:
    """One past import as the list shows it, with its run; the figures are None until it
    is done."""

    job: ImportJob
    state: JobState
    percent: int
    images: int | None
    submissions: int | None
    instances: int | None
    already_imported: bool


def _import_row(job: ImportJob) -> ImportRow:
    summary = (job.summary or {}) if job.status == JobStatus.DONE else {}
    return ImportRow(
        job=job,
        state=job_state(job, may_manage=False),
        percent=job.percent,
        images=summary.get("images"),
        submissions=summary.get("submissions"),
        instances=summary.get("instances"),
        already_imported=bool(summary.get("already_imported")),
    )


def _page(queryset: Any, page: Any) -> Page:
    return Paginator(queryset, PER_PAGE).get_page(page)


def _upload_choices(project: Project) -> dict[str, Any]:
    """The project's annotators and classes, which the upload form offers."""
    annotators = list(
        Membership.objects.filter(project=project, role=Role.ANNOTATOR)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    )
    classes = list(
        LabelClass.objects.filter(project=project).order_by("name").values_list("name", flat=True)
    )
    return {"annotators": annotators, "class_names": classes}


def imports_page(*, project: Project, page: Any = 1) -> dict[str, Any]:
    """The project's imports, newest first, ``page`` of them (a page that does not exist
    is the nearest one), with what the upload form offers."""
    jobs = _page(import_jobs_of(project=project), page)
    return {
        "jobs": jobs,
        "rows": [_import_row(job) for job in jobs],
        **_upload_choices(project),
    }


def _skipped(format: str, skipped: dict[str, int]) -> list[dict[str, Any]]:
    remedies = SKIP_REMEDIES.get(format, {})
    return [
        {
            "kind": kind,
            "count": count,
            "remedy": _FORM_REMEDIES.get(remedies.get(kind, ""), remedies.get(kind)),
        }
        for kind, count in sorted(skipped.items())
    ]


def _instances_by_class(project: Project, checksum: str) -> list[dict[str, Any]]:
    """How many instances of each class the submissions of one source hold."""
    if not checksum:
        return []
    return list(
        Instance.objects.filter(
            submission__task__image__project=project, submission__source_checksum=checksum
        )
        .values("label_class__name")
        .annotate(count=Count("pk"))
        .order_by("label_class__name")
    )


def in_form_words(text: str) -> str:
    """An import's message with the command's options named as the upload form names them."""
    for flag, words in _FORM_WORDS:
        text = text.replace(flag, words)
    return text


def refusal_parts(error: str) -> dict[str, str | None] | None:
    """The file, image, object and reason of an import's refusal (``None`` for "(none)"),
    or None when the error is not a refusal of the file's content."""
    match = _REFUSAL.fullmatch(error.strip())
    if match is None:
        return None
    parts: dict[str, str | None] = {
        key: None if value == "(none)" else value for key, value in match.groupdict().items()
    }
    parts["reason"] = in_form_words(match["reason"])
    return parts


def import_job_of(*, project: Project, pk: int) -> ImportJob | None:
    """The project's import ``pk`` (None: the project has no such import)."""
    return import_jobs_of(project=project).filter(pk=pk).first()


def import_detail(*, project: Project, pk: int, may_manage: bool) -> dict[str, Any] | None:
    """One import of the project and what its page shows (None: the project has no such
    import): its run (``state``: progress and last sign of life while it runs), its
    summary (with the instances by class) when done, its error when it failed, and what
    the upload form offers to try again. ``may_manage``: the viewer may retry it."""
    job = import_job_of(project=project, pk=pk)
    if job is None:
        return None
    summary = (job.summary or {}) if job.status == JobStatus.DONE else {}
    return {
        "job": job,
        "state": job_state(job, may_manage=may_manage, queued_at=job_queued_at(job)),
        "running": job.live,
        "percent": job.percent,
        "summary": summary,
        "skipped": _skipped(job.format, summary.get("skipped", {})),
        "by_class": _instances_by_class(project, summary.get("checksum", "")),
        "refusal": refusal_parts(job.error) if job.status == JobStatus.FAILED else None,
        **(_upload_choices(project) if job.status == JobStatus.FAILED else {}),
    }


@dataclass(frozen=True)
class ExportRow:
    """One past export as the list shows it, with its run; ``size`` in bytes once it is
    done (None when it is not, or when an export made before sizes were recorded has lost
    its file)."""

    export: Export
    state: JobState
    percent: int
    what: str
    size: int | None


def _file_size(export: Export) -> int | None:
    """The archive's size as recorded when the export finished (``counts["bytes"]``): no
    storage call, which on remote storage is a request per row. Only an export made before
    the size was recorded asks storage."""
    if export.status != JobStatus.DONE or not export.file:
        return None
    recorded = (export.counts or {}).get("bytes")
    if isinstance(recorded, int):
        return recorded
    try:
        return export.file.size
    except (OSError, ValueError):
        return None


def _what(filters: dict[str, Any]) -> str:
    """The export's contents in a few words: "accepted labels, gold only, 2 classes"."""
    parts = [
        "accepted and unreviewed labels" if filters.get("include_unreviewed") else "accepted labels"
    ]
    if filters.get("gold"):
        parts.append("gold only")
    if filters.get("classes"):
        classes = filters["classes"]
        parts.append(", ".join(classes) if len(classes) <= 2 else f"{len(classes)} classes")
    if filters.get("images"):
        count = len(filters["images"])
        parts.append(f"{count} named image{'' if count == 1 else 's'}")
    if filters.get("polygons"):
        parts.append("polygons")
    return ", ".join(parts)


def _export_row(
    export: Export, *, may_manage: bool = False, queued_at: datetime | None = None
) -> ExportRow:
    return ExportRow(
        export=export,
        state=job_state(export, may_manage=may_manage, queued_at=queued_at),
        percent=export.percent,
        what=_what(export.filters or {}),
        size=_file_size(export),
    )


def export_choices(*, project: Project) -> dict[str, Any]:
    """What the export form offers: the project's classes, by name."""
    classes = list(
        LabelClass.objects.filter(project=project).order_by("name").values_list("name", flat=True)
    )
    return {"class_names": classes}


def exports_page(*, project: Project, page: Any = 1) -> dict[str, Any]:
    """The project's exports, newest first, ``page`` of them, with the project's classes
    (the form's class filter)."""
    exports = _page(exports_of(project=project), page)
    return {
        "exports": exports,
        "rows": [_export_row(export) for export in exports],
        **export_choices(project=project),
    }


def export_of(*, project: Project, pk: int) -> Export | None:
    """The project's export ``pk`` (None: the project has no such export)."""
    return exports_of(project=project).filter(pk=pk).first()


def export_detail(*, project: Project, pk: int, may_manage: bool) -> dict[str, Any] | None:
    """One export of the project and what its page shows (None: no such export): its run
    (``row.state``) and progress while it runs; when done its counts, the manifest of the
    files it wrote and the archive's size and sha256; its error when it failed, with the
    form to try again. ``may_manage``: the viewer may retry it."""
    export = export_of(project=project, pk=pk)
    if export is None:
        return None
    row = _export_row(export, may_manage=may_manage, queued_at=job_queued_at(export))
    filters = export.filters or {}
    return {
        "export": export,
        "row": row,
        "running": export.live,
        "format_name": _EXPORT_FORMATS.get(export.format, export.format),
        "filters": filters,
        "files": (export.manifest or {}).get("files", []),
        "counts": export.counts or {},
        **(export_choices(project=project) if export.status == JobStatus.FAILED else {}),
    }


def export_for_download(*, project: Project, pk: int) -> Export:
    """The project's export ``pk`` when its file may be downloaded: a 404 refusal when the
    project has no such export, a conflict (409) while it is not done. The caller has
    checked that the user may export."""
    export = exports_of(project=project).filter(pk=pk).first()
    if export is None:
        raise ApplicationError(f"Project {project.slug} has no export {pk}.", status=404)
    if export.status != JobStatus.DONE or not export.file:
        raise ConflictError(f"Export {export.pk} is {export.status}, not done yet.")
    return export
