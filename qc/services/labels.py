"""Image labels: the accepted label set of an image (DESIGN §6) -- set by a reviewer
(:func:`image_label_set`), or by the review policy when an image's agreement reaches the
project's threshold (:func:`review_policy_apply`), and marked gold by a lead."""

import hashlib
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Avg, Q
from django.utils import timezone

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import Image, Project, ReviewPolicy, Role, Task, TaskStatus
from projects.permissions import (
    ROLE_ACTIONS,
    Action,
    has_permission,
    may_review_image,
    project_role,
)
from qc.agreement import MeasuredInstance, compare_pair
from qc.masks import rle_from_string
from qc.models import (
    AgreementResult,
    ConsensusInstance,
    GoldScore,
    ImageAgreement,
    ImageLabel,
    ImageLabelHistory,
    Instance,
    LabelInstance,
    ReasonCode,
    Review,
    ReviewAssignment,
    SendBack,
    Submission,
)
from qc.selectors import latest_submissions
from qc.services.bulk import chunks

__all__ = [
    "gold_scores_store",
    "image_label_send_back",
    "image_label_set",
    "image_label_set_gold",
    "require_right",
    "review_policy_apply",
]


def require_right(actor: Any, project: Project, action: Action, what: str) -> None:
    """A member with the right for ``action`` (DESIGN §10), or None: the system itself;
    anyone else is refused with a 403 saying they may not ``what``."""
    if actor is not None and not has_permission(user=actor, project=project, action=action):
        raise ApplicationError(f"{actor} may not {what}.", status=403)


@transaction.atomic
def image_label_set(
    *,
    image: Image,
    actor: Any,
    submission: Submission | None = None,
    from_consensus: bool = False,
    gold: bool = False,
) -> ImageLabel:
    """Accept a label set for the image: one accepted submission or the current consensus.

    A consensus label is copied, so later recomputation never changes what was accepted.
    """
    image = Image.objects.select_for_update(of=("self",)).select_related("project").get(pk=image.pk)
    if actor is not None and not may_review_image(user=actor, image=image):
        raise ApplicationError(f"{actor} may not set the label of {image.name}.", status=403)
    if (submission is None) == (not from_consensus):
        raise ApplicationError("Choose either one submission or the consensus as the label.")
    current = ImageLabel.objects.select_for_update().filter(image=image).first()
    if current is not None and not current.sent_back:
        raise ConflictError(f"Image {image.name} already has an accepted label.")
    if submission is not None:
        if submission.task.image_id != image.pk:
            raise ApplicationError(f"{submission} is not a submission of {image.name}.")
        decided = Review.objects.filter(submission=submission).values_list("decision", flat=True)
        if list(decided) != [Review.Decision.ACCEPT]:
            raise ApplicationError(f"{submission} has not been accepted.")
    consensus = list(image.consensus_instances.order_by("pk")) if from_consensus else []
    if (
        from_consensus
        and not consensus
        and not image.tasks.filter(submissions__isnull=False).exists()
    ):
        raise ApplicationError(f"Image {image.name} has no consensus yet.")
    if current is not None:
        return _label_replace(
            label=current, submission=submission, consensus=consensus, actor=actor, gold=gold
        )
    return _label_create(
        image=image, submission=submission, consensus=consensus, actor=actor, gold=gold
    )


@transaction.atomic
def image_label_set_gold(*, label: ImageLabel, actor: Any, gold: bool = True) -> ImageLabel:
    label = (
        ImageLabel.objects.select_for_update(of=("self",))
        .select_related("image__project")
        .get(pk=label.pk)
    )
    require_right(actor, label.image.project, Action.MANAGE_PROJECT, "mark gold images")
    if label.is_gold != gold:
        label.is_gold = gold
        label.save(update_fields=["is_gold"])
        audit(
            actor=actor,
            verb="image_label.gold",
            obj=label,
            project=label.image.project,
            before={"gold": not gold},
            after={"gold": gold},
        )
    return label


def _label_create(
    *,
    image: Image,
    submission: Submission | None,
    consensus: Sequence[ConsensusInstance],
    actor: Any,
    gold: bool,
) -> ImageLabel:
    """Store the label: a submission, or a copy of the consensus instances (so that later
    recomputation never changes what was accepted); the image's open review is done."""
    label = ImageLabel.objects.create(
        image=image,
        submission=submission,
        from_consensus=submission is None,
        accepted_by=actor,
        is_gold=gold,
    )
    _label_instances_store(label, consensus=consensus, image=image)
    audit(
        actor=actor,
        verb="image_label.set",
        obj=label,
        project=image.project,
        after={
            "image": image.name,
            "submission": submission.pk if submission else None,
            "from_consensus": submission is None,
            "gold": gold,
        },
    )
    return label


