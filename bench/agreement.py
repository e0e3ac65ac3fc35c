"""Agreement engine benchmark (DESIGN §5, issue 3).

    python bench/agreement.py [--images N] [--workers 1,2] [--repeat 3] [--seed S] [--cache DIR]

Workload: N synthetic pool-boiling images of 1024 × 1024 (default 1000), 3 annotators of
about 40 bubbles each (radius 8–120 px, some touching, some with holes), 1–3 px smooth
boundary jitter, ~4 % missed and ~0.8 extra bubbles per image, one annotator drawing 1 px
wide; fixed seeds (:mod:`qc.synthetic`). Instances are stored as RLE with their features
(area, bbox, perimeter, boundary band), as they are at store time; generating them is cached
and not timed.

Timed (wall clock), per worker count: from the stored rows of every image to stored-ready
results -- pair metrics with IoU, matching and boundary IoU, the consensus masks, each
annotator against the consensus and the style observations (:func:`qc.comparison.
compare_image`) -- in worker processes (fork), one image at a time, results sent back.
Each worker count is timed ``--repeat`` times and the best wall time counts (other work on a
shared machine only ever slows a run down); the workers' CPU time per image is printed too.

Baselines in the same run, one process, on a subsample, extrapolated to N images and
compared with our one-worker time (same number of cores):

(a) dense: every instance decoded to a full-frame bool mask; IoU of every same-class pair by
    ``logical_and``/``logical_or``; the same matching; boundary bands by full-frame erosion
    (the published code); consensus by a full-frame vote.
(b) per pair: every instance decoded to a full frame and encoded again (masks "encoded from
    full frames"), one pycocotools ``iou`` call per same-class pair, the same matching,
    boundary bands by full-frame erosion encoded to RLE and one ``iou`` call per matched
    pair, consensus by RLE vote. The time of the per-pair ``iou`` calls alone is printed too.

The last line is ``agreement: s_per_1000=<x> vs_dense=<r>x vs_per_pair=<r>x
peak_rss_mb=<m>`` with ``s_per_1000`` the fastest worker count's best time per 1000 images and
``peak_rss_mb`` the largest peak resident set of any process of the timed runs.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
from pycocotools import mask as coco_mask

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qc.agreement import (
    Match,
    MeasuredInstance,
    PairMetrics,
    bootstrap_pq_interval,
    boundary_width,
    compare_pair,
    match_pairs,
    pool,
)
from qc.comparison import compare_image
from qc.consensus import cluster_instances, vote_mask
from qc.style import describe, style_reports
from qc.synthetic import BENCH_STYLES, load_images, make_images

SIZE = 1024
MATCH_IOU = 0.5

# The records of the images, set before the workers fork (copy-on-write, never pickled).
_RECORDS: list[bytes] = []


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _work(chunk: range) -> tuple[list, float]:
    """Worker: stored rows of each image -> the rows to store (what AgreementResult,
    ConsensusInstance and the image's style observations hold)."""
    out = []
    cpu = time.process_time()
    for index in chunk:
        annotations = load_images(_RECORDS[index], height=SIZE, width=SIZE)
        result = compare_image(annotations, height=SIZE, width=SIZE, match_iou=MATCH_IOU)
        rows = [
            (p.annotator_a, p.annotator_b, label, *_metrics_row(metrics))
            for p in result.pairs
            for label, metrics in [(None, p.result)] + [(c.label, c) for c in p.result.per_class]
        ]
        consensus = [
            (c.label, c.rle["counts"], c.area, c.bbox, c.perimeter, c.members)
            for c in result.consensus
        ]
        versus = {a: _metrics_row(r) for a, r in result.versus_consensus.items()}
        out.append((index, rows, consensus, versus, result.style))
    return out, _peak_rss_mb(), time.process_time() - cpu


ROW_FIELDS = PairMetrics.STORED_FIELDS  # what an AgreementResult row keeps


def _metrics_row(r) -> tuple:
    return tuple(getattr(r, name) for name in ROW_FIELDS)


def run_engine(n_images: int, workers: int) -> tuple[float, list, list[float], float]:
    """Time all images with ``workers`` forked processes.

    Returns (wall seconds, results, peak RSS of each chunk's process, worker CPU seconds).
    """
    size = math.ceil(n_images / (workers * 8))  # several chunks per worker balance the load
    chunks = [range(s, min(n_images, s + size)) for s in range(0, n_images, size)]
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with context.Pool(workers) as workers_pool:
        parts = workers_pool.map(_work, chunks, chunksize=1)
    seconds = time.perf_counter() - start
    results = sorted(item for part, _, _ in parts for item in part)
    return seconds, results, [rss for _, rss, _ in parts], sum(cpu for *_, cpu in parts)


# --- baselines ------------------------------------------------------------------------------


def _dense_band(mask: np.ndarray, d: int) -> np.ndarray:
    """Boundary band on the full frame, as the published Boundary IoU code does it."""
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:-1, 1:-1]
    return mask & (eroded == 0)


