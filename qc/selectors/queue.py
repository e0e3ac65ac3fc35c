"""The review queue page and its thumbnails (DESIGN §11).

Who sees which image is :func:`qc.selectors.workflow.review_queue` (itself
:func:`projects.selectors.review_queue`): images in review that the user may review and did
not annotate, worst agreement first. Here it is filtered, counted and paged, and each image
of a page gets what its card shows, in a fixed number of queries whatever the page holds.

Every image of the queue is in review (:class:`projects.selectors.QCState`); what sets them
apart is how far their review went, the **review state** of :class:`ReviewState`.

An image's **thumbnail** shows where its annotators' latest submissions differ
(:func:`qc.render.thumbnail_png`). Its key names what it was drawn from (the image's pixels,
the latest submissions, the agreement computed from them and the drawing's version), so a
cached thumbnail is the current one exactly when its key is.
"""

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from projects.models import GuidelineVersion, Image, LabelClass, Project, Task, TaskStatus
from projects.selectors import review_queue as images_to_review
from qc import render
from qc.models import Instance, Review, Submission
from qc.selectors.submissions import live_newest_revisions
from qc.selectors.workflow import open_reviewer_expression, review_queue

# The thumbnails' longer side, in pixels.
THUMBNAIL_SIDE = 240
# Bumped whenever the drawing changes, so no thumbnail drawn the old way is served again.
THUMBNAIL_DRAWING = 1

PER_PAGE_CHOICES = (12, 24, 48)
PER_PAGE = 24


