"""The overview, the lead's landing page: what needs attention first (images waiting for
review, sent back for rework, overdue tasks, unassigned images), then the counts, each
linking to the filtered list behind it; links to the dashboards; reviewers get links only
to what they may open; a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import Role, TaskStatus
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
    assert 'id="attention-waiting" href="/p/bubbles/review/"' in html
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
    assert html.count('href="/p/bubbles/review/"') >= 2  # the tile and the in-review count
    assert f'href="{reverse("project-funnel", args=["bubbles"])}"' in html
    assert 'id="attention-overdue"' in html


def test_overview_of_an_empty_project_says_nothing_waits(client, project, lead):
    client.force_login(lead)

    html = overview(client, project).content.decode()

    assert "the review queue is empty" in html
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
    # role, overdue tasks
    with CaptureQueriesContext(connection) as queries:
        response = overview(client, project)

    assert response.context["overdue"] == count
    assert response.context["members"][0] == (Role.LEAD.value, "Lead", 1)
    assert len(queries.captured_queries) == 8, [q["sql"] for q in queries.captured_queries]
