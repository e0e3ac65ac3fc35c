"""The preview of a member's leaving (membership_rebalance_plan) is what the change does:
the same task to the same annotator, nothing written by the preview, the same refusals, and
a change refused (changing nothing) when its plan is no longer the one previewed."""

import pytest

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Membership, Task, TaskStatus
from projects.services.members import (
    membership_rebalance_plan,
    membership_remove,
    membership_role_change,
)
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)


def _state(project) -> tuple:
    """Everything a rebalance could write."""
    tasks = sorted(
        Task.objects.filter(image__project=project).values_list(
            "image__name", "annotator__username", "status"
        )
    )
    members = sorted(
        Membership.objects.filter(project=project).values_list("user__username", "role")
    )
    return tasks, members, AuditEvent.objects.count()


@pytest.fixture
def team(project, lead, annotator, other_annotator):
    """annotator has four open tasks: a.png and b.png (free for others), c.png (other_annotator
    has it; third has it too) and d.png, rejected (rework); plus a submitted one."""
    third = UserFactory(username="third")
    MembershipFactory(project=project, user=third, role="annotator")
    images = {name: ImageFactory(project=project, name=f"{name}.png") for name in "abcde"}
    for name in "abc":
        TaskFactory(image=images[name], annotator=annotator)
    TaskFactory(image=images["d"], annotator=annotator, status=TaskStatus.REJECTED)
    TaskFactory(image=images["e"], annotator=annotator, status=TaskStatus.SUBMITTED)
    TaskFactory(image=images["c"], annotator=other_annotator)
    TaskFactory(image=images["c"], annotator=third)
    TaskFactory(image=ImageFactory(project=project, name="z.png"), annotator=other_annotator)
    return Membership.objects.get(project=project, user=annotator)


def _moves(result) -> list[tuple[str, str]]:
    return [(old.image.name, new.annotator.username) for old, new in result.moved] + [
        (task.image.name, "-") for task in result.cancelled
    ]


def test_preview_of_removal_is_what_removal_does(project, lead, team):
    before = _state(project)

    preview = membership_rebalance_plan(membership=team, actor=lead)

    assert _state(project) == before
    # third has 1 open task (c.png), other_annotator 2 (c.png, z.png): third first, by load.
    assert _moves(preview) == [
        ("a.png", "third"),
        ("b.png", "other_annotator"),
        ("d.png", "third"),
        ("c.png", "-"),
    ]
    assert all(new.pk is None for _, new in preview.moved)
    result = membership_remove(membership=team, actor=lead, expected=preview.digest)
    assert _moves(result) == _moves(preview)
    assert result.digest == preview.digest
    assert not Membership.objects.filter(pk=team.pk).exists()


def test_preview_of_role_change_is_what_the_change_does(project, lead, team):
    preview = membership_rebalance_plan(membership=team, actor=lead, role="reviewer")

    membership_role_change(membership=team, role="reviewer", actor=lead, expected=preview.digest)

    moved = Task.objects.filter(image__project=project, status=TaskStatus.ASSIGNED).exclude(
        annotator__username="annotator"
    )
    assert sorted(
        moved.filter(image__name__in=["a.png", "b.png", "d.png"]).values_list(
            "image__name", "annotator__username"
        )
    ) == [("a.png", "third"), ("b.png", "other_annotator"), ("d.png", "third")]
    assert Membership.objects.get(pk=team.pk).role == "reviewer"


def test_role_change_that_keeps_annotating_moves_nothing(project, lead, reviewer):
    membership = Membership.objects.get(project=project, user=reviewer)

    preview = membership_rebalance_plan(membership=membership, actor=lead, role="lead")

    assert (preview.moved, preview.cancelled, preview.tasks) == ([], [], 0)
    membership_role_change(membership=membership, role="lead", actor=lead, expected=preview.digest)
    assert Membership.objects.get(pk=membership.pk).role == "lead"


