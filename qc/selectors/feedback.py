"""What an annotator learns of their own work (DESIGN §6 "Blind", §11): the reviews of their
submissions and the send-backs of images they annotated, one review with its flagged
instances, and their style report with its weekly trend.

Everything here is scoped to one user: an annotator reads their own submissions only;
leads and admins (who see every submission) may open any one review. Nothing returned
names another annotator or carries another annotator's masks or figures.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from projects.models import Image, Project, Task, TaskStatus
from projects.permissions import Action, has_permission
from projects.rules import RULE_NAMES
from qc.models import (
    ImageAgreement,
    Instance,
    InstanceFlag,
    ReasonCode,
    Review,
    SendBack,
    Submission,
)
from qc.selectors.submissions import newest_revisions
from qc.style import StyleReport, describe, style_from_json, style_reports

FEEDBACK_PER_PAGE = 20

_REASON_LABELS = dict(ReasonCode.choices)
_STATUS_LABELS = dict(TaskStatus.choices)
_DECIDED = {
    None: "not reviewed yet",
    Review.Decision.ACCEPT: "accepted",
    Review.Decision.REJECT: "rejected",
}


def reason_words(codes: Iterable[str]) -> list[str]:
    """Reason codes as the words a person reads ("Boundary too loose"); an unknown code
    (from an older version) is shown as it is stored."""
    return [_REASON_LABELS.get(code, str(code)) for code in codes]


# --- my reviews --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackItem:
    """One piece of feedback on the user's work: a review of one of their submissions
    (``kind`` "review") or a send-back of an image they annotated after it was accepted
    (``kind`` "send_back"). ``needs_fix``: it is what the task's open rework answers (the
    task is rejected and nothing was submitted since). ``submission_id`` is the revision it
    is about (for a send-back, the one in force when it was sent back)."""

    kind: str
    created_at: datetime
    needs_fix: bool
    submission_id: int | None
    task_id: int
    task_status: str
    task_status_label: str
    image_name: str
    revision: int | None
    decision: str | None
    reasons: list[str]
    comment: str
    by: str
    flagged: int


def _reviews_of(*, user: Any, project: Project) -> QuerySet[Review]:
    newer = Submission.objects.filter(
        task=OuterRef("submission__task"), revision__gt=OuterRef("submission__revision")
    )
    return (
        Review.objects.filter(
            submission__task__annotator=user, submission__task__image__project=project
        )
        .annotate(newer=Exists(newer))
        .annotate(
            kind=Value("review", output_field=CharField()),
            at=F("created_at"),
            fix=Case(
                When(
                    decision=Review.Decision.REJECT,
                    submission__task__status=TaskStatus.REJECTED,
                    newer=False,
                    then=Value(True),
                ),
                default=Value(False),
                output_field=BooleanField(),
            ),
            about=F("submission_id"),
        )
    )


def _send_backs_of(*, user: Any, project: Project) -> QuerySet[Any]:
    """One row per send-back and task of the user's (SendBack's task links)."""
    link = SendBack.tasks.through
    later = Submission.objects.filter(
        task=OuterRef("task"), submitted_at__gt=OuterRef("sendback__created_at")
    )
    in_force = (
        Submission.objects.filter(
            task=OuterRef("task"), submitted_at__lte=OuterRef("sendback__created_at")
        )
        .order_by("-revision")
        .values("pk")[:1]
    )
    return (
        link.objects.filter(task__annotator=user, task__image__project=project)
        .annotate(later=Exists(later))
        .annotate(
            kind=Value("send_back", output_field=CharField()),
            at=F("sendback__created_at"),
            fix=Case(
                When(task__status=TaskStatus.REJECTED, later=False, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            about=Subquery(in_force),
        )
    )


def feedback_page(*, user: Any, project: Project, page: Any = None) -> dict[str, Any]:
    """The user's feedback in ``project``, what needs their fix first, then newest first:
    ``page`` (a :class:`django.core.paginator.Page` of :class:`FeedbackItem`, any ``page``
    argument accepted: a bad one gives the first or last page) and ``to_fix`` (how many of
    their tasks are rejected and wait for a new revision)."""
    columns = ("kind", "id", "at", "fix", "about")
    rows = (
        _reviews_of(user=user, project=project)
        .order_by()
        .values_list(*columns)
        .union(
            _send_backs_of(user=user, project=project).order_by().values_list(*columns), all=True
        )
        .order_by("-fix", "-at", "-kind", "-id")
    )
    paginated: Page = Paginator(rows, FEEDBACK_PER_PAGE).get_page(page)
    keys = list(paginated.object_list)
    items = _feedback_items(keys)
    paginated.object_list = [items[(kind, pk)] for kind, pk, *_ in keys]
    to_fix = Task.objects.filter(
        annotator=user, image__project=project, status=TaskStatus.REJECTED
    ).count()
    return {"page": paginated, "to_fix": to_fix}


def _feedback_items(keys: Sequence[tuple]) -> dict[tuple[str, int], FeedbackItem]:
    """The items of one page's ``(kind, id, at, fix, about)`` rows, in two queries."""
    fix = {(kind, pk): (needs, about) for kind, pk, _, needs, about in keys}
    review_ids = [pk for kind, pk, *_ in keys if kind == "review"]
    link_ids = [pk for kind, pk, *_ in keys if kind == "send_back"]
    items: dict[tuple[str, int], FeedbackItem] = {}
    reviews = (
        Review.objects.filter(pk__in=review_ids)
        .select_related("submission__task__image", "reviewer")
        .annotate(flagged=Count("flags__instance", distinct=True))
    )
    for review in reviews if review_ids else ():
        task = review.submission.task
        items[("review", review.pk)] = FeedbackItem(
            kind="review",
            created_at=review.created_at,
            needs_fix=fix[("review", review.pk)][0],
            submission_id=review.submission_id,
            task_id=task.pk,
            task_status=task.status,
            task_status_label=_STATUS_LABELS.get(task.status, task.status),
            image_name=task.image.name,
            revision=review.submission.revision,
            decision=review.decision,
            reasons=reason_words(review.reasons),
            comment=review.comment,
            by=review.reviewer.username,
            flagged=review.flagged,
        )
    links = SendBack.tasks.through.objects.filter(pk__in=link_ids).select_related(
        "sendback__actor", "task__image"
    )
    for link in links if link_ids else ():
        send_back, task = link.sendback, link.task
        needs, about = fix[("send_back", link.pk)]
        items[("send_back", link.pk)] = FeedbackItem(
            kind="send_back",
            created_at=send_back.created_at,
            needs_fix=needs,
            submission_id=about,
            task_id=task.pk,
            task_status=task.status,
            task_status_label=_STATUS_LABELS.get(task.status, task.status),
            image_name=task.image.name,
            revision=None,
            decision=None,
            reasons=reason_words(send_back.reasons),
            comment=send_back.comment,
            by=send_back.actor.username,
            flagged=0,
        )
    return items


