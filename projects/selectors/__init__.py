"""Reads shared by views, the API and commands; always scoped to a user and a project."""

import datetime
import difflib
import json
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from projects.models import (
    OPEN_TASK_STATUSES,
    Acknowledgement,
    Guideline,
    GuidelineExample,
    GuidelineVersion,
    Image,
    Membership,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.permissions import ADMIN, Action, has_permission, project_role
from projects.rules import rules_in_words


class QCState:
    UNASSIGNED = "unassigned"
    ANNOTATING = "annotating"
    IN_REVIEW = "in_review"
    NEEDS_REWORK = "needs_rework"
    ACCEPTED = "accepted"
    ORDER = (UNASSIGNED, ANNOTATING, IN_REVIEW, NEEDS_REWORK, ACCEPTED)


# How every page names a QC state.
QC_STATE_LABELS = {
    QCState.UNASSIGNED: "Unassigned",
    QCState.ANNOTATING: "Annotating",
    QCState.IN_REVIEW: "In review",
    QCState.NEEDS_REWORK: "Needs rework",
    QCState.ACCEPTED: "Accepted",
}


def qc_state_expression(*, without_tasks: str = QCState.UNASSIGNED) -> Case:
    """An image's QC state (DESIGN §6), derived in SQL from EXISTS subqueries (no GROUP BY,
    so a result can itself be grouped by state): accepted while a label is in force and not
    sent back; needs_rework while a task is rejected; ``without_tasks`` when no task is
    live; annotating while a task is still assigned or in progress; else in_review.

    The label is qc's ImageLabel, reached through its one-to-one relation (``Image.label``),
    so this module needs nothing of qc."""
    tasks = Task.objects.filter(image=OuterRef("pk"))
    labelled = Image.objects.filter(pk=OuterRef("pk"), label__isnull=False)
    return Case(
        When(Exists(labelled.filter(label__sent_back=False)), then=Value(QCState.ACCEPTED)),
        When(Exists(tasks.filter(status=TaskStatus.REJECTED)), then=Value(QCState.NEEDS_REWORK)),
        When(~Exists(tasks.exclude(status=TaskStatus.CANCELLED)), then=Value(without_tasks)),
        When(
            Exists(tasks.filter(status__in=[TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS])),
            then=Value(QCState.ANNOTATING),
        ),
        default=Value(QCState.IN_REVIEW),
        output_field=CharField(),
    )


def images_with_qc_state(*, project: Project) -> QuerySet[Image]:
    """The project's images annotated with ``qc_state`` (:func:`qc_state_expression`)."""
    return Image.objects.filter(project=project).annotate(qc_state=qc_state_expression())


def qc_state_counts(*, project: Project) -> dict[str, int]:
    """How many of the project's images are in each QC state, every state of
    :attr:`QCState.ORDER` in that order (0 when none): one grouped query, so the overview,
    the dashboards and the assignment pages count alike."""
    counts = dict(
        images_with_qc_state(project=project)
        .order_by()
        .values_list("qc_state")
        .annotate(n=Count("id"))
        .values_list("qc_state", "n")
    )
    return {state: counts.get(state, 0) for state in QCState.ORDER}


def overdue_q(*, today: datetime.date | None = None, prefix: str = "") -> Q:
    """A task is overdue while it is open (its annotator still owes work) past its due date
    (before ``today``, the site's today when None); ``prefix`` reaches the task through a
    relation (``"tasks__"`` from a user)."""
    today = today or timezone.localdate()
    return Q(**{f"{prefix}status__in": OPEN_TASK_STATUSES, f"{prefix}due_date__lt": today})


def is_overdue(task: Task, *, today: datetime.date) -> bool:
    """:func:`overdue_q` of one task already read."""
    return task.status in OPEN_TASK_STATUSES and task.due_date is not None and task.due_date < today


def overdue_tasks(*, project: Project, today: datetime.date | None = None) -> QuerySet[Task]:
    """The project's overdue tasks (:func:`overdue_q`), the longest overdue first."""
    return Task.objects.filter(overdue_q(today=today), image__project=project).order_by(
        "due_date", "image__name", "annotator__username"
    )


def project_overview(*, project: Project, user: Any = None) -> dict[str, Any]:
    """Counts for the overview page: tasks by status, images by QC state, members by role,
    and first what needs attention: images waiting for review (``waiting``, all of them in
    review; ``in_queue``, those of ``user``'s review queue, None without a user), images
    sent back for rework, overdue tasks and images no one annotates yet."""
    task_counts = dict(
        Task.objects.filter(image__project=project)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    state_counts = qc_state_counts(project=project)
    member_counts = dict(
        Membership.objects.filter(project=project)
        .values_list("role")
        .annotate(n=Count("id"))
        .values_list("role", "n")
    )
    return {
        "tasks": [(s.value, s.label, task_counts.get(s.value, 0)) for s in TaskStatus],
        "tasks_total": sum(task_counts.values()),
        "images": [(state, QC_STATE_LABELS[state], n) for state, n in state_counts.items()],
        "images_total": sum(state_counts.values()),
        "members": [(r.value, r.label, member_counts.get(r.value, 0)) for r in Role],
        "members_total": sum(member_counts.values()),
        "waiting": state_counts[QCState.IN_REVIEW],
        "in_queue": None if user is None else review_queue(user=user, project=project).count(),
        "rework": state_counts[QCState.NEEDS_REWORK],
        "unassigned": state_counts[QCState.UNASSIGNED],
        "overdue": overdue_tasks(project=project).count(),
    }


def projects_visible_to(*, user: Any) -> QuerySet[Project]:
    """The projects ``user`` may enter, by name, each annotated with ``user_role``: the
    user's role in it, or ``admin`` for site staff (who see every project)."""
    if user.is_staff:
        return Project.objects.annotate(user_role=Value(ADMIN, output_field=CharField())).order_by(
            "name"
        )
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Project.objects.filter(memberships__user=user)
        .annotate(user_role=Subquery(role))
        .order_by("name")
    )


def memberships_of(*, user: Any) -> list[tuple[Project, str]]:
    """(project, role) for every project the user may enter, admins seeing all."""
    if user.is_staff:
        return [(project, ADMIN) for project in Project.objects.order_by("name")]
    return [
        (m.project, m.role)
        for m in Membership.objects.filter(user=user)
        .select_related("project")
        .order_by("project__name")
    ]


def tasks_of_annotator(*, user: Any, project: Project) -> QuerySet[Task]:
    """The user's own tasks, open ones first, with what the task list shows."""
    order = Case(
        When(status=TaskStatus.REJECTED, then=Value(0)),
        When(status=TaskStatus.IN_PROGRESS, then=Value(1)),
        When(status=TaskStatus.ASSIGNED, then=Value(2)),
        default=Value(3),
    )
    return (
        Task.objects.filter(image__project=project, annotator=user)
        .exclude(status=TaskStatus.CANCELLED)
        .select_related("image", "annotator")
        .annotate(revisions=Count("submissions"), open_order=order)
        .order_by("open_order", "due_date", "image__name")
    )


def review_queue(*, user: Any, project: Project) -> QuerySet[Image]:
    """Images waiting for review that the user may review, lowest agreement first.

    Reviewers see images assigned to them; leads and admins all images in review. Images the
    user annotated never appear. Images without an agreement figure come last.
    """

    images = images_with_qc_state(project=project).filter(qc_state=QCState.IN_REVIEW)
    images = images.exclude(tasks__annotator=user)
    if project_role(user=user, project=project) == Role.REVIEWER:
        images = images.filter(review_assignments__reviewer=user, review_assignments__status="open")
    live = Count("tasks", filter=~Q(tasks__status=TaskStatus.CANCELLED))
    return (
        images.annotate(live_tasks=live)
        .select_related("agreement")
        .order_by(F("agreement__pq").asc(nulls_last=True), "name")
    )


def current_versions(*, project: Project) -> list[GuidelineVersion]:
    """The newest published version of each of the project's guidelines."""
    versions = (
        GuidelineVersion.objects.filter(guideline__project=project, published_at__isnull=False)
        .select_related("guideline")
        .order_by("guideline_id", "-number")
    )
    newest: dict[int, GuidelineVersion] = {}
    for version in versions:
        newest.setdefault(version.guideline_id, version)
    return list(newest.values())


def members_of(*, project: Project) -> QuerySet[Membership]:
    """The project's members with their users, by role then username."""
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .order_by("role", "user__username")
    )