def _label_instances_store(
    label: ImageLabel, *, consensus: Sequence[ConsensusInstance], image: Image
) -> None:
    """Copy the consensus instances into the label (none for a submission's label), and
    close the image's open review: the label is decided."""
    LabelInstance.objects.bulk_create(
        LabelInstance(label=label, label_class_id=c.label_class_id, **c.mask_columns())
        for c in consensus
    )
    image.review_assignments.filter(status=ReviewAssignment.Status.OPEN).update(
        status=ReviewAssignment.Status.DONE
    )


def review_policy_apply(*, image: Image) -> ImageLabel | None:
    """Accept the image automatically when its project's review policy says so (DESIGN §6);
    called with the image locked, once its agreement is stored. Returns the label, or None
    when the image goes to review.

    Under ``below_threshold`` an image whose every live task is submitted and whose pq
    reaches ``auto_accept_pq`` is accepted; under ``sample`` too, unless it is drawn for
    review (a fixed ``sample_rate`` share of images, the same on every recomputation:
    :func:`drawn_for_review`); under ``all`` never. The label is the consensus, or the
    best-agreeing submission when the consensus is empty; every task becomes accepted, and
    the decision is the system's, in the audit log (``review.auto_accept``).
    """
    project = image.project
    if project.review_policy == ReviewPolicy.ALL or ImageLabel.objects.filter(image=image).exists():
        return None
    tasks = image.tasks.exclude(status=TaskStatus.CANCELLED)
    if tasks.exclude(status=TaskStatus.SUBMITTED).exists():
        return None  # still being annotated, or decided by a reviewer
    agreement = ImageAgreement.objects.filter(image=image).first()
    if agreement is None or agreement.pq is None or agreement.pq < project.auto_accept_pq:
        return None
    if project.review_policy == ReviewPolicy.SAMPLE and drawn_for_review(image):
        return None
    consensus = list(image.consensus_instances.order_by("pk"))
    submission = None if consensus else _best_agreeing(image)
    tasks.update(status=TaskStatus.ACCEPTED)
    label = _label_create(
        image=image, submission=submission, consensus=consensus, actor=None, gold=False
    )
    audit(
        actor=None,
        verb="review.auto_accept",
        obj=label,
        project=project,
        after={
            "image": image.name,
            "policy": project.review_policy,
            "pq": agreement.pq,
            "auto_accept_pq": project.auto_accept_pq,
            "label": "consensus" if submission is None else submission.pk,
        },
    )
    return label


