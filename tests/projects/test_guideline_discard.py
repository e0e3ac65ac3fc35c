"""Discarding a guideline draft: leads and admins throw a draft away (audited), never a
published version; the next draft takes the discarded one's number; a guideline whose only
version was the discarded draft goes with it. The draft page's button is a POST in a
confirmation box."""

import pytest
from django.urls import reverse

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Guideline, GuidelineVersion
from projects.services.guidelines import (
    guideline_create,
    guideline_draft_discard,
    guideline_draft_start,
)
from tests.projects.guideline_support import draft_of, published_v1


@pytest.fixture
def v1(project, lead):
    return published_v1(project, lead)


def test_a_lead_discards_a_draft_and_the_next_draft_reuses_its_number(project, lead, v1):
    draft = draft_of(v1, lead)
    assert draft.number == 2
    assert guideline_draft_discard(version=draft, actor=lead) is False
    assert not GuidelineVersion.objects.filter(pk=draft.pk).exists()
    event = AuditEvent.objects.get(verb="guideline_version.discard")
    assert event.before["number"] == 2
    assert event.after == {"guideline_removed": False}
    again, created = guideline_draft_start(guideline=v1.guideline, actor=lead)
    assert created and again.number == 2


def test_a_published_version_is_never_discarded(project, lead, v1):
    with pytest.raises(ConflictError):
        guideline_draft_discard(version=v1, actor=lead)
    assert GuidelineVersion.objects.filter(pk=v1.pk).exists()
    assert not AuditEvent.objects.filter(verb="guideline_version.discard").exists()


@pytest.mark.parametrize("who", ["reviewer", "annotator"])
def test_only_leads_and_admins_discard(request, project, lead, v1, who):
    draft = draft_of(v1, lead)
    with pytest.raises(ApplicationError) as refused:
        guideline_draft_discard(version=draft, actor=request.getfixturevalue(who))
    assert refused.value.status == 403
    assert GuidelineVersion.objects.filter(pk=draft.pk).exists()


def test_discarding_a_draft_twice_is_a_conflict(project, lead, v1):
    draft = draft_of(v1, lead)
    guideline_draft_discard(version=draft, actor=lead)
    with pytest.raises(ConflictError):
        guideline_draft_discard(version=draft, actor=lead)


def test_discarding_the_first_draft_of_a_new_guideline_removes_the_guideline(project, lead):
    first = guideline_create(project=project, title="Drops", actor=lead)
    assert guideline_draft_discard(version=first, actor=lead) is True
    assert not Guideline.objects.filter(title="Drops").exists()


def test_the_draft_page_offers_discard_in_a_confirmation_box(client, project, lead, v1):
    draft = draft_of(v1, lead)
    client.force_login(lead)
    html = client.get(reverse("guideline-draft", args=[project.slug, draft.pk])).content.decode()
    action = reverse("guideline-draft-discard", args=[project.slug, draft.pk])
    assert '<details class="confirm discard-draft" id="discard-draft">' in html
    assert f'action="{action}"' in html
    assert "the next new version starts again from it, as v2" in html


def test_discard_by_the_page_goes_back_to_the_editor(client, project, lead, v1):
    draft = draft_of(v1, lead)
    client.force_login(lead)
    url = reverse("guideline-draft-discard", args=[project.slug, draft.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("guideline-editor", args=[project.slug])
    assert "Discarded the draft Bubbles v2" in response.content.decode()
    assert not GuidelineVersion.objects.filter(pk=draft.pk).exists()


def test_discard_of_a_published_version_by_the_page_says_why(client, project, lead, v1):
    client.force_login(lead)
    response = client.post(
        reverse("guideline-draft-discard", args=[project.slug, v1.pk]), follow=True
    )
    assert response.status_code == 200
    assert "never discarded" in response.content.decode()
    assert GuidelineVersion.objects.filter(pk=v1.pk).exists()
