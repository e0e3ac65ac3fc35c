"""The members page filtered by role (the overview's Leads, Reviewers and Annotators counts
open it so), its counts linking to each role's list, and members who cannot log in marked."""

from django.urls import reverse

from tests.factories import MembershipFactory, UserFactory


def _members(client, project, **params):
    response = client.get(reverse("project-members", args=[project.slug]), params)
    assert response.status_code == 200
    return response, [row.membership.user.username for row in response.context["members"]]


def test_role_filter_keeps_that_role_and_says_so(client, project, lead, reviewer, annotator):
    MembershipFactory(project=project, user=UserFactory(username="zoe"), role="annotator")
    client.force_login(lead)
    response, names = _members(client, project, role="annotator")
    assert names == ["annotator", "zoe"]
    html = response.content.decode()
    assert "Showing the 2 annotators only." in html
    assert 'id="show-all-members"' in html
    # The counts stay those of every role, each linking to its list.
    assert response.context["role_counts"] == {"lead": 1, "reviewer": 1, "annotator": 2}
    url = reverse("project-members", args=[project.slug])
    for role in ("lead", "reviewer", "annotator"):
        assert f'href="{url}?role={role}"' in html
    assert _members(client, project, role="reviewer")[1] == ["reviewer"]


def test_an_unknown_role_shows_every_member(client, project, lead, reviewer, annotator):
    client.force_login(lead)
    response, names = _members(client, project, role="boss")
    assert sorted(names) == ["annotator", "lead", "reviewer"]
    assert response.context["shown_role"] is None
    assert 'id="role-filter"' not in response.content.decode()


def test_a_role_nobody_has_says_so(client, project, lead):
    client.force_login(lead)
    response, names = _members(client, project, role="reviewer")
    assert names == []
    assert "This project has no reviewers." in response.content.decode()


def test_an_import_account_is_marked_as_unable_to_log_in(client, project, lead):
    imported = UserFactory(username="Person1_Amira", password=None)
    MembershipFactory(project=project, user=imported, role="annotator")
    client.force_login(lead)
    response, _ = _members(client, project)
    html = response.content.decode()
    assert html.count("cannot log in — work imported only") == 1
