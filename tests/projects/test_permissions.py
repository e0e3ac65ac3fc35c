"""DESIGN §10: who may do what. Every table row, for every role, including the outsider."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from projects.permissions import (
    ADMIN,
    Action,
    check_permission,
    has_permission,
    may_review_image,
    may_see_submission,
    may_submit_task,
    project_for,
    project_role,
)
from qc.models import ReviewAssignment, Submission
from tests.factories import ImageFactory, TaskFactory, UserFactory

# The table of DESIGN §10, project-level rights (object-level rules are tested below).
EXPECTED = {
    Action.MANAGE_PROJECT: {"admin", "lead"},
    Action.WRITE_GUIDELINES: {"admin", "lead"},
    Action.READ_GUIDELINES: {"admin", "lead", "reviewer", "annotator"},
    Action.ACKNOWLEDGE_GUIDELINES: {"annotator"},
    Action.ASSIGN_TASKS: {"admin", "lead"},
    Action.SUBMIT: {"annotator"},
    Action.SEE_ALL_SUBMISSIONS: {"admin", "lead"},
    Action.REVIEW: {"admin", "lead", "reviewer"},
    Action.VIEW_AGREEMENT: {"admin", "lead", "reviewer"},
    Action.VIEW_OWN_STYLE: {"annotator"},
    Action.EXPORT: {"admin", "lead"},
    Action.VIEW_PROJECT: {"admin", "lead", "reviewer", "annotator"},
    Action.VIEW_OVERVIEW: {"admin", "lead", "reviewer"},
}


@pytest.fixture
def users(admin_user, lead, reviewer, annotator, outsider):
    return {
        "admin": admin_user,
        "lead": lead,
        "reviewer": reviewer,
        "annotator": annotator,
        "outsider": outsider,
    }


def test_project_role_for_each_user(project, users):
    roles = {name: project_role(user=user, project=project) for name, user in users.items()}

    assert roles == {
        "admin": ADMIN,
        "lead": "lead",
        "reviewer": "reviewer",
        "annotator": "annotator",
        "outsider": None,
    }


@pytest.mark.parametrize("action", list(Action))
def test_has_permission_matches_design_table(project, users, action):
    allowed = {
        name
        for name, user in users.items()
        if has_permission(user=user, project=project, action=action)
    }

    assert allowed == EXPECTED[action]


@pytest.mark.parametrize("action", list(Action))
def test_check_permission_outsider_gets_404_for_every_action(project, outsider, action):
    with pytest.raises(Http404):
        check_permission(user=outsider, project=project, action=action)


def test_check_permission_member_without_right_gets_403(project, annotator):
    with pytest.raises(PermissionDenied):
        check_permission(user=annotator, project=project, action=Action.EXPORT)


def test_project_for_unknown_slug_and_outsider_are_indistinguishable(project, outsider):
    with pytest.raises(Http404) as unknown:
        project_for(user=outsider, slug="no-such-project")
    with pytest.raises(Http404) as hidden:
        project_for(user=outsider, slug=project.slug)

    assert str(unknown.value) == str(hidden.value)


def test_inactive_staff_has_no_role(project):
    user = UserFactory(username="retired", is_staff=True, is_active=False)

    assert project_role(user=user, project=project) is None


def test_may_submit_task_only_own_task(project, annotator, other_annotator, lead):
    task = TaskFactory(image=ImageFactory(project=project), annotator=annotator)

    assert [may_submit_task(user=u, task=task) for u in (annotator, other_annotator, lead)] == [
        True,
        False,
        False,
    ]


def test_may_review_image_reviewer_needs_assignment_and_never_own_work(
    project, reviewer, lead, annotator, admin_user, outsider
):
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=annotator)
    before = may_review_image(user=reviewer, image=image)
    ReviewAssignment.objects.create(image=image, reviewer=reviewer)

    after = {
        u.username: may_review_image(user=u, image=image)
        for u in (reviewer, lead, annotator, admin_user, outsider)
    }

    assert before is False
    assert after == {
        "reviewer": True,
        "lead": True,
        "annotator": False,
        "admin": True,
        "outsider": False,
    }


def test_may_review_image_lead_who_annotated_may_not(project, lead):
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=lead)

    assert may_review_image(user=lead, image=image) is False


def test_may_see_submission_per_role(
    project, admin_user, lead, reviewer, annotator, other_annotator, outsider
):
    image = ImageFactory(project=project)
    submission = Submission.objects.create(
        task=TaskFactory(image=image, annotator=annotator), revision=1
    )
    unassigned = {
        u.username: may_see_submission(user=u, submission=submission)
        for u in (admin_user, lead, reviewer, annotator, other_annotator, outsider)
    }
    ReviewAssignment.objects.create(image=image, reviewer=reviewer)

    assert unassigned == {
        "admin": True,
        "lead": True,
        "reviewer": False,
        "annotator": True,
        "other_annotator": False,
        "outsider": False,
    }
    assert may_see_submission(user=reviewer, submission=submission) is True