def baseline_dense(annotations: dict[str, list[MeasuredInstance]], d: int) -> list[float]:
    """(a): full-frame masks, every same-class pair by logical_and / logical_or."""
    full = {
        a: [coco_mask.decode(i.rle).astype(bool) for i in insts] for a, insts in annotations.items()
    }
    bands: dict[tuple[str, int], np.ndarray] = {}
    names = sorted(annotations)
    pqs, matches = [], {}
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            iou = np.zeros((len(full[a]), len(full[b])))
            for i, ma in enumerate(full[a]):
                for j, mb in enumerate(full[b]):
                    if annotations[a][i].label == annotations[b][j].label:
                        union = np.logical_or(ma, mb).sum()
                        iou[i, j] = np.logical_and(ma, mb).sum() / union if union else 0.0
            pairs = match_pairs(iou, threshold=MATCH_IOU)
            for i, j in pairs:  # boundary IoU of the matched pairs
                ba = bands.setdefault((a, i), _dense_band(full[a][i], d))
                bb = bands.setdefault((b, j), _dense_band(full[b][j], d))
                np.logical_and(ba, bb).sum() / np.logical_or(ba, bb).sum()
            total = len(full[a]) + len(full[b])
            pqs.append(math.fsum(iou[i, j] for i, j in pairs) / (0.5 * total) if total else 1.0)
            matches[(a, b)] = _as_matches(annotations, a, b, pairs, iou)
    for cluster in cluster_instances(annotations, matches):  # consensus: full-frame vote
        if 2 * len(cluster) >= len(annotations):
            votes = np.zeros((SIZE, SIZE), np.uint8)
            for annotator, i in cluster:
                votes += full[annotator][i]
            np.count_nonzero(2 * votes >= len(cluster))
    return pqs


def _as_matches(annotations, a, b, pairs, iou) -> list[Match]:
    return [
        Match(
            annotations[a][i].key,
            annotations[b][j].key,
            annotations[a][i].label,
            float(iou[i, j]),
            0.0,
            None,
        )
        for i, j in pairs
    ]


def baseline_per_pair(
    annotations: dict[str, list[MeasuredInstance]], d: int
) -> tuple[list[float], float]:
    """(b): re-encoded full frames, one iou call per pair. Returns (pqs, iou-call seconds)."""
    full, encoded = {}, {}
    for a, insts in annotations.items():
        full[a] = [coco_mask.decode(inst.rle).astype(bool) for inst in insts]
        encoded[a] = [coco_mask.encode(np.asfortranarray(m, dtype=np.uint8)) for m in full[a]]
    bands: dict[tuple[str, int], dict] = {}
    names = sorted(annotations)
    pqs, iou_seconds, matches = [], 0.0, {}
    for x, a in enumerate(names):
        for b in names[x + 1 :]:
            t = time.perf_counter()
            iou = np.zeros((len(encoded[a]), len(encoded[b])))
            for i, ra in enumerate(encoded[a]):
                for j, rb in enumerate(encoded[b]):
                    if annotations[a][i].label == annotations[b][j].label:
                        iou[i, j] = coco_mask.iou([ra], [rb], [0])[0, 0]
            iou_seconds += time.perf_counter() - t
            pairs = match_pairs(iou, threshold=MATCH_IOU)
            for i, j in pairs:  # boundary IoU of the matched pairs
                for who, k in ((a, i), (b, j)):
                    if (who, k) not in bands:
                        band = _dense_band(full[who][k], d)
                        bands[(who, k)] = coco_mask.encode(np.asfortranarray(band, np.uint8))
                coco_mask.iou([bands[(a, i)]], [bands[(b, j)]], [0])
            total = len(encoded[a]) + len(encoded[b])
            pqs.append(math.fsum(iou[i, j] for i, j in pairs) / (0.5 * total) if total else 1.0)
            matches[(a, b)] = _as_matches(annotations, a, b, pairs, iou)
    for cluster in cluster_instances(annotations, matches):  # consensus: RLE vote
        if 2 * len(cluster) >= len(annotations):
            coco_mask.area(vote_mask([encoded[annotator][i] for annotator, i in cluster]))
    return pqs, iou_seconds


