"""A seeded PostgreSQL project for the load benchmarks (issue 13), built once and copied.

    python bench/seed.py [--images N] [--seed S] [--copy NAME] [--drop NAME] [--rebuild]

What it holds: one project (slug ``bench-seed``, class ``bubble``) of N synthetic
pool-boiling images of 1024 x 1024 (default 10,000), each annotated by the three labelers
of :data:`qc.synthetic.BENCH_STYLES` with about 40 bubbles each -- the import benchmark's
cached Supervisely workload (``bench/import_export.py``), imported through
``import_annotations`` with ``TASKS_BACKEND=database`` so that agreement is only queued --
then the real agreement of every image, from its stored masks, by
``agreement_update_for_image`` in one worker process per CPU (the queued task rows are
dropped: the agreement they asked for is stored), and the project report once. Around
that, so that every page and endpoint has its data:

- members who can log in, all with the password :data:`PASSWORD`: leads
  ``bench-lead-NN`` (the agreement dashboard), reviewers ``bench-reviewer-NN``,
  annotators ``bench-annotator-NN`` and API clients ``bench-api-NN`` (leads, each with
  a REST token);
- a published guideline (acknowledged by every annotator, so the submission gate lets
  their work in);
- the images split in two, alternately: the even ones **in review**, each assigned to a
  reviewer in turn (each reviewer's queue); the odd ones with a fourth, **assigned** task
  of an annotator in turn (what claim-next hands out and a submission completes);
- the audit history that assigning them wrote (one event per task and per review
  assignment, spread over the last eight weeks), and that of an older project
  (``bench-archive``, :data:`ARCHIVE_EVENTS` events), so that the project's audit log is
  one project's among others;
- fresh planner statistics (``VACUUM ANALYZE``), as autovacuum leaves a settled database.

Cached: the build goes into a template database ``bench_seed_<N>_<S>`` (marked complete
by a comment on the database once everything is in) with its media folder under
``var/bench/seed/``; :func:`seeded_database` then copies it with ``CREATE DATABASE ...
TEMPLATE`` (seconds) and copies the media folder beside the copy. The build runs in a
subprocess of its own (Django configured on the template), so a caller may configure
Django on its copy afterwards. The server is ``BENCH_POSTGRES_URL`` (default
``postgres://postgres@127.0.0.1:5432``). How long the build took is printed, and kept in
the seed's ``info.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Bumped whenever what the seed holds changes: an older template is built again.
SEED_VERSION = 1
SLUG = "bench-seed"
ARCHIVE_SLUG = "bench-archive"
PASSWORD = "maskqc-bench-password"
LEADS, REVIEWERS, ANNOTATORS, API_CLIENTS = 5, 10, 25, 10
ARCHIVE_EVENTS = 60_000
HISTORY_WEEKS = 8
CACHE = ROOT / "var" / "bench" / "seed"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class SeedInfo:
    """A seeded database copy: where it is and who may log in to it.

    ``leads``, ``reviewers``, ``annotators`` (who claim and submit) and ``api_clients``
    (leads using ``tokens[username]``) all have the password ``password``;
    ``import_annotators`` are the labelers of the import (they cannot log in).
    ``claimable`` tasks wait for the annotators, ``in_review`` images for the reviewers.
    ``build_seconds`` is what building the template took (when it was built), and
    ``copy_seconds`` what this copy took."""

    database_url: str
    database: str
    template: str
    media_root: Path
    slug: str
    images: int
    seed: int
    password: str
    leads: list[str]
    reviewers: list[str]
    annotators: list[str]
    api_clients: list[str]
    tokens: dict[str, str]
    import_annotators: list[str]
    in_review: int
    claimable: int
    build_seconds: float
    built_now: bool = False
    copy_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        """The environment variables that point MaskQC at this copy."""
        return {"DATABASE_URL": self.database_url, "MEDIA_ROOT": str(self.media_root)}


# ------------------------------------------------------------------ public helpers


def template_name(*, images: int, seed: int) -> str:
    """The template database of a seed of ``images`` images with ``seed``."""
    return f"bench_seed_{images}_{seed}"


def seeded_database(
    *,
    images: int = 10_000,
    seed: int = 0,
    name: str,
    server: str | None = None,
    media_parent: Path | None = None,
    rebuild: bool = False,
) -> SeedInfo:
    """A fresh copy ``name`` of the seed of ``images`` images (built first when missing,
    stale or ``rebuild``), with its media folder copied to ``media_parent/name/media``
    (default under ``var/bench/seed/copies``). A database ``name`` that exists is
    dropped first. Drop the copy with :func:`database_drop`."""
    server = server or os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER)
    template = template_name(images=images, seed=seed)
    if name == template or name.startswith("bench_seed_"):
        raise ValueError(f"{name!r} is a template's name; copies need a name of their own")
    built_now = _ensure_template(server=server, images=images, seed=seed, rebuild=rebuild)
    folder = CACHE / template
    info = json.loads((folder / "info.json").read_text())
    started = time.perf_counter()
    _admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_execute(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    _migrate(f"{server.rstrip('/')}/{name}")
    media = (media_parent or CACHE / "copies") / name / "media"
    shutil.rmtree(media, ignore_errors=True)
    shutil.copytree(folder / "media", media)
    copy_seconds = time.perf_counter() - started
    return SeedInfo(
        database_url=f"{server.rstrip('/')}/{name}",
        database=name,
        template=template,
        media_root=media,
        built_now=built_now,
        copy_seconds=copy_seconds,
        **info,
    )


def _migrate(database_url: str) -> None:
    """Bring a copy up to the code's migrations: the template keeps the schema it was built
    with, and the code may have gained migrations since."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",
        MASKQC_ENV_FILE=os.devnull,
        TASKS_BACKEND="database",
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def database_drop(
    *, name: str, server: str | None = None, media_parent: Path | None = None
) -> None:
    """Drop the copy ``name`` (never a template) and its media folder."""
    if name.startswith("bench_seed_"):
        raise ValueError(f"{name!r} is a template; drop it by hand if you mean to")
    server = server or os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER)
    _admin_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shutil.rmtree((media_parent or CACHE / "copies") / name, ignore_errors=True)


