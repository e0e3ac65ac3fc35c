"""Redis down under ``TASKS_BACKEND=rq``: a submission still commits and is answered as
stored (201 from the API, the page's redirect), its agreement is logged as not queued, and
once Redis is back the agreement backlog queues it and a real ``rqworker --burst`` stores
it, once.

Each test runs a ``redis-server`` of its own, listening on a unix socket in the test's
folder only (no TCP port another program could hold), so that stopping it is a real outage
and touches no one else's Redis.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from redis import Redis
from redis.exceptions import RedisError
from rest_framework.test import APIClient
from rq.job import Job

from projects.models import TaskStatus
from qc import masks
from qc.models import AgreementResult, ImageAgreement, Submission
from qc.services import InstanceInput, submission_create
from qc.services.agreement_backlog import agreement_backlog_queue, agreement_work_waiting
from qc.tasks import agreement_summary_task, export_run_task, import_run_task
from tests.factories import ImageFactory, TaskFactory
from tests.tasks.rq_config import rq_queues_prefixed
from tests.tasks.workers import ROOT, TaskBackend, worker_command

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)

AGREEMENT_TASK = "qc.services.agreement.agreement_update_for_images_task"
NOT_QUEUED = "agreement not queued for image {pk} (ConnectionError: "


class RedisServer:
    """A ``redis-server`` on the unix socket ``path`` (no TCP port) that keeps nothing on
    disk; stopped and started again by the test (an outage)."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path, self.log = path, log
        self.url = f"unix://{path}?db=0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server and wait until it answers, with its own process id (the server
        answering is this one, not one left over from before)."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    *("redis-server", "--port", "0", "--unixsocket", str(self.path)),
                    *("--unixsocketperm", "700", "--save", "", "--appendonly", "no"),
                    *("--daemonize", "no"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    answering = client.info("server")["process_id"]
                    break
                except RedisError as error:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = self.log.read_text()
                        raise AssertionError(f"redis-server did not start:\n{log}") from error
                    time.sleep(0.05)
        finally:
            client.close()
        assert answering == self.process.pid, (
            f"Redis at {self.path} is process {answering}, not the one started ({self.process.pid})"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


# A unix socket's path has at most 107 bytes on Linux.
_SOCKET_PATH_MAX = 107


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    """A Redis of this test's own, on a unix socket in the test's folder (or in a short
    temporary folder, when that folder's path is too long for a socket)."""
    with contextlib.ExitStack() as cleanup:
        folder = tmp_path
        if len(str(folder / "redis.sock").encode()) > _SOCKET_PATH_MAX:
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="redis-")))
        server = RedisServer(folder / "redis.sock", tmp_path / "redis.log")
        server.start()
        cleanup.callback(server.stop)
        yield server


@pytest.fixture
def rq_backend(redis_server, transactional_db, settings, tmp_path) -> TaskBackend:
    """Tasks go to RQ on :func:`redis_server`, as ``tests/tasks/conftest.py``'s
    ``task_backend`` sends them (its RQ case, on this test's Redis): a queue prefix of the
    test's own, media on disk, committed rows (``transactional_db``)."""
    queues = tuple(settings.TASKS["default"]["QUEUES"])
    backend = TaskBackend(
        name="rq",
        queues=queues,
        redis_url=redis_server.url,
        rq_prefix=f"h4-{uuid.uuid4().hex[:12]}-",
        media_root=tmp_path / "media",
        log_dir=tmp_path / "workers",
    )
    backend.media_root.mkdir()
    backend.log_dir.mkdir()
    settings.MEDIA_ROOT = backend.media_root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.MASKQC_TEST_RQ_PREFIX = backend.rq_prefix
    settings.RQ_QUEUES = rq_queues_prefixed(
        queues={
            q: {"URL": redis_server.url, "DEFAULT_TIMEOUT": settings.RQ_JOB_TIMEOUT} for q in queues
        },
        prefix=backend.rq_prefix,
    )
    # Prefixed names too: a job read back from RQ names its origin, the prefixed queue.
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": list(settings.RQ_QUEUES)}
    }
    return backend


def _square(x: int) -> dict:
    """A 6 px square at column x, rows 4-9 of a 16 x 16 image."""
    grid = np.zeros((16, 16), dtype=bool)
    grid[4:10, x : x + 6] = True
    return masks.rle_from_mask(grid)


