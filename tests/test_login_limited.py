"""The login page's lock-out: a page in the site's layout that says when to try again, 429
with Retry-After counted from the first failure of the window."""

import time

import pytest
from django.core.cache import cache

import config.auth_views


@pytest.fixture(autouse=True)
def fresh_counts():
    # The failure counts live in the process's cache: no test may inherit or leave any.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """The login limit's clock, set by the test (the cache keeps its own time)."""

    class Clock:
        now = time.time()

        def time(self) -> float:
            return self.now

    fake = Clock()
    monkeypatch.setattr(config.auth_views, "time", fake)
    return fake


def _fail(client, times: int, username: str = "annotator") -> None:
    for _ in range(times):
        response = client.post("/login/", {"username": username, "password": "wrong"})
        assert response.status_code == 200


def test_locked_out_login_is_a_page_saying_when_to_try_again(client, annotator, settings, clock):
    settings.MASKQC_LOGIN_FAILURES = 3
    settings.MASKQC_LOGIN_WINDOW_SECONDS = 300
    settings.TIME_ZONE = "UTC"
    _fail(client, 3)

    refused = client.post(
        "/login/", {"username": "annotator", "password": "password", "next": "/p/bubbles/"}
    )

    page = refused.content.decode()
    retry_at = time.strftime("%H:%M", time.gmtime(clock.now + 300))
    assert (refused.status_code, refused["Retry-After"]) == (429, "300")
    assert refused["Content-Type"].startswith("text/html")
    assert "Too many failed logins" in page
    assert "Try again at <strong><time" in page and f">{retry_at}</time>" in page
    assert "in 5 minutes." in page
    assert 'href="/login/?next=/p/bubbles/"' in page
    assert 'class="topbar"' in page  # the site's layout
    assert "_auth_user_id" not in client.session


def test_the_wait_counts_down_from_the_first_failure(client, annotator, settings, clock):
    settings.MASKQC_LOGIN_FAILURES = 2
    settings.MASKQC_LOGIN_WINDOW_SECONDS = 120
    _fail(client, 1)
    clock.now += 60
    _fail(client, 1)
    clock.now += 30

    refused = client.post("/login/", {"username": "annotator", "password": "password"})

    assert (refused.status_code, refused["Retry-After"]) == (429, "30")
    assert "in 30 seconds." in refused.content.decode()


def test_a_locked_username_is_refused_from_any_address_and_others_are_not(
    client, annotator, lead, settings, clock
):
    settings.MASKQC_LOGIN_FAILURES = 2
    for address in ("10.0.0.1", "10.0.0.2"):
        client.post("/login/", {"username": "annotator", "password": "x"}, REMOTE_ADDR=address)

    refused = client.post(
        "/login/", {"username": "annotator", "password": "password"}, REMOTE_ADDR="10.0.0.3"
    )
    other = client.post(
        "/login/", {"username": "lead", "password": "password"}, REMOTE_ADDR="10.0.0.3"
    )

    assert refused.status_code == 429
    assert other.status_code == 302


def test_the_login_page_itself_still_renders_while_locked(client, annotator, settings, clock):
    settings.MASKQC_LOGIN_FAILURES = 1
    _fail(client, 1)

    assert client.get("/login/").status_code == 200


def test_the_lock_out_page_carries_the_content_security_policy(client, annotator, settings):
    settings.MASKQC_LOGIN_FAILURES = 1
    _fail(client, 1)

    refused = client.post("/login/", {"username": "annotator", "password": "password"})

    assert "script-src 'self'" in refused["Content-Security-Policy"]


def test_a_forged_forwarded_for_header_does_not_dodge_the_address_lock(
    client, annotator, lead, other_annotator, settings, clock
):
    # No proxy is trusted by default (MASKQC_NUM_PROXIES=0): the connection's address counts,
    # whatever X-Forwarded-For the client sends.
    settings.MASKQC_LOGIN_FAILURES = 2
    for n, username in enumerate(("annotator", "lead")):
        client.post(
            "/login/",
            {"username": username, "password": "x"},
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )

    refused = client.post(
        "/login/",
        {"username": "other_annotator", "password": "password"},
        REMOTE_ADDR="10.0.0.9",
        HTTP_X_FORWARDED_FOR="192.0.2.77",
    )

    assert refused.status_code == 429
