"""The machinery of the role matrix (``tests/pages/test_role_matrix.py``): a row (:class:`Case`),
the statuses of each role, the targets that find a row's URL arguments, and the small
project the table is checked on. The rows themselves are in ``rows_*.py``, one module per
area of the site."""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, reverse
from PIL import Image as PILImage

from projects import urls as project_urls
from projects.models import (
    GuidelineExample,
    GuidelineVersion,
    Image,
    Project,
    Role,
    Task,
    TaskStatus,
)
from projects.permissions import may_review_image
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc import urls as qc_urls
from qc.models import ImageLabel, Review, ReviewAssignment, Submission
from qc.services import FlagInput, InstanceInput, review_assign, review_decide, submission_create
from qc.services.agreement import agreement_update_for_image
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

# Pages of the site, not of one project: their URLs take no slug, and an outsider of the test
# project is just another user there.
SITE_PAGES = frozenset({"home", "login", "logout", "project-create", "site-dashboard"})
ROLES = ("admin", "lead", "reviewer", "annotator", "outsider", "anonymous")
LOGIN = "login"  # a redirect to the login page
OPEN = (TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REJECTED)

Args = tuple[Any, ...] | None
Finder = Callable[[Project, Any], Args]


# Targets: each finds, for a subject, the URL arguments after the slug (None: nothing fits).


def _none(project: Project, subject: Any) -> Args:
    return ()


def _reviewable_images(project: Project, subject: Any) -> list[Image]:
    images = Image.objects.filter(
        project=project, review_assignments__status=ReviewAssignment.Status.OPEN
    ).order_by("name")
    return [image for image in images if may_review_image(user=subject, image=image)]


def _latest(image: Image) -> list[Submission]:
    latest = []
    for task in image.tasks.order_by("annotator__username"):
        submission = task.submissions.order_by("-revision").first()
        if submission is not None:
            latest.append(submission)
    return latest


def _undecided(submission: Submission) -> bool:
    return not Review.objects.filter(submission=submission).exists()


def review_image(project: Project, subject: Any) -> Args:
    """An image the subject may review, one with an undecided submission first."""
    images = _reviewable_images(project, subject)
    undecided = [image for image in images if any(map(_undecided, _latest(image)))]
    chosen = (undecided or images or [None])[0]
    return None if chosen is None else (chosen.pk,)


def review_submission(project: Project, subject: Any) -> Args:
    """An undecided submission of an image the subject may review."""
    for image in _reviewable_images(project, subject):
        for submission in _latest(image):
            if _undecided(submission):
                return (image.pk, submission.pk)
    return None


def label_image(project: Project, subject: Any) -> Args:
    """An image the subject may review whose submissions are all accepted, without label."""
    for image in _reviewable_images(project, subject):
        decisions = [
            list(Review.objects.filter(submission=s).values_list("decision", flat=True))
            for s in _latest(image)
        ]
        labelled = ImageLabel.objects.filter(image=image).exists()
        if decisions and not labelled and all(d == ["accept"] for d in decisions):
            return (image.pk,)
    return None


def image_reviewed_elsewhere(project: Project, subject: Any) -> Args:
    """An image whose open review belongs to another reviewer."""
    image = (
        Image.objects.filter(project=project, review_assignments__status="open")
        .exclude(review_assignments__reviewer=subject)
        .exclude(tasks__annotator=subject)
        .order_by("name")
        .first()
    )
    return None if image is None else (image.pk,)


def visible_image(project: Project, subject: Any) -> Args:
    """An image with pixels the subject has a task on; any, for a subject without tasks
    (a reviewer or lead in the sweep)."""
    images = Image.objects.filter(project=project).exclude(file="").order_by("name")
    if Task.objects.filter(image__project=project, annotator=subject).exists():
        images = images.filter(tasks__annotator=subject)
    chosen = images.first()
    return None if chosen is None else (chosen.pk,)


