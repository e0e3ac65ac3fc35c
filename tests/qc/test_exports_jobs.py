"""Export rows run by a worker, and the job lifecycle (claim, outcome) they share with
import jobs."""

import pytest

from projects.errors import ApplicationError
from qc.models import Export, ImportJob, JobStatus
from qc.services import exports
from qc.services.jobs import job_run


def _export(project, lead, status=JobStatus.PENDING) -> Export:
    return Export.objects.create(
        project=project,
        created_by=lead,
        format="coco",
        filters={"include_unreviewed": False, "polygons": False},
        status=status,
    )


def test_export_run_leaves_an_export_another_runner_took(project, lead):
    export = _export(project, lead, status=JobStatus.RUNNING)

    returned = exports.export_run(export_id=export.pk)

    assert (returned.status, returned.progress, returned.file.name, returned.finished_at) == (
        JobStatus.RUNNING,
        0.0,
        "",
        None,
    )


def test_export_run_records_an_internal_error_and_raises_it(project, lead, monkeypatch):
    export = _export(project, lead)

    def broken(**_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "export_write", broken)

    with pytest.raises(RuntimeError):
        exports.export_run(export_id=export.pk)

    export.refresh_from_db()
    assert (export.status, export.error, export.file.name, export.counts) == (
        JobStatus.FAILED,
        "internal error: RuntimeError: disk full",
        "",
        {},
    )
    assert export.finished_at is not None


def test_job_run_records_the_running_done_and_failed_fields(project, lead):
    done_job, refused_job = (
        ImportJob.objects.create(project=project, created_by=lead, format="coco") for _ in range(2)
    )
    seen = []

    def work(job):
        seen.append(ImportJob.objects.values_list("status", "message").get(pk=job.pk))
        return {"message": "all done", "summary": {"images": 1}}

    def refuse(job):
        raise ApplicationError("No such class.")

    fields = {"running": {"message": "starting"}, "failed": {"message": "failed"}}
    done = job_run(ImportJob, pk=done_job.pk, work=work, **fields)
    refused = job_run(ImportJob, pk=refused_job.pk, work=refuse, **fields)

    assert seen == [(JobStatus.RUNNING, "starting")]
    assert (done.status, done.progress, done.message, done.summary, done.error) == (
        JobStatus.DONE,
        1.0,
        "all done",
        {"images": 1},
        "",
    )
    assert (refused.status, refused.message, refused.summary, refused.error) == (
        JobStatus.FAILED,
        "failed",
        {},
        "No such class.",
    )
