"""Pages: login, home routing by role, overview counts, my tasks."""

import pytest
from django.urls import reverse

from projects.models import TaskStatus
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, TaskFactory


def test_login_page_renders(client, db):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b"Log in to MaskQC" in response.content


def test_home_anonymous_goes_to_login(client, db):
    response = client.get(reverse("home"))

    assert (response.status_code, response.url) == (302, "/login/?next=/")


@pytest.mark.parametrize(
    "who,target",
    [
        ("lead", "/p/bubbles/"),
        ("reviewer", "/p/bubbles/review/"),
        ("annotator", "/p/bubbles/tasks/"),
        ("admin_user", "/p/bubbles/"),
    ],
)
def test_home_sends_each_role_to_its_work(client, request, project, who, target):
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse("home"))

    assert (response.status_code, response.url) == (302, target)


def test_home_with_several_projects_lists_them(client, project, annotator):
    other = ProjectFactory(slug="droplets", name="Droplets")
    MembershipFactory(project=other, user=annotator, role="reviewer")
    client.force_login(annotator)

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert [(p.slug, role, target) for p, role, target in response.context["entries"]] == [
        ("droplets", "reviewer", "review-queue"),
        ("bubbles", "annotator", "my-tasks"),
    ]


def test_login_post_lands_annotator_on_tasks(client, annotator):
    response = client.post(
        reverse("login"), {"username": "annotator", "password": "password"}, follow=True
    )

    assert response.redirect_chain[-1] == ("/p/bubbles/tasks/", 302)


@pytest.mark.parametrize("name", ["project-overview", "my-tasks"])
def test_project_pages_outsider_gets_404(client, project, outsider, name):
    client.force_login(outsider)

    response = client.get(reverse(name, args=[project.slug]))

    assert response.status_code == 404
    assert project.name.encode() not in response.content


def test_overview_annotator_gets_403(client, project, annotator):
    client.force_login(annotator)

    assert client.get(reverse("project-overview", args=[project.slug])).status_code == 403


def test_overview_counts_tasks_and_image_states(client, project, lead, annotator, other_annotator):
    annotating = ImageFactory(project=project)
    TaskFactory(image=annotating, annotator=annotator, status=TaskStatus.ASSIGNED)
    TaskFactory(image=annotating, annotator=other_annotator, status=TaskStatus.SUBMITTED)
    in_review = ImageFactory(project=project)
    TaskFactory(image=in_review, annotator=annotator, status=TaskStatus.SUBMITTED)
    for _ in range(2):
        rework = ImageFactory(project=project)
        TaskFactory(image=rework, annotator=annotator, status=TaskStatus.REJECTED)
        TaskFactory(image=rework, annotator=other_annotator, status=TaskStatus.ACCEPTED)
    ImageFactory(project=project)
    client.force_login(lead)

    response = client.get(reverse("project-overview", args=[project.slug]))

    images = {key: n for key, _, n in response.context["images"]}
    tasks = {key: n for key, _, n in response.context["tasks"]}
    assert images == {
        "unassigned": 1,
        "annotating": 1,
        "in_review": 1,
        "needs_rework": 2,
        "accepted": 0,
    }
    assert tasks == {
        "assigned": 1,
        "in_progress": 0,
        "submitted": 2,
        "accepted": 2,
        "rejected": 2,
        "cancelled": 0,
    }


@pytest.mark.parametrize("count", [1, 3])
def test_my_tasks_fixed_query_count(
    client, project, annotator, other_annotator, django_assert_num_queries, count
):
    for _ in range(count):
        TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    TaskFactory(image=ImageFactory(project=project), annotator=other_annotator)
    client.force_login(annotator)

    # session, user, project, membership, tasks, their submissions and send-backs, the
    # current guideline versions
    with django_assert_num_queries(8):
        response = client.get(reverse("my-tasks", args=[project.slug]))

    assert len(response.context["tasks"]) == count


def test_my_tasks_shows_only_own_tasks(client, project, annotator, other_annotator):
    TaskFactory(image=ImageFactory(project=project, name="mine.png"), annotator=annotator)
    TaskFactory(image=ImageFactory(project=project, name="theirs.png"), annotator=other_annotator)
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    assert [t.image.name for t in response.context["tasks"]] == ["mine.png"]
    assert b"theirs.png" not in response.content
