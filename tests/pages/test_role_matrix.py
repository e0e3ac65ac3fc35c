"""Every page of the site for every role of DESIGN §10: the status each role gets.

:data:`CASES` is the table: one row per page (URL name) and target, with the status of each
role. Admin is a site superuser who is no member; the outsider is the lead of another
project. An outsider gets 404 from every project page (never 403: it must not learn the
project exists); a member whose role does not allow the page gets 403, as
``projects.permissions.project_for`` answers; anonymous users are sent to the login page.
The blind rule (DESIGN §6) is the 404 an annotator gets for another annotator's task,
review, review picture or an image they have no task on, and no other annotator's name on
any page an annotator opens; leads and admins, who see every submission, open any review.
A reviewer may open only the viewer of an image whose review is theirs (403 otherwise).
The URL names come from the URL modules, so a page added without a row fails
:func:`test_every_page_has_a_row`.

The browser sweep (``tests/browser/test_page_sweep.py``) visits, for each role, the pages
this table gives that role a 200 for. Each row finds its target from a *subject* (the user
whose queue or work the page shows: here the user of the row's ``subject`` role; in the
sweep the visitor, or the demo's user of that role when the visitor has another), so one
table works on this module's small project and on the demo.
"""

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import URLPattern, reverse
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

_STAFF = {"admin": 200, "lead": 200}
_NOT_OURS = {"outsider": 404, "anonymous": LOGIN}


def _statuses(**by_role: int | str) -> dict[str, int | str]:
    table = {**_NOT_OURS, **by_role}
    assert set(table) == set(ROLES), f"every role needs a status: {sorted(table)}"
    return table


REVIEWERS_ONLY = _statuses(**_STAFF, reviewer=200, annotator=403)
EVERY_MEMBER = _statuses(**_STAFF, reviewer=200, annotator=200)
ANNOTATORS_ONLY = _statuses(admin=403, lead=403, reviewer=403, annotator=200)
# The page of one review: its annotator's, and the staff's who see every submission.
FEEDBACK = _statuses(**_STAFF, reviewer=404, annotator=200)


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


def _acknowledge_all(user: Any) -> None:
    for version in GuidelineVersion.objects.filter(published_at__isnull=False):
        guideline_acknowledge(version=version, user=user)


def _claimed(args: Args) -> bool:
    return Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists()


def _acknowledged(args: Args) -> bool:
    return GuidelineVersion.objects.get(pk=args[0]).acknowledgements.exists()


def _decided(args: Args) -> bool:
    return Review.objects.filter(submission_id=args[1]).exists()


def _labelled(args: Args) -> bool:
    return ImageLabel.objects.filter(image_id=args[0]).exists()


CASES = [
    Case(
        "home",
        _statuses(admin=200, lead=302, reviewer=302, annotator=302, outsider=302),
    ),
    Case("login", _statuses(**_STAFF, reviewer=200, annotator=200, outsider=200, anonymous=200)),
    Case(
        "logout",
        _statuses(admin=302, lead=302, reviewer=302, annotator=302, outsider=302, anonymous=302),
        method="POST",
        page=False,
    ),
    Case("project-overview", REVIEWERS_ONLY),
    Case("my-tasks", ANNOTATORS_ONLY),
    Case(
        "task-claim-next",
        _statuses(admin=403, lead=403, reviewer=403, annotator=302),
        method="POST",
        changed=_claimed,
        page=False,
    ),
    Case("guideline", EVERY_MEMBER),
    Case(
        "guideline-acknowledge",
        _statuses(admin=403, lead=403, reviewer=403, annotator=302),
        target=guideline_version,
        method="POST",
        changed=_acknowledged,
        page=False,
    ),
    Case("guideline-example", EVERY_MEMBER, target=guideline_example, page=False),
    Case("review-queue", REVIEWERS_ONLY),
    Case("image-thumbnail", REVIEWERS_ONLY, target=review_image, subject="reviewer", page=False),
    Case(
        "image-thumbnail",
        _statuses(**_STAFF, reviewer=403, annotator=403),
        target=image_reviewed_elsewhere,
        subject="reviewer",
        page=False,
        variant="another reviewer's",
    ),
    Case("review-viewer", REVIEWERS_ONLY, target=review_image, subject="reviewer"),
    Case(
        "review-viewer",
        _statuses(**_STAFF, reviewer=403, annotator=403),
        target=image_reviewed_elsewhere,
        subject="reviewer",
        variant="another reviewer's",
    ),
    Case("image-pixels", EVERY_MEMBER, target=visible_image, page=False),
    Case(
        "image-pixels",
        _statuses(**_STAFF, reviewer=200, annotator=404),
        target=image_of_others,
        page=False,
        variant="no task on it",
    ),
    Case(
        "review-decide",
        _statuses(admin=302, lead=302, reviewer=302, annotator=403),
        target=review_submission,
        subject="reviewer",
        method="POST",
        data={"decision": "accept"},
        changed=_decided,
        page=False,
    ),
    Case(
        "review-label",
        _statuses(admin=302, lead=302, reviewer=302, annotator=403),
        target=label_image,
        subject="reviewer",
        method="POST",
        data={"source": "consensus"},
        changed=_labelled,
        page=False,
    ),
    Case("task-submit", ANNOTATORS_ONLY, target=own_task, prepare=_acknowledge_all),
    Case(
        "task-submit",
        _statuses(admin=403, lead=403, reviewer=403, annotator=302),
        target=own_task,
        variant="guideline not acknowledged",
    ),
    Case(
        "task-submit",
        _statuses(admin=403, lead=403, reviewer=403, annotator=404),
        target=others_task,
        variant="another annotator's",
    ),
    Case("my-reviews", ANNOTATORS_ONLY),
    Case("my-review", FEEDBACK, target=own_reviewed),
    Case(
        "my-review",
        _statuses(**_STAFF, reviewer=404, annotator=404),
        target=others_reviewed,
        variant="another annotator's",
    ),
    Case("my-review-picture", FEEDBACK, target=own_reviewed, page=False),
    Case(
        "my-review-picture",
        _statuses(**_STAFF, reviewer=404, annotator=404),
        target=others_reviewed,
        page=False,
        variant="another annotator's",
    ),
    Case("my-style", ANNOTATORS_ONLY),
]


