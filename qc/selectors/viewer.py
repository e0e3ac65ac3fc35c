"""Everything the review viewer shows of one image (DESIGN §11), read in a fixed number of
queries whatever the number of submissions and instances: the latest submission of every
live task with its annotator, review, flags and instances; the consensus; the label; the
image's place in the user's review queue; and each instance's IoU and boundary IoU to the
consensus instance of its cluster (or, outside any cluster, to the best-overlapping
instance of another annotator), computed on the stored RLE and cached per image.

Annotators are numbered 1, 2, … by username; number ``n`` has colour ``PALETTE[n - 1]``
(Okabe–Ito, colour-blind safe), the same in the page's CSS (``.a1`` … ``.a9``).
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from projects.models import Image, Project
from projects.selectors import QCState, qc_state_expression
from qc.agreement import boundary_width, instance_features
from qc.masks import rle_iou
from qc.models import (
    ConsensusInstance,
    ImageAgreement,
    ImageLabel,
    Instance,
    InstanceFlag,
    ReasonCode,
    Review,
    Submission,
)
from qc.render import disagreement_step
from qc.selectors.queue import QueuePlace, queue_place
from qc.selectors.submissions import live_newest_revisions, stored_instance

PALETTE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#999999",
    "#000000",
)
# Bump when what the cache holds changes shape.
_METRICS_VERSION = 1
_METRICS_SECONDS = 24 * 3600
# Bump when the instance table's markup changes (it is kept rendered, see table_key).
_TABLE_VERSION = 1
_REASON_LABELS = dict(ReasonCode.choices)
_NOT_SHOWN = ("boundary_rle", "polygon", "attributes")
# The disagreement overlay's shades, lightest first; viewer.css and viewer.js hold the same
# five (``.dl1`` … ``.dl5``).
DISAGREEMENT_LEVELS = 5


@dataclass
class SubmissionView:
    """One annotator's latest submission as the viewer shows it."""

    number: int
    colour: str
    submission: Submission
    username: str
    review: Review | None
    flags: list[InstanceFlag]
    violations: list[dict[str, Any]]  # for the whole submission (no instance)
    blocking: int  # violations of severity "block", instance ones included
    warnings: int
    instance_count: int

    @property
    def layer(self) -> str:
        return f"annotator-{self.number}"

    @property
    def colour_class(self) -> str:
        """The CSS class of the annotator's colour (``a1`` … ``a9``, then again)."""
        return f"a{(self.number - 1) % len(PALETTE) + 1}"

    @property
    def reason_labels(self) -> list[str]:
        reasons = self.review.reasons if self.review is not None else []
        return [_REASON_LABELS.get(r, r) for r in reasons]

    @property
    def decided(self) -> bool:
        return self.review is not None

    @property
    def accepted(self) -> bool:
        return self.review is not None and self.review.decision == Review.Decision.ACCEPT


@dataclass
class InstanceRow:
    """One instance in the table: whose, its measures against its reference, its rule
    violations and the flag a decision put on it."""

    instance: Instance
    index: int  # 1-based position in its submission, as rule violations name it
    owner: SubmissionView
    iou: float | None
    boundary_iou: float | None
    reference: str  # what the IoUs compare with, in words
    violations: list[dict[str, Any]]  # the submission's, naming this instance
    flag: InstanceFlag | None


@dataclass
class InstanceGroup:
    """Instances matched across annotators (a consensus cluster), or the unmatched ones."""

    title: str
    consensus: ConsensusInstance | None
    rows: list[InstanceRow]
    missing: list[SubmissionView] = field(default_factory=list)
    mean_iou: float | None = None


@dataclass
class ViewerData:
    image: Image
    agreement: ImageAgreement | None
    label: ImageLabel | None
    submissions: list[SubmissionView]
    consensus: list[ConsensusInstance]
    instance_count: int
    # Builds the table's groups when the table is rendered (not when it is cached).
    group_source: Callable[[], list[InstanceGroup]]
    queue: QueuePlace
    reasons: list[tuple[str, str]]
    disagreement: list[tuple[int, int]]  # (annotators who drew a pixel, level 1..5)
    # More than one class among the instances (else the table leaves the column out: the
    # group's title names the class).
    several_classes: bool
    # Names the rendered instance table in the template fragment cache.
    table_key: str
    band_px: int
    script: dict[str, Any]

    @cached_property
    def groups(self) -> list[InstanceGroup]:
        """The instance table's groups (:func:`_groups`), with the measures."""
        return self.group_source()

    @property
    def state(self) -> str:
        """The image's QC state in words."""
        return str(getattr(self.image, "qc_state", "") or "").replace("_", " ")

    @property
    def undecided(self) -> list[SubmissionView]:
        return [s for s in self.submissions if not s.decided]

    @property
    def label_open(self) -> bool:
        """Whether a label may be chosen: none in force, or the one in force was sent back."""
        return self.label is None or self.label.sent_back


