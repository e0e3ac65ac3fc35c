"""Task life (DESIGN §6): claim-next, start, cancel, reassign, removing a member."""

import datetime

import pytest

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Membership, Task, TaskStatus
from projects.services import (
    membership_remove,
    membership_role_change,
    task_assign,
    task_cancel,
    task_claim_next,
    task_reassign,
    task_start,
)
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory


@pytest.fixture
def task(project, annotator):
    return TaskFactory(image=ImageFactory(project=project, name="a.png"), annotator=annotator)


def _refused(call, status):
    with pytest.raises(ApplicationError) as refused:
        call()
    assert refused.value.status == status
    return refused.value


# ------------------------------------------------------------------------- claim-next


def test_claim_next_takes_soonest_due_then_oldest(project, annotator):
    late = TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, due_date=datetime.date(2030, 5, 1)
    )
    undated = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    soon = TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, due_date=datetime.date(2030, 1, 1)
    )

    order = [task_claim_next(project=project, actor=annotator).pk for _ in range(3)]

    assert order == [soon.pk, late.pk, undated.pk]
    assert set(Task.objects.values_list("status", flat=True)) == {TaskStatus.IN_PROGRESS}
    assert AuditEvent.objects.filter(verb="task.claim").count() == 3


def test_claim_next_skips_other_annotators_and_started_tasks(
    project, annotator, other_annotator, task
):
    TaskFactory(image=ImageFactory(project=project), annotator=other_annotator)
    task.status = TaskStatus.IN_PROGRESS
    task.save()

    refused = _refused(lambda: task_claim_next(project=project, actor=annotator), 409)

    assert refused.message == "No assigned task is waiting for you in bubbles."


def test_claim_next_refuses_lead_and_outsider(project, lead, outsider, task):
    _refused(lambda: task_claim_next(project=project, actor=lead), 403)
    _refused(lambda: task_claim_next(project=project, actor=outsider), 404)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


# ------------------------------------------------------------------------------ start


def test_start_moves_assigned_to_in_progress_once(task, annotator):
    started = task_start(task=task, actor=annotator)

    assert started.status == TaskStatus.IN_PROGRESS
    again = _refused(lambda: task_start(task=task, actor=annotator), 409)
    assert again.message == "Task a.png is in_progress; only assigned tasks start."
    assert AuditEvent.objects.filter(verb="task.start").count() == 1


def test_start_refuses_everyone_but_its_annotator(task, other_annotator, lead, outsider):
    _refused(lambda: task_start(task=task, actor=other_annotator), 403)
    _refused(lambda: task_start(task=task, actor=lead), 403)
    _refused(lambda: task_start(task=task, actor=outsider), 404)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


# ----------------------------------------------------------------------------- cancel


def test_cancel_open_task_by_lead(task, lead):
    task_cancel(task=task, actor=lead)

    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
    event = AuditEvent.objects.get(verb="task.cancel")
    assert (event.actor, event.before, event.after) == (
        lead,
        {"status": "assigned"},
        {"status": "cancelled", "reason": "cancelled"},
    )


def test_cancel_submitted_task_conflicts(task, lead):
    task.status = TaskStatus.SUBMITTED
    task.save()

    refused = _refused(lambda: task_cancel(task=task, actor=lead), 409)

    assert refused.message.startswith("Task a.png for annotator is submitted;")


