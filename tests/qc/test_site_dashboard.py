"""The site admin's page of all projects: one row per project with its counts, each linking
into the project, the headline pq from the stored agreement summary, the last activity;
staff only; the same number of queries whatever the number of projects."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import AuditEvent, Role, TaskStatus
from qc.models import AgreementSummary, ImageLabel, ReviewAssignment
from tests.factories import ImageFactory, MembershipFactory, ProjectFactory, TaskFactory

URL = "/dashboard/"


def stocked(project, annotator, *, images: int = 1):
    """``images`` images in review (with a reviewer), one unassigned, one open task and an
    accepted image; an agreement summary; and an audit event."""
    for _ in range(images):
        image = ImageFactory(project=project)
        TaskFactory(image=image, annotator=annotator, status=TaskStatus.SUBMITTED)
        ReviewAssignment.objects.create(image=image, reviewer=annotator)
    ImageFactory(project=project)
    TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    accepted = ImageFactory(project=project)
    TaskFactory(image=accepted, annotator=annotator, status=TaskStatus.ACCEPTED)
    ImageLabel.objects.create(image=accepted, from_consensus=True)
    AgreementSummary.objects.create(
        project=project,
        report={
            "images": 7,
            "summary": {"pq": 0.8123, "pq_ci95": [0.75, 0.86]},
            "pairs": [{"image": "never read", "pq": 0.1}],
        },
    )
    AuditEvent.objects.create(project=project, verb="test.event", object_type="x", object_id="1")


def test_site_dashboard_shows_each_project_with_its_counts(client, admin_user, project, annotator):
    stocked(project, annotator, images=2)
    empty = ProjectFactory(slug="another", name="Another project")
    client.force_login(admin_user)

    response = client.get(URL)

    assert response.status_code == 200
    rows = {entry["row"].project.slug: entry for entry in response.context["rows"]}
    assert list(rows) == ["another", "bubbles"]  # by name
    row = rows["bubbles"]["row"]
    assert row.images == 5
    assert {key: n for key, _, n in row.states} == {
        "unassigned": 1,
        "annotating": 1,
        "in_review": 2,
        "needs_rework": 0,
        "accepted": 1,
    }
    assert (row.open_tasks, row.waiting) == (1, 2)
    assert (row.pq, row.pq_ci95, row.compared) == (0.8123, [0.75, 0.86], 7)
    assert timezone.now() - row.last_activity < timedelta(minutes=5)
    assert row.oldest_waiting is None  # no submission rows: nothing says since when
    other = rows["another"]["row"]
    assert (other.images, other.pq, other.last_activity) == (0, None, None)
    assert empty.slug in response.content.decode()


def test_site_dashboard_links_every_count_into_its_project(client, admin_user, project, annotator):
    stocked(project, annotator)
    client.force_login(admin_user)

    html = client.get(URL).content.decode()

    for href in [
        "/p/bubbles/",
        "/p/bubbles/images/",
        "/p/bubbles/images/?state=in_review",
        "/p/bubbles/images/?state=accepted",
        "/p/bubbles/assignment/tasks/?status=open",
        "/p/bubbles/dashboard/",
        reverse("project-funnel", args=["bubbles"]),
    ]:
        assert f'href="{href}"' in html, href
    assert ">0.81</a>" in html
    assert "0.75–0.86" in html
    assert "never read" not in html


def test_site_dashboard_backlog_opens_every_image_in_review_not_the_admins_queue(
    client, admin_user, project, annotator
):
    """The admin's own review queue leaves out what the admin annotated; the backlog counts
    every image in review, so it opens the images list of that state, which holds them all."""
    stocked(project, annotator)
    TaskFactory(
        image=ImageFactory(project=project), annotator=admin_user, status=TaskStatus.SUBMITTED
    )
    client.force_login(admin_user)

    html = client.get(URL).content.decode()
    listed = client.get("/p/bubbles/images/?state=in_review").context["listing"].matching

    assert (
        '<td class="num" data-key="waiting"><a href="/p/bubbles/images/?state=in_review">2</a>'
        in html
    )
    assert listed == 2
    assert client.get("/p/bubbles/review/").context["queue"].waiting == 1
    assert "/p/bubbles/review/" not in html


def test_site_dashboard_reads_only_the_summary_of_the_stored_report(
    client, admin_user, project, annotator
):
    stocked(project, annotator)
    client.force_login(admin_user)

    with CaptureQueriesContext(connection) as queries:
        client.get(URL)

    reads = [q["sql"] for q in queries.captured_queries if "qc_agreementsummary" in q["sql"]]
    assert len(reads) == 1
    assert "summary" in reads[0]
    assert '"qc_agreementsummary"."report" FROM' not in reads[0]


@pytest.mark.parametrize("username", ["lead", "reviewer", "annotator", "outsider"])
def test_site_dashboard_is_for_staff_only(
    client, project, lead, reviewer, annotator, outsider, username
):
    users = {"lead": lead, "reviewer": reviewer, "annotator": annotator, "outsider": outsider}
    client.force_login(users[username])

    response = client.get(URL)

    assert response.status_code == 403
    assert b"Pool boiling" not in response.content


def test_site_dashboard_sends_anonymous_users_to_log_in(client, project):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_site_dashboard_without_projects_says_how_to_make_one(client, admin_user):
    client.force_login(admin_user)

    response = client.get(URL)

    assert response.status_code == 200
    assert b'id="no-projects"' in response.content
    assert b'<a href="/projects/new/" id="create-project">Create the first project</a>' in (
        response.content
    )
    assert b"create_project" not in response.content


@pytest.mark.parametrize("count", [1, 3])
def test_site_dashboard_fixed_query_count(client, admin_user, count):
    for n in range(count):
        project = ProjectFactory()
        annotator = MembershipFactory(project=project, role=Role.ANNOTATOR).user
        stocked(project, annotator, images=n + 1)
    client.force_login(admin_user)

    # session, user; the projects with open tasks and last activity; images by project and
    # state; the agreement summaries
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)

    assert len(response.context["rows"]) == count
    assert len(queries.captured_queries) == 5, [q["sql"] for q in queries.captured_queries]
