"""Every setup and guideline service checks its actor (DESIGN §10): a member without the
right gets a 403, an outsider a 404, and nothing is written; no actor is the operator."""

import pytest
from django.db import IntegrityError, transaction

from projects.errors import ApplicationError, ConflictError
from projects.models import (
    Acknowledgement,
    AuditEvent,
    GuidelineVersion,
    Image,
    LabelClass,
    Membership,
    Project,
)
from projects.services import (
    guideline_acknowledge,
    guideline_version_create,
    guideline_version_publish,
    guideline_version_update,
    image_create,
    label_class_create,
    label_class_update,
    membership_add,
    membership_role_change,
    membership_set,
    project_create,
)
from tests.factories import GuidelineVersionFactory, UserFactory


@pytest.fixture
def draft(project, lead):
    return GuidelineVersionFactory(guideline__project=project, number=1, author=lead, body="a")


def _calls(project, bubble, draft, target):
    membership = Membership.objects.get(project=project, user=target)
    return {
        "label_class_create": lambda actor: label_class_create(
            project=project, name="drop", actor=actor
        ),
        "label_class_update": lambda actor: label_class_update(
            label_class=bubble, actor=actor, colour="#000000"
        ),
        "membership_set": lambda actor: membership_set(
            project=project, user=UserFactory(username="new"), role="annotator", actor=actor
        ),
        "membership_add": lambda actor: membership_add(
            project=project, user=UserFactory(username="new"), role="annotator", actor=actor
        ),
        "membership_role_change": lambda actor: membership_role_change(
            membership=membership, role="lead", actor=actor
        ),
        "image_create": lambda actor: image_create(
            project=project, name="x.png", width=4, height=4, actor=actor
        ),
        "guideline_version_create": lambda actor: guideline_version_create(
            project=project, title="T", body="b", author=actor
        ),
        "guideline_version_update": lambda actor: guideline_version_update(
            version=draft, actor=actor, body="changed"
        ),
        "guideline_version_publish": lambda actor: guideline_version_publish(
            version=draft, actor=actor, change_summary="First."
        ),
    }


SERVICES = [
    "label_class_create",
    "label_class_update",
    "membership_set",
    "membership_add",
    "membership_role_change",
    "image_create",
    "guideline_version_create",
    "guideline_version_update",
    "guideline_version_publish",
]


def _state():
    return (
        LabelClass.objects.count(),
        list(LabelClass.objects.values_list("colour", flat=True)),
        sorted(Membership.objects.values_list("user__username", "role")),
        Image.objects.count(),
        sorted(GuidelineVersion.objects.values_list("number", "body", "published_at")),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who,status", [("reviewer", 403), ("annotator", 403), ("outsider", 404)])
def test_refused_without_the_right(
    request, project, bubble, draft, other_annotator, service, who, status
):
    call = _calls(project, bubble, draft, other_annotator)[service]
    actor = request.getfixturevalue(who)
    before = _state()

    with pytest.raises(ApplicationError) as refused:
        call(actor)

    assert refused.value.status == status
    assert _state() == before


@pytest.mark.parametrize("service", SERVICES)
def test_lead_and_operator_may(project, bubble, draft, lead, other_annotator, service):
    call = _calls(project, bubble, draft, other_annotator)[service]

    call(lead)

    assert AuditEvent.objects.filter(actor=lead).count() >= 1


def test_acknowledge_only_by_annotators(project, lead, reviewer, annotator, outsider, draft):
    guideline_version_publish(version=draft, actor=lead, change_summary="First.")

    for who, status in ((lead, 403), (reviewer, 403), (outsider, 404)):
        with pytest.raises(ApplicationError) as refused:
            guideline_acknowledge(version=draft, user=who)
        assert refused.value.status == status
    guideline_acknowledge(version=draft, user=annotator)

    assert list(Acknowledgement.objects.values_list("user__username", flat=True)) == ["annotator"]


def test_draft_update_audits_only_what_changed(draft, lead):
    guideline_version_update(version=draft, actor=lead, body="b", change_summary="")

    event = AuditEvent.objects.get(verb="guideline_version.update")
    assert (event.before, event.after) == ({"body": "a"}, {"body": "b"})
    assert GuidelineVersion.objects.get(pk=draft.pk).body_html == "<p>b</p>"


def test_published_version_is_never_edited(draft, lead):
    guideline_version_publish(version=draft, actor=lead, change_summary="First.")

    with pytest.raises(ConflictError, match="is published; write a new version instead"):
        guideline_version_update(version=draft, actor=lead, body="changed")

    version = GuidelineVersion.objects.get(pk=draft.pk)
    assert (version.body, version.change_summary) == ("a", "First.")


def test_project_create_by_staff_adds_no_membership(admin_user):
    project = project_create(slug="cells", actor=admin_user)

    assert (Project.objects.get().pk, Membership.objects.count()) == (project.pk, 0)


@pytest.mark.parametrize("slug", ["bubbles", "cells"])
def test_project_create_refused_to_anyone_but_staff_whatever_the_slug(project, lead, slug):
    """The same 403 whether the slug is taken or not: nobody learns a project exists."""
    before = (Project.objects.count(), Membership.objects.count(), AuditEvent.objects.count())

    with pytest.raises(ApplicationError) as refused:
        project_create(slug=slug, labels=["bubble"], actor=lead)

    assert (refused.value.status, refused.value.message) == (
        403,
        "Only a site admin creates projects.",
    )
    assert (Project.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == (
        before
    )


def test_project_slugs_are_unique_whatever_their_case(project, admin_user):
    with pytest.raises(ConflictError, match="slug 'BUBBLES' already exists"):
        project_create(slug="BUBBLES", actor=admin_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(slug="Bubbles", name="Twin")
    assert Project.objects.count() == 1


def test_duplicate_creates_are_conflicts(project, bubble, lead):
    image_create(project=project, name="a.png", width=2, height=2, actor=lead)

    for call in (
        lambda: project_create(slug="bubbles"),
        lambda: label_class_create(project=project, name="bubble", actor=lead),
        lambda: image_create(project=project, name="a.png", width=2, height=2, actor=lead),
        lambda: membership_add(project=project, user=lead, role="reviewer", actor=lead),
    ):
        with pytest.raises(ConflictError):
            call()
    assert (LabelClass.objects.count(), Image.objects.count()) == (1, 1)


def test_membership_set_twice_keeps_one_row_and_changes_role(project, lead):
    user = UserFactory(username="u")

    first = membership_set(project=project, user=user, role="annotator", actor=lead)
    second = membership_set(project=project, user=user, role="reviewer", actor=lead)

    assert first.pk == second.pk
    assert Membership.objects.get(user=user).role == "reviewer"
