"""No input gives a 5xx, and every error under /api/ is JSON: deep JSON, bad filters and
options, unknown URLs and ids, oversized bodies, anonymous requests, and the limits on
pending work and on sign-in attempts."""

import json

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from qc.models import Export, ImportJob

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture(autouse=True)
def _fresh_limits():
    """Throttle and failed-login counts live in the cache: each test starts at zero."""
    cache.clear()
    yield
    cache.clear()


def _exports(project) -> str:
    return f"/api/v1/projects/{project.slug}/exports/"


# ------------------------------------------------------------------ bodies and fields


@pytest.mark.parametrize(
    "filters,details",
    [
        (
            [1],
            {
                "filters": {
                    "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
                }
            },
        ),
        (
            "abc",
            {
                "filters": {
                    "non_field_errors": ["Invalid data. Expected a dictionary, but got str."]
                }
            },
        ),
        (
            {"classes": "bubble"},
            {"filters": {"classes": ['Expected a list of items but got type "str".']}},
        ),
        ({"classes": [1, {}]}, {"filters": {"classes": {"1": ["Not a valid string."]}}}),
        ({"gold": "often"}, {"filters": {"gold": ["Must be a valid boolean."]}}),
        (
            {"colour": ["red"]},
            {"filters": {"colour": ["Unknown filter; filters are classes, images, gold."]}},
        ),
    ],
)
def test_export_bad_filters_are_json_400(api, project, lead, filters, details):
    api.force_authenticate(lead)

    response = api.post(_exports(project), {"format": "coco", "filters": filters}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"message": "Invalid input.", "details": details},
    )
    assert Export.objects.count() == 0


def test_export_filters_valid_are_recorded(api, project, lead, bubble):
    api.force_authenticate(lead)

    response = api.post(
        _exports(project),
        {"format": "coco", "filters": {"classes": ["bubble"], "gold": True}},
        format="json",
    )

    assert response.status_code == 202
    assert Export.objects.get().filters == {
        "classes": ["bubble"],
        "gold": True,
        "include_unreviewed": False,
        "polygons": False,
    }


@pytest.mark.parametrize("path", ["/api/v1/projects/bubbles/exports/", "/api/v1/auth/token/"])
def test_json_nested_100000_deep_is_400(api, project, lead, path):
    api.force_authenticate(lead)

    response = api.generic("POST", path, DEEP, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "message": "JSON parse error - JSON nested deeper than 32 levels.",
        "details": {},
    }
    assert Export.objects.count() == 0


def test_json_nested_33_deep_is_400_and_32_is_parsed(api, project, lead):
    api.force_authenticate(lead)
    body = {"format": "coco", "filters": {"classes": ["bubble"]}}

    # The object is level 1, so an extra key holding 31 nested lists is level 33.
    too_deep = api.generic(
        "POST",
        _exports(project),
        json.dumps({**body, "x": _nest(31)}),
        content_type="application/json",
    )
    deep_enough = api.generic(
        "POST",
        _exports(project),
        json.dumps({**body, "x": _nest(30)}),
        content_type="application/json",
    )

    assert too_deep.status_code == 400
    assert too_deep.json()["message"] == "JSON parse error - JSON nested deeper than 32 levels."
    # 32 levels parse; the unknown key is ignored, and the filter's class is not the project's.
    assert (deep_enough.status_code, deep_enough.json()["message"]) == (
        400,
        "Project bubbles has no class 'bubble'.",
    )


def _nest(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def _upload(api, project, options: str, *, data: bytes = b"{}"):
    return api.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {
            "file": SimpleUploadedFile("a.json", data, content_type="application/json"),
            "format": "coco",
            "options": options,
        },
        format="multipart",
    )


@pytest.mark.parametrize(
    "options,message",
    [
        (DEEP, "Value must be valid JSON."),
        ("{not json", "Value must be valid JSON."),
        ("[1, 2]", "Value must be a JSON object."),
        ('"abc"', "Value must be a JSON object."),
    ],
)
def test_import_bad_options_are_json_400(api, project, lead, options, message):
    api.force_authenticate(lead)

    response = _upload(api, project, options)

    assert (response.status_code, response.json()) == (
        400,
        {"message": "Invalid input.", "details": {"options": [message]}},
    )
    assert ImportJob.objects.count() == 0


def test_oversized_body_is_json_413(api, project, lead, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api.force_authenticate(lead)

    response = api.generic(
        "POST",
        _exports(project),
        json.dumps({"format": "coco", "pad": "x" * 2000}),
        content_type="application/json",
    )

    assert (response.status_code, response.json()) == (
        413,
        {"message": "The request body is too large.", "details": {}},
    )


def test_oversized_upload_is_json_413(api, project, lead, settings):
    settings.MASKQC_MAX_UPLOAD_BYTES = 10
    api.force_authenticate(lead)

    response = _upload(api, project, "{}", data=b'{"images": []}')

    assert (response.status_code, response.json()) == (
        413,
        {"message": "The file is 14 bytes, over the limit of 10.", "details": {}},
    )
    assert ImportJob.objects.count() == 0


# ------------------------------------------------------------------------ URLs and ids


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        "/api/v1/projects/bubbles/exports/abc/",
        "/api/v1/projects/bubbles/exports/%00/",
        "/api/v1/projects/bubbles/imports/99999/",
        "/api/nope",
    ],
)
def test_unknown_api_urls_and_bad_ids_are_json_404(api, project, lead, path):
    api.force_authenticate(lead)

    response = api.get(path)

    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"message": "Not found.", "details": {}}