def _check_same_pq(records: list[bytes], indices: list[int], pqs: list[list[float]]) -> None:
    for index, expected in zip(indices, pqs, strict=True):
        annotations = load_images(records[index], height=SIZE, width=SIZE)
        names = sorted(annotations)
        ours = [
            compare_pair(
                annotations[a], annotations[b], match_iou=MATCH_IOU, with_boundary=False
            ).pq
            for x, a in enumerate(names)
            for b in names[x + 1 :]
        ]
        if not np.allclose(ours, expected, rtol=0, atol=1e-12):
            raise SystemExit(f"baseline disagrees with the engine on image {index}")


# --- main -----------------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs per worker count; the best is reported (the machine may be shared)",
    )
    parser.add_argument("--dense-images", type=int, default=20)
    parser.add_argument("--per-pair-images", type=int, default=20)
    parser.add_argument(
        "--cache",
        default=str(Path(__file__).resolve().parents[1] / "var" / "bench"),
        help="directory caching the generated instances",
    )
    return parser.parse_args(argv)


def _prepare_records(n: int, *, seed: int, cache: str, workers: int) -> None:
    """Generate (or read from the cache) the stored rows of ``n`` images into _RECORDS."""
    global _RECORDS
    t = time.perf_counter()
    _RECORDS = make_images(n, seed=seed, cache_dir=cache, workers=workers)
    generation = time.perf_counter() - t
    per_annotator = np.mean(
        [[len(v) for v in load_images(r).values()] for r in _RECORDS[: min(n, 50)]]
    )
    print(
        f"stored instances ready in {generation:.1f} s (cached, not timed); "
        f"{per_annotator:.1f} instances per annotator and image"
    )


def _time_engine(
    n: int, worker_counts: list[int], repeat: int
) -> tuple[dict[int, float], list, list[float]]:
    """Best wall time per worker count, the last run's results, and the peak RSS of this
    process and of every chunk's worker."""
    timings = {}
    results = None
    rss = [_peak_rss_mb()]
    for workers in worker_counts:
        runs = []
        for _ in range(repeat):
            results = None  # keep one run's results at a time
            seconds, results, worker_rss, cpu = run_engine(n, workers)
            runs.append(seconds)
            rss.extend(worker_rss)
            print(
                f"engine, {workers} worker(s): {seconds:.2f} s wall for {n} images "
                f"({cpu / n * 1000:.2f} ms CPU per image in the workers)"
            )
        timings[workers] = min(runs)
    rss.append(_peak_rss_mb())
    return timings, results, rss


def _time_baselines(n: int, dense_images: int, per_pair_images: int) -> list[tuple]:
    """Rows ``(name, images, s per 1000 images)`` of the baselines, one process each, on a
    subsample extrapolated to 1000 images; their pq checked against the engine's."""
    d = boundary_width(height=SIZE, width=SIZE, boundary_px=None)
    dense_n = min(n, dense_images)
    t = time.perf_counter()
    dense_pqs = [baseline_dense(load_images(r), d) for r in _RECORDS[:dense_n]]
    dense_s = (time.perf_counter() - t) / dense_n * 1000
    pair_n = min(n, per_pair_images)
    t = time.perf_counter()
    pair_out = [baseline_per_pair(load_images(r), d) for r in _RECORDS[:pair_n]]
    pair_s = (time.perf_counter() - t) / pair_n * 1000
    pair_iou_s = sum(s for _, s in pair_out) / pair_n * 1000
    _check_same_pq(_RECORDS, list(range(dense_n)), dense_pqs)
    _check_same_pq(_RECORDS, list(range(pair_n)), [p for p, _ in pair_out])
    return [
        ("(a) dense numpy, 1 process", dense_n, dense_s),
        ("(b) per-pair pycocotools, 1 process", pair_n, pair_s),
        ("    of which the per-pair iou calls", pair_n, pair_iou_s),
    ]


