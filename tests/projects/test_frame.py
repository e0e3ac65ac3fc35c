"""The frame every page shares: the navigation each role sees, and the breadcrumbs."""

import pytest
from django.urls import reverse

from projects.pages import NAVIGATION, NavItem, navigation, project_page
from tests.factories import MembershipFactory, ProjectFactory

_MANAGER = [
    "Overview",
    "Dashboard",
    "Review queue",
    "Assignment",
    "Guideline",
    "Imports",
    "Exports",
    "Settings",
]
ROLE_ENTRIES = {
    "admin": _MANAGER,
    "lead": _MANAGER,
    "reviewer": ["Overview", "Dashboard", "Review queue", "Guideline"],
    "annotator": ["My tasks", "Guideline", "My reviews", "My style"],
}


@pytest.mark.parametrize("role", sorted(ROLE_ENTRIES))
def test_each_role_sees_its_entries_in_order(project, role):
    entries = navigation(project=project, role=role, current=None)

    assert [e["label"] for e in entries] == ROLE_ENTRIES[role]
    assert all(e["url"].startswith(f"/p/{project.slug}/") for e in entries)
    assert not any(e["current"] for e in entries)


def test_every_entry_names_a_page_of_the_project(project):
    for item in NAVIGATION:
        assert reverse(item.url_name, args=[project.slug]).startswith(f"/p/{project.slug}/")


def test_the_page_shown_is_marked_current(project):
    entries = navigation(project=project, role="lead", current="review-queue")

    assert [e["label"] for e in entries if e["current"]] == ["Review queue"]


def test_managers_edit_the_guideline_others_read_it(project):
    def guideline_url(role):
        entries = navigation(project=project, role=role, current=None)
        return next(e["url"] for e in entries if e["label"] == "Guideline")

    assert guideline_url("lead") == reverse("guideline-editor", args=[project.slug])
    assert guideline_url("reviewer") == reverse("guideline", args=[project.slug])


def test_a_page_of_a_section_marks_its_entry_current(project, monkeypatch):
    item = NavItem(
        "Review queue", "review-queue", frozenset({"lead"}), frozenset({"review-viewer"})
    )
    monkeypatch.setattr("projects.pages.NAVIGATION", (item,))

    entries = navigation(project=project, role="lead", current="review-viewer")

    assert [e["current"] for e in entries] == [True]
    assert [e["current"] for e in navigation(project=project, role="lead", current="x")] == [False]


def test_overview_shows_nav_and_breadcrumbs(client, project, lead):
    client.force_login(lead)

    page = client.get(reverse("project-overview", args=[project.slug])).content.decode()

    assert 'aria-label="Breadcrumb"' in page
    crumbs = page.split('aria-label="Breadcrumb"')[1].split("</nav>")[0]
    assert ">Projects</a>" in crumbs
    assert f'href="/p/{project.slug}/">{project.name}</a>' in crumbs
    assert '<li aria-current="page">Overview</li>' in crumbs
    assert f'<a href="/p/{project.slug}/" aria-current="page">Overview</a>' in page
    assert 'rel="icon"' in page


def test_the_project_breadcrumb_leads_to_the_roles_work(rf, project, annotator):
    request = rf.get("/")
    request.user = annotator

    page = project_page(
        request, "error.html", project=project, role="annotator", heading="h", explanation="e"
    ).content.decode()

    assert f'href="/p/{project.slug}/tasks/">{project.name}</a>' in page
    assert f'href="/p/{project.slug}/my/style/">My style</a>' in page
    assert "Review queue" not in page


def test_favicon_ico_leads_to_the_site_icon(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("/favicon.svg")


def test_on_the_project_list_its_breadcrumb_is_the_current_page(client, project, lead):
    client.force_login(lead)
    MembershipFactory(project=ProjectFactory(), user=lead, role="lead")

    page = client.get(reverse("home")).content.decode()

    assert '<li aria-current="page">Projects</li>' in page
