"""Bounded work under concurrency, on PostgreSQL with real threads and separate connections:
however many clients start exports or imports of one project at once, at most
MASKQC_MAX_PENDING_JOBS of each are queued; every other caller gets a 429 refusal."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from projects.errors import ApplicationError
from qc.models import Export, ImportJob
from qc.services.exports import export_create
from qc.services.import_jobs import import_job_create

WORKERS = 12

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer)")


@pytest.fixture(autouse=True)
def _jobs_stay_queued(settings):
    """Queued jobs are kept, not run (the tests' immediate backend would finish them at
    commit and free their slots)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _at_once(call: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(WORKERS)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            barrier.wait()
            result: Any = call()
        except Exception as error:
            result = error
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _refusals(outcomes: list[Any]) -> list[tuple[int, int]]:
    return [
        (error.status, error.extra["retry_after"])
        for error in outcomes
        if isinstance(error, ApplicationError)
    ]


def test_concurrent_export_starts_queue_at_most_the_limit(project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 3
    settings.MASKQC_JOB_RETRY_AFTER_SECONDS = 30

    outcomes = _at_once(lambda: export_create(project=project, actor=lead, format="coco"))

    assert sum(isinstance(o, Export) for o in outcomes) == 3
    assert _refusals(outcomes) == [(429, 30)] * (WORKERS - 3)
    assert Export.objects.filter(project=project).count() == 3


def test_concurrent_import_starts_queue_at_most_the_limit(project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 2

    outcomes = _at_once(
        lambda: import_job_create(
            project=project,
            actor=lead,
            upload=ContentFile(b"{}", name="a.json"),
            format="coco",
        )
    )

    assert sum(isinstance(o, ImportJob) for o in outcomes) == 2
    assert _refusals(outcomes) == [(429, 60)] * (WORKERS - 2)
    assert ImportJob.objects.filter(project=project).count() == 2