def tasks_of_project(*, project: Project) -> QuerySet[Task]:
    """Every task of the project with its image and annotator, by image then annotator."""
    return (
        Task.objects.filter(image__project=project)
        .select_related("image", "annotator")
        .order_by("image__name", "annotator__username", "pk")
    )


def guidelines_of(*, project: Project, user: Any) -> QuerySet[Guideline]:
    """The project's guidelines by title, each annotated with ``published_number`` (its
    newest published version, or None) and ``version_count`` (what ``user`` may see:
    drafts only for those who write guidelines)."""
    published = GuidelineVersion.objects.filter(
        guideline=OuterRef("pk"), published_at__isnull=False
    ).order_by("-number")
    seen = Q() if _writes_guidelines(user, project) else Q(versions__published_at__isnull=False)
    return (
        Guideline.objects.filter(project=project)
        .annotate(
            published_number=Subquery(published.values("number")[:1]),
            version_count=Count("versions", filter=seen),
        )
        .order_by("title")
    )


def _writes_guidelines(user: Any, project: Project) -> bool:
    return has_permission(user=user, project=project, action=Action.WRITE_GUIDELINES)


def guideline_versions_visible_to(*, user: Any, guideline: Guideline) -> QuerySet[GuidelineVersion]:
    """The guideline's versions, newest first, with their authors; drafts only for those who
    write guidelines."""
    versions = GuidelineVersion.objects.filter(guideline=guideline).select_related(
        "author", "guideline"
    )
    if not _writes_guidelines(user, guideline.project):
        versions = versions.filter(published_at__isnull=False)
    return versions.order_by("-number")


