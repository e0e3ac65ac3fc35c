"""Logging in through a real browser lands each role on its work."""

import pytest

from projects.models import TaskStatus
from tests.factories import ImageFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "password")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_annotator_logs_in_and_sees_own_tasks(
    page, live_server, project, annotator, other_annotator
):
    TaskFactory(image=ImageFactory(project=project, name="frame_a.png"), annotator=annotator)
    TaskFactory(image=ImageFactory(project=project, name="frame_b.png"), annotator=other_annotator)

    _log_in(page, live_server, "annotator")

    assert page.url == f"{live_server.url}/p/{project.slug}/tasks/"
    assert page.locator("#tasks tbody tr td:first-child").all_inner_texts() == ["frame_a.png"]


def test_lead_logs_in_and_sees_overview_counts(page, live_server, project, lead, annotator):
    TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, status=TaskStatus.SUBMITTED
    )

    _log_in(page, live_server, "lead")

    assert page.url == f"{live_server.url}/p/{project.slug}/"
    assert page.locator("#image-states tr[data-state=in_review] td").inner_text() == "1"


def test_wrong_password_shows_error(page, live_server, annotator):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "annotator")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")

    assert page.locator("p.error").inner_text().startswith("Your username and password")
