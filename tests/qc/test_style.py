"""Per-annotator style report (DESIGN §4): hand-computed observations, the offset fit, the
sentence, and recovery of a planted 1 px bias on synthetic pool-boiling images.

Pure tests: no database.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qc.agreement import MeasuredInstance
from qc.comparison import compare_image
from qc.masks import rle_from_mask
from qc.style import (
    AnnotatorObservation,
    ImageStyle,
    PairOffsets,
    describe,
    fit_offsets,
    style_reports,
)
from qc.synthetic import BENCH_STYLES, annotate, make_scene
from tests.factories import style_report


def make_inst(key, mask: np.ndarray) -> MeasuredInstance:
    return MeasuredInstance.from_rle(key, "bubble", rle_from_mask(mask), boundary_px=2)


def rect(x: int, y: int, w: int, h: int, size: int = 200) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m[y : y + h, x : x + w] = True
    return m


def crofton(mask: np.ndarray) -> float:
    m = mask.astype(np.int8)
    axis = np.count_nonzero(m[:, 1:] != m[:, :-1]) + np.count_nonzero(m[1:, :] != m[:-1, :])
    diagonal = np.count_nonzero(m[1:, 1:] != m[:-1, :-1]) + np.count_nonzero(
        m[1:, :-1] != m[:-1, 1:]
    )
    return math.pi / 8.0 * axis + math.pi / 8.0 / math.sqrt(2.0) * diagonal


def observation(annotator, ratios=(), offsets=(), found=(0, 0, 0), total=(0, 0, 0), **kw):
    defaults = {"merges": 0, "splits": 0, "n_own": 0, "n_ref": 0, "iou_sum": 0.0}
    return AnnotatorObservation(
        annotator=annotator,
        reference=kw.pop("reference", "consensus"),
        area_ratios=tuple(ratios),
        offsets=tuple(offsets),
        found=found,
        total=total,
        **{**defaults, **kw},
    )


# --- observations on one image -----------------------------------------------------------------


def test_observe_two_annotators_uses_the_other_as_reference():
    own, ref = rect(10, 10, 20, 20), rect(10, 10, 20, 22)
    result = compare_image(
        {"anna": [make_inst("a", own)], "ben": [make_inst("b", ref)]},
        height=200,
        width=200,
        match_iou=0.5,
    )
    anna, ben = result.style.observations
    assert (anna.annotator, anna.reference, ben.reference) == ("anna", "peer", "peer")
    assert anna.area_ratios == (400 / 440,)
    assert anna.offsets == ((400 - 440) / crofton(ref),)
    assert ben.offsets == ((440 - 400) / crofton(own),)
    (pair,) = result.style.pair_offsets
    assert pair.values == ((400 - 440) / (0.5 * (crofton(own) + crofton(ref))),)


def test_observe_recall_by_coco_size():
    small, medium, large = rect(0, 0, 10, 10), rect(20, 0, 40, 40), rect(70, 70, 100, 100)
    result = compare_image(
        {
            "anna": [make_inst("s", small), make_inst("l", large)],
            "ben": [make_inst("s", small), make_inst("m", medium), make_inst("l", large)],
        },
        height=200,
        width=200,
        match_iou=0.5,
    )
    anna = result.style.observations[0]
    assert (anna.found, anna.total) == ((1, 0, 1), (1, 1, 1))
    report = style_reports([result.style])["anna"]
    assert (report.recall_small, report.recall_medium, report.recall_large) == (1.0, 0.0, 1.0)


def test_observe_merge_and_split():
    # anna draws one outline over two touching bubbles that ben draws separately
    left, right = rect(10, 10, 20, 20), rect(30, 10, 20, 20)
    result = compare_image(
        {
            "anna": [make_inst("both", left | right)],
            "ben": [make_inst("left", left), make_inst("right", right)],
        },
        height=200,
        width=200,
        match_iou=0.5,
    )
    reports = style_reports([result.style])
    assert (reports["anna"].merges, reports["anna"].splits) == (1, 0)
    assert (reports["ben"].merges, reports["ben"].splits) == (0, 1)


def test_observe_three_annotators_against_consensus():
    base = rect(10, 10, 40, 40)
    wide = rect(9, 9, 42, 42)
    result = compare_image(
        {
            "anna": [make_inst("a", base)],
            "ben": [make_inst("b", base)],
            "wide": [make_inst("w", wide)],
        },
        height=200,
        width=200,
        match_iou=0.5,
    )
    reports = style_reports([result.style])
    assert reports["anna"].reference == "consensus"
    assert reports["anna"].boundary_offset_vs_consensus_px == 0.0
    assert reports["wide"].boundary_offset_vs_consensus_px == (42 * 42 - 1600) / crofton(base)
    assert reports["anna"].pq_vs_reference == 1.0


# --- the offset fit ------------------------------------------------------------------------------


def test_fit_offsets_consistent_chain_centred_on_median():
    beta = fit_offsets({("a", "b"): (2.0, 1), ("b", "c"): (1.0, 1)}, ["a", "b", "c"])
    assert beta == pytest.approx({"a": 2.0, "b": 0.0, "c": -1.0}, abs=1e-12)


def test_fit_offsets_least_squares_on_an_inconsistent_triangle():
    # equal weights: β_a − β_b = β_b − β_c = 1/3 minimises (x − 1)² + (y − 1)² + (x + y)²
    medians = {("a", "b"): (1.0, 2), ("b", "c"): (1.0, 2), ("a", "c"): (0.0, 2)}
    assert fit_offsets(medians, "abc") == pytest.approx(
        {"a": 1 / 3, "b": 0.0, "c": -1 / 3}, abs=1e-12
    )


def test_fit_offsets_weights_by_matches():
    # one pair seen 3 times as often pulls the fit towards it: x = β_a − β_b minimises
    # 3(x − 1)² + (x − 0)² -> x = 3/4 (the other annotator of two is the lower median)
    beta = fit_offsets({("a", "b"): (1.0, 3), ("b", "a"): (0.0, 1)}, ["a", "b"])
    assert beta == pytest.approx({"a": 0.75, "b": 0.0}, abs=1e-12)


def test_fit_offsets_even_count_centres_on_lower_median():
    medians = {("a", "b"): (1.0, 1), ("b", "c"): (1.0, 1), ("c", "d"): (1.0, 1)}
    assert fit_offsets(medians, "abcd") == pytest.approx(
        {"a": 2.0, "b": 1.0, "c": 0.0, "d": -1.0}, abs=1e-12
    )


def test_fit_offsets_groups_are_centred_apart_and_unmatched_is_none():
    medians = {("a", "b"): (1.0, 4), ("c", "d"): (-3.0, 2), ("d", "e"): (0.0, 0)}
    beta = fit_offsets(medians, ["a", "b", "c", "d", "e", "f"])
    assert beta["e"] is None and beta["f"] is None
    assert {k: beta[k] for k in "abcd"} == pytest.approx(
        {"a": 1.0, "b": 0.0, "c": 0.0, "d": 3.0}, abs=1e-12
    )


# --- accumulation and words ----------------------------------------------------------------------


def test_style_reports_accumulate_medians_and_counts_over_images():
    first = ImageStyle(
        ("a", "b", "c"),
        (observation("a", [1.0, 1.2], [0.0, 0.5], (1, 1, 0), (2, 1, 0), merges=1),),
        (PairOffsets("a", "b", (0.5, 0.7)),),
    )
    second = ImageStyle(
        ("a", "b", "c"),
        (observation("a", [1.1], [1.0], (0, 0, 1), (0, 0, 1), splits=2),),
        (PairOffsets("a", "b", (0.6,)),),
    )
    report = style_reports([first, second])["a"]
    assert (report.images, report.matched, report.area_ratio) == (2, 3, 1.1)
    assert report.boundary_offset_vs_consensus_px == 0.5
    assert (report.found, report.total) == ((1, 1, 1), (2, 1, 1))
    assert (report.recall_small, report.recall_medium, report.recall_large) == (0.5, 1.0, 1.0)
    assert (report.merges, report.splits) == (1, 2)
    assert report.boundary_offset_px == pytest.approx(0.6, abs=1e-12)  # median of a − b
    assert style_reports([first, second])["c"].boundary_offset_px is None


def test_describe_says_it_in_words():
    assert describe(style_report(), noun="bubbles") == (
        "draws 1.6 px outside the consensus edge (median of 412 bubbles); "
        "1.0 px wider than the team's typical annotator; "
        "finds 96 % of small, 99 % of medium and 100 % of large bubbles; 2 merges, 0 splits."
    )


def test_describe_inside_and_on_the_edge():
    inside = style_report(
        boundary_offset_vs_consensus_px=-0.31,
        boundary_offset_px=0.02,
        recall_small=None,
        recall_medium=None,
        merges=1,
        splits=1,
        reference="peer",
    )
    assert describe(inside) == (
        "draws 0.3 px inside the other annotator's edge (median of 412 instances); "
        "about as wide as the team's typical annotator; finds 100 % of large instances; "
        "1 merge, 1 split."
    )


def test_describe_without_data():
    empty = style_report(
        reference=None,
        matched=0,
        boundary_offset_vs_consensus_px=None,
        boundary_offset_px=None,
        recall_small=None,
        recall_medium=None,
        recall_large=None,
        merges=0,
    )
    assert describe(empty) == "no instances matched to a reference yet; 0 merges, 0 splits."


# --- the planted bias ---------------------------------------------------------------------------


def test_style_recovers_planted_offset_on_synthetic_images():
    """6 benchmark-like 1024² images (~230 bubbles per annotator): about 1 s to generate."""
    styles = []
    for seed in range(6):
        scene = make_scene(seed=seed)
        annotations = {
            style.name: [i.inst() for i in annotate(scene, style, seed=seed)]
            for style in BENCH_STYLES
        }
        result = compare_image(annotations, height=1024, width=1024, match_iou=0.5)
        styles.append(result.style)
    reports = style_reports(styles)
    assert abs(reports["wide"].boundary_offset_px - 1.0) <= 0.3
    assert abs(reports["anna"].boundary_offset_px) <= 0.3
    assert abs(reports["ben"].boundary_offset_px) <= 0.3
    # against the consensus the wide annotator pulls the edge out: both sides read less
    assert 0.4 < reports["wide"].boundary_offset_vs_consensus_px < 1.0
    assert reports["anna"].boundary_offset_vs_consensus_px < 0.0
    assert reports["wide"].area_ratio > 1.0 > reports["anna"].area_ratio
