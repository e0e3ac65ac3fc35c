"""What the pages a lead sets a project up from read (DESIGN §10: leads and admins): the
settings with how much stored agreement a change would leave as it is, the label classes
with what uses each, and the members with their open tasks and acknowledgements.

Counts of qc's rows (instances, labels, stored agreement) are reached through the reverse
relations of projects' models (``Task.submissions``, ``Image.label``, ``Image.agreement``),
so this module needs nothing of qc. Each page is a fixed number of queries, whatever the
number of rows.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from projects.models import (
    OPEN_TASK_STATUSES,
    Acknowledgement,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
    Role,
    Task,
)


def settings_page(*, project: Project) -> dict[str, Any]:
    """The settings page's figures: the project's images, and how many of them carry stored
    agreement (computed under the current matching and consensus settings)."""
    counts = Image.objects.filter(project=project).aggregate(
        images=Count("pk"), compared=Count("pk", filter=Q(agreement__isnull=False))
    )
    return {"image_count": counts["images"], "compared_count": counts["compared"]}


@dataclass
class ClassRow:
    """A label class with what uses it: instances drawn in submissions (every revision) and
    instances of images' labels (accepted, or sent back and still in force), on how many
    images."""

    label_class: LabelClass
    drawn: int = 0
    labelled: int = 0
    labelled_images: int = 0


def classes_page(*, project: Project) -> dict[str, Any]:
    """The project's label classes by name, each with its counts (:class:`ClassRow`), and
    the colour a new class is offered (``next_colour``)."""
    classes = list(LabelClass.objects.filter(project=project).order_by("name"))
    drawn = dict(
        Task.objects.filter(image__project=project, submissions__instances__isnull=False)
        .values("submissions__instances__label_class")
        .annotate(n=Count("submissions__instances"))
        .values_list("submissions__instances__label_class", "n")
    )
    labelled: dict[int, tuple[int, int]] = {}
    # A label is a snapshot of the consensus (its own instances) or one accepted submission.
    for instances in ("label__instances", "label__submission__instances"):
        for class_id, n, images in (
            Image.objects.filter(project=project, **{f"{instances}__isnull": False})
            .values(f"{instances}__label_class")
            .annotate(n=Count(instances), images=Count("pk", distinct=True))
            .values_list(f"{instances}__label_class", "n", "images")
        ):
            before = labelled.get(class_id, (0, 0))
            labelled[class_id] = (before[0] + n, before[1] + images)
    rows = []
    for label_class in classes:
        n, images = labelled.get(label_class.pk, (0, 0))
        rows.append(
            ClassRow(
                label_class=label_class,
                drawn=drawn.get(label_class.pk, 0),
                labelled=n,
                labelled_images=images,
            )
        )
    return {
        "classes": rows,
        "next_colour": next_class_colour([label_class.colour for label_class in classes]),
    }


# The colours new label classes take, in order: distinct on images and from each other.
CLASS_PALETTE = (
    "#e6194b",
    "#3cb44b",
    "#4363d8",
    "#f58231",
    "#911eb4",
    "#42d4f4",
    "#f032e6",
    "#bfef45",
    "#469990",
    "#9a6324",
)


def next_class_colour(used: list[str]) -> str:
    """The first palette colour none of ``used`` (the project's classes' colours) has, so a
    new class is told apart from the others at a glance; once every one is taken, the
    palette again from the start, by how many classes there are."""
    taken = {colour.lower() for colour in used}
    free = [colour for colour in CLASS_PALETTE if colour not in taken]
    return free[0] if free else CLASS_PALETTE[len(used) % len(CLASS_PALETTE)]


def label_class_of(*, project: Project, pk: int) -> LabelClass | None:
    return LabelClass.objects.filter(project=project, pk=pk).first()


def membership_of(*, project: Project, pk: int) -> Membership | None:
    """A member of ``project`` by the membership's id, with the user."""
    return Membership.objects.filter(project=project, pk=pk).select_related("user").first()


@dataclass
class GuidelineReading:
    """One member's reading of one guideline: the published versions they acknowledged and
    whether that includes the current one."""

    title: str
    current: int
    acknowledged: list[int] = field(default_factory=list)

    @property
    def read_current(self) -> bool:
        return self.current in self.acknowledged


@dataclass
class MemberRow:
    membership: Membership
    open_tasks: int
    readings: list[GuidelineReading]

    @property
    def must_read(self) -> bool:
        """An annotator who has not acknowledged a current version cannot submit."""
        return self.membership.role == Role.ANNOTATOR and any(
            not reading.read_current for reading in self.readings
        )


_ROLE_ORDER = {Role.LEAD: 0, Role.REVIEWER: 1, Role.ANNOTATOR: 2}


def members_page(*, project: Project, role: str | None = None) -> dict[str, Any]:
    """The members by role (leads, reviewers, annotators) then username, each with their
    open tasks in the project and their acknowledgements of its published guidelines;
    with ``role`` (a :class:`Role` value), only the members of that role (``shown_role``),
    the counts of every role still given."""
    open_tasks = (
        Task.objects.filter(
            image__project=project, annotator=OuterRef("user"), status__in=OPEN_TASK_STATUSES
        )
        .order_by()
        .values("annotator")
        .annotate(n=Count("pk"))
        .values("n")
    )
    memberships = list(
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(open_tasks=Coalesce(Subquery(open_tasks), 0))
        .order_by("user__username")
    )
    memberships.sort(key=lambda m: (_ROLE_ORDER.get(m.role, 3), m.user.username))
    current: dict[int, tuple[str, int]] = {}
    for guideline_id, title, number in (
        GuidelineVersion.objects.filter(guideline__project=project, published_at__isnull=False)
        .order_by("guideline__title", "number")
        .values_list("guideline_id", "guideline__title", "number")
    ):
        current[guideline_id] = (title, number)
    read: dict[tuple[int, int], list[int]] = {}
    for user_id, guideline_id, number in (
        Acknowledgement.objects.filter(
            version__guideline__project=project,
            version__published_at__isnull=False,
            user__memberships__project=project,
        )
        .order_by("version__number")
        .values_list("user_id", "version__guideline_id", "version__number")
    ):
        read.setdefault((user_id, guideline_id), []).append(number)
    rows = [
        MemberRow(
            membership=membership,
            open_tasks=membership.open_tasks,
            readings=[
                GuidelineReading(
                    title=title,
                    current=number,
                    acknowledged=read.get((membership.user_id, guideline_id), []),
                )
                for guideline_id, (title, number) in current.items()
            ],
        )
        for membership in memberships
    ]
    shown_role = role if role in Role.values else None
    return {
        "members": [row for row in rows if shown_role in (None, row.membership.role)],
        "shown_role": shown_role,
        "role_counts": {
            role: sum(1 for m in memberships if m.role == role) for role in Role.values
        },
    }


def user_named(username: str) -> Any | None:
    """The active user called ``username`` (None if there is none)."""
    return get_user_model().objects.filter(username=username, is_active=True).first()
