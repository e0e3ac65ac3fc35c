"""The OpenAPI schema: every operation documents its error responses, and schemathesis,
with every check it has, finds no failure over the whole schema (whatever operations it
holds when the test runs), authenticated as a lead of a seeded project."""

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, seed, settings
from rest_framework.authtoken.models import Token

from projects.models import Role
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import CHECKS  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

METHODS = {"get", "post", "put", "patch", "delete"}
# Every check runs with its defaults but one: a request the schema allows may still be
# refused with 400, because the rules it breaks are not the schema's to say (an uploaded file
# must be a valid COCO document, a filter's class must exist in the project, a draft must
# differ from the published version). Refusals stay JSON; a 5xx still fails.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "413", "429"]
            }
        }
    }
)
# Enough examples for each operation to reach its fields (the seed fixes which).
EXAMPLES = 25


def test_every_operation_documents_its_errors(client, db):
    schema = client.get("/api/schema/?format=json").json()

    missing = {
        f"{method.upper()} {path}": sorted(
            {"400", "401", "403", "404", "429"} - set(operation["responses"])
        )
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS and path != "/api/v1/auth/token/"
    }
    assert {op: codes for op, codes in missing.items() if codes} == {}
    token = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]
    assert sorted(token) == ["200", "400", "401", "404", "409", "413", "429"]
    exports = schema["paths"]["/api/v1/projects/{slug}/exports/"]["post"]["responses"]
    assert sorted(exports) == ["202", "400", "401", "403", "404", "409", "413", "429"]
    assert exports["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert schema["components"]["schemas"]["Error"]["required"] == ["message", "details"]
    assert schema["components"]["schemas"]["ExportFilters"]["additionalProperties"] is False


@pytest.fixture
def wsgi_app():
    """The deployment's WSGI application, called in the test's transaction: like Django's
    test client, it must not close the connection at each request's start and end (on
    PostgreSQL that would end the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db):
    """A project with a lead (whose token the run uses), every other role, two classes,
    images and tasks."""
    project = ProjectFactory(slug="pool", name="Pool boiling")
    lead = UserFactory(username="lead")
    MembershipFactory(project=project, user=lead, role=Role.LEAD)
    for username, role in [
        ("reviewer", Role.REVIEWER),
        ("annotator", Role.ANNOTATOR),
        ("other_annotator", Role.ANNOTATOR),
    ]:
        MembershipFactory(project=project, user=UserFactory(username=username), role=role)
    LabelClassFactory(project=project, name="bubble")
    LabelClassFactory(project=project, name="droplet")
    for n in range(2):
        image = ImageFactory(project=project, name=f"frame-{n}.png")
        TaskFactory(image=image, annotator=lead)
    return Token.objects.create(user=lead).key


def test_schemathesis_all_checks_find_no_failure(seeded, wsgi_app):
    cache.clear()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, config=CONFIG)
    headers = {"Authorization": f"Token {seeded}"}
    checks = CHECKS.get_all()
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10

    for operation in operations:

        @seed(20261201)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(headers=headers, checks=checks)

        try:
            run()
        except (Exception, BaseExceptionGroup) as error:  # one failure must not hide others
            failures[operation.label] = f"{type(error).__name__}: {error}"[:2000]
        cache.clear()

    assert failures == {}, "\n\n".join(f"{op}: {text}" for op, text in failures.items())
