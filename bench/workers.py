"""Scaling-out benchmark: one project recomputed by 1 and by 2 RQ worker processes (issue 13).

    python bench/workers.py [--images N] [--seed S] [--workers 1,2] [--part-images P]
                            [--redis-url URL] [--timeout SECONDS] [--keep]

Set-up (not timed): a fresh copy ``h1_bench_workers`` of the seeded PostgreSQL project
(:func:`bench.seed.seeded_database`: N images, default 10,000, x 3 annotators x ~40
instances, real agreement; the seed is built once and cached), and a counter the
benchmark adds to that copy only: a trigger on ``qc_imageagreement`` that logs every
stored image agreement (insert or update, committed with it) with the image and the
``application_name`` of the connection that stored it -- each worker connects under a
name of its own -- so that every computation is counted where it happened.

Each run (``--workers``, default ``1,2``, each on a fresh copy): K worker processes
(``manage.py rqworker default``, ``TASKS_BACKEND=rq``, the production settings) on the
Redis at ``--redis-url`` (default ``redis://127.0.0.1:6379/2``, emptied before and after:
its queue is this benchmark's alone), started and listening before the clock starts.
Timed: from the lead's ``recompute_create`` (the enqueue) to the recompute row's
``finished_at`` -- claiming it, cutting its images into parts of
``MASKQC_RECOMPUTE_PART_IMAGES`` (``--part-images``; the setting's default otherwise), each
part a task any worker takes, every image's features and agreement recomputed, the
project report rebuilt once.

Printed per run: seconds, images/s in total and per worker (total / K), the images each
worker stored, and the counts that say every image was computed exactly once: images
logged once, more than once (none expected) and not at all (none expected), ImageAgreement
rows stored since the run started, the recompute's own summary (images, instances checked,
failed), RQ's failed jobs. Then the 2-vs-1 ratio of images/s, the CPUs and the load
average. On a machine with fewer cores than worker processes plus PostgreSQL, the second
worker has little to run on: read the ratio with the CPU count beside it. The last line
is ``workers: images=<N> w1_images_s=<x> w2_images_s=<y> ratio=<y/x>``.

Clean-up: the workers stopped, the copy dropped (``--keep`` keeps the last one), the
Redis database emptied; the seed's template stays.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COPY = "h1_bench_workers"
REDIS_URL = "redis://127.0.0.1:6379/2"
LOGS = ROOT / "var" / "bench" / "workers"
DRIVER = "bench-driver"

# A benchmark's instrument, on its copy only: every committed ImageAgreement write, logged.
TRIGGER_SQL = """
CREATE TABLE bench_agreement_log (
    image_id bigint NOT NULL,
    worker text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION bench_agreement_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_agreement_log (image_id, worker)
    VALUES (NEW.image_id, current_setting('application_name'));
    RETURN NEW;
END $$;
CREATE TRIGGER bench_agreement_logged AFTER INSERT OR UPDATE ON qc_imageagreement
    FOR EACH ROW EXECUTE FUNCTION bench_agreement_logged();
"""


@dataclass
class Run:
    """One recompute by ``workers`` worker processes and what it left behind."""

    workers: int
    seconds: float
    parts: int
    expected: int
    logged_once: int
    logged_twice: int
    skipped: int
    stored_since_start: int
    by_worker: dict[str, int]
    summary: dict[str, Any]
    instances: int
    rq_failed: int
    status: str
    error: str

    @property
    def images_per_second(self) -> float:
        return self.expected / self.seconds if self.seconds else 0.0

    @property
    def exact(self) -> bool:
        """Every image computed once, none twice, none skipped, nothing failed."""
        return (
            self.status == "done"
            and self.logged_once == self.expected
            and self.logged_twice == 0
            and self.skipped == 0
            and self.stored_since_start == self.expected
            and self.summary.get("images") == self.expected
            and not self.summary.get("failed")
            and self.rq_failed == 0
        )


def _url(info: Any, name: str) -> str:
    return f"{info.database_url}?application_name={name}"


def _environ(info: Any, *, name: str, redis_url: str, part_images: int | None) -> dict[str, str]:
    """The production settings on the copy, the benchmark's Redis, no developer .env."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(
        MASKQC_ENV_FILE=os.devnull,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=_url(info, name),
        MEDIA_ROOT=str(info.media_root),
        TASKS_BACKEND="rq",
        REDIS_URL=redis_url,
        DEBUG="false",  # no SQL kept per query
        SECRET_KEY=os.environ.get("SECRET_KEY", "maskqc-benchmark-only"),
        PYTHONUNBUFFERED="1",
    )
    if part_images is not None:
        env["MASKQC_RECOMPUTE_PART_IMAGES"] = str(part_images)
    return env


