"""Page benchmark: the review viewer's and the agreement dashboard's server time (DESIGN §11,
issues 11 and 12).

    python bench/pages.py [--case viewer|dashboard|all] [--repeat N] [--seed S]
                          [--images N] [--database-url URL]

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
counted. The goal is a warm viewer of at most 300 ms (median wall clock). The viewer's last
line is ``pages: viewer_warm_ms=<w> viewer_cold_ms=<c> plain_ms=<p> ratio=<w/p>
queries=<q>`` (wall medians).

The **dashboard** case seeds a project of ``--images`` images (10,000) by 3 annotators with
stored agreement rows only -- images, tasks and submissions (under guideline v1, then v2,
spread over eight weeks), a pooled and a per-class ``AgreementResult`` per pair of each
image (30,000 pairs, so 60,000 rows) and an ``ImageAgreement`` per image, all by bulk
inserts of made-up figures, no mask and no IoU -- then builds and stores the project report
as the engine does (``agreement_summary_update``: reads those rows, bootstraps the
intervals; timed once, it runs in the background after a submission). Then it times the
agreement dashboard, warm, against the plain page, as above, and the lead's other pages
of the project (the work dashboard, the overview) and the site admin's page of all projects.
Its last line is ``pages:
dashboard_ms=<d> plain_ms=<p> ratio=<d/p> queries=<q> report_mb=<size of the stored
report> build_s=<report build>``. The goal is each of these pages in at most 300 ms.
"""

from __future__ import annotations

import argparse
import json
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


DASHBOARD_ANNOTATORS = ("bench-anna", "bench-ben", "bench-cleo")
DASHBOARD_WEEKS = 8


def build_dashboard(seed: int, images: int) -> tuple[object, object, float]:
    """A project of ``images`` images by three annotators with stored agreement rows (bulk,
    made-up figures: see the module's docstring), and its report built and stored. Returns
    the lead, the project and the seconds the report took to build."""
    import random

    from django.db import transaction

    from projects.models import Image, Project, Task
    from projects.services import project_create
    from qc.models import AgreementResult, ImageAgreement, Submission
    from qc.services.agreement import agreement_summary_update
    from qc.services.bulk import planner_statistics_refresh

    rng = random.Random(seed)
    Project.objects.filter(slug="bench-dashboard").delete()
    project = project_create(slug="bench-dashboard", name="Dashboard benchmark", labels=["bubble"])
    lead, annotators, versions = _dashboard_team(project)
    with transaction.atomic():
        frames, submissions = _dashboard_submissions(project, annotators, versions, images)
        _dashboard_agreement(rng, project, frames, annotators, submissions)
    # As an import does after a large write (and autovacuum would, a little later): on
    # PostgreSQL, without fresh statistics the planner takes these tables for empty.
    through = Submission.guideline_versions.through
    planner_statistics_refresh(Image, Task, Submission, through, AgreementResult, ImageAgreement)
    started = time.perf_counter()
    agreement_summary_update(project_id=project.pk)
    return lead, project, time.perf_counter() - started


def _dashboard_team(project: object) -> tuple[object, list[object], list[object]]:
    """The dashboard project's lead, its annotators and two published guideline versions."""
    from django.contrib.auth import get_user_model

    from projects.models import Membership, Role
    from projects.services import guideline_version_create

    users = get_user_model().objects
    lead, _ = users.get_or_create(username="bench-lead")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    annotators = []
    for name in DASHBOARD_ANNOTATORS:
        user, _ = users.get_or_create(username=name)
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        annotators.append(user)
    versions = [
        guideline_version_create(
            project=project,
            title="Bubbles",
            body=body,
            author=lead,
            change_summary="What changed.",
            publish=True,
        )
        for body in ("Outline bubbles.", "Outline bubbles, rims included.")
    ]
    return lead, annotators, versions