def url_of(case: Case, project: Project, subject: Any) -> str | None:
    """The case's URL in ``project`` for ``subject`` (None when no target fits)."""
    args = case.target(project, subject)
    if args is None:
        return None
    needs_slug = case.url_name not in {"home", "login", "logout"}
    return reverse(case.url_name, args=[project.slug, *args] if needs_slug else [])


def site_url_names() -> set[str]:
    return {
        pattern.name
        for module in (project_urls, qc_urls)
        for pattern in module.urlpatterns
        if isinstance(pattern, URLPattern)
    }


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
        project=project, title="Bubbles", body=body, author=users["lead"], publish=True
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


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The project, built once for the module in a transaction rolled back at its end;
    each test's own transaction (a savepoint inside) undoes what the test did."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def _request(client: Any, case: Case, url: str) -> Any:
    if case.method == "POST":
        return client.post(url, case.data)
    return client.get(url)


def _cells() -> list[Any]:
    return [pytest.param(case, role, id=f"{case.id}-{role}") for case in CASES for role in ROLES]


@pytest.mark.parametrize(("case", "role"), _cells())
def test_each_role_gets_its_status(db, client, world, case, role):
    subject = world.users[case.subject]
    if case.prepare is not None:
        case.prepare(subject)
    args = case.target(world.project, subject)
    assert args is not None, f"{case.id}: the test project has no target for it"
    url = url_of(case, world.project, subject)
    if role != "anonymous":
        client.force_login(world.users[role])

    response = _request(client, case, url)

    expected = case.expect[role]
    if expected == LOGIN:
        assert response.status_code == 302, f"{case.method} {url}: {response.status_code}"
        assert response["Location"].startswith(reverse("login")), response["Location"]
    else:
        assert response.status_code == expected, f"{case.method} {url} as {role}"
    if role == "annotator" and response.status_code == 200 and case.page:
        # Blind: nothing of another annotator's work reaches an annotator's page.
        assert b"other_annotator" not in response.content, f"{url} names another annotator"
    if case.changed is not None:
        did = expected == 302 and role != "anonymous"
        assert case.changed(args) == did, f"{case.method} {url} as {role}: changed is not {did}"


def test_every_page_has_a_row():
    assert site_url_names() - {case.url_name for case in CASES} == set()


def test_an_outsider_never_learns_a_project_exists():
    for case in CASES:
        if case.url_name not in {"home", "login", "logout"}:
            assert case.expect["outsider"] == 404, case.id


def test_post_only_routes_refuse_get(db, client, world):
    client.force_login(world.users["lead"])
    for case in CASES:
        if case.method == "POST" and case.url_name != "logout":
            url = url_of(case, world.project, world.users[case.subject])
            assert client.get(url).status_code == 405, url
