"""The Content-Security-Policy on every kind of response, Swagger UI without inline code, the
vendored htmx and django-htmx's request attribute."""

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
STATIC = Path(settings.BASE_DIR) / "static"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def _htmx_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"htmx": bool(request.htmx), "target": request.htmx.target})


urlpatterns = [path("htmx-probe/", _htmx_view)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url,status",
    [
        ("/login/", 200),  # a page
        ("/", 302),  # a redirect to the login page
        ("/no-such-page/", 404),  # the site's error page
        ("/api/v1/projects/", 401),  # the API, anonymous
        ("/api/v1/no-such-endpoint/", 404),  # the API's JSON 404
        ("/api/schema/", 200),
        ("/api/docs/", 200),
        ("/api/docs/?script=", 200),  # Swagger UI's set-up script
        ("/admin/login/", 200),
        ("/admin/", 302),
    ],
)
def test_every_kind_of_response_carries_the_policy(client, url, status):
    response = client.get(url)

    assert response.status_code == status
    assert _policy(response) == POLICY


@pytest.mark.django_db
def test_api_answers_of_a_signed_in_user_carry_the_policy(client, project, lead):
    client.force_login(lead)

    response = client.get(f"/api/v1/projects/{project.slug}/")

    assert response.status_code == 200
    assert _policy(response) == POLICY


@pytest.mark.django_db
def test_posts_and_refusals_carry_the_policy(client, annotator):
    refused = client.post("/login/", {"username": "annotator", "password": "wrong"})
    landed = client.post("/login/", {"username": "annotator", "password": "password"})

    assert (refused.status_code, landed.status_code) == (200, 302)
    assert _policy(refused) == _policy(landed) == POLICY


@pytest.mark.django_db
def test_swagger_ui_has_no_inline_script_or_style(client):
    page = client.get("/api/docs/").content.decode()
    script = client.get("/api/docs/?script=")

    sources = re.findall(r"<script\b([^>]*)>", page)
    assert sources and all("src=" in attributes for attributes in sources)
    assert "<style" not in page and "style=" not in page
    assert '<script src="/api/docs/?script="></script>' in page
    assert '<link rel="stylesheet" href="/static/css/swagger.css">' in page
    assert script["Content-Type"].startswith("application/javascript")
    assert 'url: "/api/schema/"' in script.content.decode()


def test_htmx_is_vendored_as_the_readme_says():
    vendored = (STATIC / "vendor" / "htmx.min.js").read_bytes()
    readme = (STATIC / "vendor" / "README.md").read_text()

    version = re.search(rb'version:"([^"]+)"', vendored).group(1).decode()
    assert version.startswith("2.")
    assert f"| `htmx.min.js` | [htmx](https://htmx.org), partial page updates | {version} |" in (
        readme
    )
    assert f"sha256 `{hashlib.sha256(vendored).hexdigest()}`" in readme
    assert (STATIC / "vendor" / "htmx.LICENSE").read_text().startswith("Zero-Clause BSD")


def test_htmx_indicator_rules_are_in_a_file():
    css = (STATIC / "css" / "htmx.css").read_text()

    assert ".htmx-indicator {\n  opacity: 0;" in css
    assert ".htmx-request .htmx-indicator," in css


@pytest.mark.urls("tests.test_csp")
def test_htmx_requests_are_recognised(client):
    plain = client.get("/htmx-probe/").json()
    swap = client.get("/htmx-probe/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue").json()

    assert plain == {"htmx": False, "target": None}
    assert swap == {"htmx": True, "target": "queue"}