def _dashboard_submissions(
    project: object, annotators: list[object], versions: list[object], images: int
) -> tuple[list[object], list[object]]:
    """``images`` images, a submitted task of each annotator on each, and its submission,
    spread over the weeks shown, the first half under guideline v1, the rest under v2."""
    from datetime import timedelta

    from django.utils import timezone

    from projects.models import Image, Task
    from qc.models import Submission

    frames = Image.objects.bulk_create(
        Image(project=project, name=f"frame_{n:05d}.png", width=1024, height=1024)
        for n in range(images)
    )
    tasks = Task.objects.bulk_create(
        Task(image=image, annotator=user, status="submitted")
        for image in frames
        for user in annotators
    )
    now, span = timezone.now(), timedelta(weeks=DASHBOARD_WEEKS)
    # Submissions are immutable once stored (a database trigger) and stamped with the
    # time they are stored: the field's stamp is turned off for these made-up ones.
    stamp = Submission._meta.get_field("submitted_at")
    stamp.auto_now_add = False
    try:
        submissions = Submission.objects.bulk_create(
            Submission(task=task, revision=1, submitted_at=now - span * (1 - k / len(tasks)))
            for k, task in enumerate(tasks)
        )
    finally:
        stamp.auto_now_add = True
    through = Submission.guideline_versions.through
    half = len(submissions) // 2
    through.objects.bulk_create(
        (
            through(submission_id=s.pk, guidelineversion_id=versions[k >= half].pk)
            for k, s in enumerate(submissions)
        ),
        batch_size=5000,
    )
    return frames, submissions


def _dashboard_agreement(
    rng: object,
    project: object,
    frames: list[object],
    annotators: list[object],
    submissions: list[object],
) -> None:
    """A pooled and a per-class AgreementResult of each pair on each image, made up (the
    second half of the images agreeing better: v2 helped), and each image's agreement."""
    from itertools import combinations

    from qc.models import AgreementResult, ImageAgreement

    bubble = project.label_classes.get()
    rows, agreements = [], []
    for n, image in enumerate(frames):
        drawn = dict(zip(annotators, submissions[3 * n : 3 * n + 3], strict=True))
        better = 0.06 if n >= len(frames) // 2 else 0.0
        totals = [0, 0, 0.0]
        for a, b in combinations(annotators, 2):
            pair = _pair_figures(rng, better=better)
            totals[0] += pair["matched"]
            totals[1] += 2 * pair["matched"] + pair["unmatched_a"] + pair["unmatched_b"]
            totals[2] += pair["iou_sum"]
            for label_class in (None, bubble):
                rows.append(
                    AgreementResult(
                        image=image,
                        label_class=label_class,
                        annotator_a=a,
                        annotator_b=b,
                        submission_a=drawn[a],
                        submission_b=drawn[b],
                        **pair,
                    )
                )
        matched, count, iou_sum = totals
        agreements.append(
            ImageAgreement(
                image=image,
                annotators=3,
                pq=iou_sum / (0.5 * count),
                mean_iou=iou_sum / matched,
                f1=2 * matched / count,
                boundary_iou=0.78,
                consensus_method=project.consensus_method,
            )
        )
    AgreementResult.objects.bulk_create(rows, batch_size=5000)
    ImageAgreement.objects.bulk_create(agreements, batch_size=5000)


def _pair_figures(rng: object, *, better: float) -> dict[str, object]:
    """Made-up counts of one pair on one image: about 40 bubbles, most matched."""
    matched = rng.randint(30, 40)
    unmatched_a, unmatched_b = rng.randint(0, 6), rng.randint(0, 6)
    mean_iou = min(0.97, rng.uniform(0.74, 0.9) + better)
    iou_sum = mean_iou * matched
    total = 2 * matched + unmatched_a + unmatched_b
    return {
        "matched": matched,
        "unmatched_a": unmatched_a,
        "unmatched_b": unmatched_b,
        "iou_sum": iou_sum,
        "boundary_iou_sum": 0.78 * matched,
        "mean_iou": mean_iou,
        "f1": 2 * matched / total,
        "pq": iou_sum / (0.5 * total),
        "boundary_iou": 0.78,
    }


# The lead's and admin's other pages of the dashboard case: (label, URL name, takes the
# project's slug, opened by a site admin).
OTHER_PAGES = (
    ("work dashboard", "project-funnel", True, False),
    ("overview", "project-overview", True, False),
    ("all projects (admin)", "site-dashboard", False, True),
)


