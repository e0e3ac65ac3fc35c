"""Annotators who cannot log in (an import's accounts, without a usable password, and
inactive users) hold imported work only: no work is offered to them by default, and the
acknowledgement counts leave them out. And the assignment page says which chosen
annotators cannot submit yet because they owe an acknowledgement."""

import pytest
from django.urls import reverse

from projects.models import Task, TaskStatus
from projects.selectors.guidelines import (
    AckFilter,
    guideline_acknowledgements_page,
    guideline_editor_page,
)
from projects.services.guidelines import guideline_acknowledge
from projects.services.members import membership_rebalance_plan, membership_remove
from projects.services.tasks import task_assign, task_assign_plan
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory
from tests.projects.guideline_support import published_v1


@pytest.fixture
def people(project):
    """anna and ben can log in; Person1_Amira was made by an import (no usable password);
    zed is inactive. All four are annotators of the project."""
    users = {
        "anna": UserFactory(username="anna"),
        "ben": UserFactory(username="ben"),
        "Person1_Amira": UserFactory(username="Person1_Amira", password=None),
        "zed": UserFactory(username="zed", is_active=False),
    }
    users["Person1_Amira"].set_unusable_password()
    users["Person1_Amira"].save()
    for user in users.values():
        MembershipFactory(project=project, user=user, role="annotator")
    return users


def _images(project, n):
    return [ImageFactory(project=project, name=f"img{i}.png") for i in range(n)]


def test_assignment_without_annotators_named_goes_to_those_who_can_log_in(project, lead, people):
    images = _images(project, 6)
    plan = task_assign_plan(project=project, images=images, actor=lead, overlap=1)
    assert {load.annotator.username for load in plan.loads} == {"anna", "ben"}
    created = task_assign(project=project, images=images, actor=lead, overlap=1)
    assert {task.annotator.username for task in created} == {"anna", "ben"}


def test_an_import_account_named_explicitly_may_still_be_given_work(project, lead, people):
    images = _images(project, 2)
    created = task_assign(
        project=project, images=images, actor=lead, annotators=[people["Person1_Amira"]]
    )
    assert {task.annotator.username for task in created} == {"Person1_Amira"}


def test_removing_an_annotator_hands_their_tasks_only_to_those_who_can_log_in(
    project, lead, people
):
    images = _images(project, 4)
    for image in images:
        TaskFactory(image=image, annotator=people["anna"])
    membership = project.memberships.get(user=people["anna"])
    preview = membership_rebalance_plan(membership=membership, actor=lead)
    assert {new.annotator.username for _, new in preview.moved} == {"ben"}
    result = membership_remove(membership=membership, actor=lead)
    assert {new.annotator.username for _, new in result.moved} == {"ben"}
    assert not Task.objects.filter(annotator__in=[people["Person1_Amira"], people["zed"]]).exists()


def test_removing_the_last_annotator_who_can_log_in_cancels_their_tasks(project, lead, people):
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=people["anna"])
    people["ben"].is_active = False
    people["ben"].save()
    result = membership_remove(membership=project.memberships.get(user=people["anna"]), actor=lead)
    assert not result.moved
    assert [task.status for task in Task.objects.filter(image=image)] == [TaskStatus.CANCELLED]


def test_the_assignment_form_ticks_only_annotators_who_can_log_in(client, project, lead, people):
    client.force_login(lead)
    response = client.get(reverse("project-assignment", args=[project.slug]))
    assert sorted(response.context["form"].initial["annotator"]) == ["anna", "ben"]
    html = response.content.decode()
    assert 'value="Person1_Amira">' in html  # listed, not ticked
    assert 'value="anna" checked' in html
    assert html.count("cannot log in — work imported only") == 2


def test_acknowledgement_counts_are_of_annotators_who_can_log_in(project, lead, people):
    version = published_v1(project, lead)
    guideline_acknowledge(version=version, user=people["anna"])
    page = guideline_acknowledgements_page(project=project, wanted=AckFilter())
    assert page["annotators"] == 2
    assert page["without_login"] == 2
    assert [row.membership.user.username for row in page["rows"]] == ["anna", "ben"]
    editor = guideline_editor_page(project=project)
    assert editor["annotators"] == 2
    assert editor["guidelines"][0]["current"].acknowledged == 1
    assert editor["guidelines"][0]["current"].pending == 1


def test_acknowledgements_page_says_who_is_left_out(client, project, lead, people):
    published_v1(project, lead)
    client.force_login(lead)
    html = client.get(reverse("guideline-acknowledgements", args=[project.slug])).content.decode()
    assert "0 of 2" in html
    assert "2 annotators were created by an import and cannot log in" in html
    editor = client.get(reverse("guideline-editor", args=[project.slug])).content.decode()
    assert "2 created by an import, who cannot, are left out" in editor


def test_the_assignment_page_marks_annotators_who_owe_an_acknowledgement(
    client, project, lead, people
):
    version = published_v1(project, lead)
    guideline_acknowledge(version=version, user=people["anna"])
    ImageFactory(project=project, name="a.png")
    client.force_login(lead)
    url = reverse("project-assignment", args=[project.slug])
    page = client.get(url)
    assert page.context["page"].owing == {
        "ben": ("Bubbles v1",),
        "Person1_Amira": ("Bubbles v1",),
        "zed": ("Bubbles v1",),
    }
    html = page.content.decode()
    assert "owes Bubbles v1" in html
    acks = reverse("guideline-acknowledgements", args=[project.slug]) + "?blocked=1"
    assert acks in html
    preview = client.get(
        url, {"batch": "unassigned", "count": "1", "annotator": ["anna", "ben"], "preview": "1"}
    )
    assert preview.context["owing_chosen"] == [("ben", ("Bubbles v1",))]
    assert 'id="preview-owing"' in preview.content.decode()


def test_no_owing_warning_when_every_chosen_annotator_acknowledged(client, project, lead, people):
    version = published_v1(project, lead)
    guideline_acknowledge(version=version, user=people["anna"])
    ImageFactory(project=project, name="a.png")
    client.force_login(lead)
    preview = client.get(
        reverse("project-assignment", args=[project.slug]),
        {"batch": "unassigned", "count": "1", "annotator": ["anna"], "preview": "1"},
    )
    assert preview.context["owing_chosen"] == []
    assert 'id="preview-owing"' not in preview.content.decode()