@pytest.fixture
def image(project, bubble, annotator, other_annotator):
    """An image of two annotators: the other annotator has submitted (while Redis was up:
    one submission queues no agreement), the annotator's task is in progress."""
    image = ImageFactory(project=project, name="a.png", width=16, height=16)
    first = TaskFactory(image=image, annotator=other_annotator)
    submission_create(
        task=first,
        actor=other_annotator,
        instances=[InstanceInput(label_class=bubble, rle=_square(2))],
    )
    TaskFactory(image=image, annotator=annotator, status=TaskStatus.IN_PROGRESS)
    return image


def _burst(backend: TaskBackend) -> subprocess.CompletedProcess:
    """One ``manage.py rqworker --burst`` on the test's queues, as a deployment runs it,
    until its queues are empty."""
    return subprocess.run(
        worker_command(backend, backend.queues, burst=True),
        cwd=ROOT,
        env=backend.worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _finished_tasks(backend: TaskBackend) -> list[str]:
    """The task paths of the jobs the test's queues finished, sorted."""
    [queue] = backend.rq_queues()
    ids = queue.finished_job_registry.get_job_ids()
    return sorted(Job.fetch(i, connection=queue.connection).func_name for i in ids)


def _agreement_follows_from_the_backlog(backend, redis_server, image) -> None:
    """Redis back, one backlog round queues the image, a burst worker stores it once."""
    redis_server.start()

    queued = agreement_backlog_queue()
    again = agreement_backlog_queue()  # its work waits in the queue: nothing more
    worker = _burst(backend)

    assert (queued, again) == (1, 0)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert ImageAgreement.objects.get(image=image).annotators == 2
    # One pooled row and one for the class, for the one pair.
    assert AgreementResult.objects.filter(image=image).count() == 2
    assert _finished_tasks(backend) == [
        "qc.services.agreement.agreement_summary_task",
        AGREEMENT_TASK,
    ]
    [queue] = backend.rq_queues()
    assert queue.failed_job_registry.count == 0
    assert agreement_backlog_queue() == 0


def test_api_submission_commits_while_redis_is_down_and_agreement_follows_once_it_is_back(
    rq_backend, redis_server, project, image, annotator, bubble, caplog
):
    task = image.tasks.get(annotator=annotator)
    api = APIClient()
    api.force_authenticate(annotator)
    redis_server.stop()

    with caplog.at_level(logging.WARNING, logger="maskqc.agreement"):
        response = api.post(
            f"/api/v1/projects/{project.slug}/submissions/",
            {
                "task": task.pk,
                "instances": [{"label_class": "bubble", "polygon": [[3, 4, 9, 4, 9, 10, 3, 10]]}],
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    assert Submission.objects.filter(task=task).count() == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED
    assert not ImageAgreement.objects.filter(image=image).exists()
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(NOT_QUEUED.format(pk=image.pk))

    _agreement_follows_from_the_backlog(rq_backend, redis_server, image)


def _coco(name: str) -> bytes:
    """A COCO file of one square instance for image ``name``."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": name, "width": 16, "height": 16}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {
                    "id": 1,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [[3, 4, 9, 4, 9, 10, 3, 10]],
                    "iscrowd": 0,
                }
            ],
        }
    ).encode()


def test_page_submission_commits_while_redis_is_down_and_agreement_follows_once_it_is_back(
    rq_backend, redis_server, client, project, image, annotator, caplog
):
    task = image.tasks.get(annotator=annotator)
    url = reverse("task-submit", args=[project.slug, task.pk])
    client.force_login(annotator)
    upload = SimpleUploadedFile("work.json", _coco("a.png"), "application/json")
    checked = client.post(url, {"action": "check", "format": "coco", "file": upload})
    staged = checked.context["check"].staged.signed()
    redis_server.stop()

    with caplog.at_level(logging.WARNING, logger="maskqc.agreement"):
        response = client.post(url, {"action": "submit", "staged": staged})

    assert response.status_code == 302
    assert response["Location"] == reverse("my-tasks", args=[project.slug])
    assert Submission.objects.filter(task=task).count() == 1
    assert not ImageAgreement.objects.filter(image=image).exists()
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(NOT_QUEUED.format(pk=image.pk))
    shown = client.get(response["Location"])
    assert [str(m) for m in shown.context["messages"]] == [
        "Submitted revision 1 of a.png, 1 instance. It goes to review once every "
        "annotator of the image has submitted."
    ]

    _agreement_follows_from_the_backlog(rq_backend, redis_server, image)


def test_rq_agreement_work_waiting_counts_agreement_jobs_and_no_others(rq_backend):
    # Queued only: no worker runs them.
    import_run_task.enqueue(job_id=0)
    export_run_task.enqueue(export_id=0)
    others_only = agreement_work_waiting()
    agreement_summary_task.enqueue(project_id=0)

    assert others_only is False
    assert agreement_work_waiting() is True
