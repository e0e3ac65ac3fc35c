"""Image labels: the accepted label set of an image (DESIGN §6) -- set by a reviewer
(:func:`image_label_set`), or by the review policy when an image's agreement reaches the
project's threshold (:func:`review_policy_apply`), and marked gold by a lead."""

import hashlib
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Avg, Q

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import Image, Project, ReviewPolicy, TaskStatus
from projects.permissions import Action, has_permission, may_review_image
from qc.models import (
    AgreementResult,
    ConsensusInstance,
    ImageAgreement,
    ImageLabel,
    LabelInstance,
    Review,
    ReviewAssignment,
    Submission,
)
from qc.selectors import latest_submissions

__all__ = ["image_label_set", "image_label_set_gold", "require_right", "review_policy_apply"]


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
    image = Image.objects.select_for_update().select_related("project").get(pk=image.pk)
    if actor is not None and not may_review_image(user=actor, image=image):
        raise ApplicationError(f"{actor} may not set the label of {image.name}.", status=403)
    if (submission is None) == (not from_consensus):
        raise ApplicationError("Choose either one submission or the consensus as the label.")
    if ImageLabel.objects.filter(image=image).exists():
        raise ConflictError(f"Image {image.name} already has an accepted label.")
    if submission is not None:
        if submission.task.image_id != image.pk:
            raise ApplicationError(f"{submission} is not a submission of {image.name}.")
        decided = Review.objects.filter(submission=submission).values_list("decision", flat=True)
        if list(decided) != [Review.Decision.ACCEPT]:
            raise ApplicationError(f"{submission} has not been accepted.")
    consensus = list(image.consensus_instances.all()) if from_consensus else []
    if (
        from_consensus
        and not consensus
        and not image.tasks.filter(submissions__isnull=False).exists()
    ):
        raise ApplicationError(f"Image {image.name} has no consensus yet.")
    return _label_create(
        image=image, submission=submission, consensus=consensus, actor=actor, gold=gold
    )


@transaction.atomic
def image_label_set_gold(*, label: ImageLabel, actor: Any, gold: bool = True) -> ImageLabel:
    label = ImageLabel.objects.select_for_update().select_related("image__project").get(pk=label.pk)
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
    LabelInstance.objects.bulk_create(
        LabelInstance(label=label, label_class_id=c.label_class_id, **c.mask_columns())
        for c in consensus
    )
    image.review_assignments.filter(status=ReviewAssignment.Status.OPEN).update(
        status=ReviewAssignment.Status.DONE
    )
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
    consensus = list(image.consensus_instances.all())
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
