"""The life of a background job: its claim and heartbeat, a lost worker's job found by its
silence and queued again or failed, and a failed job queued again by a lead."""

import signal
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_tasks.backends.base import BaseTaskBackend

from projects.errors import ApplicationError
from projects.models import AuditEvent
from qc.models import Export, ImportJob, JobStatus, Recompute
from qc.services.jobs import (
    PART_TASKS,
    ReapSummary,
    _reap,
    job_queue,
    job_retry,
    job_run,
    jobs_reap_stuck,
)
from qc.services.recompute import recompute_part_task


@pytest.fixture(autouse=True)
def job_settings(settings):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    settings.MASKQC_JOB_MAX_ATTEMPTS = 3
    return settings


def _import_job(project, lead, **fields) -> ImportJob:
    return ImportJob.objects.create(project=project, created_by=lead, format="coco", **fields)


def _running(project, lead, *, attempts=1, silent_for=600, model=ImportJob, **fields):
    """A job claimed ``attempts`` times whose last heartbeat is ``silent_for`` s old."""
    beat = timezone.now() - timedelta(seconds=silent_for)
    extra = {"format": "coco"} if model in (ImportJob, Export) else {}
    return model.objects.create(
        project=project,
        created_by=lead,
        status=JobStatus.RUNNING,
        attempts=attempts,
        started_at=beat,
        heartbeat_at=beat,
        **extra,
        **fields,
    )


# ------------------------------------------------------------------------ the claim


def test_a_claim_records_its_start_heartbeat_and_attempt(project, lead):
    job = _import_job(project, lead, attempts=1)
    seen = []

    def work(job):
        seen.append(
            ImportJob.objects.values_list("status", "attempts", "started_at", "heartbeat_at").get(
                pk=job.pk
            )
        )
        return {"message": "done"}

    before = timezone.now()
    job_run(ImportJob, pk=job.pk, work=work)

    (status, attempts, started_at, heartbeat_at) = seen[0]
    assert (status, attempts) == (JobStatus.RUNNING, 2)
    assert started_at == heartbeat_at and started_at >= before


def test_a_lost_run_that_wakes_up_writes_nothing_over_the_new_run(project, lead):
    job = _import_job(project, lead)
    late = timezone.now() + timedelta(hours=1)

    def lost(job):
        # While this run sleeps, the watcher takes it for lost and a new run does the job.
        assert jobs_reap_stuck(now=late) == ReapSummary(requeued=1)
        job_run(ImportJob, pk=job.pk, work=lambda _: {"message": "second run"})
        return {"message": "first run"}

    job_run(ImportJob, pk=job.pk, work=lost)

    job.refresh_from_db()
    assert (job.status, job.message, job.attempts) == (JobStatus.DONE, "second run", 2)


def test_a_failing_lost_run_does_not_fail_the_new_run(project, lead):
    job = _import_job(project, lead)
    late = timezone.now() + timedelta(hours=1)

    def lost(job):
        jobs_reap_stuck(now=late)
        job_run(ImportJob, pk=job.pk, work=lambda _: {"message": "second run"})
        raise ApplicationError("the first run's late refusal")

    job_run(ImportJob, pk=job.pk, work=lost)

    job.refresh_from_db()
    assert (job.status, job.error, job.message) == (JobStatus.DONE, "", "second run")


# ----------------------------------------------------------------------- heartbeat


@pytest.mark.django_db(transaction=True)
def test_a_long_step_without_progress_still_beats(project, lead, settings):
    # The step reports no progress while it waits for three beats of the heartbeat thread
    # (0.1 s apart; up to 30 s on a loaded machine).
    settings.MASKQC_JOB_HEARTBEAT_SECONDS = 0.1
    job = _import_job(project, lead)
    beats = []

    def work(job):
        last, deadline = job.heartbeat_at, time.monotonic() + 30
        while len(beats) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
            beat = ImportJob.objects.values_list("heartbeat_at", flat=True).get(pk=job.pk)
            if beat != last:
                beats.append(beat)
                last = beat
        return {"message": "done"}

    threads = threading.active_count()
    done = job_run(ImportJob, pk=job.pk, work=work)

    assert len(beats) == 3, f"beats seen in 30 s: {beats}"
    assert done.started_at < beats[0] < beats[1] < beats[2]
    assert done.heartbeat_at >= beats[2]
    assert threading.active_count() == threads