# --- one review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlaggedInstance:
    """A flagged instance as the page lists it: its number on the picture (1, 2, …), the
    reviewer's reasons and notes, and where it is (``bbox`` ``(x, y, w, h)``, area in px)."""

    number: int
    instance_id: int
    label_class: str
    reasons: list[str]
    notes: list[str]
    area: int
    bbox: tuple[int, int, int, int]


def submission_of(*, user: Any, project: Project, pk: Any) -> Submission | None:
    """Submission ``pk`` of ``project`` if ``user`` may read its feedback, else None: an
    annotator their own only (DESIGN §6 "Blind"); leads and admins any; nobody else."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    submissions = Submission.objects.filter(pk=pk, task__image__project=project)
    if not has_permission(user=user, project=project, action=Action.SEE_ALL_SUBMISSIONS):
        if not has_permission(user=user, project=project, action=Action.SUBMIT):
            return None
        submissions = submissions.filter(task__annotator=user)
    return (
        submissions.select_related("task__image", "task__annotator", "review__reviewer")
        .annotate(instance_count=Count("instances"))
        .first()
    )


def flagged_instances(flags: Iterable[InstanceFlag]) -> list[FlaggedInstance]:
    """The flagged instances of a review numbered in the order they were first flagged, each
    with all its flags' reasons and notes."""
    by_instance: dict[int, list[InstanceFlag]] = {}
    for flag in sorted(flags, key=lambda f: f.pk):
        by_instance.setdefault(flag.instance_id, []).append(flag)
    result = []
    for number, group in enumerate(by_instance.values(), start=1):
        instance = group[0].instance
        result.append(
            FlaggedInstance(
                number=number,
                instance_id=instance.pk,
                label_class=instance.label_class.name,
                reasons=reason_words(f.reason for f in group),
                notes=[f.note for f in group if f.note],
                area=instance.area,
                bbox=(instance.bbox_x, instance.bbox_y, instance.bbox_w, instance.bbox_h),
            )
        )
    return result