def setup_django(info: Any, *, redis_url: str, part_images: int | None) -> None:
    os.environ.update(_environ(info, name=DRIVER, redis_url=redis_url, part_images=part_images))
    import django

    django.setup()
    import logging

    logging.getLogger("django_tasks").setLevel(logging.WARNING)


def redis_empty(redis_url: str) -> None:
    """Empty the benchmark's Redis database (never database 0: others' queues live there)."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        raise SystemExit(f"--redis-url {redis_url}: database 0 is not the benchmark's to empty")
    client.flushdb()
    client.close()


def start_workers(info: Any, count: int, *, redis_url: str, part_images: int | None) -> list:
    """``count`` RQ worker processes, each its own process group, its log under var/."""
    LOGS.mkdir(parents=True, exist_ok=True)
    started = []
    for number in range(1, count + 1):
        name = f"bench-worker-{number}"
        env = _environ(info, name=name, redis_url=redis_url, part_images=part_images)
        log = (LOGS / f"{count}-workers-{name}.log").open("w")
        started.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "rqworker", "default", "--name", name],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return started


def wait_listening(processes: list, *, redis_url: str, timeout: float = 120) -> None:
    """Until every worker has registered with Redis (it listens on its queue then)."""
    from redis import Redis
    from rq import Worker

    client = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=client)) < len(processes):
        if any(p.poll() is not None for p in processes):
            raise SystemExit(f"a worker exited at start; see {LOGS}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the workers did not start within {timeout:.0f} s; see {LOGS}")
        time.sleep(0.2)
    client.close()


def stop_workers(processes: list) -> None:
    """SIGTERM to each worker's group (RQ finishes its job), SIGKILL after 30 s."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def recompute_timed(info: Any, *, timeout: float) -> tuple[Any, datetime, float]:
    """Queue the recompute as the lead and wait for its row to finish; (the row, when the
    run started, seconds from the enqueue to the row's ``finished_at``)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from projects.models import Project
    from qc.models import JobStatus
    from qc.services.recompute import recompute_create

    project = Project.objects.get(slug=info.slug)
    lead = get_user_model().objects.get(username=info.leads[0])
    start = timezone.now()
    recompute = recompute_create(project=project, actor=lead)
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        recompute.refresh_from_db()
        if recompute.status in (JobStatus.DONE, JobStatus.FAILED):
            break
        line = f"  {recompute.get_status_display()}" + (
            f": {recompute.message}" if recompute.message else ""
        )
        if line != shown:
            print(line, flush=True)
            shown = line
        if time.monotonic() > deadline:
            raise SystemExit(f"the recompute did not finish within {timeout:.0f} s: {shown}")
        time.sleep(0.2)
    return recompute, start, (recompute.finished_at - start).total_seconds()


def counted(info: Any, *, recompute: Any, start: datetime, workers: int, seconds: float) -> Run:
    """The counts of the run: the trigger's log, the stored rows, RQ's failed jobs."""
    import django_rq
    from django.db import connection

    from projects.models import Image
    from qc.models import ImageAgreement, Instance
    from qc.services.features import images_with_submissions

    project = recompute.project
    expected = set(images_with_submissions(project=project))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT image_id, count(*) FROM bench_agreement_log WHERE at >= %s GROUP BY image_id",
            [start],
        )
        times = dict(cursor.fetchall())
        cursor.execute(
            "SELECT worker, count(*) FROM bench_agreement_log WHERE at >= %s GROUP BY worker "
            "ORDER BY worker",
            [start],
        )
        by_worker = dict(cursor.fetchall())
    queue = django_rq.get_queue("default")
    return Run(
        workers=workers,
        seconds=seconds,
        parts=recompute.parts_total,
        expected=len(expected),
        logged_once=sum(1 for i in expected if times.get(i) == 1),
        logged_twice=sum(1 for n in times.values() if n > 1),
        skipped=len(expected - set(times)),
        stored_since_start=ImageAgreement.objects.filter(
            image__project=project, computed_at__gte=start
        ).count(),
        by_worker=by_worker,
        summary=recompute.summary,
        instances=Instance.objects.filter(
            submission__task__image__in=Image.objects.filter(project=project)
        ).count(),
        rq_failed=queue.failed_job_registry.count,
        status=recompute.status,
        error=recompute.error,
    )


def one_run(args: argparse.Namespace, info: Any, workers: int, *, fresh: bool) -> Run:
    """``workers`` worker processes, the timed recompute, the counts; on a fresh copy of
    the seed when ``fresh`` (else on ``info``'s, just made)."""
    from django.db import connection, connections
    from seed import seeded_database

    connections.close_all()
    if fresh:
        info = seeded_database(images=args.images, seed=args.seed, name=COPY)
    with connection.cursor() as cursor:
        cursor.execute(TRIGGER_SQL)
    connections.close_all()
    redis_empty(args.redis_url)
    processes = start_workers(info, workers, redis_url=args.redis_url, part_images=args.part_images)
    try:
        wait_listening(processes, redis_url=args.redis_url)
        print(f"{workers} worker(s) listening; recompute queued", flush=True)
        recompute, start, seconds = recompute_timed(info, timeout=args.timeout)
        run = counted(info, recompute=recompute, start=start, workers=workers, seconds=seconds)
    finally:
        stop_workers(processes)
    return run


def report(runs: list[Run], *, images: int) -> None:
    for run in runs:
        per_worker = ", ".join(f"{name} {n}" for name, n in run.by_worker.items()) or "none"
        print(
            f"\n{run.workers} worker(s): {run.expected} images in {run.seconds:.1f} s "
            f"({run.parts} parts): {run.images_per_second:.1f} images/s, "
            f"{run.images_per_second / run.workers:.1f} images/s per worker"
        )
        print(f"  images stored by each worker: {per_worker}")
        print(
            f"  computed once {run.logged_once}, more than once {run.logged_twice}, "
            f"not at all {run.skipped}; ImageAgreement rows stored since the start "
            f"{run.stored_since_start}"
        )
        print(
            f"  recompute {run.status}{': ' + run.error if run.error else ''}: "
            f"{run.summary.get('images')} images, {run.summary.get('instances')} instances "
            f"checked of {run.instances}, {len(run.summary.get('failed') or {})} failed; "
            f"RQ failed jobs {run.rq_failed}"
        )
        print(f"  every image exactly once: {'yes' if run.exact else 'NO'}")
    rate = {run.workers: run.images_per_second for run in runs}
    load = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} CPUs, 1-minute load average {load:.1f} after the runs")
    if 1 in rate and 2 in rate and rate[1]:
        ratio = rate[2] / rate[1]
        print(f"2 workers vs 1: {ratio:.2f}x the images/s")
        print(
            f"workers: images={images} w1_images_s={rate[1]:.1f} w2_images_s={rate[2]:.1f} "
            f"ratio={ratio:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workers", default="1,2", help="Worker counts to run, comma-separated (1,2)."
    )
    parser.add_argument(
        "--part-images", type=int, help="MASKQC_RECOMPUTE_PART_IMAGES for the workers."
    )
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"Default {REDIS_URL}.")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="Seconds per run.")
    parser.add_argument("--keep", action="store_true", help=f"Keep the last copy {COPY}.")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if not counts or min(counts) < 1:
        parser.error("--workers takes worker counts of 1 or more, e.g. 1,2")

    from seed import database_drop, seeded_database

    # Django runs on the copy; the first copy (and the seed, if missing) is made here.
    info = seeded_database(images=args.images, seed=args.seed, name=COPY)
    print(f"seed: {info.images} images in {info.template}, copy {COPY}", flush=True)
    setup_django(info, redis_url=args.redis_url, part_images=args.part_images)
    from django.conf import settings

    print(f"parts of {settings.MASKQC_RECOMPUTE_PART_IMAGES} images", flush=True)
    runs = []
    try:
        for number, workers in enumerate(counts):
            runs.append(one_run(args, info, workers, fresh=number > 0))
    finally:
        from django.db import connections

        connections.close_all()
        redis_empty(args.redis_url)
        if not args.keep:
            database_drop(name=COPY)
    report(runs, images=args.images)
    if not all(run.exact for run in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