class ReviewState:
    """How far the review of an image in the queue went, from its latest submissions:
    none decided (``new``, or ``resubmitted`` when one of those waiting is a fix after a
    rejection), some decided, or all decided and the label still to choose."""

    NEW = "new"
    RESUBMITTED = "resubmitted"
    PARTLY = "partly_reviewed"
    LABEL = "label_to_choose"
    CHOICES = (
        (NEW, "New"),
        (RESUBMITTED, "Resubmitted after rework"),
        (PARTLY, "Partly reviewed"),
        (LABEL, "Reviewed, label to choose"),
    )
    LABELS = dict(CHOICES)


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters, each None when not applied: images with an instance of class
    ``label_class``, with a submission of ``annotator``, with a submission made under
    guideline version ``version``, in review state ``state``; all on the latest
    submissions of live tasks. And images whose stored pq is at least ``pq_min`` and below
    ``pq_max`` (the agreement dashboard's histogram links its bins here)."""

    label_class: int | None = None
    annotator: int | None = None
    version: int | None = None
    state: str | None = None
    pq_min: float | None = None
    pq_max: float | None = None

    @property
    def applied(self) -> bool:
        return any(
            v is not None
            for v in (
                self.label_class,
                self.annotator,
                self.version,
                self.state,
                self.pq_min,
                self.pq_max,
            )
        )


@dataclass(frozen=True)
class QueueCard:
    """One image of the queue as its card shows it."""

    position: int
    image: Image
    pq: float | None
    mean_iou: float | None
    annotators: list[str]
    reviewer: str | None
    state: str
    state_label: str
    violations: int
    blocking: int
    thumbnail_key: str
    thumbnail_width: int
    thumbnail_height: int


@dataclass(frozen=True)
class QueuePage:
    """Everything the queue page shows."""

    cards: list[QueueCard]
    page: Page
    waiting: int  # the whole queue
    matching: int  # the queue under the filters
    filters: QueueFilters
    per_page: int
    classes: list[LabelClass]
    annotators: list[Any]
    versions: list[GuidelineVersion]
    states: Sequence[tuple[str, str]]
    per_page_choices: Sequence[int] = PER_PAGE_CHOICES


def latest_submissions_q() -> QuerySet[Submission]:
    """The latest submissions of the outer query's image, for a subquery."""
    return live_newest_revisions(Submission.objects.filter(task__image=OuterRef("pk")))


def _state_q(state: str) -> Q:
    """The images of review state ``state``, as a condition (the same as :func:`state_of`
    on their latest submissions)."""
    latest = latest_submissions_q()
    decided = Exists(latest.filter(review__isnull=False))
    undecided = Exists(latest.filter(review__isnull=True))
    revised = Exists(latest.filter(review__isnull=True, revision__gt=1))
    return {
        ReviewState.LABEL: decided & ~undecided,
        ReviewState.RESUBMITTED: revised,
        ReviewState.PARTLY: decided & undecided & ~revised,
        ReviewState.NEW: ~decided & ~revised,
    }.get(state, Q(pk__in=[]))


def state_of(latest: Sequence[dict[str, Any]]) -> str:
    """The review state of an image from its latest submissions' ``reviewed`` and
    ``revision``: all decided, one of those waiting a fix after a rejection, some decided,
    or none."""
    waiting = [row for row in latest if not row["reviewed"]]
    if len(waiting) < len(latest):
        if not waiting:
            return ReviewState.LABEL
        return ReviewState.RESUBMITTED if _revised(waiting) else ReviewState.PARTLY
    return ReviewState.RESUBMITTED if _revised(waiting) else ReviewState.NEW


def _revised(rows: Sequence[dict[str, Any]]) -> bool:
    return any(row["revision"] > 1 for row in rows)


def _filtered(images: QuerySet[Image], filters: QueueFilters) -> QuerySet[Image]:
    latest = latest_submissions_q()
    if filters.label_class is not None:
        with_class = Instance.objects.filter(
            submission=OuterRef("pk"), label_class_id=filters.label_class
        )
        images = images.filter(Exists(latest.filter(Exists(with_class))))
    if filters.annotator is not None:
        images = images.filter(Exists(latest.filter(task__annotator_id=filters.annotator)))
    if filters.version is not None:
        images = images.filter(Exists(latest.filter(guideline_versions=filters.version)))
    if filters.state is not None:
        images = images.filter(_state_q(filters.state))
    if filters.pq_min is not None:
        images = images.filter(agreement__pq__gte=filters.pq_min)
    if filters.pq_max is not None:
        images = images.filter(agreement__pq__lt=filters.pq_max)
    return images


def queue_images(*, user: Any, project: Project) -> QuerySet[Image]:
    """The images of ``user``'s review queue in its order, as a plain query of images (no
    grouping), so that filters, counts and pages stay cheap to plan: on PostgreSQL the
    grouped query of the definition, with the filters on top, costs enough to be compiled
    (JIT) for seconds at every page."""
    queue = review_queue(user=user, project=project)
    return (
        Image.objects.filter(pk__in=queue.order_by().values("pk"))
        .select_related("agreement")
        .annotate(reviewer_name=open_reviewer_expression())
        .order_by(*queue.query.order_by)
    )


def thumbnail_key(*, image: Image, submission_ids: Sequence[int], agreement_at: Any | None) -> str:
    """The key of the image's disagreement thumbnail (see the module's docstring)."""
    parts = [
        str(THUMBNAIL_DRAWING),
        str(image.pk),
        image.sha256 or image.file.name or "",
        ",".join(str(pk) for pk in sorted(submission_ids)),
        agreement_at.isoformat() if agreement_at is not None else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def thumbnail_size(image: Image) -> tuple[int, int]:
    """(width, height) of the image's thumbnail."""
    factor = render.thumbnail_factor(image.height, image.width, THUMBNAIL_SIDE)
    return -(-image.width // factor), -(-image.height // factor)


def _latest_of_images(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The latest submissions of the images ``ids``, by image: id, revision, rule
    violations and whether it was reviewed."""
    rows = (
        live_newest_revisions(Submission.objects.filter(task__image_id__in=ids))
        .annotate(reviewed=Exists(Review.objects.filter(submission=OuterRef("pk"))))
        .values("pk", "task__image_id", "revision", "rule_violations", "reviewed")
        .order_by("pk")
    )
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_image[row["task__image_id"]].append(row)
    return by_image


def _card(position: int, image: Image, latest: list[dict[str, Any]]) -> QueueCard:
    agreement = getattr(image, "agreement", None)
    violations = [v for row in latest for v in (row["rule_violations"] or [])]
    width, height = thumbnail_size(image)
    state = state_of(latest)
    return QueueCard(
        position=position,
        image=image,
        pq=agreement.pq if agreement is not None else None,
        mean_iou=agreement.mean_iou if agreement is not None else None,
        annotators=[task.annotator.username for task in image.live_tasks_list],
        reviewer=image.reviewer_name,
        state=state,
        state_label=ReviewState.LABELS[state],
        violations=len(violations),
        blocking=sum(1 for v in violations if v.get("severity") == "block"),
        thumbnail_key=thumbnail_key(
            image=image,
            submission_ids=[row["pk"] for row in latest],
            agreement_at=agreement.computed_at if agreement is not None else None,
        ),
        thumbnail_width=width,
        thumbnail_height=height,
    )


def review_queue_page(
    *,
    user: Any,
    project: Project,
    filters: QueueFilters,
    page: Any = 1,
    per_page: int = PER_PAGE,
) -> QueuePage:
    """The page ``page`` (any value: out of range or not a number gives the nearest page) of
    ``user``'s review queue under ``filters``, with the counts and the filters' choices."""
    queue = queue_images(user=user, project=project)
    live_tasks = Prefetch(
        "tasks",
        queryset=Task.objects.exclude(status=TaskStatus.CANCELLED)
        .select_related("annotator")
        .order_by("annotator__username"),
        to_attr="live_tasks_list",
    )
    matching = _filtered(queue, filters).prefetch_related(live_tasks)
    paginator = Paginator(matching, per_page)
    current = paginator.get_page(page)
    images = list(current.object_list)
    latest = _latest_of_images([image.pk for image in images])
    cards = [
        _card(current.start_index() + n, image, latest.get(image.pk, []))
        for n, image in enumerate(images)
    ]
    waiting = paginator.count if not filters.applied else queue.count()
    in_queue = queue.values("pk")
    return QueuePage(
        cards=cards,
        page=current,
        waiting=waiting,
        matching=paginator.count,
        filters=filters,
        per_page=per_page,
        classes=list(LabelClass.objects.filter(project=project).order_by("name")),
        annotators=list(
            get_user_model()
            .objects.filter(
                Exists(
                    Task.objects.filter(annotator=OuterRef("pk"), image__in=in_queue).exclude(
                        status=TaskStatus.CANCELLED
                    )
                )
            )
            .order_by("username")
        ),
        versions=list(
            GuidelineVersion.objects.filter(guideline__project=project, published_at__isnull=False)
            .select_related("guideline")
            .order_by("guideline__title", "-number")
        ),
        states=ReviewState.CHOICES,
    )


# --- thumbnails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThumbnailSource:
    """What an image's thumbnail is drawn from, and its key."""

    image: Image
    submission_ids: list[int]
    key: str


def thumbnail_source(*, project: Project, pk: int) -> ThumbnailSource | None:
    """The project's image ``pk`` with its latest submissions' ids and its thumbnail's key,
    or None when the project has no such image."""
    image = (
        Image.objects.filter(project=project, pk=pk).select_related("project", "agreement").first()
    )
    if image is None:
        return None
    ids = list(
        live_newest_revisions(Submission.objects.filter(task__image=image))
        .order_by("task__annotator__username", "pk")
        .values_list("pk", flat=True)
    )
    agreement = getattr(image, "agreement", None)
    key = thumbnail_key(
        image=image,
        submission_ids=ids,
        agreement_at=agreement.computed_at if agreement is not None else None,
    )
    return ThumbnailSource(image=image, submission_ids=ids, key=key)


def _pixels(image: Image, size: tuple[int, int]) -> Any:
    """The image's pixels at thumbnail ``size``, or None when it has none or they do not
    read (then the thumbnail is drawn on the neutral canvas)."""
    if not image.file:
        return None
    try:
        with image.file.open("rb") as handle:
            return render.read_picture(handle, size=size)
    except (OSError, UnidentifiedImageError, PILImage.DecompressionBombError, ValueError):
        return None


def thumbnail_png(source: ThumbnailSource) -> bytes:
    """Draw the thumbnail of ``source``: one query for the masks, then pixels and drawing."""
    image = source.image
    masks: dict[int, list[str]] = {pk: [] for pk in source.submission_ids}
    for submission_id, counts in Instance.objects.filter(
        submission_id__in=source.submission_ids
    ).values_list("submission_id", "rle"):
        masks[submission_id].append(counts)
    base = _pixels(image, thumbnail_size(image))
    return render.thumbnail_png(
        base, list(masks.values()), image.height, image.width, max_side=THUMBNAIL_SIDE
    )


# ---------------------------------------------------- an image's place in the queue


@dataclass
class QueuePlace:
    """Where the image stands in the user's review queue (worst agreement first)."""

    count: int
    position: int | None  # 1-based; None when the image is not (or no longer) in the queue
    previous: int | None
    next: int | None


def _queue(*, user: Any, project: Project) -> QuerySet[Image]:
    return images_to_review(user=user, project=project)


def queue_place(*, user: Any, image: Image) -> QueuePlace:
    """The image's place in ``user``'s review queue and its neighbours there, in the
    queue's order (lowest pq first, images without agreement last, then by name). An image
    that left the queue keeps its place in that order, so "next" still leads on.

    One query for the queue's ids, pq and names: the queue's state expression is costly to
    build and to run, so it is built and run once rather than for each neighbour."""
    rows = list(_queue(user=user, project=image.project).values_list("pk", "agreement__pq", "name"))
    order = [pk for pk, _, _ in rows]
    if image.pk in order:
        # The database's order is the queue page's (names collate as the database does).
        at = order.index(image.pk)
        return QueuePlace(
            count=len(order),
            position=at + 1,
            previous=order[at - 1] if at > 0 else None,
            next=order[at + 1] if at + 1 < len(order) else None,
        )
    agreement = getattr(image, "agreement", None)

    def key(pq: float | None, name: str) -> tuple[bool, float, str]:
        return (pq is None, pq if pq is not None else 0.0, name)

    here = key(agreement.pq if agreement is not None else None, image.name)
    ranked = sorted(rows, key=lambda row: key(row[1], row[2]))
    ahead = [pk for pk, pq, name in ranked if key(pq, name) < here]
    behind = [pk for pk, pq, name in ranked if key(pq, name) >= here]
    return QueuePlace(
        count=len(order),
        position=None,
        previous=ahead[-1] if ahead else None,
        next=behind[0] if behind else None,
    )


def queue_first(*, user: Any, project: Project) -> int | None:
    """The first image of ``user``'s review queue (the worst agreement), or None."""
    return _queue(user=user, project=project).values_list("pk", flat=True).first()
