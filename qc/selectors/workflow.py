"""The workflow's reads, scoped to a user and a project (DESIGN §6, §10): images with their
QC state, submissions under the blind rule, the review queue, tasks' rework rounds, an
image's agreement and the audit log."""

from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from projects.models import AuditEvent, Image, Project, Role, Task
from projects.permissions import Action, has_permission, project_role
from projects.selectors import QCState, qc_state_expression
from projects.selectors import review_queue as images_to_review
from qc.models import (
    AgreementResult,
    ConsensusInstance,
    GoldScore,
    ImageLabel,
    ImageLabelHistory,
    Instance,
    InstanceFlag,
    LabelInstance,
    Review,
    ReviewAssignment,
    SendBack,
    Submission,
)

# The states the API shows: an image without a live task is still being annotated.
API_QC_STATES = (QCState.ANNOTATING, QCState.IN_REVIEW, QCState.ACCEPTED, QCState.NEEDS_REWORK)


def _qc_state() -> Case:
    return qc_state_expression(without_tasks=QCState.ANNOTATING)


def open_reviewer_expression() -> Subquery:
    """The username of the reviewer an image is open with (an open review assignment)."""
    return Subquery(
        ReviewAssignment.objects.filter(
            image=OuterRef("pk"), status=ReviewAssignment.Status.OPEN
        ).values("reviewer__username")[:1]
    )


def _with_state(images: QuerySet[Image]) -> QuerySet[Image]:
    return images.select_related("project", "label", "agreement").annotate(
        qc_state=_qc_state(), reviewer_name=open_reviewer_expression()
    )


def images_visible_to(*, user: Any, project: Project) -> QuerySet[Image]:
    """The project's images the user may see, with ``qc_state``, ``reviewer_name`` (the open
    review assignment's), the label and the agreement: every image for those who see all
    submissions or the agreement; an annotator's those they have a task on."""
    images = Image.objects.filter(project=project)
    if not (
        has_permission(user=user, project=project, action=Action.SEE_ALL_SUBMISSIONS)
        or has_permission(user=user, project=project, action=Action.VIEW_AGREEMENT)
    ):
        images = images.filter(Exists(Task.objects.filter(image=OuterRef("pk"), annotator=user)))
    return _with_state(images).order_by("name", "pk")


def rework_rounds_expression(task: str = "pk") -> Coalesce:
    """How often a task went back to its annotator: its rejected reviews plus the
    send-backs of its accepted image that included it. ``task`` names the outer query's
    task id (``pk`` on tasks, ``task_id`` on submissions)."""
    rejected = (
        Review.objects.filter(submission__task=OuterRef(task), decision=Review.Decision.REJECT)
        .values("submission__task")
        .annotate(n=Count("pk"))
        .values("n")
    )
    sent = (
        SendBack.tasks.through.objects.filter(task=OuterRef(task))
        .values("task")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rejected, output_field=IntegerField()), 0) + Coalesce(
        Subquery(sent, output_field=IntegerField()), 0
    )


def submissions_visible_q(*, user: Any, project: Project) -> Q:
    """The blind rule (DESIGN §6, §10) as a filter on submissions: all for admins and
    leads, the images assigned to them for reviewers, their own for annotators; nothing
    for anyone else."""
    role = project_role(user=user, project=project)
    if role is None:
        return Q(pk__in=[])
    if has_permission(user=user, project=project, action=Action.SEE_ALL_SUBMISSIONS):
        return Q()
    if role == Role.REVIEWER:
        return Q(
            Exists(ReviewAssignment.objects.filter(image=OuterRef("task__image"), reviewer=user))
        )
    return Q(task__annotator=user)


