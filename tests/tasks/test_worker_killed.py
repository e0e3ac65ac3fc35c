"""A worker killed (SIGKILL, with every process it started) in the middle of an import:
nothing of the import is visible, the job is found stuck once its heartbeat is older than
``MASKQC_JOB_STUCK_SECONDS`` and queued again, and a new worker imports it exactly once;
killed ``MASKQC_JOB_MAX_ATTEMPTS`` times, the job fails saying so.

Real worker processes on the database backend and on RQ (``tests/tasks/conftest.py``). The
worker is killed inside the import's one transaction: after it reported "writing", once
the database shows the worker's transaction holding what it wrote. Each test takes about
a minute (worker processes start, the import reads for seconds, a silence must pass), and
the import must be large enough (about 1 s of writing) to be caught in its transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from django.core.files import File
from django.db import connection

from projects.models import AuditEvent, Image
from qc.models import ImportJob, Instance, JobStatus, Submission
from qc.services.import_jobs import import_job_create
from qc.services.jobs import ReapSummary, jobs_reap_stuck
from tests.tasks.workers import worker_kill, worker_log

IMAGES = 400
PER_IMAGE = 40  # 16,000 instances: the write takes seconds, time enough to be killed in it
HEARTBEAT_SECONDS = 1
STUCK_SECONDS = 3


@pytest.fixture
def job_timing(settings, monkeypatch):
    """Fast beats and a short silence: the worker reads them from its environment, this
    process (the watcher) from its settings."""
    for name, value in [
        ("MASKQC_JOB_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS),
        ("MASKQC_JOB_STUCK_SECONDS", STUCK_SECONDS),
        ("MASKQC_IMPORT_WORKERS", 1),  # the machine's cores are shared
    ]:
        monkeypatch.setenv(name, str(value))
        setattr(settings, name, value)
    settings.MASKQC_JOB_MAX_ATTEMPTS = 3
    return settings


def _coco(path: Path) -> Path:
    """A COCO file of IMAGES images with PER_IMAGE separate squares each."""
    annotations = []
    for image_id in range(1, IMAGES + 1):
        for k in range(PER_IMAGE):
            x, y = 10 + 30 * (k % 8), 10 + 30 * (k // 8)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "segmentation": [[x, y, x + 20, y, x + 20, y + 20, x, y + 20]],
                    "iscrowd": 0,
                }
            )
    coco = {
        "images": [
            {"id": i, "file_name": f"frame{i:05d}.png", "width": 256, "height": 256}
            for i in range(1, IMAGES + 1)
        ],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": annotations,
    }
    path.write_text(json.dumps(coco))
    return path


def _start_import(project, lead, tmp_path) -> ImportJob:
    with _coco(tmp_path / "big.json").open("rb") as handle:
        return import_job_create(
            project=project,
            actor=lead,
            upload=File(handle, name="big.json"),
            format="coco",
            options={"annotator": "dora", "create_users": True, "create_labels": True},
        )


def _counts(project) -> tuple[int, int, int, int]:
    return (
        Image.objects.filter(project=project).count(),
        Submission.objects.filter(task__image__project=project).count(),
        Instance.objects.filter(submission__task__image__project=project).count(),
        AuditEvent.objects.filter(project=project, verb="annotations.import").count(),
    )


def _wait(what: str, check, *, worker=None, timeout: float = 240):
    """Poll ``check`` until it answers; fail with the jobs and the worker's output when
    the worker exits first or ``timeout`` seconds pass (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if worker is not None and worker.poll() is not None:
            why = f"the worker exited ({worker.returncode}) before {what}"
            break
        time.sleep(0.02)
    else:
        why = f"no {what} after {timeout:.0f} s"
    jobs = list(ImportJob.objects.values("status", "attempts", "message", "error", "heartbeat_at"))
    output = worker_log(worker) if worker is not None else ""
    raise AssertionError(f"{why}; jobs: {jobs}\n{output}")


def _kill_while_writing(job: ImportJob, worker, *, attempt: int) -> None:
    """SIGKILL the worker and all its processes once claim ``attempt`` of ``job`` is in the
    import's transaction, seen twice 20 ms apart (:func:`_write_transaction_open`)."""
    seen = []

    def in_transaction() -> bool:
        status, attempts, message, error = ImportJob.objects.values_list(
            "status", "attempts", "message", "error"
        ).get(pk=job.pk)
        assert status in (JobStatus.PENDING, JobStatus.RUNNING), (
            f"the import ended ({status}: {message} {error}) before it could be killed"
        )
        writing = status == JobStatus.RUNNING and attempts == attempt and message == "writing"
        seen.append(writing and _write_transaction_open())
        return seen[-2:] == [True, True]

    _wait("the import's transaction", in_transaction, worker=worker)
    worker_kill(worker)


def _write_transaction_open() -> bool:
    """Whether another connection holds a transaction that wrote: on PostgreSQL, one
    holding a row lock on the tables an import writes first and last; on SQLite, the
    database's write lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation"
                " WHERE l.database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
                " AND r.relname IN ('projects_image', 'qc_submission', 'qc_instance')"
                " AND l.mode = 'RowExclusiveLock' AND l.granted"
                " AND l.pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] > 0
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.rollback()
        return False
    except sqlite3.OperationalError:  # "database is locked": a writer is in its transaction
        return True
    finally:
        probe.close()


def _reaped(expected: ReapSummary) -> ReapSummary:
    """Reap until the job's silence is long enough (a heartbeat may have come just before
    the kill); nothing is reaped before that."""
    return _wait(f"reap {expected}", lambda: jobs_reap_stuck() or None, timeout=STUCK_SECONDS * 5)


def test_an_import_killed_mid_write_leaves_nothing_and_a_new_worker_imports_it_once(
    task_backend, worker_process, project, lead, job_timing, tmp_path
):
    empty = _counts(project)

    with worker_process(task_backend) as worker:
        job = _start_import(project, lead, tmp_path)
        _kill_while_writing(job, worker, attempt=1)

    assert _counts(project) == empty
    job.refresh_from_db()
    first_task = job.task_id
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)

    assert _reaped(ReapSummary(requeued=1)) == ReapSummary(requeued=1)
    job.refresh_from_db()
    assert (job.status, job.message) == (
        JobStatus.PENDING,
        "worker lost; queued again (attempt 2 of 3)",
    )
    assert job.task_id not in ("", first_task)

    with worker_process(task_backend) as worker:
        _wait("the import's end", lambda: not ImportJob.objects.get(pk=job.pk).live, worker=worker)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == (JobStatus.DONE, 2, "")
    assert job.summary["already_imported"] is False
    assert _counts(project) == (IMAGES, IMAGES, IMAGES * PER_IMAGE, 1)


def test_an_import_killed_the_most_times_fails_saying_so(
    task_backend, worker_process, project, lead, job_timing, tmp_path
):
    job_timing.MASKQC_JOB_MAX_ATTEMPTS = 2
    empty = _counts(project)

    with worker_process(task_backend) as worker:
        job = _start_import(project, lead, tmp_path)
        _kill_while_writing(job, worker, attempt=1)
    assert _reaped(ReapSummary(requeued=1)) == ReapSummary(requeued=1)
    with worker_process(task_backend) as worker:
        _kill_while_writing(job, worker, attempt=2)
    assert _reaped(ReapSummary(failed=1)) == ReapSummary(failed=1)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.message) == (JobStatus.FAILED, 2, "failed")
    assert job.error == (
        "worker lost 2 times; last sign of life at "
        f"{job.heartbeat_at.isoformat(timespec='seconds')}"
    )
    assert _counts(project) == empty
