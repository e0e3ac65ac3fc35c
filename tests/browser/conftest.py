"""A real Chromium (Debian's) driven by Playwright against the live test server.

Fixtures: ``browser`` (one per test process), ``page`` (a fresh context and page, watched:
the test fails after its body if the page logged a console error, threw, failed a request
or got a response of status 400 or more it did not declare), ``page_watch`` (that page's
:class:`tests.browser.support.PageWatch`, to declare what a test expects) and ``demo`` (the
demo project in the live server, :class:`tests.browser.support.Demo`). See
``tests/browser/support.py`` for ``log_in`` and ``shot``.
"""

import os
import shutil

import pytest

from tests.browser.support import Demo, PageWatch, demo_load

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("MASKQC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# One Chromium per module, not per session: while Playwright's sync API is alive, its
# event loop counts as running in this thread, and a later test elsewhere that calls an
# async view through Django's test client (/healthz) would be refused by asgiref.
@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    watch = PageWatch()
    watch.attach(page)
    request.node._page_watch = watch
    yield page
    context.close()


@pytest.fixture
def page_watch(page, request) -> PageWatch:
    return request.node._page_watch


@pytest.fixture
def demo(transactional_db, live_server) -> Demo:
    return demo_load(live_server.url)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    # After the test's body, so that what the page reported fails the test itself.
    result = yield
    watch = getattr(item, "_page_watch", None)
    if watch is not None:
        watch.assert_clean()
    return result
