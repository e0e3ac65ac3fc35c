"""Consensus (DESIGN §4): clustering, quorum, pixel vote and STAPLE masks, run features.

Pure tests: no database. Dense full-frame votes are the reference for the vote (numpy, and
scipy's Euclidean distance transform of each whole frame for shape-based averaging); the
BU-BIL expert masks (10 annotation sets per cell) are the real multi-annotator case, and
SimpleITK's STAPLEImageFilter the reference for STAPLE (skipped when absent).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask
from scipy.ndimage import distance_transform_edt

from qc import consensus as consensus_module
from qc.agreement import Match, MeasuredInstance
from qc.comparison import compare_image
from qc.consensus import (
    _distance_to_zero,
    build_consensus,
    cluster_instances,
    decode_runs,
    run_features,
    signed_distance,
    vote_mask,
)
from qc.masks import rle_from_mask

# pycocotools 2.0.11 decodes through a numpy-1 array protocol; numpy 2 warns on every call.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# --- helpers ------------------------------------------------------------------------------------


def make_inst(key, mask: np.ndarray, *, label="cell", d: int = 2) -> MeasuredInstance:
    return MeasuredInstance.from_rle(key, label, rle_from_mask(mask), boundary_px=d)


def rect(h: int, w: int, x: int, y: int, width: int, height: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y : y + height, x : x + width] = True
    return m


def decode(rle) -> np.ndarray:
    return coco_mask.decode(rle).astype(bool)


def brute_crofton(mask: np.ndarray) -> float:
    m = mask.astype(np.int8)
    axis = np.count_nonzero(m[:, 1:] != m[:, :-1]) + np.count_nonzero(m[1:, :] != m[:-1, :])
    diagonal = np.count_nonzero(m[1:, 1:] != m[:-1, :-1]) + np.count_nonzero(
        m[1:, :-1] != m[:-1, 1:]
    )
    return math.pi / 8.0 * axis + math.pi / 8.0 / math.sqrt(2.0) * diagonal


def dense_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0, 0, 0, 0)
    return (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def dense_vote(masks: list[np.ndarray]) -> np.ndarray:
    """The vote of DESIGN §4 on whole frames: more than half of the masks, and at a pixel
    held by exactly half, in when the sum of the masks' signed distances (scipy's exact
    Euclidean distance transform of each frame; inside negative) is below zero."""
    k = len(masks)
    votes = np.sum(masks, axis=0)
    out = 2 * votes > k
    tie = 2 * votes == k
    if k % 2 == 0 and tie.any():
        far = math.hypot(*tie.shape) + 1  # no pixel on the other side of the edge
        total = np.zeros(tie.shape)
        for m in masks:
            inside = distance_transform_edt(m) if (~m).any() else np.full(m.shape, far)
            outside = distance_transform_edt(~m) if m.any() else np.full(m.shape, far)
            total += np.where(m, -inside, outside)
        out |= tie & (total < -1e-9 * k)
    return out


def disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - centre[1]) ** 2 + (xx - centre[0]) ** 2 <= radius**2


def match(a_key, b_key, iou) -> Match:
    return Match(a_key, b_key, "cell", iou, 2 * iou / (1 + iou), None)


@st.composite
def frame_masks(draw, min_n=1, max_n=5):
    """Random masks on a small frame, often touching the frame edges."""
    height, width = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    out = []
    for _ in range(draw(st.integers(min_n, max_n))):
        density = draw(st.sampled_from([0.2, 0.5, 0.8, 1.0]))
        seed = draw(st.integers(0, 2**32 - 1))
        out.append(np.random.default_rng(seed).random((height, width)) < density)
    return out


# --- clustering ---------------------------------------------------------------------------------


def _three_annotators():
    blank = rect(10, 10, 0, 0, 2, 2)
    return {
        "a": [make_inst("a1", blank)],
        "b": [make_inst("b1", blank)],
        "c": [make_inst("c1", blank), make_inst("c2", blank)],
    }


def test_cluster_instances_greedy_by_descending_iou_resolves_conflicting_chain():
    annotations = _three_annotators()
    matches = {
        ("a", "b"): [match("a1", "b1", 0.9)],
        ("b", "c"): [match("b1", "c1", 0.8)],
        ("a", "c"): [match("a1", "c2", 0.7)],  # conflicts: the cluster already has c1
    }
    clusters = cluster_instances(annotations, matches)
    assert clusters == [(("a", 0), ("b", 0), ("c", 0)), (("c", 1),)]


def test_cluster_instances_higher_iou_edge_wins_the_conflict():
    annotations = _three_annotators()
    matches = {
        ("a", "b"): [match("a1", "b1", 0.9)],
        ("b", "c"): [match("b1", "c1", 0.6)],
        ("a", "c"): [match("a1", "c2", 0.7)],
    }
    clusters = cluster_instances(annotations, matches)
    assert clusters == [(("a", 0), ("b", 0), ("c", 1)), (("c", 0),)]


def test_cluster_instances_ties_break_by_annotator_then_position():
    annotations = _three_annotators()
    matches = {
        ("b", "c"): [match("b1", "c2", 0.8)],
        ("a", "c"): [match("a1", "c1", 0.8)],  # same IoU: pair (a, c) comes first
        ("a", "b"): [match("a1", "b1", 0.5)],
    }
    clusters = cluster_instances(annotations, matches)
    assert clusters == [(("a", 0), ("c", 0)), (("b", 0), ("c", 1))]


def test_cluster_instances_one_member_per_annotator_and_every_instance_once():
    annotations = _three_annotators()
    matches = {("a", "c"): [match("a1", "c1", 0.9)], ("b", "c"): [match("b1", "c2", 0.9)]}
    clusters = cluster_instances(annotations, matches)
    members = [m for cluster in clusters for m in cluster]
    assert sorted(members) == [("a", 0), ("b", 0), ("c", 0), ("c", 1)]
    assert all(len({a for a, _ in c}) == len(c) for c in clusters)


# --- consensus masks ----------------------------------------------------------------------------


@settings(max_examples=1000)
@given(frame_masks(max_n=6))
def test_vote_mask_equals_dense_vote(masks):
    vote = vote_mask([rle_from_mask(m) for m in masks])
    assert np.array_equal(decode(vote), dense_vote(masks))


@settings(max_examples=300)
@given(frame_masks(min_n=3, max_n=3))
def test_vote_mask_of_three_members_keeps_the_pixels_two_of_them_hold(masks):
    vote = vote_mask([rle_from_mask(m) for m in masks])
    assert np.array_equal(decode(vote), np.sum(masks, axis=0) >= 2)


def test_signed_distance_is_negative_inside_and_ignores_the_array_border():
    mask = np.zeros((3, 5), dtype=bool)
    mask[:, :2] = True  # the two left columns, touching the top, bottom and left borders
    expected = np.array([[-2.0, -1.0, 1.0, 2.0, 3.0]] * 3)
    assert np.array_equal(signed_distance(mask, far=99.0), expected)
    assert np.array_equal(signed_distance(np.ones((2, 2), bool), far=9.0), np.full((2, 2), -9.0))
    assert np.array_equal(signed_distance(np.zeros((2, 2), bool), far=9.0), np.full((2, 2), 9.0))


@settings(max_examples=1000)
@given(frame_masks(min_n=1, max_n=1))
def test_distance_to_zero_equals_scipy_bit_for_bit(masks):
    (mask,) = masks
    if mask.all():
        mask[0, 0] = False
    assert np.array_equal(_distance_to_zero(mask), distance_transform_edt(mask))


@pytest.mark.parametrize(("side", "path"), [(1449, "opencv"), (1450, "scipy")])
def test_distance_to_zero_equals_scipy_on_both_sides_of_the_exact_size(monkeypatch, side, path):
    # The farthest pixels of a side x side box are (side − 1)² · 2 apart, squared: 1448² · 2
    # < 2**22 ≤ 1449² · 2. Below the bound OpenCV's float32 roots round back to whole
    # squared distances; from it on scipy computes them. Scattered zeros make every pixel's
    # nearest zero a choice between several.
    mask = np.ones((side, side), dtype=bool)
    rng = np.random.default_rng(side)
    mask[rng.integers(0, side, 40), rng.integers(0, side, 40)] = False
    mask[0, 0] = mask[-1, -1] = False
    expected = distance_transform_edt(mask)

    def refuse(*args, **kwargs):
        raise AssertionError("the other path was taken")

    if path == "opencv":
        monkeypatch.setattr(consensus_module, "distance_transform_edt", refuse)
    else:
        monkeypatch.setattr(consensus_module.cv2, "distanceTransform", refuse)
    assert np.array_equal(_distance_to_zero(mask), expected)


def test_vote_mask_two_members_one_pixel_apart_keep_the_pixels_both_hold():
    # a at columns 2-11, b at 3-12: the midway edges run through the centres of columns 2
    # and 12, where the mean distance is exactly zero, so those pixels stay out
    a, b = rect(20, 20, 2, 2, 10, 10), rect(20, 20, 3, 2, 10, 10)
    assert np.array_equal(decode(vote_mask([rle_from_mask(a), rle_from_mask(b)])), a & b)


@pytest.mark.parametrize("radius", [3, 6, 10, 16.5])
@pytest.mark.parametrize("centre", [(20.0, 20.0), (20.5, 19.25), (19.7, 20.1)])
def test_vote_mask_of_concentric_discs_is_the_disc_between_them(radius, centre):
    # Arrange: discs of radii r and r + 2 inside a 40 x 40 frame
    inner, outer = disc(40, centre, radius), disc(40, centre, radius + 2)

    # Act
    vote = decode(vote_mask([rle_from_mask(inner), rle_from_mask(outer)]))

    # Assert: the full-frame reference of the same rule, and within one pixel of the disc
    # of radius r + 1: every pixel closer than r + 0.5 to the centre is in, none further
    # than r + 1.5, never the union (the outer disc)
    assert np.array_equal(vote, dense_vote([inner, outer]))
    assert (disc(40, centre, radius + 0.5) <= vote).all()
    assert (vote <= disc(40, centre, radius + 1.5)).all()
    middle = disc(40, centre, radius + 1)
    assert abs(int(vote.sum()) - int(middle.sum())) <= 0.1 * middle.sum()
    assert not np.array_equal(vote, outer)


def test_vote_mask_of_discs_cut_by_the_frame_equals_the_full_frame_reference():
    # Both discs run past the left edge: the frame is no edge of either mask
    inner, outer = disc(30, (2.0, 15.0), 8), disc(30, (2.0, 15.0), 10)
    vote = decode(vote_mask([rle_from_mask(inner), rle_from_mask(outer)]))
    assert np.array_equal(vote, dense_vote([inner, outer]))
    assert (inner <= vote).all() and (vote <= outer).all()


@settings(max_examples=100, deadline=None)
@given(frame_masks(min_n=0))
def test_run_features_equal_dense_area_bbox_and_perimeter(masks):
    height, width = masks[0].shape if masks else (1, 1)
    areas, boxes, perimeters = run_features([rle_from_mask(m) for m in masks], height, width)
    for k, m in enumerate(masks):
        assert (areas[k], tuple(boxes[k]), perimeters[k]) == (
            m.sum(),
            dense_bbox(m),
            brute_crofton(m) if m.any() else 0.0,
        )


@settings(max_examples=100, deadline=None)
@given(frame_masks(min_n=0))
def test_decode_runs_equals_column_major_pixels(masks):
    owner, start, end = decode_runs([rle_from_mask(m) for m in masks])
    for k, m in enumerate(masks):
        pixels = np.concatenate(
            [np.arange(s, e) for s, e in zip(start[owner == k], end[owner == k], strict=True)]
            or [np.zeros(0, dtype=np.int64)]
        )
        assert np.array_equal(pixels, np.flatnonzero(m.T.ravel()))


def test_build_consensus_vote_is_a_new_mask():
    # three rectangles; the consensus (≥ 2 of 3 votes) is none of them
    masks = {
        "a": rect(20, 20, 2, 2, 10, 10),
        "b": rect(20, 20, 3, 2, 10, 10),
        "c": rect(20, 20, 2, 4, 10, 10),
    }
    annotations = {name: [make_inst(name, m)] for name, m in masks.items()}
    result = compare_image(annotations, height=20, width=20, match_iou=0.5)
    (consensus,) = result.consensus
    expected = 2 * np.sum(list(masks.values()), axis=0) >= 3
    assert np.array_equal(decode(consensus.rle), expected)
    assert all(not np.array_equal(expected, m) for m in masks.values())
    assert (consensus.area, consensus.bbox) == (expected.sum(), dense_bbox(expected))
    assert consensus.perimeter == brute_crofton(expected)
    assert consensus.support == 1.0
    assert (consensus.sensitivity, consensus.specificity) == (None, None)


def test_build_consensus_two_annotators_takes_the_line_midway_between_their_edges():
    # b is a drawn two columns right of a: the consensus is the square one column right,
    # not their union (columns 2-13). Its four corners are one pixel from a's top or bottom
    # edge and one from b's side: a mean distance of zero, so they are out.
    a, b = rect(20, 20, 2, 2, 10, 10), rect(20, 20, 4, 2, 10, 10)
    annotations = {"a": [make_inst("a", a)], "b": [make_inst("b", b)]}
    result = compare_image(annotations, height=20, width=20, match_iou=0.5)
    (consensus,) = result.consensus
    expected = rect(20, 20, 3, 2, 10, 10)
    expected[[2, 2, 11, 11], [3, 12, 3, 12]] = False
    assert np.array_equal(decode(consensus.rle), expected)
    assert (consensus.area, consensus.bbox) == (96, (3, 2, 10, 10))
    assert consensus.perimeter == brute_crofton(expected)


def test_build_consensus_quorum_drops_instances_of_one_annotator():
    base = rect(30, 30, 2, 2, 8, 8)
    annotations = {
        "a": [make_inst("a1", base), make_inst("a2", rect(30, 30, 20, 20, 5, 5))],
        "b": [make_inst("b1", base)],
        "c": [make_inst("c1", base)],
    }
    matches = {
        ("a", "b"): [match("a1", "b1", 1.0)],
        ("a", "c"): [match("a1", "c1", 1.0)],
        ("b", "c"): [match("b1", "c1", 1.0)],
    }
    kept = build_consensus(annotations, matches, height=30, width=30, quorum=0.5)
    assert [c.members for c in kept] == [(("a", "a1"), ("b", "b1"), ("c", "c1"))]
    everything = build_consensus(annotations, matches, height=30, width=30, quorum=1 / 3)
    assert [c.members for c in everything][1] == (("a", "a2"),)
    # a cluster of one is that member's mask, unchanged
    assert everything[1].rle["counts"] == annotations["a"][1].rle["counts"]


def test_build_consensus_empty_submission_counts_towards_quorum():
    base = rect(20, 20, 2, 2, 8, 8)
    annotations = {"a": [make_inst("a1", base)], "b": [], "c": []}
    assert build_consensus(annotations, {}, height=20, width=20, quorum=0.5) == ()


def test_build_consensus_drops_cluster_with_empty_vote():
    # five 10 px squares in a row, each overlapping its neighbours by 2 columns: the chain
    # clusters them, but no pixel has the 3 votes a cluster of five needs
    masks = {name: rect(12, 60, 8 * k, 1, 10, 10) for k, name in enumerate("abcde")}
    annotations = {name: [make_inst(name, m)] for name, m in masks.items()}
    result = compare_image(annotations, height=12, width=60, match_iou=0.1)
    assert result.consensus == ()


def test_build_consensus_rejects_unknown_method():
    with pytest.raises(ValueError, match="majority"):
        build_consensus({"a": []}, {}, height=5, width=5, method="mean")


# --- real data: BU-BIL experts, 10 annotation sets per cell -------------------------------------


def _bubil_expert_masks(shared_data: Path, image_id: str) -> dict[str, np.ndarray]:
    root = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast" / "ExpertsAnnotations"
    return {
        folder.name: np.asarray(Image.open(folder / f"seg_{image_id}.png").convert("L")) < 128
        for folder in sorted(root.iterdir())
    }


@pytest.mark.parametrize("image_id", ["B01", "B03", "B22", "B35"])
def test_bubil_majority_consensus_equals_dense_vote(shared_data, image_id):
    """A subsample of 4 of the 10 cells keeps the file fast; each has 10 full-frame masks."""
    masks = _bubil_expert_masks(shared_data, image_id)
    height, width = next(iter(masks.values())).shape
    annotations = {name: [make_inst(name, m, d=26)] for name, m in masks.items()}
    result = compare_image(annotations, height=height, width=width, match_iou=0.5)
    assert result.consensus
    for consensus in result.consensus:
        members = [masks[name] for name, _ in consensus.members]
        expected = dense_vote(members)
        assert np.array_equal(decode(consensus.rle), expected)
        assert (consensus.area, consensus.bbox) == (expected.sum(), dense_bbox(expected))
        assert consensus.perimeter == brute_crofton(expected)
        assert consensus.support == len(members) / 10


@pytest.mark.parametrize("image_id", ["B03", "B22"])
def test_bubil_staple_consensus_agrees_with_simpleitk(shared_data, image_id):
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK (test-only dependency) missing")
    masks = _bubil_expert_masks(shared_data, image_id)
    height, width = next(iter(masks.values())).shape
    annotations = {name: [make_inst(name, m, d=26)] for name, m in masks.items()}
    result = compare_image(
        annotations, height=height, width=width, match_iou=0.5, consensus_method="staple"
    )
    consensus = max(result.consensus, key=lambda c: len(c.members))
    members = np.array([masks[name] for name, _ in consensus.members])
    x, y, w, h = dense_bbox(members.any(axis=0))  # the cluster's box: the members' union box
    crops = members[:, y : y + h, x : x + w]
    reference = sitk.STAPLEImageFilter()
    reference.SetForegroundValue(1.0)
    probability = sitk.GetArrayFromImage(
        reference.Execute([sitk.GetImageFromArray(c.astype(np.uint8)) for c in crops])
    )
    assert np.max(np.abs(np.subtract(consensus.sensitivity, reference.GetSensitivity()))) <= 1e-3
    assert np.max(np.abs(np.subtract(consensus.specificity, reference.GetSpecificity()))) <= 1e-3
    ours = decode(consensus.rle)[y : y + h, x : x + w]
    theirs = probability >= 0.5
    assert np.logical_and(ours, theirs).sum() / np.logical_or(ours, theirs).sum() >= 0.99
    assert decode(consensus.rle).sum() == ours.sum()  # nothing outside the cluster's box
