"""Annotation imports as background jobs: an uploaded file stored with its options
(:func:`import_job_create`), then run by a worker (:func:`import_job_run`), which claims the
job, imports it (:func:`qc.services.imports.import_annotations`) and records its progress,
summary or error on the job row."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django_tasks import task

from projects.audit import audit
from projects.errors import ApplicationError
from projects.files import unguessable_name
from projects.models import Project
from projects.permissions import Action, require_action
from projects.progress import ProgressCallback
from qc.models import ImportJob
from qc.services.imports import PATH_OPTIONS, import_annotations, import_options_clean
from qc.services.jobs import job_progress, job_queue, job_run, job_slot_take

__all__ = ["JOB_OPTIONS", "import_job_create", "import_job_run"]

# The import-level options an ImportJob carries besides the reader options.
JOB_OPTIONS: dict[str, type] = {
    "annotator": str,
    "create_users": bool,
    "create_labels": bool,
    "labelers_saw_all_images": bool,
}


def import_job_create(
    *,
    project: Project,
    actor: Any,
    upload: File,
    format: str,
    options: dict[str, Any] | None = None,
) -> ImportJob:
    """Store an uploaded annotation file (a zip for folder formats) and queue its import.

    ``options`` may hold the import options (``annotator``, ``create_users``,
    ``create_labels``, ``labelers_saw_all_images``) and the format's reader options, except
    those naming server paths (``images_from``). Only those who may manage the project
    import into it (DESIGN §10: leads and admins; an outsider is refused as if the project
    did not exist). A file over ``MASKQC_MAX_UPLOAD_BYTES`` is refused with 413, a project with
    ``MASKQC_MAX_PENDING_JOBS`` imports pending with 429. The job is queued after commit
    (:func:`qc.services.jobs.job_queue`, then :func:`import_job_run`); the file is stored
    under a name nobody can guess.
    """
    require_action(
        actor=actor, project=project, action=Action.MANAGE_PROJECT, what="import annotations"
    )
    options = dict(options or {})
    job_options = {}
    for key, kind in JOB_OPTIONS.items():
        if key in options:
            value = options.pop(key)
            if value is None:
                continue
            if not isinstance(value, kind):
                raise ApplicationError(f"Option {key!r} has the wrong type.")
            job_options[key] = value
    for key in PATH_OPTIONS & set(options):
        raise ApplicationError(f"Option {key!r} names a server path and is not accepted here.")
    reader_options = import_options_clean(format, options)
    size = getattr(upload, "size", None)
    if size is not None and size > settings.MASKQC_MAX_UPLOAD_BYTES:
        raise ApplicationError(
            f"The file is {size} bytes, over the limit of {settings.MASKQC_MAX_UPLOAD_BYTES}.",
            status=413,
        )
    name = Path(getattr(upload, "name", "") or "upload").name
    with transaction.atomic():
        job_slot_take(ImportJob, project=project, noun="imports")
        job = ImportJob(
            project=project,
            created_by=actor,
            format=format,
            options={**job_options, **_jsonable(reader_options)},
            source_name=name,
        )
        job.file.save(unguessable_name(name), upload, save=False)
        job.save()
        audit(
            actor=actor,
            verb="import_job.create",
            obj=job,
            project=project,
            after={"format": format, "source_name": name, "options": job.options},
        )
        job_queue(job=job)
    return job


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


@contextlib.contextmanager
def _local_copy(job: ImportJob) -> Iterator[Path]:
    """The job's stored file as a local file under its original name (readers name files
    in messages, and storage may have renamed it)."""
    with tempfile.TemporaryDirectory(prefix="maskqc-import-") as tmp:
        target = Path(tmp) / (Path(job.source_name).name or "upload")
        with job.file.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        yield target


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a pending import job: claim it (a second runner finds it taken and returns),
    import, and record the summary or the error. Progress goes to the job row about every
    2 % while the file is read and measured."""

    return job_run(
        ImportJob,
        pk=job_id,
        related=("project", "created_by"),
        work=lambda job: _import(job, progress=job_progress(job)),
        running={"message": "starting"},
        failed={"message": "failed"},
    )


def _import(job: ImportJob, *, progress: ProgressCallback) -> dict[str, Any]:
    """Import the job's file; the fields its row records when done."""
    options = dict(job.options)
    job_options = {key: options.pop(key) for key in list(options) if key in JOB_OPTIONS}
    with _local_copy(job) as path:
        summary = import_annotations(
            project=job.project,
            path=path,
            format=job.format,
            actor=job.created_by,
            options=options,
            progress=progress,
            source_name=job.source_name,
            **job_options,
        )
    return {"message": summary.line()[:500], "summary": summary.as_dict()}


@task()
def import_run_task(*, job_id: int) -> None:
    """Run one uploaded annotation import in the background (:func:`import_job_run`)."""
    import_job_run(job_id=job_id)