def test_removal_refused_when_plan_changed_since_preview(project, lead, team):
    preview = membership_rebalance_plan(membership=team, actor=lead)
    # other_annotator finishes z.png meanwhile: one open task less, so a.png goes to them.
    Task.objects.filter(image__name="z.png").update(status=TaskStatus.SUBMITTED)
    before = _state(project)

    with pytest.raises(ConflictError) as refused:
        membership_remove(membership=team, actor=lead, expected=preview.digest)

    assert refused.value.message == (
        "annotator's open tasks changed since the preview: nothing was changed. "
        "Look at the new plan before confirming."
    )
    assert _state(project) == before


def test_role_change_refused_when_plan_changed_since_preview(project, lead, team):
    preview = membership_rebalance_plan(membership=team, actor=lead, role="lead")
    TaskFactory(image=ImageFactory(project=project, name="new.png"), annotator=team.user)
    before = _state(project)

    with pytest.raises(ConflictError):
        membership_role_change(membership=team, role="lead", actor=lead, expected=preview.digest)

    assert _state(project) == before


def test_role_change_of_non_annotator_refused_with_a_stale_plan(project, lead, reviewer):
    membership = Membership.objects.get(project=project, user=reviewer)
    before = _state(project)

    with pytest.raises(ConflictError):
        membership_role_change(membership=membership, role="lead", actor=lead, expected="stale")

    assert _state(project) == before


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("other_annotator", 403), ("outsider", 404)]
)
def test_preview_refused_as_the_change_is(request, project, team, who, status):
    actor = request.getfixturevalue(who)
    before = _state(project)

    for role in (None, "reviewer"):
        with pytest.raises(ApplicationError) as refused:
            membership_rebalance_plan(membership=team, actor=actor, role=role)
        assert refused.value.status == status

    assert _state(project) == before


def test_preview_of_acting_on_oneself_refused(project, lead):
    own = Membership.objects.get(project=project, user=lead)

    with pytest.raises(ApplicationError) as removal:
        membership_rebalance_plan(membership=own, actor=lead)
    with pytest.raises(ApplicationError) as change:
        membership_rebalance_plan(membership=own, actor=lead, role="annotator")

    assert (removal.value.status, removal.value.message) == (
        403,
        "You may not remove yourself from a project.",
    )
    assert (change.value.status, change.value.message) == (403, "You may not change your own role.")


def test_preview_refuses_an_unknown_role(project, lead, team):
    with pytest.raises(ApplicationError) as refused:
        membership_rebalance_plan(membership=team, actor=lead, role="boss")

    assert refused.value.message == "Unknown role 'boss'; choose one of lead, reviewer, annotator."


def test_site_admin_may_preview_their_own_removal(project, admin_user):
    own = MembershipFactory(project=project, user=admin_user, role="annotator")
    TaskFactory(image=ImageFactory(project=project), annotator=admin_user)

    preview = membership_rebalance_plan(membership=own, actor=admin_user)

    assert (len(preview.moved), len(preview.cancelled)) == (0, 1)


def test_rebalance_weighs_open_tasks_in_this_project_only(
    project, lead, annotator, other_annotator
):
    third = UserFactory(username="third")
    MembershipFactory(project=project, user=third, role="annotator")
    elsewhere = ProjectFactory(slug="elsewhere")
    for _ in range(3):
        TaskFactory(image=ImageFactory(project=elsewhere), annotator=other_annotator)
    TaskFactory(image=ImageFactory(project=project), annotator=third)
    TaskFactory(image=ImageFactory(project=project, name="a.png"), annotator=annotator)
    membership = Membership.objects.get(project=project, user=annotator)

    preview = membership_rebalance_plan(membership=membership, actor=lead)
    result = membership_remove(membership=membership, actor=lead, expected=preview.digest)

    # other_annotator has no open task here (three elsewhere, not weighed); third has one.
    assert _moves(preview) == _moves(result) == [("a.png", "other_annotator")]