def viewer_image(*, project: Project, pk: int) -> Image | None:
    """The project's image ``pk`` with its project, agreement, label and ``qc_state``, or
    None."""
    return (
        Image.objects.filter(project=project, pk=pk)
        .select_related(
            "project", "agreement", "label__accepted_by", "label__submission__task__annotator"
        )
        .annotate(qc_state=qc_state_expression(without_tasks=QCState.ANNOTATING))
        .first()
    )


def latest_submissions_of(*, image: Image) -> QuerySet[Submission]:
    """The newest revision of every live task of the image, with its annotator, review,
    the review's flags and the instances with their classes, by annotator's username."""
    return (
        live_newest_revisions(Submission.objects.filter(task__image=image))
        .select_related("task__annotator", "review__reviewer")
        .prefetch_related(
            # The boundary band is read only to compute the measures (cold cache), the
            # source polygon and attributes never: the viewer leaves them in the database.
            Prefetch(
                "instances",
                queryset=Instance.objects.select_related("label_class").defer(*_NOT_SHOWN),
            ),
            Prefetch("review__flags", queryset=InstanceFlag.objects.order_by("pk")),
        )
        .order_by("task__annotator__username", "pk")
    )


def review_viewer(*, user: Any, image: Image) -> ViewerData:
    """Everything the review viewer shows of ``image`` (fetched by :func:`viewer_image`) to
    ``user``, who may review it (the caller checked)."""
    project = image.project
    agreement = _related_or_none(image, "agreement")
    label = _related_or_none(image, "label")
    submissions = _submission_views(list(latest_submissions_of(image=image)))
    consensus = list(
        ConsensusInstance.objects.filter(image=image).select_related("label_class").order_by("pk")
    )
    band_px = boundary_width(
        height=image.height, width=image.width, boundary_px=project.boundary_px
    )
    classes = {i.label_class_id for s in submissions for i in s.submission.instances.all()}
    key = metrics_key(
        image=image,
        agreement=agreement,
        submissions=[s.submission for s in submissions],
        consensus=consensus,
        band_px=band_px,
    )

    def groups() -> list[InstanceGroup]:
        metrics = instance_metrics(
            key=key,
            image=image,
            submissions=[s.submission for s in submissions],
            consensus=consensus,
            band_px=band_px,
        )
        return _groups(submissions, consensus, metrics)

    # The table shows the measures and each submission's decision (its flags never change
    # once made): the same key for the same of both.
    decided = ",".join(f"{s.submission.pk}:{s.review.pk if s.review else 0}" for s in submissions)
    # ... and the names it shows, so renaming a class or a user shows at once.
    names = sorted(
        {i.label_class.name for s in submissions for i in s.submission.instances.all()}
        | {s.submission.task.annotator.username for s in submissions}
    )
    named = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return ViewerData(
        image=image,
        agreement=agreement,
        label=label,
        submissions=submissions,
        consensus=consensus,
        instance_count=sum(s.instance_count for s in submissions),
        group_source=groups,
        queue=queue_place(user=user, image=image),
        reasons=list(ReasonCode.choices),
        disagreement=disagreement_levels(len(submissions)),
        several_classes=len(classes) > 1,
        table_key=f"{key}:{_TABLE_VERSION}:{decided}:{named}",
        band_px=band_px,
        script=_script_data(image, submissions, consensus),
    )


def disagreement_levels(annotators: int) -> list[tuple[int, int]]:
    """The shade of a pixel drawn by ``k`` of ``annotators`` (``0 < k < annotators``: they
    differ there), for each ``k``: levels 1 … 5 spread evenly, the more the darker."""
    return [
        (k, 1 + round((DISAGREEMENT_LEVELS - 1) * disagreement_step(k, annotators)))
        for k in range(1, annotators)
    ]


def _related_or_none(obj: Any, name: str) -> Any:
    """A reverse one-to-one (already fetched by select_related), or None when there is none:
    Django's "does not exist" of a reverse one-to-one is also an AttributeError."""
    return getattr(obj, name, None)


def _submission_views(submissions: Sequence[Submission]) -> list[SubmissionView]:
    views = []
    for number, submission in enumerate(submissions, start=1):
        review = _related_or_none(submission, "review")
        violations = list(submission.rule_violations or [])
        views.append(
            SubmissionView(
                number=number,
                colour=PALETTE[(number - 1) % len(PALETTE)],
                submission=submission,
                username=submission.task.annotator.username,
                review=review,
                flags=list(review.flags.all()) if review is not None else [],
                violations=[v for v in violations if v.get("instance") is None],
                blocking=sum(1 for v in violations if v.get("severity") == "block"),
                warnings=sum(1 for v in violations if v.get("severity") != "block"),
                instance_count=len(submission.instances.all()),
            )
        )
    return views


