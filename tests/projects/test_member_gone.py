"""A member removed by another lead in the meantime: a second removal or a role change of
that membership is refused ("… is no longer a member of …", 409), changing nothing, and the
members page says so instead of an error page."""

import pytest
from django.urls import reverse

from projects.errors import ConflictError
from projects.models import AuditEvent, Membership, Task, TaskStatus
from projects.selectors import setup as setup_selectors
from projects.services.members import membership_remove, membership_role_change
from tests.factories import ImageFactory, TaskFactory


@pytest.fixture
def gone(project, annotator, other_annotator):
    """The annotator's membership (with an open task), as a lead loaded it, then deleted by
    someone else."""
    TaskFactory(image=ImageFactory(project=project, name="a.png"), annotator=annotator)
    membership = Membership.objects.select_related("project", "user").get(
        project=project, user=annotator
    )
    Membership.objects.filter(pk=membership.pk).delete()
    return membership


def _state(project) -> tuple:
    tasks = sorted(
        Task.objects.filter(image__project=project).values_list("annotator__username", "status")
    )
    return tasks, Membership.objects.filter(project=project).count(), AuditEvent.objects.count()


def test_removing_a_membership_removed_meanwhile_is_a_conflict(project, lead, gone):
    before = _state(project)

    with pytest.raises(ConflictError) as refused:
        membership_remove(membership=gone, actor=lead)

    assert refused.value.status == 409
    assert refused.value.message == "annotator is no longer a member of Pool boiling."
    assert _state(project) == before
    assert Task.objects.get(annotator__username="annotator").status == TaskStatus.ASSIGNED


def test_changing_the_role_of_a_membership_removed_meanwhile_is_a_conflict(project, lead, gone):
    before = _state(project)

    with pytest.raises(ConflictError) as refused:
        membership_role_change(membership=gone, role="reviewer", actor=lead)

    assert refused.value.message == "annotator is no longer a member of Pool boiling."
    assert _state(project) == before


@pytest.fixture
def removed_after_lookup(monkeypatch):
    """The views find the membership, then another lead's removal commits before the
    change: the membership the view holds is gone from the database."""
    found = setup_selectors.membership_of

    def membership_of(*, project, pk):
        membership = found(project=project, pk=pk)
        Membership.objects.filter(pk=pk).delete()
        return membership

    monkeypatch.setattr(setup_selectors, "membership_of", membership_of)


@pytest.mark.parametrize(
    ("name", "data"),
    [("project-member-delete", {"plan": "x"}), ("project-member-role", {"role": "reviewer"})],
)
def test_a_change_to_a_member_removed_meanwhile_is_a_message(
    client, project, lead, annotator, removed_after_lookup, name, data
):
    membership = Membership.objects.get(project=project, user=annotator)
    TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    client.force_login(lead)

    response = client.post(reverse(name, args=[project.slug, membership.pk]), data, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(reverse("project-members", args=[project.slug]), 302)]
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["annotator is no longer a member of Pool boiling."]
    assert not Membership.objects.filter(pk=membership.pk).exists()
