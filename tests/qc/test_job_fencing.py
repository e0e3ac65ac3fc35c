"""A job's claim number fences its runs' writes across a lead's retry, the watcher's budget
starts afresh after one, a retry waits its turn under the project's job limit, and a queued
job whose task ended or was taken by a worker that never claimed it is queued again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from projects.errors import ApplicationError
from qc.models import ImportJob, JobStatus
from qc.services.jobs import ReapSummary, job_retry, job_run, jobs_reap_stuck

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def job_settings(settings):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    settings.MASKQC_JOB_MAX_ATTEMPTS = 3
    settings.MASKQC_MAX_PENDING_JOBS = 5


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


def _job(project, lead, **fields) -> ImportJob:
    return ImportJob.objects.create(project=project, created_by=lead, format="coco", **fields)


def test_a_retry_keeps_the_claim_number_so_a_run_from_before_cannot_write(project, lead):
    job = _job(project, lead, status=JobStatus.FAILED, attempts=1, error="worker lost once")
    before_retry = ImportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, attempts=1)

    job_retry(job=job, actor=lead)
    claimed = []
    job_run(ImportJob, pk=job.pk, work=lambda j: claimed.append(j.attempts) or {"message": "ok"})
    late = before_retry.update(status=JobStatus.FAILED, error="the old run woke up")

    job.refresh_from_db()
    assert (claimed, late) == ([2], 0)
    assert (job.status, job.attempts, job.attempts_before_retry, job.claims) == (
        JobStatus.DONE,
        2,
        1,
        1,
    )


def test_the_watcher_counts_a_retried_jobs_claims_afresh(project, lead):
    job = _job(project, lead, status=JobStatus.FAILED, attempts=3, error="worker lost 3 times")
    job_retry(job=job, actor=lead)
    silent = timezone.now() - timedelta(seconds=600)
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=4, started_at=silent, heartbeat_at=silent
    )

    assert jobs_reap_stuck() == ReapSummary(requeued=1)
    job.refresh_from_db()
    assert (job.status, job.message) == (
        JobStatus.PENDING,
        "worker lost; queued again (attempt 2 of 3)",
    )


def test_a_retry_is_refused_while_the_project_has_its_most_jobs(project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 1
    _job(project, lead)  # queued
    failed = _job(project, lead, status=JobStatus.FAILED, error="boom")

    with pytest.raises(ApplicationError) as refused:
        job_retry(job=failed, actor=lead)

    failed.refresh_from_db()
    assert (refused.value.status, failed.status) == (429, JobStatus.FAILED)


def _queued_with_task(project, lead, *, status: str, started_ago: float | None = None):
    from django_tasks_db.models import DBTaskResult

    from qc.services.import_jobs import import_run_task

    job = _job(project, lead)
    task = import_run_task.enqueue(job_id=job.pk)
    started = None if started_ago is None else timezone.now() - timedelta(seconds=started_ago)
    DBTaskResult.objects.filter(id=task.id).update(status=status, started_at=started)
    long_ago = timezone.now() - timedelta(seconds=600)
    ImportJob.objects.filter(pk=job.pk).update(task_id=str(task.id), created_at=long_ago)
    return job, str(task.id)


@pytest.mark.parametrize(
    ("status", "started_ago"), [("FAILED", 500), ("SUCCESSFUL", 500), ("RUNNING", 500)]
)
def test_a_queued_job_whose_task_ended_or_was_lost_unclaimed_is_queued_again(
    project, lead, database_tasks, django_capture_on_commit_callbacks, status, started_ago
):
    job, old_task = _queued_with_task(project, lead, status=status, started_ago=started_ago)

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap_stuck() == ReapSummary(requeued=1)

    job.refresh_from_db()
    assert job.task_id not in ("", old_task)


def test_a_queued_job_whose_task_a_worker_took_lately_is_left_alone(project, lead, database_tasks):
    _queued_with_task(project, lead, status="RUNNING", started_ago=10)

    assert jobs_reap_stuck() == ReapSummary()


def test_a_lost_runs_progress_never_writes_over_the_run_that_took_its_place(project, lead):
    from qc.services.jobs import job_progress

    job = _job(project, lead, status=JobStatus.RUNNING, attempts=1, message="reading 10 %")
    lost_run = job_progress(job)
    ImportJob.objects.filter(pk=job.pk).update(attempts=2, progress=0.9, message="writing")

    lost_run(0.4, "reading 40 %")
    job_progress(ImportJob.objects.get(pk=job.pk))(0.95, "writing 95 %")

    job.refresh_from_db()
    assert (job.progress, job.message) == (0.95, "writing 95 %")
