"""Real worker processes for tests: the task backend a test runs on, a worker started
and stopped around a block, and a wait until the queues are empty.

A test that uses them runs on a database a worker process can see: pytest-django's test
database with ``transactional_db`` (its writes are committed), on SQLite a file
(``tests/tasks/conftest.py`` puts it on disk). The worker process gets the test's
database name, media folder and queues through :mod:`tests.tasks.worker_settings`.

Typical use (``task_backend`` is the fixture of ``tests/tasks/conftest.py``)::

    with worker_process(task_backend) as worker:
        recompute = recompute_create(project=project, actor=lead)
        drained = wait_drained(task_backend, workers=[worker])
    assert drained.failed == []
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ("database", "rq")
# Seconds a worker has to finish its task and exit after SIGTERM before it is killed.
STOP_SECONDS = 10


@dataclass(frozen=True)
class TaskBackend:
    """The task backend a test runs on, as its worker processes must see it.

    ``name`` is ``database`` or ``rq``; ``queues`` the task queue names (the tasks'
    ``queue_name``); ``rq_prefix`` the prefix of this test's queues in Redis (RQ only);
    ``media_root`` the folder the test and its workers share as default storage;
    ``log_dir`` where each worker's output goes.
    """

    name: str
    queues: tuple[str, ...]
    redis_url: str
    rq_prefix: str
    media_root: Path
    log_dir: Path
    workers_started: list[int] = field(default_factory=list, compare=False)

    def worker_env(self) -> dict[str, str]:
        """The environment of a worker process: the test's database, media and queues."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST", "DJANGO_ALLOW_ASYNC"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="tests.tasks.worker_settings",
            TASKS_BACKEND=self.name,
            REDIS_URL=self.redis_url,
            MASKQC_TEST_DATABASE_NAME=str(settings.DATABASES["default"]["NAME"]),
            MASKQC_TEST_MEDIA_ROOT=str(self.media_root),
            MASKQC_TEST_RQ_PREFIX=self.rq_prefix,
            PYTHONUNBUFFERED="1",
        )
        return env

    def rq_queues(self, queues: Sequence[str] | None = None) -> list:
        """This test's RQ queues (RQ only)."""
        import django_rq
        from django_tasks_rq.backend import Job

        return [django_rq.get_queue(name, job_class=Job) for name in (queues or self.queues)]


def worker_command(backend: TaskBackend, queues: Sequence[str], *, burst: bool) -> list[str]:
    """The command of one worker of ``backend`` on ``queues``: the management command a
    deployment runs (``bin/worker``), with a short poll for the database backend."""
    manage = [sys.executable, "manage.py"]
    if backend.name == "database":
        command = [*manage, "db_worker", "--queue-name", ",".join(queues), "--no-reload"]
        command += ["--interval", "0.1", "--no-startup-delay"]
        return command + (["--batch"] if burst else [])
    return [*manage, "rqworker", *queues] + (["--burst"] if burst else [])


@contextlib.contextmanager
def worker_process(
    backend: TaskBackend,
    queues: Sequence[str] | None = None,
    *,
    burst: bool = False,
    command: Sequence[str] | None = None,
) -> Iterator[subprocess.Popen]:
    """Run one worker process of ``backend`` on ``queues`` (all the backend's by default)
    for the block, and stop it after: SIGTERM to its process group (RQ's work horses
    with it), which lets it finish its task, then SIGKILL after :data:`STOP_SECONDS`.

    Yields the ``Popen``; its output goes to ``popen.log_path`` (:func:`worker_log`).
    ``burst``: the worker exits by itself once its queues are empty. ``command`` replaces
    the worker's command (``bin/worker``, say), run with the same environment.
    """
    queues = tuple(queues or backend.queues)
    number = len(backend.workers_started) + 1
    log_path = backend.log_dir / f"worker-{number}.log"
    args = list(command or worker_command(backend, queues, burst=burst))
    with log_path.open("w") as log:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=backend.worker_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.log_path = log_path
    backend.workers_started.append(process.pid)
    try:
        yield process
    finally:
        worker_stop(process)