def test_unknown_page_outside_the_api_is_html_404(client, db):
    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_anonymous_api_request_is_401_with_www_authenticate(api, project):
    response = api.get("/api/v1/projects/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "message": "Authentication credentials were not provided.",
        "details": {},
    }


# ------------------------------------------------------------------------ bounded work


def test_pending_exports_over_the_limit_are_429_with_retry_after(api, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 2
    settings.MASKQC_JOB_RETRY_AFTER_SECONDS = 45
    Export.objects.create(project=project, created_by=lead, format="coco")
    Export.objects.create(
        project=project, created_by=lead, format="coco", status=Export.Status.RUNNING
    )
    Export.objects.create(project=project, created_by=lead, format="coco", status="done")
    api.force_authenticate(lead)

    response = api.post(_exports(project), {"format": "coco"}, format="json")

    assert (response.status_code, response["Retry-After"]) == (429, "45")
    assert response.json() == {
        "message": "bubbles already has 2 exports queued or running (at most 2); try again "
        "when one has finished.",
        "details": {"pending": 2, "limit": 2, "retry_after": 45},
    }
    assert Export.objects.count() == 3


def test_pending_exports_under_the_limit_start(api, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 2
    Export.objects.create(project=project, created_by=lead, format="coco")
    Export.objects.create(project=project, created_by=lead, format="coco", status="failed")
    api.force_authenticate(lead)

    response = api.post(_exports(project), {"format": "coco"}, format="json")

    assert response.status_code == 202
    assert Export.objects.count() == 3


def test_pending_imports_over_the_limit_are_429(api, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 1
    ImportJob.objects.create(project=project, created_by=lead, format="coco")
    api.force_authenticate(lead)

    response = _upload(api, project, "{}")

    assert (response.status_code, response["Retry-After"]) == (429, "60")
    assert response.json()["details"] == {"pending": 1, "limit": 1, "retry_after": 60}
    assert ImportJob.objects.count() == 1


# ------------------------------------------------------------------------ sign-in limits


def test_token_endpoint_is_throttled_per_address(api, annotator, settings):
    statuses = [
        api.post("/api/v1/auth/token/", {"username": "annotator", "password": "wrong"}).status_code
        for _ in range(11)
    ]

    assert statuses == [401] * 10 + [429]
    refused = api.post("/api/v1/auth/token/", {"username": "annotator", "password": "password"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["message"].startswith("Request was throttled.")


def test_login_page_refuses_after_failed_attempts(client, annotator, settings):
    settings.MASKQC_LOGIN_FAILURES = 3
    settings.MASKQC_LOGIN_WINDOW_SECONDS = 120

    failures = [
        client.post("/login/", {"username": "annotator", "password": "wrong"}).status_code
        for _ in range(3)
    ]
    refused = client.post("/login/", {"username": "annotator", "password": "password"})

    assert failures == [200, 200, 200]
    assert (refused.status_code, refused["Retry-After"]) == (429, "120")
    assert "_auth_user_id" not in client.session


def test_login_page_counts_failures_per_username_across_addresses(client, annotator, settings):
    settings.MASKQC_LOGIN_FAILURES = 2
    for address in ("10.0.0.1", "10.0.0.2"):
        client.post("/login/", {"username": "annotator", "password": "wrong"}, REMOTE_ADDR=address)

    refused = client.post(
        "/login/", {"username": "annotator", "password": "password"}, REMOTE_ADDR="10.0.0.3"
    )
    other_user = client.post(
        "/login/", {"username": "lead", "password": "wrong"}, REMOTE_ADDR="10.0.0.3"
    )

    assert (refused.status_code, other_user.status_code) == (429, 200)


def test_login_page_success_is_not_counted(client, annotator, settings):
    settings.MASKQC_LOGIN_FAILURES = 1

    first = client.post("/login/", {"username": "annotator", "password": "password"})
    client.logout()
    second = client.post("/login/", {"username": "annotator", "password": "password"})

    assert (first.status_code, second.status_code) == (302, 302)


def test_token_with_wrong_password_is_401_and_without_fields_400(api, annotator):
    wrong = api.post("/api/v1/auth/token/", {"username": "annotator", "password": "nope"})
    empty = api.post("/api/v1/auth/token/", {}, format="json")

    assert (wrong.status_code, wrong["WWW-Authenticate"]) == (401, "Token")
    assert wrong.json() == {"message": "Unable to log in with provided credentials.", "details": {}}
    assert (empty.status_code, sorted(empty.json()["details"])) == (400, ["password", "username"])