def _flags_of(submission: Submission) -> QuerySet[InstanceFlag]:
    return (
        InstanceFlag.objects.filter(review__submission=submission)
        .select_related("instance__label_class")
        .defer("instance__rle", "instance__boundary_rle", "instance__polygon")
        .order_by("pk")
    )


def review_feedback(*, user: Any, project: Project, pk: Any) -> dict[str, Any] | None:
    """Everything the page of one review shows, or None when ``user`` may not read it (see
    :func:`submission_of`): the submission (with its task, image, review and reviewer, and
    ``instance_count``), the review's reasons in words, the flagged instances, the task's
    revisions (each with its decision) and the send-backs made while this revision was in
    force, and whether the task waits for the user's fix."""
    submission = submission_of(user=user, project=project, pk=pk)
    if submission is None:
        return None
    task = submission.task
    revisions = [
        {"pk": pk, "revision": revision, "submitted_at": at, "decision": _DECIDED.get(decision)}
        for pk, revision, at, decision in Submission.objects.filter(task=task)
        .order_by("revision")
        .values_list("pk", "revision", "submitted_at", "review__decision")
    ]
    next_at = next(
        (r["submitted_at"] for r in revisions if r["revision"] > submission.revision), None
    )
    send_backs = SendBack.objects.filter(tasks=task, created_at__gte=submission.submitted_at)
    if next_at is not None:
        send_backs = send_backs.filter(created_at__lt=next_at)
    review = getattr(submission, "review", None)
    send_back_rows = [
        {
            "created_at": s.created_at,
            "by": s.actor.username,
            "reasons": reason_words(s.reasons),
            "comment": s.comment,
        }
        for s in send_backs.select_related("actor").order_by("created_at", "pk")
    ]
    latest = revisions[-1]["pk"] == submission.pk
    return {
        "submission": submission,
        "task": task,
        "image": task.image,
        "review": review,
        "reasons": reason_words(review.reasons) if review else [],
        "flagged": flagged_instances(_flags_of(submission)) if review else [],
        "revisions": revisions,
        "send_backs": send_back_rows,
        "needs_fix": latest and task.status == TaskStatus.REJECTED,
    }


@dataclass
class PictureData:
    """What the picture of one review draws: the image (its pixels may be absent), every
    instance of the submission (``rle`` strings with their bboxes) and the flagged
    instances' numbers by instance id."""

    image: Image
    instances: list[Instance] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)


def review_picture_key(submission: Submission) -> str:
    """The cache key of the picture of ``submission`` (from :func:`submission_of`): a
    submission never changes and a review (with its flags) is written once, so they name
    the picture. Their times go in beside their ids, because SQLite may give a deleted
    row's id to a new row, whose picture must not be an old one."""
    review = getattr(submission, "review", None)
    made = f"{submission.pk}.{submission.task.image_id}.{submission.submitted_at.timestamp()}"
    decided = f"{review.pk}.{review.created_at.timestamp()}" if review else "0"
    return f"maskqc:feedback-picture:v1:{made}:{decided}"