def measure_dashboard(lead: object, project: object, repeat: int) -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from qc.models import AgreementSummary

    client = Client()
    client.force_login(lead)
    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True}
    )
    admin_client = Client()
    admin_client.force_login(admin)
    anonymous = Client()
    dashboard = reverse("project-dashboard", args=[project.slug])
    plain = reverse("login")
    timed(client, dashboard)  # imports, template compilation
    timed(anonymous, plain)
    executed = []
    with connection.execute_wrapper(
        lambda run, sql, *args: executed.append(sql) or run(sql, *args)
    ):
        _, _, response = timed(client, dashboard)
    assert response.context["dashboard"].state == "ready"
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        report = AgreementSummary.objects.get(project=project).report
        loads.append((time.perf_counter() - started) * 1000)
    others = {}
    for label, name, in_project, by_admin in OTHER_PAGES:
        url = reverse(name, args=[project.slug] if in_project else [])
        visitor = admin_client if by_admin else client
        timed(visitor, url)
        others[label] = series(visitor, url, repeat)
    return {
        "whole_report_ms": statistics.median(loads),
        "dashboard": series(client, dashboard, repeat),
        "plain": series(anonymous, plain, repeat),
        "others": others,
        "queries": len(executed),
        "bytes": len(response.content),
        "report_mb": len(json.dumps(report)) / 1e6,
        "pairs": len(report["pairs"]),
    }


def report_dashboard(found: dict[str, object], *, vendor: str, repeat: int, build_s: float) -> None:
    dashboard, plain = found["dashboard"], found["plain"]
    ratio = dashboard["wall"] / plain["wall"]
    verdict = "ok" if dashboard["wall"] <= GOAL_WARM_MS else "OVER GOAL"
    print(
        f"workload: {found['pairs']} pairs stored (3 annotators), report "
        f"{found['report_mb']:.1f} MB as JSON, built in {build_s:.1f} s"
    )
    print(
        f"database: {vendor}; {repeat} requests each; {found['queries']} queries and "
        f"{found['bytes']} bytes per dashboard; load average {os.getloadavg()[0]:.1f}"
    )
    print("                          wall median   wall best    CPU median")
    rows = [("agreement dashboard", dashboard), *found["others"].items()]
    for name, figures in [*rows, ("plain page (login)", plain)]:
        print(
            f"{name:24}  {figures['wall']:8.1f} ms  {figures['best']:8.1f} ms  "
            f"{figures['cpu']:8.1f} ms"
        )
    print(
        f"(for comparison, loading the whole stored report takes "
        f"{found['whole_report_ms']:.0f} ms; the page reads its dashboard key only)"
    )
    print(f"dashboard / plain page: {ratio:.1f}x; goal <= {GOAL_WARM_MS:.0f} ms: {verdict}")
    for name, figures in found["others"].items():
        over = "ok" if figures["wall"] <= GOAL_WARM_MS else "OVER GOAL"
        print(f"{name} / plain page: {figures['wall'] / plain['wall']:.1f}x; {over}")
    print(
        f"pages: dashboard_ms={dashboard['wall']:.1f} plain_ms={plain['wall']:.1f} "
        f"ratio={ratio:.1f} queries={found['queries']} report_mb={found['report_mb']:.1f} "
        f"build_s={build_s:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("viewer", "dashboard", "all"), default="all")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=10_000, help="The dashboard's project.")
    parser.add_argument(
        "--database-url",
        help="Database to benchmark on (default: a throwaway SQLite file). Its tables are "
        "created by migrate and the benchmark projects are deleted first.",
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
        vendor = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
        if args.case in ("viewer", "all"):
            reviewer, image = build(args.seed)
            report_viewer(measure(reviewer, image, args.repeat), vendor=vendor, repeat=args.repeat)
        if args.case in ("dashboard", "all"):
            lead, project, build_s = build_dashboard(args.seed, args.images)
            found = measure_dashboard(lead, project, args.repeat)
            report_dashboard(found, vendor=vendor, repeat=args.repeat, build_s=build_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report_viewer(found: dict[str, object], *, vendor: str, repeat: int) -> None:
    warm, cold, plain = found["warm"], found["cold"], found["plain"]
    ratio = warm["wall"] / plain["wall"]
    verdict = "ok" if warm["wall"] <= GOAL_WARM_MS else "OVER GOAL"
    print(f"workload: 1 image of {SIZE}x{SIZE}, 3 annotators, {found['instances']} instances")
    print(
        f"database: {vendor}; {repeat} requests each; {found['queries']} queries and "
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
