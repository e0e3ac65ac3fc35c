"""``/healthz``: 200 and "ok" for each check when the database and the task queue answer,
503 naming the check that does not; no login, no session, two queries at most."""

import socket

import pytest
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.test import override_settings

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
# This suite's Redis database (the machine's Redis is shared).
REDIS_URL = "redis://127.0.0.1:6379/7"


def _redis_up() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_healthz_with_database_and_tasks_table_is_200(client, django_assert_num_queries):
    # SELECT 1; the tasks table's first row
    with django_assert_num_queries(2):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "task_queue": "ok"}}
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
@override_settings(TASKS=RQ_TASKS, REDIS_URL=REDIS_URL)
def test_healthz_with_database_and_redis_is_200(client):
    if not _redis_up():
        pytest.skip("no Redis at 127.0.0.1:6379")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "task_queue": "ok"}}


@pytest.mark.django_db
@override_settings(TASKS=RQ_TASKS, REDIS_URL="redis://127.0.0.1:1/7")
def test_healthz_with_redis_unreachable_is_503_naming_the_task_queue(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "task_queue": "Unavailable: Unable to connect to Redis: Connection Error",
        },
    }


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_healthz_with_database_failing_is_503_naming_both_checks(client, monkeypatch):
    """The driver's error mocked on the cursor (every query fails as on a lost server)."""

    def execute(self, sql, params=None):
        raise OperationalError("consuming input failed: server closed the connection")

    monkeypatch.setattr(CursorWrapper, "execute", execute)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "Unavailable: consuming input failed",
            "task_queue": "Unavailable: consuming input failed",
        },
    }


@pytest.mark.django_db(transaction=True)
def test_healthz_with_database_unreachable_is_503(client):
    """A real connection to a server that is not there (port 1), PostgreSQL only: the test
    database's own connection is closed and pointed elsewhere, then put back."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's test database lives in memory: its connection cannot be moved")
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "Unavailable: connection failed"


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_healthz_needs_no_login_https_or_session(client):
    """Over plain HTTP (a load balancer on the private network), anonymous: answered, and
    no session is created or cookie set."""
    response = client.get("/healthz")
    head = client.head("/healthz")
    page = client.get("/login/")

    assert (response.status_code, head.status_code, page.status_code) == (200, 200, 301)
    assert response.cookies == {}
    assert "Set-Cookie" not in response.headers
    assert Session.objects.count() == 0


@pytest.mark.django_db
def test_healthz_refuses_writes(client):
    assert client.post("/healthz").status_code == 405