def review_picture_data(*, submission: Submission) -> PictureData:
    """The submission's own instances and its flags' numbers (as :func:`flagged_instances`
    numbers them), for the picture of its review; ``submission`` comes from
    :func:`submission_of`, which checked who may see it. Only this submission's instances
    are read: the picture never shows another annotator's masks."""
    instances = list(
        Instance.objects.filter(submission=submission)
        .only("pk", "rle", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "submission_id")
        .order_by("pk")
    )
    numbers: dict[int, int] = {}
    flags = InstanceFlag.objects.filter(review__submission=submission).order_by("pk")
    for instance_id in flags.values_list("instance_id", flat=True):
        numbers.setdefault(instance_id, len(numbers) + 1)
    return PictureData(image=submission.task.image, instances=instances, numbers=numbers)


# --- my style ----------------------------------------------------------------------------------


def _noun(project: Project) -> str:
    """What the project's objects are called in sentences: the one class's name in the
    plural ("bubbles"), else "instances"."""
    names = list(project.label_classes.values_list("name", flat=True)[:2])
    if len(names) != 1:
        return "instances"
    name = names[0].strip().lower()
    return name if name.endswith("s") else f"{name}s"


def iso_week(moment: datetime) -> str:
    """``2026-W05``: the ISO week of ``moment`` in the site's time zone."""
    year, week, _ = timezone.localtime(moment).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class WeekStyle:
    """The user's style over the images whose latest revision of theirs was submitted in
    one ISO week (``week``): :func:`qc.style.style_reports` of those images' stored
    observations."""

    week: str
    report: StyleReport


def style_feedback(*, user: Any, project: Project) -> dict[str, Any]:
    """The user's own style report (DESIGN §4 "Style report") and its weekly trend, from the
    stored observations (``ImageAgreement.style``) of the images the user annotated; never
    another annotator's figures. ``report`` is None before any image of theirs was compared.
    ``weeks`` are oldest first; ``sentence`` says the report in the second person."""
    latest = (
        Submission.objects.filter(task__image=OuterRef("image"), task__annotator=user)
        .order_by("-submitted_at")
        .values("submitted_at")[:1]
    )
    rows = (
        ImageAgreement.objects.filter(image__project=project)
        .annotate(mine_at=Subquery(latest))
        .filter(mine_at__isnull=False)
        .only("pk", "style", "image_id")
        .order_by("mine_at", "pk")
    )
    name = user.username
    by_week: dict[str, list[Any]] = {}
    for row in rows:
        if not row.style or name not in row.style.get("annotators", ()):
            continue
        by_week.setdefault(iso_week(row.mine_at), []).append(style_from_json(row.style))
    everything = [style for styles in by_week.values() for style in styles]
    report = style_reports(everything).get(name) if everything else None
    weeks = [
        WeekStyle(week=week, report=style_reports(styles)[name])
        for week, styles in sorted(by_week.items())
    ]
    noun = _noun(project)
    return {
        "report": report,
        "sentence": describe(report, noun=noun, person="you") if report else None,
        "noun": noun,
        "weeks": weeks,
        "violations": _violations_of(user=user, project=project),
    }


def _violations_of(*, user: Any, project: Project) -> dict[str, Any]:
    """Guideline-rule violations of the user's latest revision of each task: how many
    revisions there are (``revisions``), how many broke a rule (``broke``), how many
    violations in all (``total``) and how often each rule was broken (``rules``, most often
    first, by what the rule is about)."""
    lists = newest_revisions(
        Submission.objects.filter(task__annotator=user, task__image__project=project)
    ).values_list("rule_violations", flat=True)
    counts: dict[str, int] = {}
    revisions = broke = 0
    for violations in lists:
        revisions += 1
        broke += bool(violations)
        for violation in violations or ():
            rule = RULE_NAMES.get(violation.get("rule"), str(violation.get("rule", "rule")))
            counts[rule] = counts.get(rule, 0) + 1
    return {
        "revisions": revisions,
        "broke": broke,
        "total": sum(counts.values()),
        "rules": sorted(counts.items(), key=lambda item: (-item[1], item[0])),
    }


__all__ = [
    "FEEDBACK_PER_PAGE",
    "FeedbackItem",
    "FlaggedInstance",
    "PictureData",
    "WeekStyle",
    "feedback_page",
    "flagged_instances",
    "iso_week",
    "reason_words",
    "review_feedback",
    "review_picture_data",
    "review_picture_key",
    "style_feedback",
    "submission_of",
]