def image_of_others(project: Project, subject: Any) -> Args:
    """An image with pixels the subject has no task on."""
    image = (
        Image.objects.filter(project=project)
        .exclude(file="")
        .exclude(tasks__annotator=subject)
        .order_by("name")
        .first()
    )
    return None if image is None else (image.pk,)


def own_task(project: Project, subject: Any) -> Args:
    task = (
        Task.objects.filter(image__project=project, annotator=subject, status__in=OPEN)
        .order_by("status", "pk")
        .first()
    )
    return None if task is None else (task.pk,)


def others_task(project: Project, subject: Any) -> Args:
    task = (
        Task.objects.filter(image__project=project, status__in=OPEN)
        .exclude(annotator=subject)
        .order_by("pk")
        .first()
    )
    return None if task is None else (task.pk,)


def _reviewed(project: Project) -> Any:
    return Submission.objects.filter(task__image__project=project, review__isnull=False)


def own_reviewed(project: Project, subject: Any) -> Args:
    """The subject's reviewed submission, a rejected one first."""
    mine = _reviewed(project).filter(task__annotator=subject).order_by("-pk")
    submission = mine.filter(review__decision="reject").first() or mine.first()
    return None if submission is None else (submission.pk,)


def others_reviewed(project: Project, subject: Any) -> Args:
    submission = _reviewed(project).exclude(task__annotator=subject).order_by("pk").first()
    return None if submission is None else (submission.pk,)


def guideline_version(project: Project, subject: Any) -> Args:
    """The newest published version, one the subject has not acknowledged first."""
    versions = GuidelineVersion.objects.filter(
        guideline__project=project, published_at__isnull=False
    ).order_by("-number")
    pending = versions.exclude(acknowledgements__user=subject).first()
    chosen = pending or versions.first()
    return None if chosen is None else (chosen.pk,)


def guideline_example(project: Project, subject: Any) -> Args:
    example = (
        GuidelineExample.objects.filter(version__guideline__project=project)
        .order_by("-version__number", "pk")
        .first()
    )
    return None if example is None else (example.pk,)


# The table.

STAFF = {"admin": 200, "lead": 200}
NOT_OURS = {"outsider": 404, "anonymous": LOGIN}


def statuses(**by_role: int | str) -> dict[str, int | str]:
    table = {**NOT_OURS, **by_role}
    assert set(table) == set(ROLES), f"every role needs a status: {sorted(table)}"
    return table


REVIEWERS_ONLY = statuses(**STAFF, reviewer=200, annotator=403)
EVERY_MEMBER = statuses(**STAFF, reviewer=200, annotator=200)
ANNOTATORS_ONLY = statuses(admin=403, lead=403, reviewer=403, annotator=200)
# The page of one review: its annotator's, and the staff's who see every submission.
FEEDBACK = statuses(**STAFF, reviewer=404, annotator=200)


@dataclass(frozen=True)
class Case:
    """One row: ``url_name`` with the arguments ``target`` finds for the ``subject`` role's
    user; ``data`` for a POST; ``changed`` (a POST's) answers whether the request did
    its work, so a refusal is seen to change nothing; ``prepare`` readies the subject (it
    gets the user) before the request; ``page`` is False for responses that are not HTML
    pages (pictures, redirects only)."""

    url_name: str
    expect: dict[str, int | str]
    target: Finder = _none
    subject: str = "annotator"
    method: str = "GET"
    data: dict[str, Any] = field(default_factory=dict)
    changed: Callable[[Args], bool] | None = None
    prepare: Callable[[Any], None] | None = None
    page: bool = True
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.url_name}[{self.variant}]" if self.variant else self.url_name


def url_of(case: Case, project: Project, subject: Any) -> str | None:
    """The case's URL in ``project`` for ``subject`` (None when no target fits)."""
    args = case.target(project, subject)
    if args is None:
        return None
    needs_slug = case.url_name not in SITE_PAGES
    return reverse(case.url_name, args=[project.slug, *args] if needs_slug else [])


def _names(patterns: list[Any]) -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names


def site_url_names() -> set[str]:
    """The names of every page of both apps, the included URL modules' too."""
    return _names(project_urls.urlpatterns) | _names(qc_urls.urlpatterns)