def _print_table(
    n: int, worker_counts: list[int], timings: dict[int, float], baselines: list[tuple], repeat: int
) -> None:
    """Seconds per 1000 images of every worker count and baseline, with ratios per core:
    against one worker (or the fewest workers' time × their count)."""
    fewest = min(timings)
    one_per_1000 = timings[fewest] * fewest / n * 1000
    print()
    print(f"{'method':<52}{'images':>8}{'s/1000 images':>15}{'vs engine(1)':>14}")
    for workers in worker_counts:
        per = timings[workers] / n * 1000
        print(f"{f'engine, {workers} worker(s)':<52}{n:>8}{per:>15.2f}{one_per_1000 / per:>13.2f}x")
    for name, count, per in baselines:
        print(f"{name:<52}{count:>8}{per:>15.2f}{per / one_per_1000:>13.1f}x")
    print(
        f"(engine: best of {repeat} runs; baselines extrapolated from their subsample; "
        "ratios against the engine on 1 worker)"
    )


def _print_dashboard(results: list, seed: int) -> None:
    """What the dashboards read: the pooled pq with its interval, and the style reports."""
    per_image = [
        [
            SimpleNamespace(**dict(zip(ROW_FIELDS, row[3:], strict=True)))
            for row in rows
            if row[2] is None
        ]
        for _, rows, *_ in results
    ]
    pooled = pool(r for image in per_image for r in image)
    ci = bootstrap_pq_interval(per_image, seed=seed)
    print()
    print(
        f"pooled pq {pooled.pq:.4f} (95 % CI {ci[0]:.4f}-{ci[1]:.4f}), mean IoU "
        f"{pooled.mean_iou:.4f}, f1 {pooled.f1:.4f}, boundary IoU {pooled.boundary_iou:.4f}"
    )
    reports = style_reports(style for *_, style in results)
    print("style (planted: 'wide' draws 1 px outside, the others 0):")
    for name, report in reports.items():
        print(
            f"  {name:<6} boundary_offset_px {report.boundary_offset_px:+.3f}  "
            f"vs_consensus {report.boundary_offset_vs_consensus_px:+.3f}  "
            f"area_ratio {report.area_ratio:.4f}"
        )
        print(f"         {describe(report, noun='bubbles')}")


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    n = args.images

    print(f"workload: {n} images {SIZE}x{SIZE}, annotators {[s.name for s in BENCH_STYLES]}")
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f} at start")
    _prepare_records(n, seed=args.seed, cache=args.cache, workers=max(worker_counts))
    timings, results, rss = _time_engine(n, worker_counts, args.repeat)
    baselines = _time_baselines(n, args.dense_images, args.per_pair_images)
    _print_table(n, worker_counts, timings, baselines, args.repeat)
    _print_dashboard(results, args.seed)

    fewest = min(timings)
    one_per_1000 = timings[fewest] * fewest / n * 1000
    best_workers = min(timings, key=timings.get)
    s_per_1000 = timings[best_workers] / n * 1000
    (_, _, dense_s), (_, _, pair_s), _ = baselines
    print(f"peak RSS per process of the timed runs (MB): {', '.join(f'{r:.0f}' for r in rss)}")
    print(f"(this process after the baselines' full-frame masks: {_peak_rss_mb():.0f} MB)")
    print(
        f"agreement: s_per_1000={s_per_1000:.2f} vs_dense={dense_s / one_per_1000:.0f}x "
        f"vs_per_pair={pair_s / one_per_1000:.1f}x peak_rss_mb={max(rss):.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
