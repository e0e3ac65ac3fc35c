"""The hot queries' plans on the seeded project, without and with their indexes (issue 13).

    python bench/explain.py [--images N] [--seed S] [--repeat R] [--database-url URL]

For each hot query -- the review queue's order, the per-project aggregates of the
overview and the dashboards, the task lists (the API's, claim-next's), the audit log by
project and time -- the SQL is captured from the real selector or service
(``CaptureQueriesContext``; a service's writes rolled back), then run under ``EXPLAIN
(ANALYZE, BUFFERS)`` ``--repeat`` times (default 5) without the index that serves it (dropped
inside a transaction that is rolled back, so nothing changes) and with it. Printed per
query: its name, the index, the plan's first lines before and after, and the median
execution time of each (the first run of each, which warms the cache, is not counted).

By default on a fresh copy ``bench_explain`` of the 10,000-image seed (:mod:`bench.seed`),
migrated and dropped at the end; ``--database-url`` runs on a database already seeded
and migrated. ``bench/http_load.py`` prints the same summary on its own copy before the load.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COPY = "bench_explain"
PLAN_LINES = 8


@dataclass(frozen=True)
class HotQuery:
    """A hot query: what runs it (``run(ctx)`` calls the real selector or service), which
    of the statements it runs is the one the index serves (the first whose SQL matches
    ``pick``, a regular expression), and the index (its name in the model's Meta; None for
    a hot query that no new index helps, said why in ``note``: its plan is shown once)."""

    name: str
    index: str | None
    run: Callable[[dict[str, Any]], None]
    pick: str
    note: str = ""


@dataclass(frozen=True)
class Explained:
    query: HotQuery
    sql: str
    before_ms: float
    after_ms: float
    before_plan: list[str]
    after_plan: list[str]


# ----------------------------------------------------------------- the hot queries


def _review_queue(ctx: dict[str, Any]) -> None:
    from qc.selectors.queue import QueueFilters, review_queue_page

    review_queue_page(user=ctx["reviewer"], project=ctx["project"], filters=QueueFilters())


def _task_list(ctx: dict[str, Any]) -> None:
    from projects.selectors import tasks_of_project

    list(tasks_of_project(project=ctx["project"])[:50])


def _claim_next(ctx: dict[str, Any]) -> None:
    from django.db import transaction

    from projects.services.tasks import task_claim_next

    with transaction.atomic():
        task_claim_next(project=ctx["project"], actor=ctx["annotator"])
        transaction.set_rollback(True)


def _audit(ctx: dict[str, Any], *, data: dict[str, str], page: int) -> None:
    """The audit API's query: the selector under the endpoint's filters, one page of 50."""
    from qc.api.reviews import AuditFilter
    from qc.selectors.workflow import audit_events_of

    events = AuditFilter(data=data, queryset=audit_events_of(project=ctx["project"])).qs
    list(events[(page - 1) * 50 : page * 50])


def _audit_week_ago(ctx: dict[str, Any]) -> None:
    from datetime import timedelta

    from django.utils import timezone

    until = (timezone.now() - timedelta(days=7)).isoformat()
    _audit(ctx, data={"until": until}, page=1)


def _overview_counts(ctx: dict[str, Any]) -> None:
    from projects.selectors import project_overview

    project_overview(project=ctx["project"], user=ctx["lead"])


HOT_QUERIES: list[HotQuery] = [
    HotQuery(
        name="review queue (a reviewer's first page, worst agreement first)",
        index=None,
        run=_review_queue,
        pick=r'^SELECT "projects_image"\."id".*ORDER BY .*LIMIT',
        note="the order is a top-N sort of the reviewer's 500 images after their state "
        "is worked out (most of the time); a partial index on open assignments by "
        "reviewer changed the plan's first step, not its time (within the noise of "
        "repeated runs on the seed): none added",
    ),
    HotQuery(
        name="claim-next (an annotator's next assigned task, soonest due, oldest)",
        index="task_annotator_claim_order",
        run=_claim_next,
        pick=r'^SELECT "projects_task"\."id".*FOR UPDATE',
    ),
    HotQuery(
        name="audit log (the project's newest events, first page)",
        index="audit_event_project_time",
        run=lambda ctx: _audit(ctx, data={}, page=1),
        pick=r'^SELECT "projects_auditevent"\."id"',
    ),
    HotQuery(
        name="audit log (until a week ago, first page)",
        index="audit_event_project_time",
        run=_audit_week_ago,
        pick=r'^SELECT "projects_auditevent"\."id"',
    ),
    HotQuery(
        name="audit log (page 100)",
        index="audit_event_project_time",
        run=lambda ctx: _audit(ctx, data={}, page=100),
        pick=r'^SELECT "projects_auditevent"\."id"',
    ),
    HotQuery(
        name="task list (API: the project's tasks by image name, first page)",
        index=None,
        run=_task_list,
        pick=r'^SELECT "projects_task"\."id"',
        note="served by the existing image_unique_name (project, name) and the task's "
        "image index: an incremental sort reads the first 53 tasks; no new index",
    ),
    HotQuery(
        name="overview (the project's tasks by status)",
        index=None,
        run=_overview_counts,
        pick=r'^SELECT "projects_task"\."status" AS "status", COUNT',
        note="counts every task of the project (a hash join over all of them); an index "
        "on (image, status) left plan and time as they were: none added",
    ),
]


# ------------------------------------------------------------------------- running


def context() -> dict[str, Any]:
    """The seeded project and who the hot queries run as (:mod:`bench.seed`'s users)."""
    from django.contrib.auth import get_user_model
    from seed import SLUG

    from projects.models import Project

    users = get_user_model().objects
    return {
        "project": Project.objects.get(slug=SLUG),
        "reviewer": users.get(username="bench-reviewer-01"),
        "lead": users.get(username="bench-lead-01"),
        "annotator": users.get(username="bench-annotator-01"),
    }


def capture(query: HotQuery, ctx: dict[str, Any]) -> str:
    """The SQL of the statement of ``query`` that its index serves, parameters in."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        query.run(ctx)
    pattern = re.compile(query.pick, re.DOTALL)
    for item in captured.captured_queries:
        if pattern.search(item["sql"]):
            return item["sql"]
    raise LookupError(f"{query.name}: no statement matches {query.pick!r}")


def _explain(sql: str, *, drop: str | None, repeat: int) -> tuple[float, list[str]]:
    """Median execution time (ms) of ``repeat`` runs after one warm-up, and the last plan;
    with the index ``drop`` dropped in a transaction that is rolled back."""
    from django.db import connection, transaction

    times, plan = [], []
    with transaction.atomic(), connection.cursor() as cursor:
        if drop:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(drop)}")
        for _ in range(repeat + 1):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = [row[0] for row in cursor.fetchall()]
            found = [line for line in plan if line.startswith("Execution Time")]
            times.append(float(found[0].split(":")[1].split()[0]))
        transaction.set_rollback(True)
    return statistics.median(times[1:]), plan


def explain_all(*, repeat: int = 5) -> list[Explained]:
    """Each hot query's plan and time without and with its index."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise RuntimeError("EXPLAIN (ANALYZE, BUFFERS) needs PostgreSQL")
    ctx = context()
    results = []
    for query in HOT_QUERIES:
        # EXPLAIN ANALYZE runs the statement: claim-next's row lock ends with the rollback.
        sql = capture(query, ctx)
        after, after_plan = _explain(sql, drop=None, repeat=repeat)
        before, before_plan = after, after_plan
        if query.index is not None:
            before, before_plan = _explain(sql, drop=query.index, repeat=repeat)
        results.append(Explained(query, sql, before, after, before_plan, after_plan))
    return results


def _shown(plan: list[str]) -> list[str]:
    lines = [line for line in plan if not line.startswith(("Planning", "Execution"))]
    return lines[:PLAN_LINES] + (["  ..."] if len(lines) > PLAN_LINES else [])


def print_explained(results: list[Explained]) -> None:
    """The summary: per hot query, the index, the plans' first lines and the times."""
    print("hot queries on the seeded project: EXPLAIN (ANALYZE, BUFFERS), median of runs")
    for r in results:
        print(f"\n== {r.query.name}")
        if r.query.index is None:
            print(f"   no index added: {r.query.note}; {r.after_ms:.2f} ms")
            for line in _shown(r.after_plan):
                print(f"     {line}")
            continue
        ratio = r.before_ms / r.after_ms if r.after_ms else float("inf")
        print(
            f"   index {r.query.index}: {r.before_ms:.2f} ms without, {r.after_ms:.2f} ms "
            f"with ({ratio:.1f}x)"
        )
        print("   without:")
        for line in _shown(r.before_plan):
            print(f"     {line}")
        print("   with:")
        for line in _shown(r.after_plan):
            print(f"     {line}")
    print()
    for r in results:
        if r.query.index is None:
            continue
        print(f"explain: {r.query.index} before_ms={r.before_ms:.2f} after_ms={r.after_ms:.2f}")


def _setup_django(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "maskqc-benchmark-only")
    os.environ["TASKS_BACKEND"] = "database"
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="A seeded, migrated database (kept).")
    args = parser.parse_args()
    from seed import database_drop, seeded_database

    made = None
    url = args.database_url
    if url is None:
        made = seeded_database(images=args.images, seed=args.seed, name=COPY)
        url = made.database_url
        os.environ["MEDIA_ROOT"] = str(made.media_root)
    try:
        _setup_django(url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print_explained(explain_all(repeat=args.repeat))
    finally:
        if made is not None:
            from django.db import connections

            connections.close_all()
            database_drop(name=COPY)


if __name__ == "__main__":
    main()
