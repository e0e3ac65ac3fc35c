"""A worker killed (SIGKILL) in the middle of an image's agreement update: the image's
agreement is stored whole or not at all, never in part, and the agreement backlog queues
it again for the next worker, which stores it whole, once.

The image is heavy enough (3 annotators x 900 instances) that its update holds its
transaction open for about a second; the worker's database connection is found in
``pg_stat_activity`` by its application name, and the worker is killed once that
connection has been inside a transaction holding a row lock for 50 ms. PostgreSQL only:
SQLite has no view of another process's open transaction.
"""

from __future__ import annotations

import dataclasses
import signal
import time

import numpy as np
import pytest
from django.db import connection

from qc import masks
from qc.agreement import boundary_width
from qc.models import AgreementResult, ConsensusInstance, ImageAgreement
from qc.services import InstanceInput
from qc.services.agreement_backlog import agreement_backlog_queue
from qc.services.submissions import SubmissionDraft, instance_row, submissions_create
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory
from tests.tasks.workers import TaskBackend, tasks_outcome, worker_kill, worker_log


@pytest.fixture(autouse=True)
def postgresql_only(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a worker's open transaction is found in pg_stat_activity")


APP_NAME = "maskqc-killed-worker"
SIZE, PER_SIDE = 480, 30  # 900 squares of 10 px on a 480 x 480 image
AGREEMENT_PATHS = ("qc.services.agreement.agreement_update_for_images_task",)


@dataclasses.dataclass(frozen=True)
class NamedWorkers(TaskBackend):
    """The test's task backend, its workers' database connections named :data:`APP_NAME`."""

    def worker_env(self) -> dict[str, str]:
        return {**super().worker_env(), "PGAPPNAME": APP_NAME}


def _squares(shift: int) -> list[dict]:
    """:data:`PER_SIDE` squared 10 px squares on a 16 px grid, moved right by ``shift``."""
    rles = []
    for row in range(PER_SIDE):
        for col in range(PER_SIDE):
            grid = np.zeros((SIZE, SIZE), dtype=bool)
            x, y = col * 16 + shift, row * 16
            grid[y : y + 10, x : x + 10] = True
            rles.append(masks.rle_from_mask(grid))
    return rles


def _heavy_image(project, bubble):
    """An image three annotators submitted 900 instances each for, stored together as an
    import stores them (:func:`submissions_create`): one agreement task is queued when
    they commit."""
    image = ImageFactory(project=project, name="heavy.png", width=SIZE, height=SIZE)
    band_px = boundary_width(height=SIZE, width=SIZE, boundary_px=project.boundary_px)
    drafts = []
    for k in range(3):
        user = UserFactory(username=f"annotator-{k}")
        MembershipFactory(project=project, user=user, role="annotator")
        items = [InstanceInput(label_class=bubble, rle=rle) for rle in _squares(k)]
        drafts.append(
            SubmissionDraft(
                task=TaskFactory(image=image, annotator=user),
                rows=[instance_row(item, boundary_px=band_px) for item in items],
                shapes=[(bubble.name, item.rle) for item in items],
            )
        )
    created = submissions_create(project=project, drafts=drafts, actor=None, check_gate=False)
    assert created.agreement_images == [image.pk]
    return image


def _worker_in_transaction(timeout: float = 60) -> int:
    """The backend pid of the worker's connection once it has been in a transaction that
    holds a transaction id (it locked the image's row) for 50 ms: inside the update, whose
    computing alone takes a few tenths of a second on a fast machine."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database() AND backend_xid IS NOT NULL "
                "AND now() - xact_start > interval '0.05 seconds'",
                [APP_NAME],
            )
            row = cursor.fetchone()
            if row is not None:
                return row[0]
            time.sleep(0.01)
    raise AssertionError("the worker never held an agreement transaction open")


def _gone(pid: int, timeout: float = 30) -> None:
    """Wait until PostgreSQL has ended the backend ``pid`` (rolled its transaction back)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} outlived its killed worker")


def _stored(image) -> tuple[int, int, int]:
    """The image's ImageAgreement, AgreementResult and ConsensusInstance rows."""
    return (
        ImageAgreement.objects.filter(image=image).count(),
        AgreementResult.objects.filter(image=image).count(),
        ConsensusInstance.objects.filter(image=image).count(),
    )


def _agreement_tasks_finished(backend: TaskBackend) -> int:
    """How many agreement tasks of the test's queues finished."""
    if backend.name == "database":
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.successful().filter(task_path__in=AGREEMENT_PATHS).count()
    from rq.job import Job

    [queue] = backend.rq_queues()
    ids = queue.finished_job_registry.get_job_ids()
    return sum(Job.fetch(i, connection=queue.connection).func_name in AGREEMENT_PATHS for i in ids)


def _killed_task_left(backend: TaskBackend) -> int:
    """Agreement tasks a worker took and never ended."""
    if backend.name == "database":
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.running().filter(task_path__in=AGREEMENT_PATHS).count()
    [queue] = backend.rq_queues()
    return queue.started_job_registry.count


def test_worker_killed_mid_agreement_leaves_nothing_and_the_backlog_has_it_stored_whole_once(
    task_backend, worker_process, project, bubble
):
    backend = NamedWorkers(
        **{f.name: getattr(task_backend, f.name) for f in dataclasses.fields(task_backend)}
    )
    image = _heavy_image(project, bubble)

    with worker_process(backend) as worker:
        pid = _worker_in_transaction()
        killed = worker_kill(worker)
        _gone(pid)

    assert killed == -signal.SIGKILL
    assert _stored(image) == (0, 0, 0), worker_log(worker)
    assert _agreement_tasks_finished(backend) == 0
    # The queue neither retries nor fails the killed task by itself (a task row stays
    # running; an RQ job stays started until RQ gives it up, 90 s on): the backlog has it.
    assert _killed_task_left(backend) == 1

    queued = agreement_backlog_queue()
    with worker_process(backend, burst=True) as second:
        finished = second.wait(timeout=120)

    assert queued == 1
    assert finished == 0, worker_log(second)
    # 3 pairs, each pooled and for the class; one consensus square per position.
    assert _stored(image) == (1, 6, PER_SIDE * PER_SIDE)
    assert ImageAgreement.objects.get(image=image).annotators == 3
    assert _agreement_tasks_finished(backend) == 1
    assert tasks_outcome(backend, backend.queues).failed == []
    assert agreement_backlog_queue() == 0