def drawn_for_review(image: Image) -> bool:
    """Whether the ``sample`` policy sends this image to review although its agreement
    reaches the threshold: a share ``sample_rate`` of images, drawn by a hash of the
    project and the image, so that a recomputation never draws again."""
    digest = hashlib.sha256(f"maskqc-sample:{image.project_id}:{image.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < image.project.sample_rate


def _best_agreeing(image: Image) -> Submission:
    """The latest submission whose annotator agrees best with the others: the highest mean
    pooled pq over the image's pairs, ties to the first username."""
    submissions = {s.task.annotator_id: s for s in latest_submissions(image=image)}
    pooled = AgreementResult.objects.filter(image=image, label_class__isnull=True)

    def mean_pq(annotator_id: int) -> float:
        found = pooled.filter(Q(annotator_a=annotator_id) | Q(annotator_b=annotator_id))
        return found.aggregate(pq=Avg("pq"))["pq"] or 0.0

    return min(
        submissions.values(),
        key=lambda s: (-mean_pq(s.task.annotator_id), s.task.annotator.username),
    )


def _label_replace(
    *,
    label: ImageLabel,
    submission: Submission | None,
    consensus: Sequence[ConsensusInstance],
    actor: Any,
    gold: bool,
) -> ImageLabel:
    """Replace a sent-back label by the newly accepted one, keeping what the old one was in
    :class:`ImageLabelHistory` (its source and its consensus instances), so nothing
    accepted is lost; the label row keeps its id and its gold flag."""
    image = label.image
    ImageLabelHistory.objects.create(
        image=image,
        label=label,
        submission=label.submission,
        from_consensus=label.from_consensus,
        instances=[
            {"label_class": i.label_class_id, **i.mask_columns()} for i in label.instances.all()
        ],
        accepted_by=label.accepted_by,
        accepted_at=label.accepted_at,
        was_gold=label.is_gold,
        replaced_by=actor,
    )
    before = {
        "submission": label.submission_id,
        "from_consensus": label.from_consensus,
        "accepted_by": label.accepted_by.username if label.accepted_by else None,
    }
    label.instances.all().delete()
    label.submission = submission
    label.from_consensus = submission is None
    label.accepted_by = actor
    label.accepted_at = timezone.now()
    label.sent_back = False
    label.is_gold = label.is_gold or gold
    label.save()
    _label_instances_store(label, consensus=consensus, image=image)
    audit(
        actor=actor,
        verb="image_label.replace",
        obj=label,
        project=image.project,
        before=before,
        after={
            "image": image.name,
            "submission": label.submission_id,
            "from_consensus": label.from_consensus,
            "gold": label.is_gold,
        },
    )
    return label


def may_send_back(*, user: Any, image: Image) -> bool:
    """Leads and admins send back any accepted image; a reviewer one they were assigned to
    review (DESIGN §6); nobody an image they annotated."""
    role = project_role(user=user, project=image.project)
    if role is None or Action.REVIEW not in ROLE_ACTIONS[role]:
        return False
    if image.tasks.filter(annotator=user).exists():
        return False
    if role == Role.REVIEWER:
        return (
            image.review_assignments.filter(reviewer=user)
            .exclude(status=ReviewAssignment.Status.CANCELLED)
            .exists()
        )
    return True


@transaction.atomic
def image_label_send_back(
    *, image: Image, actor: Any, reasons: Sequence[str], comment: str = ""
) -> SendBack:
    """Send an accepted image back for rework (DESIGN §6): its accepted tasks become
    rejected (one rework round each) and return to their annotators with the reasons; the
    label stays in force until a new one is accepted (:func:`image_label_set` then replaces
    it, keeping the old one in the label's history)."""
    image = Image.objects.select_for_update(of=("self",)).select_related("project").get(pk=image.pk)
    if not may_send_back(user=actor, image=image):
        raise ApplicationError(f"{actor} may not send {image.name} back.", status=403)
    unknown = [r for r in reasons if r not in ReasonCode.values]
    if unknown:
        raise ApplicationError(
            f"Unknown reason codes: {', '.join(map(str, unknown))}.", extra={"reasons": unknown}
        )
    if not reasons:
        raise ApplicationError("A send-back needs at least one reason.")
    label = ImageLabel.objects.select_for_update().filter(image=image).first()
    if label is None:
        raise ConflictError(f"Image {image.name} has no accepted label to send back.")
    if label.sent_back:
        raise ConflictError(f"Image {image.name} was already sent back.")
    tasks = list(Task.objects.select_for_update().filter(image=image, status=TaskStatus.ACCEPTED))
    if not tasks:
        raise ConflictError(f"Image {image.name} has no accepted task to send back.")
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(
        status=TaskStatus.REJECTED, updated_at=timezone.now()
    )
    label.sent_back = True
    label.save(update_fields=["sent_back"])
    send_back = SendBack.objects.create(
        image=image, actor=actor, reasons=list(reasons), comment=comment
    )
    send_back.tasks.set(tasks)
    audit(
        actor=actor,
        verb="image_label.send_back",
        obj=send_back,
        project=image.project,
        before={"task_status": TaskStatus.ACCEPTED},
        after={
            "image": image.name,
            "task_status": TaskStatus.REJECTED,
            "tasks": sorted(t.pk for t in tasks),
            "reasons": list(reasons),
        },
    )
    return send_back


def _measured(rows: Sequence[Any], *, height: int, width: int) -> list[MeasuredInstance]:
    return [
        MeasuredInstance(
            key=row.pk,
            label=row.label_class_id,
            rle=rle_from_string(row.rle, height=height, width=width),
            area=row.area,
            bbox=(row.bbox_x, row.bbox_y, row.bbox_w, row.bbox_h),
            perimeter=0.0,
        )
        for row in rows
    ]


def gold_scores_store(*, submissions: Sequence[Submission]) -> list[GoldScore]:
    """Score the submissions on gold images against the gold label (DESIGN §6): matched,
    missed (gold instances not matched), extra (submitted instances not matched), mean IoU
    and pq, at the project's ``match_iou`` (a class's own where it has one). A submission
    that is itself the gold label is not scored."""
    labels: dict[int, ImageLabel] = {}
    for chunk in chunks(sorted({s.task.image_id for s in submissions})):
        labels.update(
            (label.image_id, label)
            for label in ImageLabel.objects.filter(image_id__in=chunk, is_gold=True)
            .select_related("image__project")
            .prefetch_related("instances")
        )
    scores = []
    for submission in submissions:
        label = labels.get(submission.task.image_id)
        if label is None or label.submission_id == submission.pk:
            continue
        image, project = label.image, label.image.project
        gold_rows = (
            list(Instance.objects.filter(submission_id=label.submission_id))
            if label.submission_id
            else list(label.instances.all())
        )
        own_rows = list(Instance.objects.filter(submission=submission))
        classes = {
            c.pk: c.match_iou for c in project.label_classes.all() if c.match_iou is not None
        }
        result = compare_pair(
            _measured(gold_rows, height=image.height, width=image.width),
            _measured(own_rows, height=image.height, width=image.width),
            match_iou=project.match_iou,
            class_match_iou=classes,
            with_boundary=False,
        )
        scores.append(
            GoldScore(
                submission=submission,
                label=label,
                matched=result.matched,
                missed=result.unmatched_a,
                extra=result.unmatched_b,
                mean_iou=result.mean_iou,
                pq=result.pq,
                match_iou=project.match_iou,
            )
        )
    return GoldScore.objects.bulk_create(scores)