# ------------------------------------------------------------------- the measures


@dataclass(frozen=True)
class Measure:
    """An instance against its reference: the consensus instance of its cluster
    (``kind`` "consensus"), or the best-overlapping instance of another annotator
    ("instance"), or nothing to compare with (``reference`` None)."""

    iou: float | None
    boundary_iou: float | None
    kind: str | None
    reference: int | None


@dataclass(frozen=True)
class Metrics:
    measures: dict[int, Measure]
    clusters: dict[int, list[int]]  # consensus id -> the members present, in a cluster of 2+


def metrics_key(
    *,
    image: Image,
    agreement: ImageAgreement | None,
    submissions: Sequence[Submission],
    consensus: Sequence[ConsensusInstance],
    band_px: int,
) -> str:
    """The cache key of an image's measures: a new submission (a new id), a recomputed
    agreement (new consensus rows, a new ``computed_at``) or another band width is a new
    key. Submissions and their instances never change once stored."""
    parts = [
        str(agreement.computed_at.isoformat()) if agreement is not None else "-",
        ",".join(str(s.pk) for s in sorted(submissions, key=lambda s: s.pk)),
        ",".join(str(c.pk) for c in consensus),
        str(band_px),
    ]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return f"maskqc:viewer-metrics:{_METRICS_VERSION}:{image.pk}:{digest}"


def instance_metrics(
    *,
    key: str,
    image: Image,
    submissions: Sequence[Submission],
    consensus: Sequence[ConsensusInstance],
    band_px: int,
) -> Metrics:
    """:func:`compute_metrics`, cached under ``key`` (:func:`metrics_key`)."""
    found = cache.get(key)
    if found is None:
        found = compute_metrics(
            height=image.height,
            width=image.width,
            submissions=submissions,
            consensus=consensus,
            band_px=band_px,
        )
        cache.set(key, found, _METRICS_SECONDS)
    return found


def compute_metrics(
    *,
    height: int,
    width: int,
    submissions: Sequence[Submission],
    consensus: Sequence[ConsensusInstance],
    band_px: int,
) -> Metrics:
    """Each instance's IoU and boundary IoU (pycocotools on the stored RLE).

    An instance in a consensus cluster of two or more present members is compared with the
    cluster's consensus instance: IoU of the masks, and IoU of its boundary band with the
    consensus instance's band (built as the engine builds every band,
    :func:`qc.agreement.instance_features`, ``band_px`` wide). Any other instance is
    compared with the instance of another annotator, same class, that overlaps it most
    (bands: both stored ones); when none overlaps, there is nothing to compare with.
    """
    owner: dict[int, int] = {}
    measured: dict[int, Any] = {}
    bands = dict(
        Instance.objects.filter(submission__in=[s.pk for s in submissions]).values_list(
            "pk", "boundary_rle"
        )
    )
    for submission in submissions:
        for inst in submission.instances.all():
            inst.boundary_rle = bands[inst.pk]
            owner[inst.pk] = submission.pk
            measured[inst.pk] = stored_instance(inst, height=height, width=width, band_px=band_px)
    clusters: dict[int, list[int]] = {}
    measures: dict[int, Measure] = {}
    for item in consensus:
        present = [m for m in item.members if m in measured]
        if len({owner[m] for m in present}) < 2:
            continue
        clusters[item.pk] = present
        rle = {"size": [height, width], "counts": item.rle.encode()}
        band = instance_features(rle, boundary_px=band_px).boundary_rle
        for member in present:
            inst = measured[member]
            measures[member] = Measure(
                iou=float(rle_iou([inst.rle], [rle])[0, 0]),
                boundary_iou=float(rle_iou([inst.boundary_rle], [band])[0, 0]),
                kind="consensus",
                reference=item.pk,
            )
    alone = [pk for pk in measured if pk not in measures]
    by_class: dict[Any, list[int]] = defaultdict(list)
    for pk, inst in measured.items():
        by_class[inst.label].append(pk)
    for pk in alone:
        inst = measured[pk]
        others = [o for o in by_class[inst.label] if owner[o] != owner[pk]]
        measures[pk] = _best_overlap(inst, [measured[o] for o in others])
    return Metrics(measures=measures, clusters=clusters)