def _marker(images: int, seed: int) -> str:
    return f"maskqc bench seed v{SEED_VERSION}: {images} images, seed {seed}, complete"


def _admin_execute(server: str, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Run one statement on the server's ``postgres`` database, outside a transaction."""
    import psycopg

    with psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _template_ready(server: str, template: str) -> bool:
    images, seed = (int(part) for part in template.removeprefix("bench_seed_").split("_"))
    rows = _admin_execute(
        server,
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        [template],
    )
    complete = bool(rows) and rows[0][0] == _marker(images, seed)
    return complete and (CACHE / template / "info.json").is_file()


def _ensure_template(*, server: str, images: int, seed: int, rebuild: bool = False) -> bool:
    """Build the template unless it is ready; True when it was built now. A file lock
    makes a second caller wait for the first one's build instead of starting its own."""
    import fcntl

    template = template_name(images=images, seed=seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{template}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not rebuild and _template_ready(server, template):
            return False
        _build_in_subprocess(server=server, images=images, seed=seed)
        return True


def _build_in_subprocess(*, server: str, images: int, seed: int) -> None:
    command = [sys.executable, __file__, "--build", "--images", str(images), "--seed", str(seed)]
    subprocess.run(command, check=True, env={**os.environ, "BENCH_POSTGRES_URL": server})


# ------------------------------------------------------------------------ the build


def build(*, server: str, images: int, seed: int) -> dict[str, Any]:
    """Build the template database and its media folder (this process configures Django
    on it); returns what ``info.json`` keeps."""
    template = template_name(images=images, seed=seed)
    folder = CACHE / template
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "media").mkdir(parents=True)
    _admin_execute(server, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    _admin_execute(server, f'CREATE DATABASE "{template}"')
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        print(f"seed: {name} {timings[name]:.1f} s", flush=True)

    sys.path.insert(0, str(ROOT / "bench"))
    from import_export import workload

    cache = ROOT / "var" / "bench" / "import_export"
    cache.mkdir(parents=True, exist_ok=True)
    source, _ = workload(images, seed, cache)
    lap("workload (cached after the first build)")

    _setup_django(f"{server.rstrip('/')}/{template}", folder / "media")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    lap("migrate")
    project, team = _project_and_team()
    lap("project, members, guideline")
    _import(project, source)
    lap("import (agreement queued)")
    computed = _agreement_all(project)
    lap(f"agreement of {computed} images ({_workers()} processes)")
    from qc.services.agreement import agreement_summary_update

    agreement_summary_update(project_id=project.pk)
    lap("project report")
    in_review, claimable = _workflow(project, team)
    _archive_history()
    lap("review assignments, claimable tasks, audit history")
    _statistics()
    lap("VACUUM ANALYZE")
    total = time.perf_counter() - started
    tokens = _tokens(team["api"])
    info = {
        "slug": SLUG,
        "images": images,
        "seed": seed,
        "password": PASSWORD,
        "leads": [u.username for u in team["lead"]],
        "reviewers": [u.username for u in team["reviewer"]],
        "annotators": [u.username for u in team["annotator"]],
        "api_clients": [u.username for u in team["api"]],
        "tokens": tokens,
        "import_annotators": [style.name for style in _styles()],
        "in_review": in_review,
        "claimable": claimable,
        "build_seconds": round(total, 1),
        "timings": timings,
    }
    from django.db import connections

    connections.close_all()
    (folder / "info.json").write_text(json.dumps(info, indent=2))
    marker = _marker(images, seed).replace("'", "''")
    _admin_execute(server, f"COMMENT ON DATABASE \"{template}\" IS '{marker}'")
    print(f"seed: {template} built in {total:.1f} s", flush=True)
    return info


def _setup_django(database_url: str, media: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["TASKS_BACKEND"] = "database"
    os.environ["MEDIA_ROOT"] = str(media)
    os.environ["DEBUG"] = "false"  # no SQL kept per query
    os.environ.setdefault("SECRET_KEY", "maskqc-benchmark-only")
    import django

    django.setup()
    import logging

    logging.getLogger("django_tasks").setLevel(logging.WARNING)


def _styles() -> Sequence[Any]:
    from qc.synthetic import BENCH_STYLES

    return BENCH_STYLES


def _workers() -> int:
    return os.cpu_count() or 1


def _project_and_team() -> tuple[Any, dict[str, list[Any]]]:
    """The project, its members who log in (one password hash for all: hashing it once
    per user would cost a second each) and the published guideline."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from projects.models import Membership, Project, Role
    from projects.services import guideline_version_create, project_create

    User = get_user_model()
    Project.objects.filter(slug__in=[SLUG, ARCHIVE_SLUG]).delete()
    project = project_create(slug=SLUG, name="Seeded benchmark project", labels=["bubble"])
    encoded = make_password(PASSWORD)
    groups = {
        "lead": ("bench-lead", LEADS, Role.LEAD),
        "reviewer": ("bench-reviewer", REVIEWERS, Role.REVIEWER),
        "annotator": ("bench-annotator", ANNOTATORS, Role.ANNOTATOR),
        "api": ("bench-api", API_CLIENTS, Role.LEAD),
    }
    team: dict[str, list[Any]] = {}
    for key, (prefix, count, role) in groups.items():
        users = User.objects.bulk_create(
            User(username=f"{prefix}-{n:02d}", password=encoded) for n in range(1, count + 1)
        )
        Membership.objects.bulk_create(
            Membership(project=project, user=user, role=role) for user in users
        )
        team[key] = users
    guideline_version_create(
        project=project,
        title="Bubbles",
        body="Outline every bubble whole, rim included; touching bubbles apart.",
        author=team["lead"][0],
        change_summary="First version.",
        publish=True,
    )
    return project, team


def _import(project: Any, source: Path) -> None:
    from qc.services.imports import import_annotations

    import_annotations(
        project=project,
        path=source,
        format="supervisely",
        actor=None,
        create_users=True,
        create_labels=True,
        workers=_workers(),
    )


def _agreement_chunk(image_ids: list[int]) -> int:
    """Worker process: the agreement of each image, as a submission's task stores it."""
    from qc.services.agreement import agreement_update_for_image

    for image_id in image_ids:
        agreement_update_for_image(image_id=image_id)
    return len(image_ids)


def _agreement_all(project: Any) -> int:
    """Every image's agreement from its stored masks, in one forked process per CPU (each
    opens its own connection); the agreement tasks the import queued are dropped, their
    work done."""
    from django.db import connections
    from django_tasks_db.models import DBTaskResult

    from projects.models import Image

    DBTaskResult.objects.all().delete()
    ids = list(Image.objects.filter(project=project).order_by("pk").values_list("pk", flat=True))
    connections.close_all()  # the children must not share this process's connection
    groups = [ids[start : start + 50] for start in range(0, len(ids), 50)]
    with multiprocessing.get_context("fork").Pool(_workers()) as pool:
        return sum(pool.imap_unordered(_agreement_chunk, groups))


def _workflow(project: Any, team: dict[str, list[Any]]) -> tuple[int, int]:
    """Review assignments for the even images, a fourth assigned task on the odd ones,
    the annotators' acknowledgements, and the audit events their assignment wrote, spread
    over the last weeks. Returns (images in review, claimable tasks)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from projects.audit import audit_event
    from projects.models import Acknowledgement, GuidelineVersion, Image, Task
    from qc.models import ReviewAssignment

    lead = team["lead"][0]
    images = list(Image.objects.filter(project=project).order_by("name"))
    review, claim = images[0::2], images[1::2]
    reviewers, annotators = team["reviewer"], team["annotator"]
    with transaction.atomic():
        assignments = ReviewAssignment.objects.bulk_create(
            ReviewAssignment(image=image, reviewer=reviewers[k % len(reviewers)], assigned_by=lead)
            for k, image in enumerate(review)
        )
        tasks = Task.objects.bulk_create(
            Task(image=image, annotator=annotators[k % len(annotators)], assigned_by=lead)
            for k, image in enumerate(claim)
        )
        version = GuidelineVersion.objects.get(guideline__project=project)
        Acknowledgement.objects.bulk_create(
            Acknowledgement(user=user, version=version) for user in annotators
        )
        events = [
            audit_event(
                actor=lead,
                verb="review.assign",
                obj=a,
                project=project,
                after={"reviewer": a.reviewer.username},
            )
            for a in assignments
        ] + [
            audit_event(
                actor=lead,
                verb="task.assign",
                obj=t,
                project=project,
                after={"annotator": t.annotator.username},
            )
            for t in tasks
        ]
        _stamped_events(events, now=timezone.now(), span=timedelta(weeks=HISTORY_WEEKS))
    return len(assignments), len(tasks)


def _stamped_events(events: list[Any], *, now: Any, span: Any) -> None:
    """Insert ``events`` with times spread evenly over ``span`` up to ``now``, oldest first
    (``created_at`` stamps the insert's time otherwise)."""
    from projects.models import AuditEvent

    for k, event in enumerate(events):
        event.created_at = now - span * (1 - k / max(1, len(events)))
    stamp = AuditEvent._meta.get_field("created_at")
    stamp.auto_now_add = False
    try:
        AuditEvent.objects.bulk_create(events, batch_size=5000)
    finally:
        stamp.auto_now_add = True


def _archive_history() -> None:
    """An older project's audit history: :data:`ARCHIVE_EVENTS` task events over the
    same weeks, interleaved in time with the seeded project's."""
    from datetime import timedelta

    from django.utils import timezone

    from projects.models import AuditEvent
    from projects.services import project_create

    archive = project_create(slug=ARCHIVE_SLUG, name="Archived benchmark project")
    events = [
        AuditEvent(
            project=archive,
            verb=("task.assign", "task.claim", "submission.create")[k % 3],
            object_type="projects.task",
            object_id=str(k // 3 + 1),
            after={"n": k},
        )
        for k in range(ARCHIVE_EVENTS)
    ]
    _stamped_events(events, now=timezone.now(), span=timedelta(weeks=HISTORY_WEEKS))


def _tokens(users: list[Any]) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    return {user.username: Token.objects.create(user=user).key for user in users}


def _statistics() -> None:
    """VACUUM ANALYZE the whole database: fresh planner statistics and visibility maps,
    as autovacuum leaves a database some time after a bulk write."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copy", metavar="NAME", help="Make a copy NAME and print where.")
    parser.add_argument("--drop", metavar="NAME", help="Drop the copy NAME and its media.")
    parser.add_argument("--rebuild", action="store_true", help="Build the template anew.")
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    server = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER)
    if args.build:
        build(server=server, images=args.images, seed=args.seed)
        return
    if args.drop:
        database_drop(name=args.drop)
        print(f"seed: dropped {args.drop}")
        return
    if args.copy:
        info = seeded_database(
            images=args.images, seed=args.seed, name=args.copy, server=server, rebuild=args.rebuild
        )
        shown = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(info).items()}
        shown.pop("tokens")
        print(json.dumps(shown, indent=2))
        print(f"seed: copy {info.database} made in {info.copy_seconds:.1f} s")
        return
    template = template_name(images=args.images, seed=args.seed)
    if not _ensure_template(
        server=server, images=args.images, seed=args.seed, rebuild=args.rebuild
    ):
        print(f"seed: {template} is built (cached)")


if __name__ == "__main__":
    main()