def worker_stop(process: subprocess.Popen, *, timeout: float = STOP_SECONDS) -> int:
    """Stop a worker of :func:`worker_process` and every process it started; its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # The group may outlive its leader (an RQ work horse): kill what is left of it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def worker_kill(process: subprocess.Popen, *, timeout: float = 30) -> int:
    """SIGKILL a worker and every process descended from it at once, as when its machine
    is lost; its exit code (``-SIGKILL``).

    An RQ work horse, which runs the task, leads a process group of its own, out of reach
    of a signal to the worker's group, so the tree is found through ``/proc``. Each process
    found is stopped (SIGSTOP) first and the tree looked at again until every process in
    it is stopped and it has no new child: a process that forks meanwhile (a work horse
    starting) cannot leave a child behind. Then all of them get SIGKILL.
    """
    deadline = time.monotonic() + timeout
    stopped: set[int] = set()
    while True:
        tree = process_tree(process.pid)
        new = tree - stopped
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new
        if not new and all(_stopped_or_gone(pid) for pid in tree):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"worker {process.pid}'s processes {sorted(tree)} never stopped")
        time.sleep(0.005)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return process.wait(timeout=timeout)


def process_tree(leader: int) -> set[int]:
    """``leader`` and every live process descended from it (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [leader]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _stopped_or_gone(pid: int) -> bool:
    """Whether ``pid`` is stopped by a signal, a zombie, or no more (``/proc/<pid>/stat``)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("T", "Z", "X")


def worker_log(process: subprocess.Popen) -> str:
    """What a worker of :func:`worker_process` printed so far."""
    return Path(process.log_path).read_text(errors="replace")


@dataclass(frozen=True)
class Drained:
    """The tasks of the backend's queues once none is waiting or running: how many
    finished, and one line for each that failed (its task and exception)."""

    finished: int
    failed: list[str]


def wait_drained(
    backend: TaskBackend,
    queues: Sequence[str] | None = None,
    *,
    workers: Sequence[subprocess.Popen] = (),
    timeout: float = 60,
) -> Drained:
    """Wait until no task of ``queues`` (the backend's by default) is queued or running,
    seen twice in a row 0.1 s apart (a task that queues another does so before it ends).

    Fails the test, with the workers' output, when ``timeout`` seconds pass first or when
    every one of ``workers`` has exited with work left.
    """
    queues = tuple(queues or backend.queues)
    deadline = time.monotonic() + timeout
    empty_seen = 0
    while True:
        left = tasks_left(backend, queues)
        empty_seen = empty_seen + 1 if left == 0 else 0
        if empty_seen == 2:
            return tasks_outcome(backend, queues)
        gone = workers and all(w.poll() is not None for w in workers)
        if gone or time.monotonic() > deadline:
            why = "every worker exited" if gone else f"not drained after {timeout:.0f} s"
            logs = "\n".join(
                f"--- worker {w.pid} (exit {w.poll()}):\n{worker_log(w)}" for w in workers
            )
            raise AssertionError(f"{left} tasks left on {backend.name} {queues}: {why}\n{logs}")
        time.sleep(0.1)


def tasks_left(backend: TaskBackend, queues: Sequence[str]) -> int:
    """Tasks of ``queues`` queued or running (for RQ: also taken off a queue by a worker
    but not yet started, deferred or scheduled)."""
    if backend.name == "database":
        from django_tasks.base import TaskResultStatus
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.filter(
            queue_name__in=queues,
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        ).count()
    left = 0
    for queue in backend.rq_queues(queues):
        left += queue.count + queue.connection.llen(queue.intermediate_queue_key)
        left += queue.started_job_registry.count
        left += queue.deferred_job_registry.count + queue.scheduled_job_registry.count
    return left


def tasks_outcome(backend: TaskBackend, queues: Sequence[str]) -> Drained:
    """How the tasks of ``queues`` ended so far (:class:`Drained`)."""
    if backend.name == "database":
        from django_tasks_db.models import DBTaskResult

        results = DBTaskResult.objects.filter(queue_name__in=queues)
        failed = [
            f"{r.task_path}: {r.traceback.strip().splitlines()[-1] if r.traceback else '?'}"
            for r in results.failed().order_by("enqueued_at")
        ]
        return Drained(finished=results.successful().count(), failed=failed)
    from rq.job import Job

    finished, failed = 0, []
    for queue in backend.rq_queues(queues):
        finished += queue.finished_job_registry.count
        for job_id in queue.failed_job_registry.get_job_ids():
            job = Job.fetch(job_id, connection=queue.connection)
            last = (job.latest_result().exc_string or "?").strip().splitlines()[-1]
            failed.append(f"{job.func_name}: {last}")
    return Drained(finished=finished, failed=failed)


def rq_forget(backend: TaskBackend) -> None:
    """Delete this test's keys from Redis: its queues and registries (named with its
    prefix) and the jobs they list, with their results and executions."""
    if backend.name != "rq":
        return
    for queue in backend.rq_queues():
        redis = queue.connection
        job_ids = set(queue.get_job_ids())
        for registry in (
            queue.started_job_registry,
            queue.finished_job_registry,
            queue.failed_job_registry,
            queue.deferred_job_registry,
            queue.scheduled_job_registry,
            queue.canceled_job_registry,
        ):
            job_ids.update(registry.get_job_ids())
        job_ids.update(i.decode() for i in redis.lrange(queue.intermediate_queue_key, 0, -1))
        keys = [
            key for i in job_ids for key in (f"rq:job:{i}", f"rq:results:{i}", f"rq:executions:{i}")
        ]
        for i in job_ids:
            keys += list(redis.scan_iter(match=f"rq:execution:{i}:*", count=1000))
        keys += list(redis.scan_iter(match=f"*{backend.rq_prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
        redis.srem(queue.redis_queues_keys, queue.key)