# The small project the table is checked on.


def _png(width: int, height: int) -> ContentFile:
    buffer = io.BytesIO()
    PILImage.new("L", (width, height), 90).save(buffer, format="PNG")
    return ContentFile(buffer.getvalue(), name="frame.png")


def _disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:48, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


@dataclass
class World:
    project: Project
    users: dict[str, Any]


def _people(project: Project) -> dict[str, Any]:
    users = {"admin": UserFactory(username="admin", is_staff=True, is_superuser=True)}
    for username, role in [
        ("lead", Role.LEAD),
        ("reviewer", Role.REVIEWER),
        ("second_reviewer", Role.REVIEWER),
        ("annotator", Role.ANNOTATOR),
        ("other_annotator", Role.ANNOTATOR),
    ]:
        users[username] = UserFactory(username=username)
        MembershipFactory(project=project, user=users[username], role=role)
    # The outsider leads a project of their own: they know the site, not this project.
    users["outsider"] = UserFactory(username="outsider")
    MembershipFactory(user=users["outsider"], role=Role.LEAD)
    return users


def _guideline(project: Project, users: dict[str, Any], body: str) -> GuidelineVersion:
    return guideline_version_create(
        project=project,
        title="Bubbles",
        body=body,
        author=users["lead"],
        change_summary="What changed.",
        publish=True,
    )


def _decide(images: dict[str, Image], users: dict[str, Any]) -> None:
    reviewer = users["reviewer"]
    for submission in _latest(images["b"]):
        if submission.task.annotator == users["annotator"]:
            flag = FlagInput(instance=submission.instances.get(), reason="boundary_too_loose")
            review_decide(
                submission=submission,
                reviewer=reviewer,
                decision="reject",
                reasons=["boundary_too_loose"],
                flags=[flag],
            )
        else:
            review_decide(submission=submission, reviewer=reviewer, decision="accept")
    for submission in _latest(images["c"]):
        review_decide(submission=submission, reviewer=reviewer, decision="accept")


def build_world() -> World:
    """Images a–e, each annotated by ``annotator`` and ``other_annotator``: a undecided, b
    decided (the annotator's rejected with a flag, the other's accepted), c both accepted,
    d reviewed by a second reviewer, e with both tasks open; f has pixels and only the
    other annotator's task. Guideline v1 acknowledged, v2 (with an example) not. The
    reviewer reviews a–c."""
    project = ProjectFactory(slug="bubbles", name="Pool boiling")
    bubble = LabelClassFactory(project=project, name="bubble")
    users = _people(project)
    annotators = [users["annotator"], users["other_annotator"]]
    v1 = _guideline(project, users, "Outline bubbles.")
    for user in annotators:
        guideline_acknowledge(version=v1, user=user)
    images = {
        name: ImageFactory(project=project, name=f"{name}.png", file=_png(64, 48))
        for name in "abcdef"
    }
    for name in "abcde":
        for position, user in enumerate(annotators):
            task = TaskFactory(image=images[name], annotator=user)
            if name != "e":
                rle = _disc(20 + 3 * position, 20, 8)
                submission_create(
                    task=task, actor=user, instances=[InstanceInput(label_class=bubble, rle=rle)]
                )
        if name != "e":
            # As the commit of the submissions would (the test's transaction never commits).
            agreement_update_for_image(image_id=images[name].pk)
    TaskFactory(image=images["f"], annotator=users["other_annotator"])
    for name, reviewer in [("a", "reviewer"), ("b", "reviewer"), ("c", "reviewer")]:
        review_assign(image=images[name], actor=users["lead"], reviewer=users[reviewer])
    review_assign(image=images["d"], actor=users["lead"], reviewer=users["second_reviewer"])
    _decide(images, users)
    v2 = _guideline(project, users, "Outline bubbles, holes too.")
    GuidelineExample.objects.create(version=v2, image=images["a"], caption="A clean frame.")
    return World(project=project, users=users)
