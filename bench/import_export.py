"""Import and export benchmark (DESIGN §8, issue 4).

    python bench/import_export.py [--images N] [--seed S] [--database-url URL]
                                  [--workers W] [--cache DIR]

Workload: a Supervisely project of N synthetic pool-boiling images (default 1000) of
1024 x 1024, three labelers (:data:`qc.synthetic.BENCH_STYLES`, ``labelerLogin`` per
object) of about 40 bubbles each, every object a bitmap (base64(zlib(PNG)) with origin) --
the agreement benchmark's workload written as files. Generating it is cached under
``var/bench/import_export`` and not timed.

Timed (wall clock), on ``--database-url`` (default: a throwaway SQLite file in a temporary
folder; e.g. ``--database-url postgres://postgres@127.0.0.1:5432/maskqc_bench`` for a
PostgreSQL database that exists and may be emptied):

1. ``import_annotations`` of the folder into a fresh project (users and the class created
   by the import), from reading the files to the commit. Agreement is only *queued*: the
   benchmark runs with ``TASKS_BACKEND=database`` so the agreement tasks (a group of images
   each) are rows for a worker, not work done inline (the agreement engine has its own
   benchmark).
2. a COCO export (``export_write``) of the accepted labels, after one labeler's submission
   of every image has been accepted (bulk inserts, not timed).
3. the export's peak memory at 200 and at 1000 images (or N/5 and N), each in a fresh
   subprocess: the tracemalloc peak of the export call (Python and numpy allocations) and
   the process's peak RSS. The goal is that memory does not grow with the image count.

Goals on this machine: import <= 30 s, export <= 10 s, export peak memory within 20 %
between 200 and 1000 images. The last line is ``import_export: import_s=<x> export_s=<y>
export_mem_200_mb=<a> export_mem_1000_mb=<b>`` (tracemalloc peaks, MB).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = 1024
GOALS = {"import_s": 30.0, "export_s": 10.0, "mem_growth": 0.20}


# --------------------------------------------------------------------- the workload


def _write_chunk(args: tuple[int, int, int, str]) -> int:
    """Worker: write the annotation files of images [start, stop) into ``folder``."""
    from qc.formats import ExportCategory, ExportImage, ExportObject, write_supervisely
    from qc.synthetic import BENCH_STYLES, annotate, make_scene

    start, stop, seed, folder = args
    images = [ExportImage(f"frame_{i:05d}.png", SIZE, SIZE) for i in range(start, stop)]

    def objects():
        for image, index in zip(images, range(start, stop), strict=True):
            scene = make_scene(seed=seed * 1_000_003 + index, height=SIZE, width=SIZE)
            for style in BENCH_STYLES:
                for inst in annotate(scene, style, seed=seed):
                    yield ExportObject(
                        image=image.name,
                        label="bubble",
                        rle=inst.rle,
                        provenance={"annotator": style.name},
                    )

    summary = write_supervisely(
        Path(folder), categories=[ExportCategory("bubble")], images=images, annotations=objects()
    )
    return summary.objects


def workload(n_images: int, seed: int, cache: Path) -> tuple[Path, int]:
    """The Supervisely project folder (cached) and its object count."""
    folder = cache / f"supervisely-{n_images}-seed{seed}"
    marker = folder / ".complete"
    if marker.exists():
        return folder, int(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    parts = Path(tempfile.mkdtemp(prefix="parts-", dir=cache))
    step = 25
    jobs = [
        (start, min(start + step, n_images), seed, str(parts / f"{start:06d}"))
        for start in range(0, n_images, step)
    ]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        objects = sum(pool.map(_write_chunk, jobs))
    (folder / "ds" / "ann").mkdir(parents=True)
    for _, _, _, part in jobs:
        part = Path(part)
        shutil.copy(part / "meta.json", folder / "meta.json")
        for file in (part / "ds" / "ann").iterdir():
            file.rename(folder / "ds" / "ann" / file.name)
    shutil.rmtree(parts)
    marker.write_text(str(objects))
    return folder, objects


# ---------------------------------------------------------------------- Django setup


def setup_django(database_url: str, media: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["TASKS_BACKEND"] = "database"
    os.environ["MEDIA_ROOT"] = str(media)
    # DEBUG off: with it on, Django keeps every query's SQL (time and memory).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "maskqc-benchmark-only")
    import django

    django.setup()


def accept_first_labeler(project) -> int:
    """Accept ``anna``'s submission of every image (bench set-up, bulk inserts)."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from projects.models import Membership, Role, TaskStatus
    from qc.models import ImageLabel, Review, Submission

    lead, _ = get_user_model().objects.get_or_create(username="bench-lead")
    Membership.objects.get_or_create(project=project, user=lead, defaults={"role": Role.LEAD})
    submissions = list(
        Submission.objects.filter(
            task__image__project=project, task__annotator__username="anna"
        ).values_list("pk", "task_id", "task__image_id")
    )
    with transaction.atomic():
        Review.objects.bulk_create(
            [Review(submission_id=s, reviewer=lead, decision="accept") for s, _, _ in submissions],
            batch_size=1000,
        )
        ImageLabel.objects.bulk_create(
            [ImageLabel(image_id=i, submission_id=s, accepted_by=lead) for s, _, i in submissions],
            batch_size=1000,
        )
        from projects.models import Task

        Task.objects.filter(pk__in=[t for _, t, _ in submissions]).update(
            status=TaskStatus.ACCEPTED
        )
    return len(submissions)