def _until(what: str, check, *, timeout: float = 10):
    """Poll ``check`` every 20 ms until it answers; fail naming ``what`` after ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:g} s")
        time.sleep(0.02)
    return found


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_closes_its_connection(project, lead, settings):
    if connection.vendor != "postgresql":
        pytest.skip("counts the server's connections: PostgreSQL only")
    settings.MASKQC_JOB_HEARTBEAT_SECONDS = 0.05
    job = _import_job(project, lead)

    def backends() -> set[int]:
        """The server processes connected to the test database (a backend that was closed
        leaves this view a moment later)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            return {pid for (pid,) in cursor.fetchall()}

    before = backends()
    during = []

    def work(job):
        # Once the row has been beaten, the heartbeat thread holds its connection.
        _until("beat", lambda: ImportJob.objects.get(pk=job.pk).heartbeat_at != job.heartbeat_at)
        during.append(backends() - before)
        return {"message": "done"}

    job_run(ImportJob, pk=job.pk, work=work)

    [heartbeats] = during
    assert len(heartbeats) == 1
    assert _until("end of the heartbeat's backend", lambda: backends() <= before)


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_stops_once_the_job_is_not_its_runs(project, lead, settings):
    settings.MASKQC_JOB_HEARTBEAT_SECONDS = 0.05
    # The job queued again stays queued: no worker takes it in this test.
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}
    }
    job = _import_job(project, lead)
    late = timezone.now() + timedelta(hours=1)
    reaped, after_reap, beating = [], [], []

    def work(job):
        [heartbeat] = [t for t in threading.enumerate() if t.name == "heartbeat of qc.importjob"]
        # A beat between the watcher's read and its conditional update makes a round leave
        # the job alone (it is alive): reap until a round finds it between two beats.
        reaped.append(_until("reap", lambda: jobs_reap_stuck(now=late)))
        after_reap.append(ImportJob.objects.values_list("heartbeat_at", flat=True).get(pk=job.pk))
        # The thread ends by itself at its next beat, long before the work does.
        heartbeat.join(timeout=10)
        beating.append(heartbeat.is_alive())
        return {"message": "done"}

    job_run(ImportJob, pk=job.pk, work=work)

    job.refresh_from_db()
    assert reaped == [ReapSummary(requeued=1)]
    assert beating == [False]
    assert (job.status, job.heartbeat_at) == (JobStatus.PENDING, after_reap[0])


# ---------------------------------------------------------------------- stuck jobs


def test_a_silent_job_is_queued_again_with_its_attempt(
    project, lead, django_capture_on_commit_callbacks
):
    job = _running(project, lead, attempts=1)

    with django_capture_on_commit_callbacks() as queued:
        summary = jobs_reap_stuck()

    job.refresh_from_db()
    assert summary == ReapSummary(requeued=1, failed=0)
    assert (job.status, job.progress, job.message, job.error) == (
        JobStatus.PENDING,
        0.0,
        "worker lost; queued again (attempt 2 of 3)",
        "",
    )
    assert len(queued) == 1
    event = AuditEvent.objects.get(verb="import_job.worker_lost")
    assert (event.object_id, event.actor, event.after["status"]) == (str(job.pk), None, "pending")


def test_a_job_lost_the_most_times_fails_with_its_last_sign_of_life(
    project, lead, django_capture_on_commit_callbacks
):
    job = _running(project, lead, attempts=3)
    last = job.heartbeat_at

    with django_capture_on_commit_callbacks() as queued:
        summary = jobs_reap_stuck()

    job.refresh_from_db()
    assert summary == ReapSummary(requeued=0, failed=1)
    assert (job.status, job.message, job.error) == (
        JobStatus.FAILED,
        "failed",
        f"worker lost 3 times; last sign of life at {last.isoformat(timespec='seconds')}",
    )
    assert job.finished_at is not None
    assert queued == []


