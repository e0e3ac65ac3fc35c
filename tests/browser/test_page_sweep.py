"""Every page for every role in Chromium, on the demo data; first, the instruments the
browser tests rely on (the page watch, the screenshots, the demo)."""

import pytest
from django.contrib.auth import get_user_model

from projects.models import GuidelineExample, Role
from projects.pages import NAVIGATION
from tests.browser.support import SCREENSHOTS, log_in, shot
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.pages.matrix import SITE_PAGES, Case, url_of
from tests.pages.test_role_matrix import CASES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_CSP = "default-src 'self'; script-src 'self'"


def _serve(page, url, body, *, headers=None):
    """Answer ``url`` in the browser with ``body``, without the server."""
    page.route(
        url,
        lambda route: route.fulfill(
            status=200, content_type="text/html", headers=headers or {}, body=body
        ),
    )


def test_watch_reports_what_a_page_got_wrong(live_server, page, page_watch):
    url = f"{live_server.url}/instruments/"
    _serve(
        page,
        url,
        "<p>x</p><script>console.log(1)</script><img src='/missing.png' alt=''>",
        headers={"Content-Security-Policy": _CSP},
    )
    page.goto(url)
    page.evaluate("() => { setTimeout(() => { throw new Error('late trouble'); }); }")
    page.wait_for_timeout(50)

    problems = list(page_watch.problems)
    page_watch.problems.clear()
    assert any("Content Security Policy" in problem for problem in problems), problems
    assert any(problem.startswith("HTTP 404: GET") for problem in problems), problems
    assert any("late trouble" in problem for problem in problems), problems
    # The console's line about the 404 repeats the 404: it is not listed twice.
    assert len(problems) == 3, problems


def test_watch_lets_a_test_expect_errors(live_server, page, page_watch):
    url = f"{live_server.url}/instruments/"
    _serve(page, url, "<img src='/missing.png' alt=''>")
    page_watch.expect_status(404, "/missing.png")
    page_watch.expect_console("^expected: ")

    page.goto(url)
    page.evaluate("() => console.error('expected: this one')")

    assert page_watch.problems == []


def test_shot_saves_both_widths_and_catches_sideways_scroll(live_server, page):
    url = f"{live_server.url}/instruments/"
    _serve(page, url, "<main><p>fits</p></main>")
    page.goto(url)
    shot(page, "instruments/fits")
    assert (SCREENSHOTS / "instruments" / "fits.png").stat().st_size > 0
    assert (SCREENSHOTS / "instruments" / "fits-800.png").stat().st_size > 0
    assert page.viewport_size["width"] == 1280

    wide = f"{live_server.url}/instruments/wide/"
    _serve(page, wide, "<main><div style='width: 1000px'>too wide at 800 px</div></main>")
    page.goto(wide)
    with pytest.raises(AssertionError, match="scrolls sideways at 800 px"):
        shot(page, "instruments/wide")


def test_demo_users_log_in(demo, page):
    assert demo.project.slug == "pool-boiling"
    assert demo.project.images.count() > 0
    assert demo.usernames("annotator") == ["anna", "ben", "cleo"]
    assert demo.usernames("admin") == ["admin"]

    demo.log_in(page, "admin")

    assert page.locator("header .who").inner_text().startswith("admin")


# The sweep: each role opens every page the role matrix gives it a 200 for, on the demo.

SWEEPERS = {"admin": "admin", "lead": "lead", "reviewer": "rita", "annotator": "ben"}


def _pages_of(role: str) -> list[Case]:
    """The HTML pages ``role`` may open, each URL name once (its first row)."""
    seen: dict[str, Case] = {}
    for case in CASES:
        if (
            case.method == "GET"
            and case.page
            and case.url_name != "login"
            and case.expect[role] == 200
            and case.url_name not in seen
        ):
            seen[case.url_name] = case
    return list(seen.values())


def _navigation_of(role: str) -> list[str]:
    return [item.label for item in NAVIGATION if role in item.roles]


def _check_frame(page, role: str, case: Case) -> None:
    """Breadcrumbs, and the navigation of exactly ``role`` on a project's page (the home
    page of a user with one project is that project's page)."""
    crumbs = page.locator("nav.crumbs li")
    assert crumbs.count() >= 1, f"{case.id}: no breadcrumbs"
    if "/p/" not in page.url:
        assert page.locator("nav.project-nav").count() == 0, case.id
        return
    assert crumbs.count() >= 3, f"{case.id}: breadcrumbs {crumbs.all_inner_texts()}"
    assert crumbs.last.get_attribute("aria-current") == "page", case.id
    assert page.locator("nav.project-nav a").all_inner_texts() == _navigation_of(role), case.id


def _subjects(demo) -> dict[str, object]:
    users = get_user_model().objects.filter(username__in=SWEEPERS.values())
    by_name = {user.username: user for user in users}
    return {role: by_name[username] for role, username in SWEEPERS.items()}


def _has_an_example(demo) -> None:
    """The demo's guideline shows an example picture, so the guideline page has one."""
    assert GuidelineExample.objects.filter(version__guideline__project=demo.project).exists()


@pytest.mark.parametrize("role", sorted(SWEEPERS))
def test_every_page_of_a_role_opens_clean(demo, page, role):
    _has_an_example(demo)
    # A second project, so that the admin's home is the list of projects.
    ProjectFactory(name="Another project", slug="another-project")
    subjects = _subjects(demo)
    demo.log_in(page, SWEEPERS[role])
    visited = []
    for case in _pages_of(role):
        # The target is the visitor's own when the row is about the visitor's role.
        subject = subjects[role if role == case.subject else case.subject]
        if case.prepare is not None:
            case.prepare(subject)
        url = url_of(case, demo.project, subject)
        assert url is not None, f"the demo has nothing for {role} to open at {case.id}"
        response = page.goto(demo.page_url(url), wait_until="networkidle")
        assert response.status == 200, f"{role} at {url}: {response.status}"
        assert page.url == demo.page_url(url), f"{role} at {url} was sent to {page.url}"
        _check_frame(page, role, case)
        shot(page, f"sweep/{role}-{case.url_name}")
        visited.append(case.url_name)
    assert visited, role


def test_an_outsider_gets_the_404_page_for_everything_in_the_project(demo, page, page_watch):
    _has_an_example(demo)
    subjects = _subjects(demo)
    UserFactory(username="olga", password="olga-password")
    MembershipFactory(user=get_user_model().objects.get(username="olga"), role=Role.LEAD)
    page_watch.expect_status(404)
    log_in(page, demo.url, "olga", "olga-password")
    for case in CASES:
        if case.method != "GET" or case.url_name in SITE_PAGES:
            continue
        url = url_of(case, demo.project, subjects[case.subject])
        assert url is not None, f"the demo has nothing at {case.id}"
        response = page.goto(demo.page_url(url))
        assert response.status == 404, f"the outsider at {url}: {response.status}"
        assert page.locator("#error h1").inner_text() == "Page not found", url
        assert page.locator("#error a.button").get_attribute("href") == "/", url
        assert page.locator("nav.project-nav").count() == 0, url
        assert demo.project.name not in page.content(), url
    shot(page, "sweep/outsider-404")
