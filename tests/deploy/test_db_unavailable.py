"""A database outage met while handling a request answers 503 with Retry-After: the API's
JSON error with ``"code": "database_unavailable"`` under /api/, the site's error page
elsewhere, rendered without a query; never a 500 or a traceback.

The outage is the driver's error raised by every query (mocked on the cursor); the
gunicorn test in test_db_outage.py kills real connections.
"""

import pytest
from django.db import InterfaceError, OperationalError
from django.db.backends.utils import CursorWrapper
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from config import urls
from projects.api_errors import DATABASE_UNAVAILABLE


@pytest.fixture
def database_down(monkeypatch):
    """From now on every query fails as on a server that went away."""

    def execute(self, sql, params=None):
        raise OperationalError("consuming input failed: server closed the connection")

    def go_down() -> None:
        monkeypatch.setattr(CursorWrapper, "execute", execute)

    return go_down


def _is_error_page(response: HttpResponse) -> bool:
    body = response.content.decode()
    return (
        response["Content-Type"].startswith("text/html")
        and "Temporarily unavailable" in body
        and "Traceback" not in body
        and "server closed the connection" not in body
    )


@pytest.mark.django_db
def test_page_during_outage_is_503_error_page(client, lead, project, database_down):
    client.force_login(lead)
    database_down()

    response = client.get(f"/p/{project.slug}/")

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert _is_error_page(response)
    # Rendered without the user (a lookup would have failed): the way back is to log in.
    assert 'href="/login/"' in response.content.decode()


@pytest.mark.django_db
def test_api_during_outage_is_503_json(client, lead, project, database_down):
    token = Token.objects.create(user=lead)
    database_down()

    response = client.get(
        f"/api/v1/projects/{project.slug}/tasks/", HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.json() == {
        "message": "The database is unavailable just now; try again in a few seconds.",
        "details": {},
        "code": "database_unavailable",
    }


class UserFirstMiddleware:
    """Looks the user up before any view runs, as an access-control middleware would."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.user.is_authenticated  # noqa: B018
        return self.get_response(request)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "json_body"), [("/p/bubbles/", False), ("/api/v1/projects/", True)]
)
def test_outage_met_in_a_middleware_is_503(settings, lead, project, database_down, path, json_body):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.UserFirstMiddleware"]
    client = Client(raise_request_exception=False)
    client.force_login(lead)
    database_down()

    response = client.get(path)

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    if json_body:
        assert response.json() == DATABASE_UNAVAILABLE
    else:
        assert _is_error_page(response)


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_handler500_keeps_500_for_other_errors(rf):
    request = rf.get("/p/bubbles/")
    try:
        raise InterfaceError("connection already closed")
    except InterfaceError:
        outage = urls.handler500(request)
    try:
        raise ValueError("a bug")
    except ValueError:
        bug = urls.handler500(rf.get("/api/v1/projects/"))

    assert (outage.status_code, bug.status_code) == (503, 500)
    assert bug.content == b'{"message": "Internal server error.", "details": {}}'
