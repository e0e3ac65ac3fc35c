"""Reading an annotation source and building its instance rows, the CPU-bound part of an
import (:func:`read_and_build`): in this process, or in forked worker processes when the
source is large -- a Supervisely folder read in shards, or the objects of one read measured
in chunks. Rows come back in object order (:func:`qc.services.submissions.instance_row`);
submission and label class are filled in by the write."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from projects.errors import ImportRefused
from projects.progress import ProgressThrottle
from qc import masks
from qc.agreement import boundary_width, measure_crop
from qc.formats import READERS, FormatError, Limits, ParsedImage, ParseResult
from qc.formats.base import Measure
from qc.services.import_text import refusal, refuse_unstorable_text
from qc.services.submissions import InstanceInput, instance_row

__all__ = [
    "SourceReading",
    "default_workers",
    "read_and_build",
]


# Work is sent to worker processes only when there is enough of it to pay for them.
_PARALLEL_MIN_OBJECTS = 3000
_PARALLEL_MIN_FILES = 64
_CHUNK_OBJECTS = 1500


def _polygon_json(parts: list[list[float]] | None, holes: list[list[float]] | None) -> dict | None:
    """Instance.polygon: the source polygon parts and holes (flat [x0, y0, ...] lists)."""
    if not parts:
        return None
    return {"parts": [list(p) for p in parts], "holes": [list(h) for h in holes or []]}


def _instances_for(
    result: ParseResult, start: int, stop: int, boundary_px: int | None
) -> tuple[list[list[Any]], tuple[int, str] | None]:
    """Instance rows (:func:`qc.services.submissions.instance_row`)
    (features computed once) for the parsed objects [start, stop), or the position in
    ``result.objects`` and message of the first object whose mask is refused. Submission
    and label class are filled in when written. A bitmap's features come from
    ``result.measured`` (:func:`_measure`).
    """
    band_widths: dict[tuple[int, int], int] = {}
    out: list[list[Any]] = []
    measured = result.measured
    for position in range(start, stop):
        obj = result.objects[position]
        height, width = (int(v) for v in obj.rle["size"])
        band_px = band_widths.get((height, width))
        if band_px is None:
            band_px = band_widths[(height, width)] = boundary_width(
                height=height, width=width, boundary_px=boundary_px
            )
        # The class is resolved later (it may not exist yet); the row gets its id then.
        item = InstanceInput(
            label_class=None,
            rle=obj.rle,
            polygon=_polygon_json(obj.polygon, obj.holes),
            attributes=obj.attributes,
        )
        try:
            # A bitmap's features were measured while its pixels were decoded.
            seen = None if measured is None else measured[position]
            features = seen[1] if seen is not None and seen[0] == band_px else None
            out.append(instance_row(item, boundary_px=band_px, features=features))
        except masks.MaskError as error:
            return out, (position, f"invalid mask: {error}")
    return out, None


def _measure(boundary_px: int | None) -> Measure:
    """The readers' hook for bitmaps: each one's RLE and features from its decoded pixels
    (``measured`` = (band width, features)), so no bitmap is decoded twice."""
    band_widths: dict[tuple[int, int], int] = {}

    def measure(
        crop: Any, origin: tuple[int, int], image: ParsedImage
    ) -> tuple[dict, tuple[int, Any]]:
        size = (image.height, image.width)
        band_px = band_widths.get(size)
        if band_px is None:
            band_px = band_widths[size] = boundary_width(
                height=image.height, width=image.width, boundary_px=boundary_px
            )
        rle, features = measure_crop(
            crop, origin=origin, height=image.height, width=image.width, boundary_px=band_px
        )
        return rle, (band_px, features)

    return measure


# In a worker process: the result its pool was started with (:func:`_share`).
_worker_result: ParseResult | None = None


def _share(result: ParseResult) -> None:
    """Worker initializer: keep the pool's result. The pool forks, so the result reaches
    the worker in its inherited memory (copy-on-write), never pickled."""
    global _worker_result
    _worker_result = result


def _build_chunk(start: int, stop: int, boundary_px: int | None) -> tuple[list[list[Any]], Any]:
    """Worker: instances of the shared result's objects [start, stop)."""
    if _worker_result is None:
        raise RuntimeError("an import worker started without the result to work on")
    return _instances_for(_worker_result, start, stop, boundary_px)


def _read_shard(
    format: str, path: str, limits: Limits, kwargs: dict[str, Any], boundary_px: int | None
) -> tuple[str, Any, Any]:
    """Worker: read one shard and build its instances. A FormatError comes back as a tuple
    (its keyword-only constructor does not survive pickling)."""
    try:
        result = READERS[format](Path(path), limits=limits, measure=_measure(boundary_px), **kwargs)
    except FormatError as error:
        return "error", (error.message, error.file, error.image, error.object), None
    built, failure = _instances_for(result, 0, len(result.objects), boundary_px)
    # The features are in the rows; sending them back twice would only cost pickling.
    return "ok", replace(result, measured=None), (built, failure)


