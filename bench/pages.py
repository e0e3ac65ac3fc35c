"""Page benchmark: the review viewer's server time (DESIGN §11, issue 11).

    python bench/pages.py [--repeat N] [--seed S] [--database-url URL]

Workload: one synthetic pool-boiling image of 1024 x 1024 with 3 annotators of about 40
bubbles each (:data:`qc.synthetic.BENCH_STYLES`, the agreement benchmark's), stored through
the bulk path (``submissions_create`` with the instances' features precomputed), its
agreement and consensus stored, and its review assigned to a reviewer -- on a throwaway
SQLite file, or ``--database-url`` (e.g. ``postgres://postgres@127.0.0.1:5432/maskqc_bench``,
a database that exists and may be emptied).

Timed (wall clock, Django's test ``Client`` in this process, DEBUG off, so the whole
request: middleware, session, selector, template, no network):

- the viewer **cold**: a request right after ``cache.clear()`` (the measures against the
  consensus are computed with pycocotools), ``--repeat`` times;
- the viewer **warm**: ``--repeat`` requests with the measures cached;
- a **plain page** in the same run: the login page (the site's frame, a form, no query),
  ``--repeat`` times.

Each is given as the median and the best wall-clock time and the median CPU time of the
request's thread (on a busy machine the wall clock also counts other processes' turns).

One request of each goes first, untimed, so that imports and template compilation are not
counted. The goal is a warm viewer of at most 300 ms (median wall clock). The last line is
``pages: viewer_warm_ms=<w> viewer_cold_ms=<c> plain_ms=<p> ratio=<w/p> queries=<q>`` (wall
medians).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = 1024
GOAL_WARM_MS = 300.0


def setup_django(database_url: str, tmp: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["MEDIA_ROOT"] = str(tmp / "media")
    # The production static storage reads its manifest: collected into the folder below.
    os.environ["STATIC_ROOT"] = str(tmp / "static")
    # Agreement runs inline when the submissions are stored (set-up, not timed).
    os.environ["TASKS_BACKEND"] = "immediate"
    # DEBUG off, as in production: no SQL kept per query, templates cached.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "maskqc-benchmark-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    # The agreement task's progress lines are not the benchmark's output.
    logging.getLogger("django_tasks").setLevel(logging.WARNING)


def build(seed: int) -> tuple[object, object]:
    """The project, its reviewer and the one image in review (bulk set-up, not timed)."""
    from django.contrib.auth import get_user_model

    from projects.models import Image, Membership, Project, Role, Task
    from projects.services import project_create
    from qc.agreement import boundary_width
    from qc.models import ImageAgreement
    from qc.services import InstanceInput, review_assign
    from qc.services.agreement import agreement_update_for_image
    from qc.services.submissions import SubmissionDraft, instance_row, submissions_create
    from qc.synthetic import BENCH_STYLES, annotate, make_scene

    Project.objects.filter(slug="bench-pages").delete()
    project = project_create(slug="bench-pages", name="Pages benchmark", labels=["bubble"])
    bubble = project.label_classes.get()
    users = get_user_model().objects
    reviewer, _ = users.get_or_create(username="bench-reviewer")
    Membership.objects.create(project=project, user=reviewer, role=Role.REVIEWER)
    image = Image.objects.create(project=project, name="frame_00000.png", width=SIZE, height=SIZE)
    scene = make_scene(seed=seed, height=SIZE, width=SIZE)
    band_px = boundary_width(height=SIZE, width=SIZE, boundary_px=project.boundary_px)
    drafts = []
    for style in BENCH_STYLES:
        annotator, _ = users.get_or_create(username=f"bench-{style.name}")
        Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
        task = Task.objects.create(image=image, annotator=annotator)
        drawn = annotate(scene, style, seed=seed)
        items = [(InstanceInput(label_class=bubble, rle=i.rle), i.features) for i in drawn]
        drafts.append(
            SubmissionDraft(
                task=task,
                rows=[instance_row(item, boundary_px=band_px, features=f) for item, f in items],
                shapes=[("bubble", item.rle) for item, _ in items],
            )
        )
    submissions_create(project=project, drafts=drafts, actor=None, check_gate=False)
    if not ImageAgreement.objects.filter(image=image).exists():
        agreement_update_for_image(image_id=image.pk)
    review_assign(image=image, actor=None, reviewer=reviewer)
    return reviewer, image


def timed(client: object, url: str) -> tuple[float, float, object]:
    """One request: its wall-clock and CPU milliseconds (this thread's; on a busy machine
    the wall clock also counts the time other processes held the CPU) and its response."""
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.get(url, secure=True)
    wall, cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return wall, cpu, response


def series(client: object, url: str, repeat: int, before: object = None) -> dict[str, float]:
    """``repeat`` requests (``before()`` ahead of each): the median wall and CPU time, and
    the best wall time."""
    walls, cpus = [], []
    for _ in range(repeat):
        if before is not None:
            before()
        wall, cpu, _ = timed(client, url)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "best": min(walls),
    }


def measure(reviewer: object, image: object, repeat: int) -> dict[str, object]:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(reviewer)
    anonymous = Client()
    viewer = reverse("review-viewer", args=[image.project.slug, image.pk])
    plain = reverse("login")
    timed(client, viewer)  # imports, template compilation
    timed(anonymous, plain)
    cold = series(client, viewer, repeat, before=cache.clear)
    timed(client, viewer)
    executed = []
    with connection.execute_wrapper(
        lambda run, sql, *args: executed.append(sql) or run(sql, *args)
    ):
        _, _, response = timed(client, viewer)
    return {
        "cold": cold,
        "warm": series(client, viewer, repeat),
        "plain": series(anonymous, plain, repeat),
        "queries": len(executed),
        "instances": sum(len(g.rows) for g in response.context["viewer"].groups),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="Database to benchmark on (default: a throwaway SQLite file). Its tables are "
        "created by migrate and the benchmark project is deleted first.",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="maskqc-bench-pages-"))
    try:
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        setup_django(database_url, tmp)
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test Client's host and response.context
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        reviewer, image = build(args.seed)
        found = measure(reviewer, image, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    vendor = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    warm, cold, plain = found["warm"], found["cold"], found["plain"]
    ratio = warm["wall"] / plain["wall"]
    verdict = "ok" if warm["wall"] <= GOAL_WARM_MS else "OVER GOAL"
    print(f"workload: 1 image of {SIZE}x{SIZE}, 3 annotators, {found['instances']} instances")
    print(
        f"database: {vendor}; {args.repeat} requests each; {found['queries']} queries and "
        f"{found['bytes']} bytes per viewer; load average {os.getloadavg()[0]:.1f}"
    )
    print("                          wall median   wall best    CPU median")
    for name, figures in [
        ("viewer, warm cache", warm),
        ("viewer, cold cache", cold),
        ("plain page (login)", plain),
    ]:
        print(
            f"{name:24}  {figures['wall']:8.1f} ms  {figures['best']:8.1f} ms  "
            f"{figures['cpu']:8.1f} ms"
        )
    print(f"warm viewer / plain page: {ratio:.1f}x; goal warm <= {GOAL_WARM_MS:.0f} ms: {verdict}")
    print(
        f"pages: viewer_warm_ms={warm['wall']:.1f} viewer_cold_ms={cold['wall']:.1f} "
        f"plain_ms={plain['wall']:.1f} ratio={ratio:.1f} queries={found['queries']}"
    )


if __name__ == "__main__":
    main()