def test_a_job_claimed_at_most_once_fails_lost_once(project, lead, settings):
    settings.MASKQC_JOB_MAX_ATTEMPTS = 1
    job = _running(project, lead, attempts=1)

    assert jobs_reap_stuck() == ReapSummary(failed=1)
    job.refresh_from_db()
    assert job.error.startswith("worker lost once; last sign of life at ")


def test_every_kind_of_job_is_reaped(project, lead):
    for model in (ImportJob, Export, Recompute):
        _running(project, lead, model=model)

    assert jobs_reap_stuck() == ReapSummary(requeued=3)
    assert [model.objects.get().status for model in (ImportJob, Export, Recompute)] == [
        JobStatus.PENDING
    ] * 3


def test_a_beating_or_waiting_job_is_left_alone(project, lead):
    beating = _running(project, lead, silent_for=60)
    pending = _import_job(project, lead)
    done = _import_job(project, lead, status=JobStatus.DONE)

    assert jobs_reap_stuck() == ReapSummary()
    for job, status in [
        (beating, JobStatus.RUNNING),
        (pending, JobStatus.PENDING),
        (done, JobStatus.DONE),
    ]:
        job.refresh_from_db()
        assert job.status == status


def test_a_job_claimed_before_jobs_beat_is_reaped_by_its_age(project, lead):
    old = _import_job(project, lead, status=JobStatus.RUNNING)
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    young = _import_job(project, lead, status=JobStatus.RUNNING)

    assert jobs_reap_stuck() == ReapSummary(requeued=1)
    assert ImportJob.objects.get(pk=old.pk).status == JobStatus.PENDING
    assert ImportJob.objects.get(pk=young.pk).status == JobStatus.RUNNING


def test_two_watchers_queue_a_job_once(project, lead, django_capture_on_commit_callbacks):
    _running(project, lead)

    with django_capture_on_commit_callbacks() as queued:
        first, second = jobs_reap_stuck(), jobs_reap_stuck()

    assert (first, second) == (ReapSummary(requeued=1), ReapSummary())
    assert len(queued) == 1
    assert AuditEvent.objects.filter(verb="import_job.worker_lost").count() == 1


