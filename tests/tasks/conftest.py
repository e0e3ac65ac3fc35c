"""Fixtures of the tests that run background tasks through a real queue and real worker
processes, on the database backend and on RQ (against the Redis at
``MASKQC_TEST_REDIS_URL``, by default ``redis://127.0.0.1:6379/1``).

- ``task_backend`` (parametrised: ``database``, ``rq``): the test's settings send tasks to
  that backend, default storage is a folder on disk the workers share, and, on RQ, the
  test's queues have a Redis prefix of their own (:mod:`tests.tasks.rq_config`); the
  test's Redis keys are deleted after it. It brings ``transactional_db``: a worker sees
  only committed rows. Without a reachable Redis the RQ case skips, saying why, except
  under ``CI=true``, where it fails.
- ``worker_process`` and ``wait_drained``: :func:`tests.tasks.workers.worker_process` (a
  context manager: one worker process for a block, yielding its ``Popen``) and
  :func:`tests.tasks.workers.wait_drained` (until the queues are empty; what failed).

On SQLite the test database is put on disk, where a worker process can open it, for the
whole pytest session that collects these tests: pytest-django makes it ``:memory:``
otherwise.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError

from tests.tasks import workers
from tests.tasks.rq_config import rq_queues_prefixed
from tests.tasks.workers import BACKENDS, TaskBackend

REDIS_URL = os.environ.get("MASKQC_TEST_REDIS_URL") or "redis://127.0.0.1:6379/1"
BACKEND_CLASSES = {"database": "django_tasks_db.DatabaseBackend", "rq": "django_tasks_rq.RQBackend"}


def _sqlite_test_database_on_disk() -> None:
    """A file for the SQLite test database (in the temporary folder, one per process;
    pytest-django adds the xdist worker's suffix and Django deletes it at the end)."""
    database = settings.DATABASES["default"]
    test = database.setdefault("TEST", {})
    if database["ENGINE"] == "django.db.backends.sqlite3" and not test.get("NAME"):
        test["NAME"] = str(Path(tempfile.gettempdir()) / f"maskqc-tests-{os.getpid()}.sqlite3")


_sqlite_test_database_on_disk()


def _redis_reachable(url: str) -> None:
    """Skip (fail under CI=true) when no Redis answers at ``url``."""
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except RedisError as error:
        why = f"no Redis at {url} ({error}); set MASKQC_TEST_REDIS_URL to run the RQ cases"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{why}: CI runs them", pytrace=False)
        pytest.skip(why)
    finally:
        client.close()


@pytest.fixture(params=BACKENDS)
def task_backend(request, transactional_db, settings, tmp_path) -> Iterator[TaskBackend]:
    """The backend of this test's tasks (database or rq), with the settings that send
    tasks to it and a media folder on disk; see the module's docstring."""
    name = request.param
    if name == "rq":
        _redis_reachable(REDIS_URL)
    queues = tuple(settings.TASKS["default"]["QUEUES"])
    backend = TaskBackend(
        name=name,
        queues=queues,
        redis_url=REDIS_URL,
        rq_prefix=f"h1-{uuid.uuid4().hex[:12]}-" if name == "rq" else "",
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
    if name == "rq":
        settings.MASKQC_TEST_RQ_PREFIX = backend.rq_prefix
        settings.RQ_QUEUES = rq_queues_prefixed(
            queues={
                q: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": settings.RQ_JOB_TIMEOUT} for q in queues
            },
            prefix=backend.rq_prefix,
        )
    # A job read back from RQ names its origin, the prefixed queue: valid here as in the
    # workers (tests.tasks.worker_settings), so the watcher can ask after a job's task.
    listed = list(settings.RQ_QUEUES) if name == "rq" else list(queues)
    settings.TASKS = {"default": {"BACKEND": BACKEND_CLASSES[name], "QUEUES": listed}}
    yield backend
    workers.rq_forget(backend)


@pytest.fixture
def worker_process():
    """:func:`tests.tasks.workers.worker_process`: ``with worker_process(task_backend) as
    popen: ...`` runs one worker process for the block."""
    return workers.worker_process


@pytest.fixture
def wait_drained():
    """:func:`tests.tasks.workers.wait_drained`: ``wait_drained(task_backend,
    workers=[popen])`` waits until no task is queued or running; returns what failed."""
    return workers.wait_drained
