"""Agreement of all annotators of one image (DESIGN §4): every pair, the consensus, each
annotator against it, and the style observations, in one call (:func:`compare_image`).

Pure module, the top of the engine: it builds on :mod:`qc.agreement` (geometry, matching,
pair metrics), :mod:`qc.consensus` and :mod:`qc.style`, and nothing below imports it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from qc.agreement.geometry import MeasuredInstance
from qc.agreement.matching import _IndexedSide
from qc.agreement.pairs import PairComparison, PairResult, _compare
from qc.consensus import ConsensusMask, build_consensus, consensus_insts
from qc.masks import MaskError
from qc.style import ImageStyle, observe_image

__all__ = ["ImageComparison", "compare_image"]


@dataclass(frozen=True)
class ImageComparison:
    """Everything agreement computes for one image (DESIGN §4), ready to store.

    ``annotators`` sorted; ``pairs`` for every ``annotator_a < annotator_b`` in that order;
    ``consensus`` the consensus instances (empty with fewer than two annotators);
    ``versus_consensus`` each annotator against the consensus (three or more annotators;
    boundary IoU not computed); ``style`` the per-image observations that
    :func:`qc.style.style_reports` accumulates over images.
    """

    annotators: tuple[str, ...]
    pairs: tuple[PairComparison, ...]
    consensus: tuple[ConsensusMask, ...]
    versus_consensus: Mapping[str, PairResult]
    style: ImageStyle


def compare_image(
    annotations: Mapping[str, Sequence[MeasuredInstance]],
    *,
    height: int,
    width: int,
    match_iou: float,
    class_match_iou: Mapping[Hashable, float] | None = None,
    consensus_method: Literal["majority", "staple"] = "majority",
    quorum: float = 0.5,
    with_boundary: bool = True,
) -> ImageComparison:
    """Agreement of all annotators of one ``height`` × ``width`` image.

    ``annotations`` maps each annotator who submitted (an empty sequence is an empty
    submission, DESIGN §4.6) to their instances. Computes every pair, the consensus
    (:func:`qc.consensus.build_consensus`; two or more annotators), each annotator against
    the consensus (three or more), and the style observations (against the consensus, or
    the other annotator when there are two). ``with_boundary=False`` skips boundary IoU
    (then ``boundary_rle`` may be ``None``). Options as in :func:`compare_pair` and
    :func:`qc.consensus.build_consensus`.
    """
    sides = {annotator: _IndexedSide(insts) for annotator, insts in annotations.items()}
    for side in sides.values():
        if side.frame is not None and side.frame != (height, width):
            raise MaskError(
                f"instances of a {side.frame[1]}x{side.frame[0]} image given for {width}x{height}"
            )
    annotators = tuple(sorted(annotations))
    options = {"match_iou": match_iou, "class_match_iou": class_match_iou}
    pairs = []
    for index, annotator_a in enumerate(annotators):
        for annotator_b in annotators[index + 1 :]:
            result = _compare(
                sides[annotator_a],
                sides[annotator_b],
                **options,
                with_boundary=with_boundary,
                keep_overlaps=len(annotators) == 2,
            )
            pairs.append(PairComparison(annotator_a, annotator_b, result))
    consensus: tuple[ConsensusMask, ...] = ()
    reference: list[MeasuredInstance] = []
    versus: dict[str, PairResult] = {}
    if len(annotators) >= 2:
        consensus = build_consensus(
            annotations,
            {(p.annotator_a, p.annotator_b): p.result.matches for p in pairs},
            height=height,
            width=width,
            method=consensus_method,
            quorum=quorum,
        )
    if len(annotators) >= 3:
        reference = consensus_insts(consensus)
        reference_side = _IndexedSide(reference)
        for annotator in annotators:
            versus[annotator] = _compare(
                sides[annotator],
                reference_side,
                **options,
                with_boundary=False,
                keep_overlaps=True,
            )
    style = observe_image(annotations, pairs=pairs, versus_consensus=versus, consensus=reference)
    return ImageComparison(
        annotators=annotators,
        pairs=tuple(pairs),
        consensus=consensus,
        versus_consensus=versus,
        style=style,
    )