@pytest.mark.parametrize("who,status", [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_cancel_refused_without_the_right(request, task, who, status):
    _refused(lambda: task_cancel(task=task, actor=request.getfixturevalue(who)), status)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


# --------------------------------------------------------------------------- reassign


def test_reassign_cancels_old_and_creates_new_with_same_due(task, lead, other_annotator):
    task.due_date = datetime.date(2030, 2, 3)
    task.save()

    new = task_reassign(task=task, annotator=other_annotator, actor=lead)

    assert Task.objects.get(pk=task.pk).status == TaskStatus.CANCELLED
    assert (new.annotator, new.image_id, new.status, new.due_date, new.assigned_by) == (
        other_annotator,
        task.image_id,
        TaskStatus.ASSIGNED,
        datetime.date(2030, 2, 3),
        lead,
    )


def test_reassign_to_someone_with_a_task_on_the_image_conflicts(task, lead, other_annotator):
    TaskFactory(image=task.image, annotator=other_annotator, status=TaskStatus.CANCELLED)

    refused = _refused(lambda: task_reassign(task=task, annotator=other_annotator, actor=lead), 409)

    assert refused.message == "other_annotator already has a task on a.png."
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


def test_reassign_to_non_annotator_refused(task, lead, reviewer):
    refused = _refused(lambda: task_reassign(task=task, annotator=reviewer, actor=lead), 400)

    assert refused.message == "reviewer is not an annotator of bubbles."


def test_reassign_refused_to_annotator(task, other_annotator):
    _refused(
        lambda: task_reassign(task=task, annotator=other_annotator, actor=other_annotator), 403
    )


# ------------------------------------------------------------------------------ assign


def test_assign_refused_to_reviewer_and_outsider(project, reviewer, outsider, annotator):
    images = [ImageFactory(project=project)]
    _refused(lambda: task_assign(project=project, images=images, actor=reviewer), 403)
    _refused(lambda: task_assign(project=project, images=images, actor=outsider), 404)
    assert Task.objects.count() == 0


def test_assign_to_a_non_annotator_refused(project, lead, reviewer):
    refused = _refused(
        lambda: task_assign(
            project=project,
            images=[ImageFactory(project=project)],
            actor=lead,
            annotators=[reviewer],
        ),
        400,
    )

    assert refused.message == "Not annotators of bubbles: reviewer."


# ------------------------------------------------------------------ removing a member


def test_remove_annotator_rebalances_least_loaded_first(project, lead, annotator):
    busy, idle = UserFactory(username="busy"), UserFactory(username="idle")
    for user in (busy, idle):
        MembershipFactory(project=project, user=user, role="annotator")
    TaskFactory(image=ImageFactory(project=project), annotator=busy)
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "abc"]
    for image in images:
        TaskFactory(image=image, annotator=annotator)
    TaskFactory(image=images[0], annotator=idle, status=TaskStatus.SUBMITTED)
    done = TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="submitted")

    result = membership_remove(
        membership=Membership.objects.get(project=project, user=annotator), actor=lead
    )

    # a.png: idle has it, so busy (now 2 open); b.png: idle (0 open); c.png: idle (1 < 2)
    assert [(old.image.name, new.annotator.username) for old, new in result.moved] == [
        ("a.png", "busy"),
        ("b.png", "idle"),
        ("c.png", "idle"),
    ]
    assert result.cancelled == []
    assert not Membership.objects.filter(project=project, user=annotator).exists()
    assert set(Task.objects.filter(annotator=annotator).values_list("status", flat=True)) == {
        TaskStatus.CANCELLED,
        TaskStatus.SUBMITTED,
    }
    assert Task.objects.get(pk=done.pk).status == TaskStatus.SUBMITTED


def test_remove_annotator_cancels_tasks_nobody_can_take(project, lead, annotator, other_annotator):
    shared = ImageFactory(project=project, name="shared.png")
    mine = TaskFactory(image=shared, annotator=annotator)
    TaskFactory(image=shared, annotator=other_annotator)

    result = membership_remove(
        membership=Membership.objects.get(project=project, user=annotator), actor=lead
    )

    assert (result.moved, [t.pk for t in result.cancelled]) == ([], [mine.pk])
    assert Task.objects.get(pk=mine.pk).status == TaskStatus.CANCELLED
    event = AuditEvent.objects.get(verb="membership.delete")
    assert (event.before, event.after) == (
        {"user": "annotator", "role": "annotator"},
        {"moved": 0, "cancelled": 1},
    )


def test_remove_member_refused_to_reviewer_and_self(project, lead, reviewer, annotator):
    membership = Membership.objects.get(project=project, user=annotator)
    _refused(lambda: membership_remove(membership=membership, actor=reviewer), 403)
    own = Membership.objects.get(project=project, user=lead)
    refused = _refused(lambda: membership_remove(membership=own, actor=lead), 403)
    assert refused.message == "You may not remove yourself from a project."
    assert Membership.objects.filter(project=project).count() == 3


def test_remove_member_refused_to_outsider(project, outsider, annotator):
    membership = Membership.objects.get(project=project, user=annotator)
    _refused(lambda: membership_remove(membership=membership, actor=outsider), 404)


def test_claim_after_reassign_goes_to_new_annotator(task, lead, annotator, other_annotator):
    task_reassign(task=task, annotator=other_annotator, actor=lead)

    with pytest.raises(ConflictError):
        task_claim_next(project=task.image.project, actor=annotator)
    claimed = task_claim_next(project=task.image.project, actor=other_annotator)

    assert (claimed.image_id, claimed.status) == (task.image_id, TaskStatus.IN_PROGRESS)


def test_annotator_made_reviewer_has_open_tasks_rebalanced(
    project, lead, annotator, other_annotator
):
    open_task = TaskFactory(image=ImageFactory(project=project, name="o.png"), annotator=annotator)
    done = TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="submitted")

    membership_role_change(
        membership=Membership.objects.get(project=project, user=annotator),
        role="reviewer",
        actor=lead,
    )

    assert Membership.objects.get(project=project, user=annotator).role == "reviewer"
    assert Task.objects.get(pk=open_task.pk).status == TaskStatus.CANCELLED
    assert Task.objects.get(image=open_task.image, annotator=other_annotator).status == "assigned"
    assert Task.objects.get(pk=done.pk).status == TaskStatus.SUBMITTED
    event = AuditEvent.objects.get(verb="membership.rebalance")
    assert event.after == {"moved": 1, "cancelled": 0}


def test_own_role_change_refused(project, lead):
    with pytest.raises(ApplicationError) as refused:
        membership_role_change(
            membership=Membership.objects.get(project=project, user=lead),
            role="annotator",
            actor=lead,
        )

    assert (refused.value.status, refused.value.message) == (
        403,
        "You may not change your own role.",
    )
