"""The request log: one line per request on ``maskqc.request`` with method, path (query keys
only), status, duration, user id and request id; JSON with ``LOG_FORMAT=json``."""

import json
import logging
import re
import sys

import pytest
from rest_framework.authtoken.models import Token

from config.logging import JsonFormatter


def _lines(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "maskqc.request"]


def _fields(record: logging.LogRecord) -> dict:
    names = ("method", "path", "status", "user_id", "request_id")
    return {name: getattr(record, name) for name in names}


@pytest.mark.django_db
def test_request_log_is_one_line_without_query_values(client, caplog):
    caplog.set_level(logging.INFO, logger="maskqc.request")

    response = client.get("/login/?next=/p/bubbles/&token=s3cret&next=/again/")

    [record] = _lines(caplog)
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert _fields(record) == {
        "method": "GET",
        "path": "/login/?next&token",
        "status": 200,
        "user_id": None,
        "request_id": request_id,
    }
    assert record.levelno == logging.INFO
    assert 0 < record.duration_ms < 10_000
    assert "s3cret" not in record.getMessage()
    assert record.getMessage() == (
        f"GET /login/?next&token 200 {record.duration_ms}ms user=None id={request_id}"
    )


@pytest.mark.django_db
def test_request_log_names_the_user_of_a_page_and_of_the_api(client, lead, project, caplog):
    caplog.set_level(logging.INFO, logger="maskqc.request")
    token = Token.objects.create(user=lead)
    client.force_login(lead)

    page = client.get(f"/p/{project.slug}/")
    client.logout()
    caplog.clear()
    api = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert (page.status_code, api.status_code) == (200, 200)
    [record] = _lines(caplog)
    assert (record.path, record.status, record.user_id) == ("/api/v1/projects/", 200, lead.pk)


@pytest.mark.django_db
def test_request_log_keeps_the_proxys_request_id_and_replaces_a_forged_one(client, caplog):
    caplog.set_level(logging.INFO, logger="maskqc.request")

    kept = client.get("/login/", HTTP_X_REQUEST_ID="req-7f3a.1")
    forged = client.get("/login/", HTTP_X_REQUEST_ID="x\nGET /admin/ 200")

    assert kept["X-Request-ID"] == "req-7f3a.1"
    assert re.fullmatch(r"[0-9a-f]{32}", forged["X-Request-ID"])
    assert [record.request_id for record in _lines(caplog)] == [
        "req-7f3a.1",
        forged["X-Request-ID"],
    ]


@pytest.mark.django_db
def test_request_log_puts_probes_at_debug_and_failed_static_files_at_info(client, caplog):
    caplog.set_level(logging.INFO, logger="maskqc.request")

    client.get("/healthz")
    client.get("/static/no-such-file.css")
    at_info = [(record.path, record.status) for record in _lines(caplog)]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="maskqc.request")
    client.get("/healthz")

    assert at_info == [("/static/no-such-file.css", 404)]
    assert [(r.path, r.levelno) for r in _lines(caplog)] == [("/healthz", logging.DEBUG)]


@pytest.mark.django_db
def test_request_log_in_json_is_one_object_per_line(client, caplog):
    caplog.set_level(logging.INFO, logger="maskqc.request")
    client.get("/login/?page=2")
    [record] = _lines(caplog)

    line = JsonFormatter().format(record)

    entry = json.loads(line)
    assert "\n" not in line
    assert set(entry) == {
        "time",
        "level",
        "logger",
        "message",
        "method",
        "path",
        "status",
        "duration_ms",
        "user_id",
        "request_id",
    }
    assert (entry["level"], entry["logger"], entry["path"], entry["status"]) == (
        "INFO",
        "maskqc.request",
        "/login/?page",
        200,
    )
    assert entry["user_id"] is None


def test_json_log_of_an_exception_stays_on_one_line():
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "failed: %s", ("x",), True
        )
        record.exc_info = sys.exc_info()

    line = JsonFormatter().format(record)

    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "failed: x"
    assert entry["exc"].startswith("Traceback (most recent call last):")
    assert entry["exc"].endswith("ValueError: bad\nthing")