def test_a_heartbeat_after_the_watcher_read_the_job_keeps_it_running(
    project, lead, django_capture_on_commit_callbacks
):
    job = _running(project, lead)
    seen_by_the_watcher = ImportJob.objects.select_related("project").get(pk=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    with django_capture_on_commit_callbacks() as queued:
        outcome = _reap(seen_by_the_watcher, noun="import_job", limit=3, now=timezone.now())

    assert outcome is None
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    assert queued == []


def test_a_job_is_stuck_once_silent_longer_than_the_setting(project, lead):
    assert _running(project, lead, silent_for=600).stuck is True
    assert _running(project, lead, silent_for=60).stuck is False
    failed = _running(project, lead, silent_for=600)
    failed.status = JobStatus.FAILED
    assert failed.stuck is False


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


def test_a_recompute_whose_parts_wait_in_the_queue_is_left_running(project, lead, database_tasks):
    waiting = recompute_part_task.enqueue(recompute_id=0, attempt=1, part=0, image_ids=[])
    recompute = _running(
        project, lead, model=Recompute, parts_total=1, summary={PART_TASKS: [str(waiting.id)]}
    )

    assert jobs_reap_stuck() == ReapSummary()
    recompute.refresh_from_db()
    assert recompute.status == JobStatus.RUNNING


def test_a_recompute_whose_parts_were_all_taken_is_reaped(project, lead, database_tasks):
    taken = recompute_part_task.enqueue(recompute_id=0, attempt=1, part=0, image_ids=[])
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(id=taken.id).update(status="RUNNING")
    recompute = _running(
        project, lead, model=Recompute, parts_total=1, summary={PART_TASKS: [str(taken.id)]}
    )

    assert jobs_reap_stuck() == ReapSummary(requeued=1)
    recompute.refresh_from_db()
    assert recompute.status == JobStatus.PENDING


# ------------------------------------------------------------------------- queuing


def test_queuing_records_the_backends_task_id(
    project, lead, database_tasks, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    job = _import_job(project, lead)

    with django_capture_on_commit_callbacks(execute=True):
        job_queue(job=job)

    job.refresh_from_db()
    queued = DBTaskResult.objects.get()
    assert job.task_id == str(queued.id)
    assert queued.task_path == "qc.services.import_jobs.import_run_task"
    assert queued.args_kwargs["kwargs"] == {"job_id": job.pk}


class UnreachableBackend(BaseTaskBackend):
    """A task queue that cannot be reached, as RQ's is while Redis is down."""

    def enqueue(self, task, args, kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_queue_that_cannot_be_reached_fails_the_job_saying_so(
    project, lead, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = {
        "default": {"BACKEND": f"{__name__}.UnreachableBackend", "QUEUES": ["default"]}
    }
    job = _import_job(project, lead)

    with django_capture_on_commit_callbacks(execute=True):
        job_queue(job=job)

    job.refresh_from_db()
    assert (job.status, job.error, job.task_id) == (
        JobStatus.FAILED,
        "The task queue could not be reached (ConnectionError: Error 111 connecting to "
        "127.0.0.1:6379. Connection refused.); retry the job once it is back.",
        "",
    )


# ------------------------------------------------------------------------- retry


def _failed_export_error() -> str:
    return "worker lost 3 times; last sign of life at 2026-01-01T00:00:00+00:00"


def _failed_export(project, lead) -> Export:
    return Export.objects.create(
        project=project,
        created_by=lead,
        format="coco",
        filters={"include_unreviewed": False, "polygons": False},
        status=JobStatus.FAILED,
        error=_failed_export_error(),
        progress=0.4,
        attempts=3,
        finished_at=timezone.now(),
    )


@pytest.mark.parametrize("who", ["lead", "admin_user"])
def test_a_lead_or_an_admin_retries_a_failed_job(
    request, project, lead, who, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(who)
    export = _failed_export(project, lead)

    with django_capture_on_commit_callbacks() as queued:
        retried = job_retry(job=export, actor=actor)

    export.refresh_from_db()
    assert (export.status, export.error, export.progress, export.finished_at) == (
        JobStatus.PENDING,
        "",
        0.0,
        None,
    )
    assert (retried.status, export.attempts, export.claims) == (JobStatus.PENDING, 3, 0)
    assert len(queued) == 1
    event = AuditEvent.objects.get(verb="export.retry")
    assert (event.actor, event.object_id, event.project) == (actor, str(export.pk), project)
    assert event.before["error"].startswith("worker lost 3 times")


def test_a_retried_job_runs_again_to_the_end(project, lead, django_capture_on_commit_callbacks):
    export = _failed_export(project, lead)

    with django_capture_on_commit_callbacks(execute=True):
        job_retry(job=export, actor=lead)

    export.refresh_from_db()
    assert (export.status, export.claims, export.counts["images"]) == (JobStatus.DONE, 1, 0)
    assert export.task_id != ""


def test_a_retried_import_or_recompute_says_it_is_queued_again(project, lead):
    for job in (
        _import_job(project, lead, status=JobStatus.FAILED, message="failed"),
        Recompute.objects.create(
            project=project, created_by=lead, status=JobStatus.FAILED, message="failed"
        ),
    ):
        job_retry(job=job, actor=lead)
        job.refresh_from_db()
        assert (job.status, job.message) == (JobStatus.PENDING, "queued again")
    assert sorted(
        AuditEvent.objects.filter(verb__endswith=".retry").values_list("verb", flat=True)
    ) == [
        "import_job.retry",
        "recompute.retry",
    ]


@pytest.mark.parametrize("who", ["reviewer", "annotator", "outsider"])
def test_only_leads_and_admins_retry(request, project, lead, who):
    export = _failed_export(project, lead)

    with pytest.raises(ApplicationError) as refused:
        job_retry(job=export, actor=request.getfixturevalue(who))

    # The outsider learns nothing of the project, not even that it exists.
    assert (refused.value.status, refused.value.message) == (
        (404, "No such project.")
        if who == "outsider"
        else (403, f"{who} ({who}) may not retry a job.")
    )
    export.refresh_from_db()
    assert (export.status, export.error) == (JobStatus.FAILED, _failed_export_error())
    assert not AuditEvent.objects.filter(verb="export.retry").exists()


@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DONE])
def test_a_job_that_has_not_failed_is_not_retried(project, lead, status):
    export = _failed_export(project, lead)
    Export.objects.filter(pk=export.pk).update(status=status)

    with pytest.raises(ApplicationError) as refused:
        job_retry(job=export, actor=lead)

    assert refused.value.status == 409
    assert Export.objects.get(pk=export.pk).status == status
    assert not AuditEvent.objects.filter(verb="export.retry").exists()


# ---------------------------------------------------------------------- the watcher


def test_a_watch_round_says_what_it_did(project, lead, capsys):
    _running(project, lead, attempts=1)
    _running(project, lead, attempts=3)

    call_command("jobs_watch", "--once")
    first = capsys.readouterr().out
    call_command("jobs_watch", "--once")

    assert first.split(" ", 1)[1] == "stuck jobs: 1 queued again, 1 failed\n"
    assert capsys.readouterr().out == ""  # a round with nothing to do prints nothing


def test_the_watcher_stops_on_sigterm_and_gives_the_signal_back(project, monkeypatch):
    from qc.management.commands import jobs_watch

    before = signal.getsignal(signal.SIGTERM)
    rounds = []
    one_round = jobs_watch.Command._round

    def round_then_sigterm(command):
        # Inside the first round, so the watcher's handler is in place when it arrives.
        rounds.append(signal.getsignal(signal.SIGTERM) is not before)
        if len(rounds) == 1:
            signal.raise_signal(signal.SIGTERM)
        one_round(command)

    monkeypatch.setattr(jobs_watch.Command, "_round", round_then_sigterm)
    started = time.monotonic()

    call_command("jobs_watch", "--interval", "0.05")

    # It ends the round under way, then stops.
    assert rounds == [True]
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_watcher_refuses_an_interval_of_nothing(db):
    with pytest.raises(CommandError, match="--interval must be more than 0 seconds, not 0"):
        call_command("jobs_watch", "--interval", "0")


# ------------------------------------------------------------------- lost tasks


def _queued(project, lead, *, ago: float, task_id: str = "") -> ImportJob:
    job = _import_job(project, lead, task_id=task_id)
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=ago))
    job.refresh_from_db()
    return job


def test_a_queued_job_whose_task_the_queue_lost_is_queued_again(
    project, lead, database_tasks, django_capture_on_commit_callbacks
):
    job = _queued(project, lead, ago=600, task_id="0b8c5d9e-lost-from-redis")

    with django_capture_on_commit_callbacks(execute=True):
        summary = jobs_reap_stuck()

    job.refresh_from_db()
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.get(pk=job.task_id)
    assert summary == ReapSummary(requeued=1)
    assert (job.status, job.message) == (
        JobStatus.PENDING,
        "its task was lost from the queue; queued again",
    )
    assert (task.status, task.args_kwargs["kwargs"]) == ("READY", {"job_id": job.pk})
    lost = AuditEvent.objects.filter(verb="import_job.task_lost", object_id=str(job.pk))
    assert lost.count() == 1


def test_a_queued_job_never_given_a_task_is_queued_again(
    project, lead, database_tasks, django_capture_on_commit_callbacks
):
    job = _queued(project, lead, ago=600)

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap_stuck() == ReapSummary(requeued=1)

    job.refresh_from_db()
    assert job.task_id != ""


def test_a_queued_job_whose_task_waits_or_that_was_queued_lately_is_left_alone(
    project, lead, database_tasks
):
    from qc.services.import_jobs import import_run_task

    waiting = import_run_task.enqueue(job_id=0)
    _queued(project, lead, ago=600, task_id=str(waiting.id))
    _queued(project, lead, ago=30, task_id="not-yet-known")

    assert jobs_reap_stuck() == ReapSummary()
