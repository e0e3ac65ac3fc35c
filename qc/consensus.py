"""Consensus of several annotators' instances on one image (DESIGN §4, "Consensus").

Pure module: RLE dicts, numpy and frozen dataclasses; no Django. Conventions as in
:mod:`qc.agreement` (bbox ``(x, y, w, h)``, crops ``[row, col]`` with origin ``(x, y)``).
What lives where, in file order:

- :func:`cluster_instances`: clusters from the pairwise matches (point 1 below);
- :func:`vote_mask`: the pixel vote, on the runs for an odd number of members
  (:func:`_run_vote`), by shape-based averaging for an even number
  (:func:`_shape_averaged_vote`, :func:`signed_distance`);
- :func:`build_consensus`: the clusters that reach the quorum, each voted or by STAPLE
  (:mod:`qc.staple`), as :class:`ConsensusMask`;
- :func:`decode_runs` and :func:`run_features`: the runs of many RLEs at once, and the area,
  bbox and perimeter of each from them;
- :func:`consensus_insts`: the consensus as instances to compare each annotator against.

The method, step by step:

1. **Clusters** come from the pairwise matches (same-class matches of
   :func:`qc.agreement.compare_pair`; label mismatches do not link). An instance joins at
   most one cluster and a cluster holds at most one instance per annotator. Conflicting
   chains (a₁–b₁ and b₁–c₁ matched, but also a₁–c₂) are resolved greedily: all match edges
   are taken in order of descending IoU (ties: annotator a, annotator b, then the instances'
   positions in their annotator's list, so the result is deterministic), and an edge joins
   its two clusters only when they have no annotator in common; otherwise it is skipped.
   A cluster is therefore a tree of matches of high IoU; two of its members need not match
   each other directly. Instances with no kept edge are clusters of one.
2. **Quorum**: a cluster is kept when its members are at least ``quorum`` × the number of
   annotators of the image (each annotator who submitted, including empty submissions).
3. **Mask**: by pixel vote (:func:`vote_mask`) or by STAPLE (:func:`qc.staple.staple`, EM
   over the cluster's bounding box with each member's sensitivity and specificity). The
   vote keeps a pixel that more than half of the members have. A pixel held by exactly
   half of them (only an even number of members has such pixels) is decided by
   shape-based averaging (Rohlfing & Maurer 2007): it is in when the mean of the members'
   signed distances to their own edges is negative, i.e. it lies on the inside of the
   average edge. For two members that is the line midway between their edges, never their
   union, so a consensus label is not as loose as the loosest annotator. An odd number of
   members is voted on the runs with pycocotools unions and intersections, decoding no
   pixel; an even number, and STAPLE, decode the members into the cluster's bounding box
   only (the union of their boxes, with a one-pixel margin where the image goes on). A
   cluster of one is that member's mask, unchanged. The consensus is a new mask, not a
   chosen member; a cluster whose consensus mask comes out empty is dropped.
4. **Features** of each new mask (area, bbox, Crofton perimeter as in
   :func:`qc.agreement.crofton_perimeter`) come from its runs (:func:`run_features`), for
   the whole image in one vectorised pass.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
from pycocotools import mask as coco_mask
from scipy.ndimage import distance_transform_edt

from qc.agreement import Match, MeasuredInstance, crofton_from_counts
from qc.masks import rle_from_crop, rle_from_uncompressed, rle_to_crop
from qc.staple import staple

__all__ = [
    "ConsensusMask",
    "build_consensus",
    "cluster_instances",
    "consensus_insts",
    "decode_runs",
    "run_features",
    "signed_distance",
    "vote_mask",
]

# (annotator, position of the instance in that annotator's sequence)
Member = tuple[str, int]
Rle = Mapping[str, Any]


@dataclass(frozen=True)
class ConsensusMask:
    """One consensus instance of an image.

    ``rle`` is the consensus mask (same image size as the members); ``area`` pixels,
    ``bbox`` ``(x, y, w, h)`` and ``perimeter`` (Crofton, as :func:`qc.agreement.
    crofton_perimeter`) describe it. ``members`` are ``(annotator, key)`` sorted by
    annotator; ``support`` = members / annotators of the image. ``sensitivity`` and
    ``specificity`` are STAPLE's per-member rates (``members`` order), ``None`` for votes.
    """

    label: Hashable
    rle: dict[str, Any]
    area: int
    bbox: tuple[int, int, int, int]
    perimeter: float
    members: tuple[tuple[str, Hashable], ...]
    support: float
    sensitivity: tuple[float, ...] | None = None
    specificity: tuple[float, ...] | None = None


def cluster_instances(
    annotations: Mapping[str, Sequence[MeasuredInstance]],
    matches: Mapping[tuple[str, str], Sequence[Match]],
) -> list[tuple[Member, ...]]:
    """Clusters of instances linked by matches, by the greedy rule of the module docstring.

    ``matches[(u, v)]`` are the matches of annotators ``u`` and ``v`` (``a_key`` is u's
    instance, ``b_key`` v's). Returns every instance exactly once, as clusters of
    ``(annotator, position)`` sorted by annotator; clusters are ordered by their first
    member (annotators sorted, then position).
    """
    annotators = sorted(annotations)
    rank = {annotator: k for k, annotator in enumerate(annotators)}
    # Instances are numbered annotator by annotator (sorted), then by position.
    first: dict[str, int] = {}
    members: list[Member] = []
    for annotator in annotators:
        first[annotator] = len(members)
        members.extend((annotator, i) for i in range(len(annotations[annotator])))
    position = {
        annotator: {inst.key: i for i, inst in enumerate(annotations[annotator])}
        for annotator in annotators
    }
    edges = []
    for (u, v), pair_matches in matches.items():
        pu, pv, ru, rv = position[u], position[v], rank[u], rank[v]
        for m in pair_matches:
            i, j = pu[m.a_key], pv[m.b_key]
            edges.append((-m.iou, ru, rv, i, j, first[u] + i, first[v] + j))
    edges.sort()

    parent = list(range(len(members)))
    owners = [1 << rank[annotator] for annotator, _ in members]  # annotators, as bits

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for *_, x, y in edges:
        x, y = root(x), root(y)
        if x == y or owners[x] & owners[y]:
            continue
        if y < x:
            x, y = y, x
        parent[y] = x  # the root is always the cluster's first member
        owners[x] |= owners[y]

    groups: dict[int, list[Member]] = {}
    for node, member in enumerate(members):
        groups.setdefault(root(node), []).append(member)
    return [tuple(group) for group in groups.values()]


def _member_stack(members: Sequence[MeasuredInstance]) -> tuple[np.ndarray, tuple[int, int]]:
    """Bool ``[k, rows, cols]`` of the members decoded into the union of their bboxes."""
    boxes = np.array([m.bbox for m in members], dtype=np.int64)
    x0, y0 = int(boxes[:, 0].min()), int(boxes[:, 1].min())
    x1 = int((boxes[:, 0] + boxes[:, 2]).max())
    y1 = int((boxes[:, 1] + boxes[:, 3]).max())
    stack = np.zeros((len(members), y1 - y0, x1 - x0), dtype=bool)
    for k, member in enumerate(members):
        crop, (x, y) = rle_to_crop(dict(member.rle))
        stack[k, y - y0 : y - y0 + crop.shape[0], x - x0 : x - x0 + crop.shape[1]] = crop
    return stack, (x0, y0)


def vote_mask(rles: Sequence[Rle]) -> dict[str, Any]:
    """Pixel vote of ``k ≥ 1`` non-empty masks of one image (module docstring, point 3).

    A pixel is in when more than half of the masks have it. When exactly half have it
    (``k`` even) it is in when ``Σ_m s_m(p) < 0``, where ``s_m(p)`` is the signed distance
    of pixel ``p`` to the edge of mask ``m``: minus the Euclidean distance from ``p`` to the
    nearest pixel outside ``m`` when ``p`` is in ``m``, plus the distance to the nearest
    pixel of ``m`` otherwise (distances between pixel centres). Measuring to the edge
    between the pixels instead (half a pixel less on both sides) decides the same: at such
    a pixel as many masks hold it as not, so the halves cancel. The image frame is no edge:
    nobody can draw past it, so only pixels inside the image count as outside a mask (a
    mask with no pixel outside it, or an empty one, is the image's diagonal + 1 away). A sum
    within ``1e-9 · k`` pixels of zero is zero (floating point), and zero is out: a pixel on
    the average edge is not inside it.

    Odd ``k``: computed on the runs (:func:`_run_vote`), decoding no pixel. Even ``k``: the
    masks are decoded into the union of their boxes (:func:`_shape_averaged_vote`).
    """
    k = len(rles)
    if k == 0:
        raise ValueError("a vote needs at least one mask")
    if k % 2 == 0:
        return _shape_averaged_vote(rles)
    return _run_vote(rles, (k + 1) // 2)


# Sums of signed distances closer to zero than this (per member) are zero. Two members'
# distances differ by at least 1e-5 px whenever they differ at all (square roots of distinct
# whole numbers below 2**31), so for them the decision is exact.
_TIE_TOLERANCE = 1e-9


def _shape_averaged_vote(rles: Sequence[Rle]) -> dict[str, Any]:
    """:func:`vote_mask` of an even number of masks, in pixels inside their union box.

    The box gets a one-pixel margin of background on each side where the image goes on, so
    the distance from a member's pixel to its nearest outside pixel is measured exactly
    (the nearest one is never further out than that margin), and every member lies inside
    the box, so the distance to a member's nearest pixel is exact as well. The members are
    decoded from their runs in one pass (:func:`decode_runs`: counts from storage, trusted)
    and held column-major, as the runs are; distances do not depend on the layout.
    """
    k = len(rles)
    height, width = (int(v) for v in rles[0]["size"])
    owner, start, end = decode_runs(rles)
    if owner.size == 0:
        return rle_from_uncompressed([height * width], height=height, width=width)
    owner, col, top, bottom = _column_pieces(owner, start, end, height)
    x0, x1 = max(0, int(col.min()) - 1), min(width, int(col.max()) + 2)
    y0, y1 = max(0, int(top.min()) - 1), min(height, int(bottom.max()) + 1)
    rows, cols = y1 - y0, x1 - x0
    # Per member and box column: +1 where a piece starts, -1 where it ends; every column's
    # steps sum to zero, so one running sum fills them all.
    stride = rows + 1
    base = (owner * cols + (col - x0)) * stride - y0
    size = k * cols * stride
    steps = np.bincount(base + top, minlength=size) - np.bincount(base + bottom, minlength=size)
    stack = np.cumsum(steps).reshape(k, cols, stride)[:, :, :rows] > 0  # [member, col, row]
    votes = stack.sum(axis=0, dtype=np.int64)
    inside = 2 * votes > k
    tie = 2 * votes == k
    if tie.any():
        far = float(np.hypot(height, width)) + 1.0
        total = np.zeros(tie.shape, dtype=np.float64)
        for member in stack:
            total += signed_distance(member, far=far)
        inside |= tie & (total < -_TIE_TOLERANCE * k)
    if not inside.any():
        return rle_from_uncompressed([height * width], height=height, width=width)
    return rle_from_crop(inside.T, origin=(x0, y0), height=height, width=width)


def signed_distance(mask: np.ndarray, *, far: float) -> np.ndarray:
    """Signed Euclidean distance of every pixel of ``mask``'s array to the mask's edge
    (float64, pixels): minus the distance to the nearest pixel outside the mask for pixels
    in it, plus the distance to the nearest pixel of the mask for the others. Only pixels of
    the array count (its border is no edge). Where there is no such pixel (an empty mask, or
    one filling the whole array) the distance is ``far``, which callers set beyond any real
    distance (the image's diagonal + 1)."""
    if not mask.any():
        return np.full(mask.shape, far)
    outside = _distance_to_zero(~mask)  # distance to the nearest pixel of the mask
    inside = _distance_to_zero(mask) if not mask.all() else np.full(mask.shape, far)
    return np.where(mask, -inside, outside)


# OpenCV's exact distance transform (Felzenszwalb's, DIST_MASK_PRECISE) gives float32 square
# roots of whole squared distances; squared and rounded they are those whole numbers again
# while below 2**22 (float32 keeps 24 bits), so their float64 roots equal scipy's exactly.
_EXACT_SQUARED_DISTANCE = 2**22


def _distance_to_zero(array: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest zero (False) pixel, float64, equal
    to scipy's ``distance_transform_edt`` bit for bit; zero at the zero pixels. The array
    must hold a zero pixel."""
    rows, cols = array.shape
    if (rows - 1) ** 2 + (cols - 1) ** 2 >= _EXACT_SQUARED_DISTANCE:
        return distance_transform_edt(array)
    root = cv2.distanceTransform(array.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.sqrt(np.rint(np.square(root, dtype=np.float64)))


def _run_vote(rles: Sequence[Rle], needed: int) -> dict[str, Any]:
    """Pixels in at least ``needed`` of the masks, on the runs with pycocotools ``merge``
    (union / intersection in C), decoding no pixel: ``S_j`` = pixels in at least ``j`` of
    the masks seen so far; each new mask ``M`` updates ``S_j ← S_j ∪ (S_{j−1} ∩ M)`` from
    ``j = needed`` down; levels that can no longer reach ``needed`` are skipped (three
    masks, two needed: four merges)."""
    k = len(rles)
    levels: list[Any] = [None] * (needed + 1)  # levels[j] = S_j, None while empty
    for i, rle in enumerate(rles, start=1):
        remaining = k - i
        for j in range(min(i, needed), 0, -1):
            if j + remaining < needed:
                break  # S_j (and lower) cannot reach the threshold any more
            if j == 1:
                gain = rle
            elif levels[j - 1] is None:
                continue
            else:
                gain = coco_mask.merge([levels[j - 1], rle], intersect=1)
            levels[j] = gain if levels[j] is None else coco_mask.merge([levels[j], gain])
    return levels[needed]


def build_consensus(
    annotations: Mapping[str, Sequence[MeasuredInstance]],
    matches: Mapping[tuple[str, str], Sequence[Match]],
    *,
    height: int,
    width: int,
    method: Literal["majority", "staple"] = "majority",
    quorum: float = 0.5,
) -> tuple[ConsensusMask, ...]:
    """Consensus instances of one ``height`` × ``width`` image (module docstring).

    ``annotations`` maps every annotator who submitted to their instances (an empty
    sequence counts towards the quorum's denominator); ``matches`` as in
    :func:`cluster_instances`. Returned in cluster order. A vote decodes no pixel; STAPLE
    decodes the members inside the cluster's bounding box. Area, bbox and perimeter of the
    new masks are computed from their runs (:func:`run_features`).
    """
    if method not in ("majority", "staple"):
        raise ValueError(f"consensus method must be 'majority' or 'staple', got {method!r}")
    if not 0.0 < quorum <= 1.0:
        raise ValueError(f"quorum must be in (0, 1], got {quorum}")
    n_annotators = len(annotations)
    if n_annotators == 0:
        return ()
    needed = quorum * n_annotators - 1e-9  # quorum is a fraction of people; forgive rounding
    drafts = []  # (label, members, support, rle, rates, member whose features are reused)
    for cluster in cluster_instances(annotations, matches):
        if len(cluster) < needed:
            continue
        insts = [annotations[annotator][i] for annotator, i in cluster]
        members = tuple((annotator, annotations[annotator][i].key) for annotator, i in cluster)
        support = len(cluster) / n_annotators
        label = insts[0].label
        if len(insts) == 1:
            rates = ((1.0,), (1.0,)) if method == "staple" else None
            drafts.append((label, members, support, dict(insts[0].rle), rates, insts[0]))
        elif method == "majority":
            rle = vote_mask([inst.rle for inst in insts])
            drafts.append((label, members, support, rle, None, None))
        else:
            stack, (x0, y0) = _member_stack(insts)
            result = staple(stack)
            rates = (result.sensitivity, result.specificity)
            if not result.mask.any():
                continue
            rle = rle_from_crop(result.mask, origin=(x0, y0), height=height, width=width)
            drafts.append((label, members, support, rle, rates, None))

    new = [k for k, draft in enumerate(drafts) if draft[5] is None]
    areas, boxes, perimeters = run_features([drafts[k][3] for k in new], height, width)
    features = {
        k: (area, tuple(box), perimeter)
        for k, area, box, perimeter in zip(
            new, areas.tolist(), boxes.tolist(), perimeters.tolist(), strict=True
        )
    }
    out = []
    for k, (label, members, support, rle, rates, reused) in enumerate(drafts):
        if reused is not None:
            area, bbox, perimeter = reused.area, reused.bbox, reused.perimeter
        else:
            area, bbox, perimeter = features[k]
        if area == 0:
            continue  # the members agree on no pixel
        out.append(
            ConsensusMask(
                label=label,
                rle=rle,
                area=area,
                bbox=bbox,
                perimeter=perimeter,
                members=members,
                support=support,
                sensitivity=rates[0] if rates else None,
                specificity=rates[1] if rates else None,
            )
        )
    return tuple(out)


# --- features from runs -------------------------------------------------------------------------
# A mask as foreground intervals [start, end) of flat column-major indices (col * height + row),
# many masks at once, tagged with an owner number. Everything below is O(runs), not O(pixels).


def decode_runs(rles: Sequence[Rle]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Foreground intervals of many RLEs in one vectorised pass: ``(owner, start, end)``.

    ``owner[i]`` is the position in ``rles`` of interval i; intervals are sorted by owner,
    then start, and non-empty. Decodes the COCO counts strings exactly as pycocotools does
    (6-bit characters from '0', 5 payload bits least significant first, 0x20 = more follow,
    0x10 of the last = negative; from the fourth number on, deltas against the number two
    before), without checking them: they come from storage, already validated.
    """
    strings = [r["counts"].encode() if isinstance(r["counts"], str) else r["counts"] for r in rles]
    if not strings:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    chars = np.frombuffer(b"".join(strings), dtype=np.uint8) - np.uint8(48)
    payload = (chars & 0x1F).astype(np.int64)
    is_last = (chars & 0x20) == 0
    last = np.flatnonzero(is_last)
    n_chars = np.diff(last, prepend=-1)
    value = payload[last].copy()  # most significant 5 bits first (Horner, backwards)
    for j in range(1, int(n_chars.max())):
        sel = np.flatnonzero(n_chars > j)
        value[sel] = (value[sel] << 5) | payload[last[sel] - j]
    negative = (payload[last] & 0x10) != 0
    value[negative] -= np.int64(1) << (5 * n_chars[negative])

    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    per_string = np.add.reduceat(is_last.astype(np.int64), np.cumsum(lengths) - lengths)
    owner = np.repeat(np.arange(len(strings)), per_string)
    begin = np.cumsum(per_string) - per_string
    index = np.arange(value.size) - begin[owner]
    odd = (index & 1) == 1
    counts = np.where(index == 0, value, 0)
    for chain in (odd, ~odd & (index >= 2)):  # run i adds run i − 2, for i ≥ 3
        counts += np.where(chain, _segment_cumsum(np.where(chain, value, 0), owner, begin), 0)
    bounds = _segment_cumsum(counts, owner, begin)
    k = np.flatnonzero(odd)  # foreground runs: from the end of the run before to their end
    start, end = bounds[k - 1], bounds[k]
    keep = end > start
    return owner[k][keep], start[keep], end[keep]


def _column_pieces(
    owner: np.ndarray, start: np.ndarray, end: np.ndarray, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The intervals of :func:`decode_runs` split into pieces within one column (a run
    leaves a column only at the frame's bottom edge and goes on at the top of the next):
    ``(owner, col, top, bottom)`` with ``bottom`` exclusive."""
    first_col, first_row = np.divmod(start, height)
    last_col, last_row = np.divmod(end - 1, height)
    pieces = last_col - first_col + 1
    if not (pieces > 1).any():
        return owner, first_col, first_row, last_row + 1
    run = np.repeat(np.arange(start.size), pieces)
    step = np.arange(run.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    col = first_col[run] + step
    top = np.where(step == 0, first_row[run], 0)
    bottom = np.where(col == last_col[run], last_row[run] + 1, height)
    return owner[run], col, top, bottom


def _segment_cumsum(values: np.ndarray, owner: np.ndarray, begin: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each owner's first element."""
    total = np.cumsum(values)
    before = np.where(begin > 0, total[np.maximum(begin - 1, 0)], 0)
    return total - before[owner]


def run_features(
    rles: Sequence[Rle], height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area, bbox ``(x, y, w, h)`` and Crofton perimeter of each RLE, from its runs.

    Returns ``(areas [n], bboxes [n, 4], perimeters [n])``; an empty mask has area 0, bbox
    zeros, perimeter 0. The perimeter equals :func:`qc.agreement.crofton_perimeter` of the
    decoded mask exactly: the same transition counts, taken from runs. With ``S_c`` the
    rows of column c: horizontal transitions ``Σ |S_c Δ S_{c+1}|`` = ``|S_0..S_{w−2}| +
    |S_1..S_{w−1}| − 2·|M ∩ (M shifted one column)|``, and the diagonals likewise with the
    mask shifted one column and one row (rows clipped so nothing wraps into the next column).
    """
    n = len(rles)
    boxes = np.zeros((n, 4), dtype=np.int64)
    owner, start, end = decode_runs(rles)
    if owner.size == 0:
        return np.zeros(n, dtype=np.int64), boxes, np.zeros(n, dtype=np.float64)
    h = int(height)
    owner, col, top, bottom = _column_pieces(owner, start, end, h)
    segment = np.flatnonzero(np.diff(owner, prepend=-1))  # owners are contiguous
    who = owner[segment]
    pieces = _FramePieces(owner, col, top, bottom, bottom - top, h, width)
    counts = _edge_counts(pieces, segment, who, n)
    shared = _shifted_overlaps(pieces, n)
    area = counts[0]
    perimeters = np.where(area > 0, _crofton_from_edge_counts(counts, shared), 0.0)
    boxes[who, 0] = np.minimum.reduceat(col, segment)
    boxes[who, 1] = np.minimum.reduceat(top, segment)
    boxes[who, 2] = np.maximum.reduceat(col, segment) + 1 - boxes[who, 0]
    boxes[who, 3] = np.maximum.reduceat(bottom, segment) - boxes[who, 1]
    return area, boxes, perimeters


class _FramePieces(NamedTuple):
    """The column pieces of :func:`_column_pieces` (``bottom`` exclusive, ``length =
    bottom − top``) and the frame they lie in."""

    owner: np.ndarray
    col: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    length: np.ndarray
    height: int
    width: int


def _edge_counts(pieces: _FramePieces, segment: np.ndarray, who: np.ndarray, n: int) -> np.ndarray:
    """Per-owner sums ``[10, n]`` over the pieces, in one pass: area, vertical transitions,
    pixels in the first and last rows, pixels in the first and last columns, and the corner
    pixels (top-left, bottom-left, top-right, bottom-right). ``segment`` holds each owner's
    first piece, ``who`` its owner.
    """
    _, col, top, bottom, length, height, width = pieces
    at_top, at_bottom = top == 0, bottom == height
    at_left, at_right = col == 0, col == width - 1
    counts = np.zeros((10, n), dtype=np.int64)
    counts[:, who] = np.add.reduceat(
        np.stack(
            [
                length,
                (~at_top).astype(np.int64) + (~at_bottom),  # vertical transitions
                at_top,
                at_bottom,
                length * at_left,
                length * at_right,
                at_top & at_left,
                at_bottom & at_left,
                at_top & at_right,
                at_bottom & at_right,
            ]
        ).astype(np.int64),
        segment,
        axis=1,
    )
    return counts


def _shifted_overlaps(pieces: _FramePieces, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per owner, the pixels shared by its pieces X and X shifted one column, one column and
    one row down, and one column and one row up (rows clipped so nothing wraps), for all
    three shifts with one sorted search: shared(Y) = Σ_y F(y_end) − F(y_start), F(t) =
    pixels of X before flat index t."""
    owner, col, top, bottom, length, h, width = pieces
    stride = np.int64(h) * (width + 2)  # global keys keep owners apart
    base = owner * stride + col * h
    x_start, x_length = base + top, length
    x_before = np.cumsum(x_length) - x_length
    d_end = np.minimum(bottom, h - 1)
    a_start = np.maximum(top, 1)
    diagonal_ok, anti_ok = d_end > top, bottom > a_start
    y_start = np.concatenate(
        (x_start + h, (base + top)[diagonal_ok] + h + 1, (base + a_start)[anti_ok] + h - 1)
    )
    y_end = np.concatenate(
        (base + bottom + h, (base + d_end)[diagonal_ok] + h + 1, (base + bottom)[anti_ok] + h - 1)
    )
    y_owner = np.concatenate((owner, owner[diagonal_ok] + n, owner[anti_ok] + 2 * n))
    t = np.concatenate((y_start, y_end))
    k = np.maximum(np.searchsorted(x_start, t, side="right") - 1, 0)
    covered = x_before[k] + np.clip(t - x_start[k], 0, x_length[k])
    covered[t < x_start[0]] = 0
    shared = covered[y_start.size :] - covered[: y_start.size]
    shifted = np.bincount(y_owner, weights=shared, minlength=3 * n).astype(np.int64)
    return shifted[:n], shifted[n : 2 * n], shifted[2 * n :]


def _crofton_from_edge_counts(
    counts: np.ndarray, shared: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """Crofton perimeter per owner from :func:`_edge_counts` and :func:`_shifted_overlaps`:
    the transitions between neighbours in each of the four directions."""
    area, vertical, row_first, row_last, col_first, col_last = counts[:6]
    corner_tl, corner_bl, corner_tr, corner_br = counts[6:]
    same_column, same_diagonal, same_anti = shared
    horizontal = 2 * area - col_first - col_last - 2 * same_column
    # (r, c) ~ (r + 1, c + 1): both pixels inside the image
    diagonal = (
        (area - row_last - col_last + corner_br)
        + (area - row_first - col_first + corner_tl)
        - 2 * same_diagonal
    )
    # (r, c) ~ (r − 1, c + 1)
    anti = (
        (area - row_first - col_last + corner_tr)
        + (area - row_last - col_first + corner_bl)
        - 2 * same_anti
    )
    return crofton_from_counts(horizontal, vertical, diagonal, anti)


def consensus_insts(consensus: Sequence[ConsensusMask]) -> list[MeasuredInstance]:
    """The consensus as :class:`qc.agreement.MeasuredInstance` (key = position) to compare against.

    No boundary band: compare with ``with_boundary=False``.
    """
    return [
        MeasuredInstance(
            key=k,
            label=c.label,
            rle=c.rle,
            area=c.area,
            bbox=c.bbox,
            perimeter=c.perimeter,
        )
        for k, c in enumerate(consensus)
    ]
