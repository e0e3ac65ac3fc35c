"""Synthetic pool-boiling scenes and annotators (qc.synthetic): determinism, the planted
styles, stored instances consistent with store-time features, pictures, the cache.

Pure tests: no database. Scenes are 1024² with 40 bubbles as in the benchmark (about 60 ms
per annotator and scene), a handful per test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from scipy import ndimage

from qc.agreement import compare_pair, instance_features
from qc.masks import rle_to_crop
from qc.synthetic import (
    BENCH_STYLES,
    AnnotatorStyle,
    annotate,
    load_images,
    make_images,
    make_scene,
    render_image,
    truth_instances,
)

# pycocotools 2.0.11 decodes through a numpy-1 array protocol; numpy 2 warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

EXACT = {"jitter_px": (0.0, 0.0), "miss_rate": 0.0, "small_miss_rate": 0.0, "extra_per_image": 0.0}
PLAIN = AnnotatorStyle("plain", **EXACT)


def test_make_scene_is_deterministic():
    assert make_scene(seed=5) == make_scene(seed=5)
    assert make_scene(seed=5) != make_scene(seed=6)


def test_make_scene_bubbles_in_range_some_touching_some_with_holes():
    scenes = [make_scene(seed=seed) for seed in range(4)]
    bubbles = [b for scene in scenes for b in scene.bubbles]
    assert len(bubbles) == 4 * 40
    assert all(8.0 <= b.radius <= 120.0 for b in bubbles)
    assert all(0 <= b.cx < 1024 and 0 <= b.cy < 1024 for b in bubbles)

    def reach(b, theta):
        return b.radius * (1 + b.ellipticity * math.cos(2 * (theta - b.angle)))

    touching = 0
    for scene in scenes:
        for i, p in enumerate(scene.bubbles):
            for q in scene.bubbles[i + 1 :]:
                theta = math.atan2(q.cy - p.cy, q.cx - p.cx)
                gap = (
                    math.hypot(q.cx - p.cx, q.cy - p.cy)
                    - reach(p, theta)
                    - reach(q, theta + math.pi)
                )
                touching += gap <= 1.0
    assert touching >= 20
    assert sum(b.hole is not None for b in bubbles) >= 3


def test_truth_instances_have_the_holes_of_their_bubbles():
    scene = next(
        make_scene(seed=s) for s in range(20) if any(b.hole for b in make_scene(seed=s).bubbles)
    )
    for inst in truth_instances(scene):
        bubble = scene.bubbles[inst.truth]
        mask, _ = rle_to_crop(inst.rle)
        filled = ndimage.binary_fill_holes(mask)
        assert (filled.sum() > mask.sum()) == (bubble.hole is not None)


def test_annotate_is_deterministic_with_unique_keys():
    scene = make_scene(seed=1)
    first = annotate(scene, BENCH_STYLES[0], seed=3)
    again = annotate(scene, BENCH_STYLES[0], seed=3)
    other = annotate(scene, BENCH_STYLES[0], seed=4)
    assert [i.rle["counts"] for i in first] == [i.rle["counts"] for i in again]
    assert [i.rle["counts"] for i in first] != [i.rle["counts"] for i in other]
    assert len({i.key for i in first}) == len(first)


def test_annotate_stores_rles_with_their_store_time_features():
    scene = make_scene(seed=2)
    for inst in annotate(scene, BENCH_STYLES[2], seed=0):
        assert inst.rle["size"] == [1024, 1024]
        assert instance_features(inst.rle, boundary_px=29) == inst.features


def test_annotate_jittered_outlines_stay_close_to_the_truth():
    scene = make_scene(seed=3)
    truth = [i.inst() for i in truth_instances(scene)]
    drawn = [i.inst() for i in annotate(scene, BENCH_STYLES[0], seed=0)]
    result = compare_pair(truth, drawn, match_iou=0.5)
    assert result.mean_iou > 0.85
    assert result.matched >= 35


def test_wide_style_draws_one_pixel_outside():
    """Without jitter, the wide outline lies 1 px out: Δarea / perimeter ≈ 1 (+ rasterising)."""
    wide = AnnotatorStyle("wide", offset_px=1.0, **EXACT)
    offsets = []
    for seed in range(2):
        scene = make_scene(seed=seed)
        plain = {i.truth: i.features for i in annotate(scene, PLAIN, seed=0)}
        for inst in annotate(scene, wide, seed=0):
            p = plain[inst.truth]
            offsets.append((inst.features.area - p.area) / p.perimeter)
    assert abs(float(np.median(offsets)) - 1.0) < 0.1


def test_skips_small_style_misses_most_small_bubbles():
    style = AnnotatorStyle("skips_small", small_miss_rate=0.85)
    small = found_small = large = found_large = 0
    for seed in range(4):
        scene = make_scene(seed=seed)
        seen = {i.truth for i in annotate(scene, style, seed=0)}
        for index, b in enumerate(scene.bubbles):
            if b.radius < 20:
                small += 1
                found_small += index in seen
            else:
                large += 1
                found_large += index in seen
    assert found_small / small < 0.3
    assert found_large / large > 0.9


def test_miss_and_extra_rates_follow_the_style():
    missed = extras = bubbles = 0
    for seed in range(8):
        scene = make_scene(seed=seed)
        drawn = annotate(scene, BENCH_STYLES[1], seed=1)
        bubbles += len(scene.bubbles)
        missed += len(scene.bubbles) - sum(i.truth is not None for i in drawn)
        extras += sum(i.truth is None for i in drawn)
    assert 0.01 <= missed / bubbles <= 0.08  # 4 % planned
    assert 1 <= extras <= 16  # 0.8 per image planned


def test_render_image_is_deterministic_with_dark_bubbles():
    scene = make_scene(seed=4, height=256, width=320, n_bubbles=8)
    image = render_image(scene, seed=1)
    assert (image.shape, image.dtype) == ((256, 320), np.uint8)
    assert np.array_equal(image, render_image(scene, seed=1))
    inside = np.zeros(image.shape, dtype=bool)
    for inst in truth_instances(scene):
        inside |= coco_mask.decode(inst.rle).astype(bool)
    core = ndimage.binary_erosion(inside, iterations=3)
    assert image[core].mean() < image[~inside].mean() - 40


def test_make_images_is_cached_and_prefix_stable(tmp_path):
    styles = BENCH_STYLES[:2]
    first = make_images(3, seed=9, styles=styles, n_bubbles=6, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    assert make_images(3, seed=9, styles=styles, n_bubbles=6, cache_dir=tmp_path) == first
    assert make_images(2, seed=9, styles=styles, n_bubbles=6) == first[:2]
    annotations = load_images(first[0])
    assert sorted(annotations) == ["anna", "ben"]
    inst = annotations["anna"][0]
    features = instance_features(inst.rle, boundary_px=29)
    assert (inst.area, inst.bbox, inst.perimeter) == (
        features.area,
        features.bbox,
        features.perimeter,
    )
    assert inst.boundary_rle["counts"] == features.boundary_rle["counts"]
