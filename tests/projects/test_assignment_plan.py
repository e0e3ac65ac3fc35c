"""The assignment's planner: the preview (task_assign_plan) is what task_assign creates,
writes nothing, reports images short of their planned annotators, and is refused to all
but leads and admins."""

from collections import Counter

import pytest

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Task, TaskStatus
from projects.services.tasks import task_assign, task_assign_plan, task_cancel
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)


def _annotators(project, *names):
    users = [UserFactory(username=name) for name in names]
    for user in users:
        MembershipFactory(project=project, user=user, role="annotator")
    return users


def _images(project, n, prefix="img"):
    return [ImageFactory(project=project, name=f"{prefix}_{i:02d}.png") for i in range(n)]


def _pairs(tasks):
    return [(task.image.name, task.annotator.username) for task in tasks]


def test_plan_is_what_the_assignment_creates(project, lead):
    _annotators(project, "anna", "ben", "cleo")
    images = _images(project, 7)
    arguments = dict(images=images, overlap=2, overlap_fraction=3 / 7, seed=5)

    plan = task_assign_plan(project=project, actor=lead, **arguments)
    created = task_assign(project=project, actor=lead, expect=plan.digest, **arguments)

    assert [(i.name, a.username) for i, a in plan.tasks] == _pairs(created)
    assert (plan.single, plan.overlapped) == (4, 3)
    assert len(created) == 4 + 3 * 2
    loads = {load.annotator.username: (load.before, load.new, load.after) for load in plan.loads}
    assert loads == {"anna": (0, 4, 4), "ben": (0, 3, 3), "cleo": (0, 3, 3)}
    assert Counter(t.annotator.username for t in created) == {"anna": 4, "ben": 3, "cleo": 3}


def test_plan_writes_nothing(project, lead):
    _annotators(project, "anna", "ben")
    images = _images(project, 3)

    plan = task_assign_plan(project=project, images=images, actor=lead)

    assert len(plan.tasks) == 6
    assert Task.objects.count() == 0
    assert AuditEvent.objects.filter(verb="task.assign").count() == 0


def test_plan_weighs_open_load_in_this_project_only(project, lead):
    anna, ben = _annotators(project, "anna", "ben")
    elsewhere = ProjectFactory(slug="elsewhere")
    for image in _images(elsewhere, 3, prefix="other"):
        TaskFactory(image=image, annotator=ben)
    for image in _images(project, 2, prefix="here"):
        TaskFactory(image=image, annotator=anna)
    TaskFactory(image=ImageFactory(project=project), annotator=anna, status=TaskStatus.ACCEPTED)

    plan = task_assign_plan(
        project=project, images=_images(project, 4), actor=lead, overlap_fraction=0.0
    )

    loads = {load.annotator.username: (load.before, load.new, load.after) for load in plan.loads}
    # ben's three open tasks elsewhere are neither shown nor weighed: he takes two until he
    # has anna's two open ones here; the tie goes to anna by name, then ben again.
    assert loads == {"anna": (2, 1, 3), "ben": (0, 3, 3)}


def test_plan_names_images_that_cannot_get_their_planned_annotators(project, lead):
    anna, _ = _annotators(project, "anna", "ben")
    had = ImageFactory(project=project, name="had.png")
    TaskFactory(image=had, annotator=anna, status=TaskStatus.CANCELLED)
    fresh = ImageFactory(project=project, name="fresh.png")

    plan = task_assign_plan(project=project, images=[had, fresh], actor=lead, overlap=3)

    assert [(s.image.name, s.planned, s.gets) for s in plan.short] == [
        ("had.png", 3, 1),
        ("fresh.png", 3, 2),
    ]
    assert [(i.name, a.username) for i, a in plan.tasks] == [
        ("had.png", "ben"),
        ("fresh.png", "anna"),
        ("fresh.png", "ben"),
    ]


def test_a_cancelled_task_leaves_its_image_to_someone_else(project, lead):
    anna, _ = _annotators(project, "anna", "ben")
    image = ImageFactory(project=project, name="a.png")
    project.overlap_fraction = 0.0
    (task,) = task_assign(project=project, images=[image], actor=lead)
    task_cancel(task=task, actor=lead)

    again = task_assign(project=project, images=[image], actor=lead)

    assert _pairs(again) == [("a.png", "ben" if task.annotator == anna else "anna")]
    assert Task.objects.filter(image=image).count() == 2


def test_images_with_their_planned_annotators_are_complete(project, lead):
    _annotators(project, "anna", "ben")
    images = _images(project, 2)
    task_assign(project=project, images=images[:1], actor=lead)

    plan = task_assign_plan(project=project, images=images, actor=lead)

    assert plan.complete == 1
    assert [i.name for i, _ in plan.tasks] == ["img_01.png", "img_01.png"]


def test_assignment_refuses_a_plan_that_changed_since_its_preview(project, lead):
    _annotators(project, "anna", "ben", "cleo")
    images = _images(project, 2)
    plan = task_assign_plan(project=project, images=images, actor=lead, overlap_fraction=0.0)
    # Meanwhile someone else assigns anna an image: the balance now picks differently.
    task_assign(project=project, images=_images(project, 1, prefix="x"), actor=lead)

    with pytest.raises(ConflictError, match="changed since its preview"):
        task_assign(
            project=project,
            images=images,
            actor=lead,
            overlap_fraction=0.0,
            expect=plan.digest,
        )

    assert Task.objects.filter(image__in=images).count() == 0


@pytest.mark.parametrize(
    ("overlap", "fraction", "message"),
    [(0, None, "at least 1"), (True, None, "at least 1"), (None, 1.5, "between 0 and 1")],
)
def test_plan_refuses_an_impossible_overlap(project, lead, overlap, fraction, message):
    _annotators(project, "anna")

    with pytest.raises(ApplicationError, match=message):
        task_assign_plan(
            project=project,
            images=_images(project, 1),
            actor=lead,
            overlap=overlap,
            overlap_fraction=fraction,
        )


def test_assignment_refuses_images_of_another_project(project, lead):
    _annotators(project, "anna")
    foreign = ImageFactory(project=ProjectFactory(slug="other"), name="foreign.png")

    with pytest.raises(ApplicationError, match=r"Not images of bubbles: foreign\.png"):
        task_assign(project=project, images=[foreign], actor=lead)

    assert Task.objects.count() == 0


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("annotator", 403)])
def test_plan_is_for_leads_and_admins(request, project, who, status):
    _annotators(project, "anna")
    user = request.getfixturevalue(who)

    with pytest.raises(ApplicationError) as refused:
        task_assign_plan(project=project, images=_images(project, 1), actor=user)

    assert refused.value.status == status


def test_plan_is_hidden_from_an_outsider(project, outsider):
    _annotators(project, "anna")

    with pytest.raises(ApplicationError) as refused:
        task_assign_plan(project=project, images=_images(project, 1), actor=outsider)

    assert refused.value.status == 404


def test_an_admin_plans_too(project, admin_user):
    _annotators(project, "anna")

    plan = task_assign_plan(project=project, images=_images(project, 1), actor=admin_user)

    assert [(i.name, a.username) for i, a in plan.tasks] == [("img_00.png", "anna")]