def submissions_visible_to(*, user: Any, project: Project) -> QuerySet[Submission]:
    """The project's submissions the user may see (:func:`submissions_visible_q`), newest
    task and revision order, with annotator, image, review, gold score, instance count and
    the task's rework rounds."""
    return (
        Submission.objects.filter(task__image__project=project)
        .filter(submissions_visible_q(user=user, project=project))
        .select_related(
            "task__annotator", "task__image", "review__reviewer", "gold_score", "imported_by"
        )
        .annotate(
            instance_count=Count("instances", distinct=True),
            rework_rounds=rework_rounds_expression("task_id"),
        )
        .order_by("task__image__name", "task__annotator__username", "revision")
    )


def submission_detail_prefetches() -> list[Prefetch]:
    """What a submission's detail shows besides its row: instances and the review's flags."""
    return [
        Prefetch("instances", queryset=Instance.objects.select_related("label_class")),
        Prefetch("review__flags", queryset=InstanceFlag.objects.order_by("pk")),
    ]


def image_detail(*, user: Any, image: Image) -> dict[str, Any]:
    """What the image detail shows beyond its row: its tasks with rework rounds, the
    submissions the user may see (latest revisions and older), and the label's instances."""
    project = image.project
    tasks = list(
        Task.objects.filter(image=image)
        .select_related("annotator")
        .annotate(rework_rounds=rework_rounds_expression())
        .order_by("annotator__username")
    )
    sees_all = has_permission(user=user, project=project, action=Action.SEE_ALL_SUBMISSIONS)
    if not sees_all and project_role(user=user, project=project) != Role.REVIEWER:
        tasks = [t for t in tasks if t.annotator_id == user.pk]
    submissions = list(submissions_visible_to(user=user, project=project).filter(task__image=image))
    return {"tasks": tasks, "submissions": submissions}


def review_queue(*, user: Any, project: Project) -> QuerySet[Image]:
    """The review queue the pages show (:func:`projects.selectors.review_queue`: images in
    review the user may review and did not annotate, lowest pq first, those without
    agreement last), with what the API shows of each image."""
    return (
        images_to_review(user=user, project=project)
        .select_related("project", "label")
        .annotate(reviewer_name=open_reviewer_expression())
    )


def image_agreement(*, image: Image) -> dict[str, Any]:
    """An image's stored agreement: the pooled summary, every annotator pair's results
    (pooled and per class) and the consensus instances."""
    results = list(
        AgreementResult.objects.filter(image=image)
        .select_related("annotator_a", "annotator_b", "label_class")
        .order_by("annotator_a__username", "annotator_b__username", "label_class__name")
    )
    consensus = list(
        ConsensusInstance.objects.filter(image=image).select_related("label_class").order_by("pk")
    )
    summary = getattr(image, "agreement", None)
    return {"summary": summary, "results": results, "consensus": consensus}


def image_label_of(*, image: Image) -> ImageLabel | None:
    """The image's label in force, with its consensus instances and the labels it
    replaced (oldest first), or None."""
    return (
        ImageLabel.objects.filter(image=image)
        .select_related("accepted_by", "image")
        .prefetch_related(
            Prefetch("instances", queryset=LabelInstance.objects.select_related("label_class")),
            Prefetch(
                "history",
                queryset=ImageLabelHistory.objects.select_related("accepted_by", "replaced_by"),
            ),
        )
        .first()
    )


def gold_scores_visible_to(*, user: Any, project: Project) -> QuerySet[GoldScore]:
    """Submissions scored against gold labels: all of them for those who may view the
    agreement, an annotator's own otherwise (the blind rule), newest first."""
    scores = GoldScore.objects.filter(submission__task__image__project=project)
    if not has_permission(user=user, project=project, action=Action.VIEW_AGREEMENT):
        scores = scores.filter(submission__task__annotator=user)
    return scores.select_related("submission__task__annotator", "submission__task__image").order_by(
        "-computed_at", "-pk"
    )


def audit_events_of(*, project: Project) -> QuerySet[AuditEvent]:
    """The project's audit log, newest first, with each event's actor."""
    return (
        AuditEvent.objects.filter(project=project)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
