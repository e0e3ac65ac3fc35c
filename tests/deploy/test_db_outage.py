"""PostgreSQL connections killed under load (``pg_terminate_backend``): gunicorn serving
MaskQC on the test database answers every request in flight with a page, a redirect or a
clean 503 (JSON under /api/, the error page elsewhere), never a 500 or a traceback, and the
requests right after all succeed, nothing restarted: with connections closed after each
request (DB_CONN_MAX_AGE=0), kept for a minute with health checks (DB_CONN_MAX_AGE=60), and
drawn from psycopg's pool (DB_POOL=true).

Each case starts gunicorn (2 workers × 3 threads) and drives it from 4 threads for about
three seconds while the backends are killed 6 times: some 25 s a case on a busy machine.
"""

import json
import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.deploy.conftest import get, gunicorn_serving

pytestmark = [
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="pg_terminate_backend is PostgreSQL's; this run is on SQLite",
    ),
    pytest.mark.django_db(transaction=True),
]

CONNECTIONS = [
    pytest.param({"DB_CONN_MAX_AGE": "0"}, id="closed-after-each-request"),
    pytest.param({"DB_CONN_MAX_AGE": "60"}, id="kept-60s-health-checked"),
    pytest.param({"DB_POOL": "true"}, id="pool"),
]


def _backends_terminate() -> int:
    """Kill every other connection to the test database; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _clean(path: str, status: int, body: bytes) -> bool:
    """A page or redirect, or a 503 in the shape its path promises."""
    if 200 <= status < 400:
        return True
    if status != 503:
        return False
    if path.startswith("/api/"):
        return json.loads(body).get("code") == "database_unavailable"
    text = body.decode()
    return "Temporarily unavailable" in text and "Traceback" not in text


@pytest.mark.parametrize("env", CONNECTIONS)
def test_connections_killed_under_load_answer_503_then_recover(
    env, lead, project, static_root, tmp_path
):
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}"
        f":{database['PORT'] or 5432}/{database['NAME']}"
    )
    browser = Client()
    browser.force_login(lead)
    as_lead = {
        "page": {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"},
        "api": {"Authorization": f"Token {Token.objects.create(user=lead).key}"},
    }
    paths = [
        f"/p/{project.slug}/",
        f"/p/{project.slug}/images/",
        "/api/v1/projects/",
        f"/api/v1/projects/{project.slug}/tasks/",
    ]

    def fetch(path: str) -> tuple[str, int, bytes]:
        headers = as_lead["api" if path.startswith("/api/") else "page"]
        try:
            status, _, body = get(port, path, headers, timeout=30)
        except OSError as error:
            return path, 0, str(error).encode()
        return path, status, body

    answers: list[tuple[str, int, bytes]] = []
    stop = threading.Event()

    def drive(offset: int) -> None:
        n = offset
        while not stop.is_set():
            answers.append(fetch(paths[n % len(paths)]))
            n += 1

    with gunicorn_serving(
        "--workers",
        "2",
        "--threads",
        "3",
        log=tmp_path / "gunicorn.log",
        DATABASE_URL=url,
        STATIC_ROOT=str(static_root),
        # The session's signature is the test settings' key.
        SECRET_KEY=settings.SECRET_KEY,
        TASKS_BACKEND="immediate",
        **env,
    ) as port:
        assert [fetch(path)[1] for path in paths] == [200, 200, 200, 200]
        drivers = [threading.Thread(target=drive, args=(i,)) for i in range(4)]
        for driver in drivers:
            driver.start()
        killed = 0
        for _ in range(6):
            time.sleep(0.4)
            killed += _backends_terminate()
        time.sleep(0.4)
        stop.set()
        for driver in drivers:
            driver.join()
        after = [fetch(path) for path in paths * 6]

    statuses = {
        status: sum(1 for _, s, _ in answers if s == status) for status in {a[1] for a in answers}
    }
    print(f"{env}: {len(answers)} requests under load, by status {statuses}; {killed} killed")
    unclean = [
        (path, status, body[:200])
        for path, status, body in answers
        if not _clean(path, status, body)
    ]
    assert killed > 0
    assert len(answers) > 20
    assert unclean == [], statuses
    assert [(path, status) for path, status, _ in after] == [(path, 200) for path in paths * 6]
