"""Every page for every role in Chromium, on the demo data; first, the instruments the
browser tests rely on (the page watch, the screenshots, the demo)."""

import pytest

from tests.browser.support import SCREENSHOTS, shot

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