def acknowledgements_of(*, version: GuidelineVersion) -> QuerySet[Acknowledgement]:
    """Who acknowledged ``version``, first first, with their users."""
    return (
        Acknowledgement.objects.filter(version=version)
        .select_related("user")
        .order_by("acknowledged_at", "pk")
    )


def guideline_version_diff(*, old: GuidelineVersion, new: GuidelineVersion) -> dict[str, str]:
    """Unified text diffs from ``old`` to ``new``: of the markdown body, and of the rules
    (one rule a line, as sorted-key JSON, so moving a key is no change)."""

    def body_lines(version: GuidelineVersion) -> list[str]:
        return [line.rstrip("\r\n") + "\n" for line in version.body.splitlines()]

    def rules_lines(version: GuidelineVersion) -> list[str]:
        return [json.dumps(rule, sort_keys=True) + "\n" for rule in version.rules]

    def unified(a: list[str], b: list[str], what: str) -> str:
        return "".join(
            difflib.unified_diff(
                a,
                b,
                fromfile=f"v{old.number}/{what}",
                tofile=f"v{new.number}/{what}",
            )
        )

    return {
        "body": unified(body_lines(old), body_lines(new), "body"),
        "rules": unified(rules_lines(old), rules_lines(new), "rules"),
    }


def assignment_of(*, images: list[Image]) -> list[dict[str, Any]]:
    """For each of ``images`` in order, who has a live (not cancelled) task on it."""
    holders: dict[int, list[str]] = {image.pk: [] for image in images}
    for image_id, username in (
        Task.objects.filter(image__in=images)
        .exclude(status=TaskStatus.CANCELLED)
        .order_by("annotator__username")
        .values_list("image_id", "annotator__username")
    ):
        holders[image_id].append(username)
    return [
        {"image": image.pk, "image_name": image.name, "annotators": holders[image.pk]}
        for image in images
    ]


def unacknowledged_versions(*, user: Any, project: Project) -> list[GuidelineVersion]:
    """The current guideline versions ``user`` has not acknowledged: what stands between an
    annotator and their next submission (DESIGN §6, the guideline gate)."""
    return not_acknowledged(user, current_versions(project=project))


def not_acknowledged(user: Any, versions: list[GuidelineVersion]) -> list[GuidelineVersion]:
    """Those of ``versions`` that ``user`` has not acknowledged."""
    done = set(
        Acknowledgement.objects.filter(user=user, version__in=versions).values_list(
            "version_id", flat=True
        )
    )
    return [version for version in versions if version.pk not in done]


def guideline_page(*, user: Any, project: Project) -> dict[str, Any]:
    """Everything the guideline page shows: for each of the project's guidelines with a
    published version (by title), its current version with the rules in words, the
    examples with their images and the user's acknowledgement (None when not given), and
    the older published versions, newest first. ``may_acknowledge``: the user's role
    acknowledges guidelines (annotators)."""
    versions = (
        GuidelineVersion.objects.filter(guideline__project=project, published_at__isnull=False)
        .select_related("guideline")
        .prefetch_related(
            Prefetch(
                "examples",
                queryset=GuidelineExample.objects.select_related("image").order_by("pk"),
            )
        )
        .order_by("guideline__title", "guideline_id", "-number")
    )
    acknowledged = dict(
        Acknowledgement.objects.filter(user=user, version__guideline__project=project).values_list(
            "version_id", "acknowledged_at"
        )
    )
    guidelines: dict[int, dict[str, Any]] = {}
    for version in versions:
        version.rules_words = rules_in_words(version.rules)
        version.acknowledged_at = acknowledged.get(version.pk)
        entry = guidelines.get(version.guideline_id)
        if entry is None:
            guidelines[version.guideline_id] = {
                "guideline": version.guideline,
                "current": version,
                "older": [],
            }
        else:
            entry["older"].append(version)
    entries = list(guidelines.values())
    return {
        "guidelines": entries,
        "may_acknowledge": has_permission(
            user=user, project=project, action=Action.ACKNOWLEDGE_GUIDELINES
        ),
        "unacknowledged": [e["current"] for e in entries if e["current"].acknowledged_at is None],
    }


def guideline_example_of(*, user: Any, project: Project, pk: int) -> GuidelineExample | None:
    """The example ``pk`` with its image, if it belongs to a version of ``project`` that
    ``user`` may read (published; drafts only for those who write guidelines)."""
    examples = GuidelineExample.objects.filter(
        pk=pk, version__guideline__project=project
    ).select_related("image")
    if not _writes_guidelines(user, project):
        examples = examples.filter(version__published_at__isnull=False)
    return examples.first()
