"""Under the Content-Security-Policy, in Chromium: the login page (and its lock-out), home,
Swagger UI at /api/docs/ and the Django admin load and work with no violation; htmx swaps a
partial with its indicator styles from static/css/htmx.css, and shows why the htmx-config
meta tag is needed."""

import time

import pytest
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns
from tests.browser.support import ADMIN_PASSWORD, ADMIN_USERNAME, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects what the policy refused, from before the page's first script (Playwright's init
# scripts are not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__violations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || 'inline'} (${where})`
  );
});
"""


def _violations(page) -> list[str]:
    return page.evaluate("() => window.__violations")


def _watched(page):
    page.add_init_script(RECORD_VIOLATIONS)
    return page


def _open(page, url: str) -> None:
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert _violations(page) == [], url


def test_login_page_and_its_lock_out_load_without_violations(page, page_watch, demo, settings):
    settings.MASKQC_LOGIN_FAILURES = 1
    page = _watched(page)
    _open(page, demo.page_url("/login/"))
    assert page.locator("h1").inner_text() == "Log in to MaskQC"

    page_watch.expect_status(429, "/login/")
    for _ in range(2):
        page.fill("#id_username", "anna")
        page.fill("#id_password", "not her password")
        with page.expect_navigation():
            page.click("main button[type=submit]")

    assert page.locator("h1").inner_text() == "Too many failed logins"
    assert "Try again at" in page.locator("#login-limited").inner_text()
    assert _violations(page) == []
    shot(page, "csp/login-limited")
    page.click("text=Back to the login page")
    assert page.locator("h1").inner_text() == "Log in to MaskQC"


def test_home_and_the_project_pages_load_without_violations(page, demo):
    page = _watched(page)
    demo.log_in(page, "lead")

    _open(page, demo.page_url("/"))
    assert page.url.endswith("/p/pool-boiling/")
    for username in ("rita", "anna"):
        page.context.clear_cookies()
        demo.log_in(page, username)
        assert _violations(page) == [], username


def test_swagger_ui_works_without_violations(page, demo):
    page = _watched(page)
    _open(page, demo.page_url("/api/docs/"))

    operations = page.locator(".opblock")
    operations.first.wait_for()
    assert operations.count() > 20
    page.locator(".opblock-summary", has_text="/api/v1/projects/{slug}/agreement/").first.click()
    page.get_by_role("button", name="Try it out").click()
    assert page.locator("input[placeholder=slug]").is_visible()
    assert _violations(page) == []
    shot(page, "csp/api-docs", widths=(1280,))


def test_the_admin_works_without_violations(page, page_watch, demo):
    page = _watched(page)
    _open(page, demo.page_url("/admin/login/"))
    page.fill("#id_username", ADMIN_USERNAME)
    page.fill("#id_password", ADMIN_PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.locator("#site-name").inner_text() == "Django administration"

    project = demo.project
    for url in (
        "/admin/",
        "/admin/projects/project/",
        f"/admin/projects/project/{project.pk}/change/",
        "/admin/projects/task/?status__exact=rejected",
        "/admin/qc/review/?q=boundary",
        "/admin/auth/user/",
        f"/admin/auth/user/{project.memberships.first().user_id}/change/",
    ):
        _open(page, demo.page_url(url))
    # The admin's scripts run: its theme switch changes the page's theme.
    _open(page, demo.page_url("/admin/projects/image/"))
    before = page.evaluate("() => document.documentElement.dataset.theme || 'auto'")
    page.locator("button.theme-toggle").first.click()
    assert page.evaluate("() => document.documentElement.dataset.theme") != before
    assert _violations(page) == []
    shot(page, "csp/admin-images", widths=(1280,))


# --------------------------------------------------------------------- htmx under the policy

_HTMX_PAGE = engines["django"].from_string(
    """{% load static %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>htmx under the policy</title>
{% if configured %}<meta name="htmx-config"
 content='{"includeIndicatorStyles": false, "allowEval": false}'>{% endif %}
<link rel="stylesheet" href="{% static 'css/htmx.css' %}">
<script src="{% static 'vendor/htmx.min.js' %}" defer></script></head>
<body><button id="load" hx-get="/htmx-check/part/" hx-target="#target">Load
<span class="htmx-indicator" id="spinner">loading</span></button>
<div id="target">before</div></body></html>"""
)


def _htmx_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_HTMX_PAGE.render({"configured": "bare" not in request.GET}, request))


def _htmx_part(request: HttpRequest) -> HttpResponse:
    time.sleep(0.6)  # long enough to see the indicator
    return HttpResponse(f'<p id="swapped">swapped (request.htmx: {bool(request.htmx)})</p>')


# With the site's own routes, /favicon.ico among them (the browser asks for it).
urlpatterns = [
    path("htmx-check/", _htmx_page),
    path("htmx-check/part/", _htmx_part),
    *site_urlpatterns,
]


def _opacity(page) -> str:
    return page.evaluate("() => getComputedStyle(document.getElementById('spinner')).opacity")


def test_htmx_swaps_a_partial_under_the_policy(page, live_server, settings):
    settings.ROOT_URLCONF = __name__
    page = _watched(page)
    _open(page, f"{live_server.url}/htmx-check/")
    page.wait_for_function("() => window.htmx !== undefined")
    assert _opacity(page) == "0"  # static/css/htmx.css hides the indicator

    page.click("#load")
    page.wait_for_function(
        "() => getComputedStyle(document.getElementById('spinner')).opacity === '1'"
    )
    page.locator("#swapped").wait_for()

    assert page.locator("#target").inner_text() == "swapped (request.htmx: True)"
    assert _opacity(page) == "0"
    assert page.locator("head style").count() == 0
    assert _violations(page) == []


def test_without_the_htmx_config_htmx_injects_a_style_the_policy_refuses(
    page, page_watch, live_server, settings
):
    settings.ROOT_URLCONF = __name__
    page_watch.expect_console("inline style")
    page = _watched(page)
    page.goto(f"{live_server.url}/htmx-check/?bare")
    page.wait_for_function("() => window.htmx !== undefined && window.__violations.length > 0")

    assert [v.split(" refused ")[0] for v in _violations(page)] == ["style-src-elem"]
