"""The overview, the lead's landing page: what needs attention first (images waiting for
review, sent back for rework, overdue tasks, unassigned images), then the counts, each
linking to the filtered list behind it and equal to what that list holds; links to the
dashboards; reviewers get links only to what they may open; a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import Role, TaskStatus
from projects.pages import project_page
from projects.selectors import project_overview
from qc.models import ReviewAssignment
from tests.factories import ImageFactory, TaskFactory


def overview(client, project):
    return client.get(reverse("project-overview", args=[project.slug]))


@pytest.fixture
def work(project, annotator, other_annotator):
    """Two images in review, one with a rejected task, one unassigned, one being annotated
    with a task overdue since yesterday."""
    for _ in range(2):
        TaskFactory(
            image=ImageFactory(project=project), annotator=annotator, status=TaskStatus.SUBMITTED
        )
    TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, status=TaskStatus.REJECTED
    )
    ImageFactory(project=project)
    TaskFactory(
        image=ImageFactory(project=project),
        annotator=other_annotator,
        due_date=timezone.localdate() - timedelta(days=1),
    )


def test_overview_puts_what_needs_attention_first(client, project, lead, work):
    client.force_login(lead)

    response = overview(client, project)

    assert response.status_code == 200
    context = response.context
    assert (context["waiting"], context["rework"], context["overdue"], context["unassigned"]) == (
        2,
        1,
        1,
        1,
    )
    html = response.content.decode()
    assert html.index('id="attention"') < html.index('id="image-states"')
    assert 'id="waiting-count" href="/p/bubbles/images/?state=in_review">2</a>' in html
    assert 'id="attention-rework" href="/p/bubbles/images/?state=needs_rework"' in html
    assert 'id="attention-overdue" href="/p/bubbles/assignment/tasks/?overdue=1"' in html
    assert 'id="attention-unassigned" href="/p/bubbles/images/?state=unassigned"' in html


def test_overview_links_every_count_of_a_lead_to_its_filtered_list(client, project, lead, work):
    client.force_login(lead)

    html = overview(client, project).content.decode()

    for state, n in [
        ("unassigned", 1),
        ("annotating", 1),
        ("in_review", 2),
        ("needs_rework", 1),
        ("accepted", 0),
    ]:
        assert f'<a href="/p/bubbles/images/?state={state}">{n}</a>' in html, state
    for status, n in [("assigned", 1), ("submitted", 2), ("rejected", 1), ("cancelled", 0)]:
        assert f'<a href="/p/bubbles/assignment/tasks/?status={status}">{n}</a>' in html, status
    assert '<a href="/p/bubbles/images/" id="images-total">5</a>' in html
    assert '<a href="/p/bubbles/assignment/tasks/" id="tasks-total">4</a>' in html
    assert '<a href="/p/bubbles/settings/members/" id="members-total">3</a>' in html
    assert f'href="{reverse("project-funnel", args=["bubbles"])}"' in html
    assert 'id="agreement-link" href="/p/bubbles/dashboard/"' in html


def test_overview_of_a_reviewer_links_only_to_pages_a_reviewer_opens(
    client, project, reviewer, work
):
    client.force_login(reviewer)

    response = overview(client, project)

    html = response.content.decode()
    assert response.status_code == 200
    assert "/images/" not in html
    assert "/assignment/tasks/" not in html
    assert "/settings/members/" not in html
    # Every image in review is counted; the reviewer's queue holds only those assigned to
    # them, so the count is no link to it.
    assert '<span class="number" id="waiting-count">2</span>' in html
    assert '<tr data-state="in_review"><th>In review</th><td>2</td></tr>' in html
    assert f'href="{reverse("project-funnel", args=["bubbles"])}"' in html
    assert 'id="attention-overdue"' in html


def overview_of(user, project, role):
    """The overview as it reads with ``user``'s own review queue counted."""
    request = RequestFactory().get(reverse("project-overview", args=[project.slug]))
    request.user = user
    context = project_overview(project=project, user=user)
    return project_page(request, "projects/overview.html", project=project, role=role, **context)


def test_overview_says_how_many_of_those_in_review_are_in_the_reviewers_queue(
    client, project, reviewer, work
):
    """Two images are in review, one assigned to the reviewer: the tile says 2 and links
    "1 in your review queue" to the queue, which shows that one."""
    first = project.images.filter(tasks__status=TaskStatus.SUBMITTED).order_by("pk").first()
    ReviewAssignment.objects.create(image=first, reviewer=reviewer)
    client.force_login(reviewer)

    html = overview_of(reviewer, project, Role.REVIEWER).content.decode()
    queue = client.get(reverse("review-queue", args=[project.slug])).context["queue"]

    assert '<span class="number" id="waiting-count">2</span>' in html
    assert '<a id="waiting-queue" href="/p/bubbles/review/">1 in your review queue</a>' in html
    assert queue.waiting == 1
    assert [card.image for card in queue.cards] == [first]


def test_overview_counts_a_leads_queue_without_what_the_lead_annotated(client, project, lead, work):
    TaskFactory(image=ImageFactory(project=project), annotator=lead, status=TaskStatus.SUBMITTED)
    client.force_login(lead)

    html = overview_of(lead, project, Role.LEAD).content.decode()
    listed = client.get("/p/bubbles/images/?state=in_review").context["listing"].matching
    queued = client.get(reverse("review-queue", args=[project.slug])).context["queue"].waiting

    assert 'id="waiting-count" href="/p/bubbles/images/?state=in_review">3</a>' in html
    assert '<a id="waiting-queue" href="/p/bubbles/review/">2 in your review queue</a>' in html
    assert (listed, queued) == (3, 2)


def test_overview_of_an_empty_project_says_nothing_waits(client, project, lead):
    client.force_login(lead)

    html = overview(client, project).content.decode()

    assert "nothing is in review" in html
    assert "nothing is in review" in overview_of(lead, project, Role.LEAD).content.decode()
    assert "every open task is within its due date" in html


@pytest.mark.parametrize("count", [1, 3])
def test_overview_fixed_query_count(client, project, lead, annotator, count):
    for n in range(count):
        TaskFactory(
            image=ImageFactory(project=project),
            annotator=annotator,
            status=TaskStatus.REJECTED if n else TaskStatus.ASSIGNED,
            due_date=timezone.localdate() - timedelta(days=n + 1),
        )
    client.force_login(lead)

    # session, user, project, membership; tasks by status, images by state, members by
    # role, overdue tasks, the lead's own review queue
    with CaptureQueriesContext(connection) as queries:
        response = overview(client, project)

    assert response.context["overdue"] == count
    assert response.context["members"][0] == (Role.LEAD.value, "Lead", 1)
    assert len(queries.captured_queries) == 9, [q["sql"] for q in queries.captured_queries]


def test_each_role_count_opens_the_members_of_that_role(client, project, lead, annotator):
    client.force_login(lead)

    page = overview(client, project).content.decode()

    members = reverse("project-members", args=[project.slug])
    for role in ("lead", "reviewer", "annotator"):
        assert f'href="{members}?role={role}"' in page