# ------------------------------------------------------------------ export memory


def measure_export(slug: str, count: int, out: Path) -> dict:
    """In a fresh process: export the first ``count`` accepted images; peak memory."""
    import tracemalloc

    from projects.models import Image, Project
    from qc.services.exports import export_write

    project = Project.objects.get(slug=slug)
    names = list(
        Image.objects.filter(project=project, label__isnull=False)
        .order_by("name")
        .values_list("name", flat=True)[:count]
    )
    # This process was forked from the benchmark's (hundreds of MB after the import) and the
    # kernel's peak RSS survives exec: reset it, so the peak below is this process's own.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    rss_before = _rss_mb("VmRSS")
    tracemalloc.start()
    started = time.perf_counter()
    summary = export_write(project=project, format="coco", out_path=out, filters={"images": names})
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "images": summary.images,
        "annotations": summary.annotations,
        "seconds_traced": seconds,
        "tracemalloc_peak_mb": peak / 2**20,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb("VmHWM"),
    }


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_memory(slug: str, count: int, database_url: str, media: Path, tmp: Path) -> dict:
    out = tmp / f"export-{count}.json"
    command = [
        sys.executable,
        __file__,
        "--measure-export",
        str(count),
        "--slug",
        slug,
        "--database-url",
        database_url,
        "--media",
        str(media),
        "--out",
        str(out),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main


def _cpu_seconds() -> tuple[float, float]:
    """User + system CPU seconds of this process and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="Database to benchmark on (default: a throwaway SQLite file). Its tables are "
        "created by migrate and the benchmark project is deleted first.",
    )
    parser.add_argument("--workers", type=int, help="Import worker processes (default: CPUs).")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench" / "import_export")
    parser.add_argument("--measure-export", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    parser.add_argument("--media", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure_export:
        setup_django(args.database_url, args.media)
        print(json.dumps(measure_export(args.slug, args.measure_export, args.out)))
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    folder, n_objects = workload(args.images, args.seed, args.cache)
    generate_s = time.perf_counter() - started

    tmp = Path(tempfile.mkdtemp(prefix="maskqc-bench-"))
    try:
        database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
        media = tmp / "media"
        setup_django(database_url, media)
        from django.core.management import call_command

        from projects.models import Project
        from projects.services import project_create
        from qc.services.exports import export_write
        from qc.services.imports import import_annotations

        call_command("migrate", verbosity=0)
        Project.objects.filter(slug="bench-import").delete()
        project = project_create(slug="bench-import", name="Import benchmark")

        phases: dict[str, float] = {}
        clock = {"t": time.perf_counter(), "phase": "start"}

        def progress(_fraction: float, message: str) -> None:
            phase = message.split(" ")[0]
            if phase != clock["phase"]:
                now = time.perf_counter()
                phases[clock["phase"]] = phases.get(clock["phase"], 0.0) + now - clock["t"]
                clock.update(t=now, phase=phase)

        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        summary = import_annotations(
            project=project,
            path=folder,
            format="supervisely",
            actor=None,
            create_users=True,
            create_labels=True,
            progress=progress,
            workers=args.workers,
        )
        import_s = time.perf_counter() - started
        import_cpu = [
            after - before for after, before in zip(_cpu_seconds(), cpu_before, strict=True)
        ]
        progress(1.0, "end")
        load_after_import = os.getloadavg()[0]
        assert summary.instances == n_objects, (summary.instances, n_objects)

        accept_first_labeler(project)
        started = time.perf_counter()
        exported = export_write(project=project, format="coco", out_path=tmp / "export.json")
        export_s = time.perf_counter() - started

        small = max(1, args.images // 5)
        memory = {
            n: export_memory(project.slug, n, database_url, media, tmp)
            for n in (small, args.images)
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    vendor = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    growth = memory[args.images]["tracemalloc_peak_mb"] / memory[small]["tracemalloc_peak_mb"] - 1
    rss_growth = memory[args.images]["peak_rss_mb"] / memory[small]["peak_rss_mb"] - 1
    rows = [
        ("workload", f"{args.images} images x 3 labelers, {n_objects} bitmaps ({vendor})", ""),
        ("generate (cached, not timed)", f"{generate_s:.1f} s", ""),
        ("import: checksum", f"{phases.get('checking', 0):.1f} s", ""),
        (
            "import: read + measure",
            f"{phases.get('reading', 0) + phases.get('measuring', 0):.1f} s",
            "",
        ),
        ("import: write (one transaction)", f"{phases.get('writing', 0):.1f} s", ""),
        ("import total", f"{import_s:.1f} s", f"goal <= {GOALS['import_s']:.0f} s"),
        (
            "  CPU time",
            f"{import_cpu[0]:.1f} s in this process + {import_cpu[1]:.1f} s in "
            f"worker processes ({os.cpu_count()} CPUs, 1-minute load average "
            f"{load_after_import:.1f} after the import)",
            "",
        ),
        (
            "  rows",
            f"{summary.images_created} images, {summary.submissions} submissions, "
            f"{summary.instances} instances, agreement queued for "
            f"{summary.agreement_queued} images",
            "",
        ),
        (
            "export coco (accepted)",
            f"{export_s:.1f} s ({exported.images} images, {exported.annotations} annotations)",
            f"goal <= {GOALS['export_s']:.0f} s",
        ),
        (
            f"export peak, tracemalloc {small} / {args.images}",
            f"{memory[small]['tracemalloc_peak_mb']:.2f} / "
            f"{memory[args.images]['tracemalloc_peak_mb']:.2f} MB ({growth:+.1%})",
            f"goal within {GOALS['mem_growth']:.0%}",
        ),
        (
            f"export peak RSS {small} / {args.images}",
            f"{memory[small]['peak_rss_mb']:.0f} / {memory[args.images]['peak_rss_mb']:.0f} MB "
            f"({rss_growth:+.1%}; {memory[small]['rss_before_mb']:.0f} MB before the export)",
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value}" + (f"   [{goal}]" if goal else ""))
    print(
        f"import_export: import_s={import_s:.1f} export_s={export_s:.1f} "
        f"export_mem_200_mb={memory[small]['tracemalloc_peak_mb']:.2f} "
        f"export_mem_1000_mb={memory[args.images]['tracemalloc_peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