def _best_overlap(inst: Any, others: Sequence[Any]) -> Measure:
    if not others:
        return Measure(iou=None, boundary_iou=None, kind=None, reference=None)
    ious = rle_iou([inst.rle], [o.rle for o in others])[0]
    best = int(ious.argmax())
    if ious[best] <= 0.0:
        return Measure(iou=None, boundary_iou=None, kind=None, reference=None)
    other = others[best]
    return Measure(
        iou=float(ious[best]),
        boundary_iou=float(rle_iou([inst.boundary_rle], [other.boundary_rle])[0, 0]),
        kind="instance",
        reference=other.key,
    )


# --------------------------------------------------------------------- the table


def _instance_violations(view: SubmissionView) -> dict[int, list[dict[str, Any]]]:
    """Rule violations naming one instance, by instance id (a violation names an instance
    by its index in the submission, and instances are stored in that order)."""
    instances = list(view.submission.instances.all())
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for violation in view.submission.rule_violations or []:
        index = violation.get("instance")
        if isinstance(index, int) and 0 <= index < len(instances):
            name = str(violation.get("rule", "")).replace("_", " ")
            found[instances[index].pk].append({**violation, "name": name})
    return found


def _groups(
    submissions: Sequence[SubmissionView],
    consensus: Sequence[ConsensusInstance],
    metrics: Metrics,
) -> list[InstanceGroup]:
    """The table's groups: each consensus cluster of two or more annotators (lowest mean
    IoU first, so the worst agreement leads), then every unmatched instance by annotator."""
    views: dict[int, tuple[Instance, SubmissionView]] = {}
    positions: dict[int, int] = {}
    violations: dict[int, list[dict[str, Any]]] = {}
    flags: dict[int, InstanceFlag] = {}
    for view in submissions:
        violations.update(_instance_violations(view))
        flags.update((f.instance_id, f) for f in view.flags)
        for position, inst in enumerate(view.submission.instances.all(), start=1):
            views[inst.pk] = (inst, view)
            positions[inst.pk] = position
    owners_of = {c.pk: c for c in consensus}

    def row(pk: int) -> InstanceRow:
        inst, view = views[pk]
        measure = metrics.measures.get(pk) or Measure(None, None, None, None)
        return InstanceRow(
            instance=inst,
            index=positions[pk],
            owner=view,
            iou=measure.iou,
            boundary_iou=measure.boundary_iou,
            reference=_reference_words(measure, views),
            violations=violations.get(pk, []),
            flag=flags.get(pk),
        )

    groups = []
    for consensus_pk, members in metrics.clusters.items():
        rows = sorted((row(m) for m in members if m in views), key=lambda r: r.owner.number)
        present = {r.owner.number for r in rows}
        ious = [r.iou for r in rows if r.iou is not None]
        item = owners_of[consensus_pk]
        groups.append(
            InstanceGroup(
                title=f"{item.label_class.name}, {len(present)} of {len(submissions)}",
                consensus=item,
                rows=rows,
                missing=[s for s in submissions if s.number not in present],
                mean_iou=sum(ious) / len(ious) if ious else None,
            )
        )
    groups.sort(key=lambda g: (g.mean_iou if g.mean_iou is not None else 2.0, g.consensus.pk))
    clustered = {m for members in metrics.clusters.values() for m in members}
    unmatched = [row(pk) for pk in views if pk not in clustered]
    if unmatched:
        unmatched.sort(key=lambda r: (r.owner.number, -r.instance.area, r.instance.pk))
        groups.append(InstanceGroup(title="Unmatched", consensus=None, rows=unmatched))
    return groups


def _reference_words(measure: Measure, views: dict[int, tuple[Instance, SubmissionView]]) -> str:
    if measure.kind == "consensus":
        return "consensus"
    if measure.kind == "instance" and measure.reference in views:
        view = views[measure.reference][1]
        return f"vs {view.number} {view.username}"
    return "overlaps none"


# ---------------------------------------------------------------- the script's data


def _script_data(
    image: Image,
    submissions: Sequence[SubmissionView],
    consensus: Sequence[ConsensusInstance],
) -> dict[str, Any]:
    """What viewer.js draws: the image's size and pixels' URL, and every instance as
    ``[id, counts, x, y, w, h]`` (COCO compressed counts of the image's frame)."""

    def mask(row: Any) -> list[Any]:
        return [row.pk, row.rle, row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h]

    slug = image.project.slug
    return {
        "image": image.pk,
        "name": image.name,
        "width": image.width,
        "height": image.height,
        "pixels": reverse("image-pixels", args=[slug, image.pk]) if image.file else None,
        "layers": [
            {
                "key": view.layer,
                "number": view.number,
                "username": view.username,
                "colour": view.colour,
                "submission": view.submission.pk,
                "decided": view.decided,
                "instances": [mask(i) for i in view.submission.instances.all()],
            }
            for view in submissions
        ],
        "consensus": [mask(c) for c in consensus],
    }