def _pool(workers: int, shared: ParseResult | None = None) -> ProcessPoolExecutor:
    """Worker processes, forked: they inherit the loaded apps and, with ``shared``, the
    result to work on (:func:`_share`). They never touch the database (the parent's
    connection stays unused in them and is not closed by them)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_share,
        initargs=(shared,),
    )


@contextlib.contextmanager
def _cancel_on_error(futures: Sequence[Any]) -> Iterator[None]:
    """On an error, drop the work not started yet: the pool then only waits for the running."""
    try:
        yield
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def default_workers() -> int:
    """The worker processes an import uses: ``MASKQC_IMPORT_WORKERS``, else one per CPU."""
    return max(1, settings.MASKQC_IMPORT_WORKERS or os.cpu_count() or 1)


def _supervisely_shards(path: Path, count: int) -> list[list[str]] | None:
    """Split a Supervisely project folder into ``count`` shares of its files for the reader
    (``files``): each with the project's meta.json and a contiguous share of the annotation
    files in path order (the order of a whole read), those of one image name together so
    that duplicate names meet in one share. None when the folder is too small to be worth
    it."""
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    annotations = [
        n for n in files if n.endswith(".json") and PurePosixPath(n).parent.name == "ann"
    ]
    if len(annotations) < _PARALLEL_MIN_FILES:
        return None
    listed = set(annotations)
    common = [n for n in files if PurePosixPath(n).name == "meta.json" and n not in listed]
    by_image: dict[str, list[str]] = defaultdict(list)
    for name in annotations:
        by_image[PurePosixPath(name).name].append(name)
    groups = sorted(by_image.values(), key=lambda group: group[0])
    count = max(1, min(count, len(groups)))
    return [
        common + [name for group in groups[start:stop] for name in group]
        for start, stop in (
            (index * len(groups) // count, (index + 1) * len(groups) // count)
            for index in range(count)
        )
    ]


def _merge_results(results: Sequence[ParseResult]) -> ParseResult:
    """One ParseResult from the shards' results, in shard order."""
    skipped: Counter[str] = Counter()
    skipped_at: dict[str, tuple[str | None, str | None]] = {}
    for result in results:
        skipped.update(result.skipped)
        for kind, place in result.skipped_at.items():
            skipped_at.setdefault(kind, place)
    return ParseResult(
        images=[image for result in results for image in result.images],
        objects=[obj for result in results for obj in result.objects],
        skipped=skipped,
        annotators_saw_all=all(r.annotators_saw_all for r in results),
        submissions=None,
        skipped_at=skipped_at,
    )


@dataclass(frozen=True)
class SourceReading:
    """What to read: the format's reader, the file or folder (``display`` names it in
    errors), the limits, the reader's keyword arguments, and the project's boundary width
    setting the instances are measured with."""

    format: str
    path: Path
    display: str
    limits: Limits
    kwargs: dict[str, Any]
    boundary_px: int | None


def read_and_build(
    source: SourceReading, *, workers: int, report: ProgressThrottle
) -> tuple[ParseResult, list[list[Any]]]:
    """Parse the source and build every object's Instance; the CPU-bound part of an import,
    in worker processes when it is large. Progress runs from 0.05 to 0.90. A result holding
    text no database stores is refused (:func:`refuse_unstorable_text`) before its objects
    are measured and before any query uses its names."""
    if workers > 1 and source.format == "supervisely" and source.path.is_dir():
        # Many small shares: the last ones keep every worker busy to the end.
        shards = _supervisely_shards(source.path, count=max(workers, 1) * 32)
        if shards is not None:
            return _read_shards(source, shards, workers=workers, report=report)
    display, boundary_px = source.display, source.boundary_px
    report(0.05, f"reading {display}")
    try:
        result = READERS[source.format](
            source.path, limits=source.limits, measure=_measure(boundary_px), **source.kwargs
        )
    except FormatError as error:
        raise refusal(error.message, file=error.file, image=error.image, obj=error.object) from None
    refuse_unstorable_text(result, display=display)
    total = len(result.objects)
    report(0.45, f"measuring {total} instances")
    instances: list[list[Any]] = []
    if workers > 1 and total >= _PARALLEL_MIN_OBJECTS:
        with _pool(workers, shared=result) as pool:
            futures = [
                pool.submit(_build_chunk, start, min(start + _CHUNK_OBJECTS, total), boundary_px)
                for start in range(0, total, _CHUNK_OBJECTS)
            ]
            with _cancel_on_error(futures):
                for future in futures:
                    built, failure = future.result()
                    _raise_build_failure(failure, result, display)
                    instances += built
                    report(0.45 + 0.45 * len(instances) / total, f"measuring {total} instances")
    else:
        for start in range(0, total, 200):
            built, failure = _instances_for(result, start, min(start + 200, total), boundary_px)
            _raise_build_failure(failure, result, display)
            instances += built
            report(0.45 + 0.45 * len(instances) / max(total, 1), f"measuring {total} instances")
    return result, instances


def _raise_build_failure(failure: Any, result: ParseResult, display: str) -> None:
    if failure is not None:
        obj = result.objects[failure[0]]
        raise ImportRefused(failure[1], file=display, image=obj.image, obj=obj.source)


def _read_shards(
    source: SourceReading, shards: list[list[str]], *, workers: int, report: ProgressThrottle
) -> tuple[ParseResult, list[list[Any]]]:
    """Read and measure the shards in parallel; the first failing shard's error wins (in
    path order, as a whole read would meet it, but for an image name that recurs in
    several datasets, whose files are read together)."""
    display = source.display
    report(0.05, f"reading {display} in {len(shards)} parts")
    results: list[ParseResult] = []
    instances: list[list[Any]] = []
    with _pool(workers) as pool:
        futures = [
            pool.submit(
                _read_shard,
                source.format,
                str(source.path),
                source.limits,
                {**source.kwargs, "files": shard},
                source.boundary_px,
            )
            for shard in shards
        ]
        with _cancel_on_error(futures):
            for done, future in enumerate(futures, start=1):
                status, value, built = future.result()
                if status == "error":
                    message, file, image, obj = value
                    raise refusal(message, file=file, image=image, obj=obj)
                built_instances, failure = built
                _raise_build_failure(failure, value, display)
                results.append(value)
                instances += built_instances
                report(0.05 + 0.85 * done / len(shards), f"reading and measuring {display}")
    merged = _merge_results(results)
    refuse_unstorable_text(merged, display=display)
    return merged, instances
