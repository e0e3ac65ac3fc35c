"""A NUL byte (which PostgreSQL refuses in text) typed or sent into the lead's forms is
refused as a bad value, with the page or a message, never an error page: every value that
reaches a query is read through a form field first."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import Membership, Project, Task, TaskStatus
from tests.factories import ImageFactory, TaskFactory

NUL = "ann\x00otator"


@pytest.fixture
def task(project, annotator, other_annotator):
    return TaskFactory(image=ImageFactory(project=project, name="a.png"), annotator=annotator)


def test_reassigning_to_a_name_with_nul_is_a_message(client, project, lead, task):
    client.force_login(lead)

    response = client.post(
        reverse("task-reassign", args=[project.slug, task.pk]), {"annotator": NUL}, follow=True
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "Choose the annotator to give a.png to."
    ]
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("project-images", {"annotator": NUL, "q": NUL}),
        ("project-task-list", {"annotator": NUL, "image": NUL}),
        ("project-assignment", {"batch": NUL, "state": NUL, "count": NUL}),
        ("project-assignment", {"preview": "1", "batch": "unassigned", "annotator": NUL}),
    ],
)
def test_lists_and_the_assignment_form_with_nul_are_pages(client, project, lead, task, name, query):
    client.force_login(lead)

    response = client.get(reverse(name, args=[project.slug]), query)

    assert response.status_code == 200


def test_assigning_to_a_name_with_nul_is_a_form_error(client, project, lead, annotator):
    image = ImageFactory(project=project)
    client.force_login(lead)

    response = client.post(
        reverse("task-assign", args=[project.slug]),
        {"batch": "selected", "image": [image.pk], "annotator": [NUL]},
    )

    assert response.status_code == 400
    assert "annotator" in response.context["form"].errors
    assert not Task.objects.filter(image=image).exists()


def test_adding_a_member_with_nul_is_a_form_error(client, project, lead):
    client.force_login(lead)

    response = client.post(
        reverse("project-members", args=[project.slug]), {"username": NUL, "role": "annotator"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert Membership.objects.filter(project=project).count() == 1


def test_creating_a_project_with_nul_is_a_form_error(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("project-create"), {"slug": "new", "name": NUL, "labels": f"bubble{NUL}"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Project.objects.filter(slug="new").exists()


def test_role_change_with_nul_is_a_message(client, project, lead, annotator):
    membership = Membership.objects.get(project=project, user=annotator)
    client.force_login(lead)

    response = client.post(
        reverse("project-member-role", args=[project.slug, membership.pk]),
        {"role": NUL, "plan": NUL},
        follow=True,
    )

    assert response.status_code == 200
    assert Membership.objects.get(pk=membership.pk).role == "annotator"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("api-task-reassign", {"annotator": NUL}),
        ("api-task-assign", {"images": "task image", "annotators": [NUL]}),
        ("api-members", {"username": NUL, "role": "annotator"}),
    ],
)
def test_the_api_refuses_nul_as_a_bad_field(project, lead, task, name, body):
    api = APIClient()
    api.force_authenticate(lead)
    args = [project.slug, task.pk] if name == "api-task-reassign" else [project.slug]
    if body.get("images") == "task image":
        body = {**body, "images": [ImageFactory(project=project).pk]}

    response = api.post(reverse(name, args=args), body, format="json")

    assert response.status_code == 400
    assert Task.objects.filter(image__project=project).count() == 1
