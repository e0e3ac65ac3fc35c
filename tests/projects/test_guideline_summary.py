"""A guideline version is published only with a change summary, whoever publishes it (the
page, the API, a command): a blank one is refused by the service, field ``change_summary``,
and nothing is published or changed."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from projects.errors import ApplicationError
from projects.models import AuditEvent, GuidelineVersion
from projects.services import guideline_version_create, guideline_version_publish
from projects.services.guidelines import SUMMARY_NEEDED
from tests.factories import GuidelineVersionFactory


@pytest.fixture
def draft(project, lead):
    return GuidelineVersionFactory(
        guideline__project=project, number=1, author=lead, body="a", change_summary=""
    )


def _refused(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as refused:
        call()
    assert (refused.value.status, refused.value.message) == (400, SUMMARY_NEEDED)
    assert refused.value.extra == {"change_summary": [SUMMARY_NEEDED]}
    return refused.value


@pytest.mark.parametrize("summary", [None, "", "   \n"])
def test_publishing_without_a_summary_is_refused_changing_nothing(draft, lead, summary):
    before = AuditEvent.objects.count()

    _refused(
        lambda: guideline_version_publish(
            version=draft, actor=lead, change_summary=summary, body="changed"
        )
    )

    version = GuidelineVersion.objects.get(pk=draft.pk)
    assert (version.published_at, version.body) == (None, "a")
    assert AuditEvent.objects.count() == before


def test_a_saved_summary_publishes_and_a_given_one_is_stored_trimmed(draft, lead):
    draft.change_summary = "Saved."
    draft.save()

    guideline_version_publish(version=draft, actor=lead)
    second = GuidelineVersionFactory(
        guideline=draft.guideline, number=2, author=lead, change_summary=""
    )
    guideline_version_publish(version=second, actor=lead, change_summary="  Holes count.  ")

    assert GuidelineVersion.objects.get(pk=draft.pk).change_summary == "Saved."
    assert GuidelineVersion.objects.get(pk=second.pk).change_summary == "Holes count."


def test_creating_a_published_version_needs_a_summary_too(project, lead):
    _refused(
        lambda: guideline_version_create(
            project=project, title="Bubbles", body="x", author=lead, publish=True
        )
    )
    draft = guideline_version_create(project=project, title="Bubbles", body="x", author=lead)

    assert list(GuidelineVersion.objects.values_list("pk", "published_at")) == [(draft.pk, None)]


@pytest.mark.parametrize("body", [{}, {"change_summary": ""}, {"change_summary": "  "}])
def test_the_api_refuses_publishing_without_a_summary_naming_the_field(draft, lead, body):
    api = APIClient()
    api.force_authenticate(lead)
    url = reverse(
        "api-guideline-version-publish",
        args=[draft.guideline.project.slug, draft.guideline.pk, draft.number],
    )

    response = api.post(url, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "message": SUMMARY_NEEDED,
        "details": {"change_summary": [SUMMARY_NEEDED]},
    }
    assert GuidelineVersion.objects.get(pk=draft.pk).published_at is None
