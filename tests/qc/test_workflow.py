"""Submissions, reviews and accepted labels (DESIGN §6), on the database."""

import threading

import numpy as np
import pytest
from django.db import connection

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Task, TaskStatus
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc.agreement import instance_features
from qc.models import (
    GoldScore,
    ImageLabel,
    ImageLabelHistory,
    Instance,
    Review,
    ReviewAssignment,
    Submission,
)
from qc.selectors import rework_rounds_expression
from qc.services import (
    FlagInput,
    InstanceInput,
    image_label_send_back,
    image_label_set,
    image_label_set_gold,
    review_assign,
    review_decide,
    submission_create,
)
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory


def disc(cx: int, cy: int, r: int, *, height: int = 48, width: int = 64) -> dict:
    yy, xx = np.mgrid[:height, :width]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


@pytest.fixture
def task(project, annotator):
    return TaskFactory(
        image=ImageFactory(project=project, width=64, height=48), annotator=annotator
    )


def test_submission_create_stores_instances_with_features(task, bubble, annotator):
    rle = disc(20, 20, 6)

    submission = submission_create(
        task=task, actor=annotator, instances=[InstanceInput(label_class=bubble, rle=rle)]
    )

    instance = Instance.objects.get(submission=submission)
    assert masks.rle_from_string(instance.rle, height=48, width=64)["counts"] == rle["counts"]
    assert (instance.area, instance.bbox_x, instance.bbox_y, instance.bbox_w, instance.bbox_h) == (
        masks.rle_area(rle),
        14,
        14,
        13,
        13,
    )
    assert instance.boundary_px == 2  # max(1, round(0.02 * hypot(64, 48)))
    assert instance.perimeter == instance_features(rle, boundary_px=2).perimeter
    task.refresh_from_db()
    assert (task.status, submission.revision) == (TaskStatus.SUBMITTED, 1)
    assert AuditEvent.objects.filter(verb="submission.create").count() == 1


def test_submission_create_empty_is_a_submission(task, annotator):
    submission = submission_create(task=task, actor=annotator, instances=[])

    assert (submission.instances.count(), submission.revision) == (0, 1)


def test_submission_on_submitted_task_is_a_conflict(task, bubble, annotator):
    submission_create(task=task, actor=annotator, instances=[])

    with pytest.raises(ConflictError):
        submission_create(task=task, actor=annotator, instances=[])

    assert Submission.objects.count() == 1


def test_submission_wrong_size_mask_refused_and_nothing_written(task, bubble, annotator):
    good = InstanceInput(label_class=bubble, rle=disc(10, 10, 3))
    bad = InstanceInput(label_class=bubble, rle=disc(10, 10, 3, height=40, width=40))

    with pytest.raises(ApplicationError, match="does not fit the image"):
        submission_create(task=task, actor=annotator, instances=[good, bad])

    assert (Submission.objects.count(), Instance.objects.count()) == (0, 0)


def test_submission_gate_requires_current_guideline_acknowledged(task, bubble, lead, annotator):
    version = guideline_version_create(
        project=task.image.project,
        title="Bubbles",
        body="Hug the rim.",
        author=lead,
        change_summary="What changed.",
        publish=True,
    )

    with pytest.raises(ApplicationError, match="Acknowledge the current guideline"):
        submission_create(task=task, actor=annotator, instances=[])
    guideline_acknowledge(version=version, user=annotator)
    submission = submission_create(task=task, actor=annotator, instances=[])

    assert list(submission.guideline_versions.all()) == [version]


def test_submission_blocking_rule_refuses_with_violations(task, bubble, lead, annotator):
    version = guideline_version_create(
        project=task.image.project,
        title="Bubbles",
        body="x",
        author=lead,
        change_summary="What changed.",
        publish=True,
        rules=[
            {"rule": "min_area_px", "value": 50, "severity": "block"},
            {"rule": "max_instances", "value": 5, "severity": "warn"},
        ],
    )
    guideline_acknowledge(version=version, user=annotator)
    tiny = InstanceInput(label_class=bubble, rle=disc(30, 30, 2))

    with pytest.raises(ApplicationError) as refused:
        submission_create(task=task, actor=annotator, instances=[tiny])

    assert refused.value.extra["violations"] == [
        {
            "rule": "min_area_px",
            "severity": "block",
            "instance": 0,
            "message": "instance 1 (bubble) has 13 px, under 50 px",
        }
    ]
    assert Submission.objects.count() == 0


def test_submission_warning_rule_is_recorded(task, bubble, lead, annotator):
    version = guideline_version_create(
        project=task.image.project,
        title="Bubbles",
        body="x",
        author=lead,
        change_summary="What changed.",
        publish=True,
        rules=[{"rule": "min_area_px", "value": 50, "severity": "warn"}],
    )
    guideline_acknowledge(version=version, user=annotator)

    submission = submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(30, 30, 2))],
    )

    assert [v["rule"] for v in submission.rule_violations] == ["min_area_px"]


@pytest.fixture
def submitted(task, bubble, annotator, reviewer):
    submission = submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(20, 20, 6))],
    )
    review_assign(image=task.image, actor=None)
    return submission


def test_review_assign_picks_least_loaded_reviewer_who_did_not_annotate(project, annotator):
    busy, free = UserFactory(username="busy"), UserFactory(username="free")
    for user in (busy, free):
        MembershipFactory(project=project, user=user, role="reviewer")
    ReviewAssignment.objects.create(image=ImageFactory(project=project), reviewer=busy)
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=annotator)

    assignment = review_assign(image=image, actor=None)

    assert assignment.reviewer == free


def test_review_reject_sends_task_back_and_rework_makes_revision_two(
    submitted, reviewer, annotator, bubble
):
    instance = submitted.instances.get()

    review_decide(
        submission=submitted,
        reviewer=reviewer,
        decision="reject",
        reasons=["boundary_too_loose"],
        flags=[FlagInput(instance=instance, reason="boundary_too_loose", note="rim")],
    )
    rework = submission_create(
        task=submitted.task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(20, 20, 5))],
    )

    assert rework.revision == 2
    assert Instance.objects.filter(submission=submitted).count() == 1  # revision 1 kept
    assert submitted.review.flags.get().note == "rim"


def test_review_reject_without_reason_refused(submitted, reviewer):
    with pytest.raises(ApplicationError, match="needs at least one reason"):
        review_decide(submission=submitted, reviewer=reviewer, decision="reject")

    assert Review.objects.count() == 0


def test_review_unknown_reason_refused(submitted, reviewer):
    with pytest.raises(ApplicationError, match="Unknown reason codes: too_blue"):
        review_decide(
            submission=submitted, reviewer=reviewer, decision="reject", reasons=["too_blue"]
        )


def test_review_by_annotator_of_the_image_refused(submitted, annotator):
    with pytest.raises(ApplicationError, match="may not review"):
        review_decide(submission=submitted, reviewer=annotator, decision="accept")


def test_review_second_decision_is_a_conflict(submitted, reviewer, lead):
    review_decide(submission=submitted, reviewer=reviewer, decision="accept")

    with pytest.raises(ConflictError):
        review_decide(submission=submitted, reviewer=lead, decision="reject", reasons=["other"])

    assert Review.objects.get().decision == "accept"


def test_image_label_from_accepted_submission(submitted, reviewer):
    review_decide(submission=submitted, reviewer=reviewer, decision="accept")

    label = image_label_set(image=submitted.task.image, actor=reviewer, submission=submitted)

    assert (label.submission, label.from_consensus) == (submitted, False)
    assert not ReviewAssignment.objects.filter(status="open").exists()


def test_image_label_from_unreviewed_submission_refused(submitted, reviewer):
    with pytest.raises(ApplicationError, match="has not been accepted"):
        image_label_set(image=submitted.task.image, actor=reviewer, submission=submitted)

    assert ImageLabel.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_review_two_reviewers_at_once_one_wins_one_conflict(project, bubble):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    annotator, first, second = (UserFactory(username=n) for n in ("ann", "rev1", "rev2"))
    MembershipFactory(project=project, user=annotator, role="annotator")
    MembershipFactory(project=project, user=first, role="lead")
    MembershipFactory(project=project, user=second, role="lead")
    task = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    submission = submission_create(task=task, actor=annotator, instances=[])
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(reviewer, decision):
        barrier.wait()
        try:
            review_decide(
                submission=submission,
                reviewer=reviewer,
                decision=decision,
                reasons=["other"] if decision == "reject" else [],
            )
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(first, "accept")),
        threading.Thread(target=decide, args=(second, "reject")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict", "won"]
    assert Review.objects.count() == 1
    task.refresh_from_db()
    expected = TaskStatus.ACCEPTED if Review.objects.get().decision == "accept" else "rejected"
    assert task.status == expected


# ------------------------------------------------------------- who may do what (DESIGN §10)


def test_submission_for_another_annotators_task_is_forbidden(task, bubble, other_annotator):
    with pytest.raises(ApplicationError) as refused:
        submission_create(
            task=task,
            actor=other_annotator,
            instances=[InstanceInput(label_class=bubble, rle=disc(20, 20, 6))],
        )

    assert refused.value.status == 403
    assert refused.value.message == (
        f"{other_annotator} may not submit for {task.annotator}'s task on {task.image.name}."
    )
    assert (Submission.objects.count(), Instance.objects.count()) == (0, 0)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.ASSIGNED


@pytest.mark.parametrize("who", ["outsider", "reviewer"])
def test_submission_by_someone_who_does_not_annotate_is_forbidden(request, task, who):
    actor = request.getfixturevalue(who)

    with pytest.raises(ApplicationError) as refused:
        submission_create(task=task, actor=actor, instances=[])

    assert refused.value.status == 403
    assert Submission.objects.count() == 0


def test_submission_by_a_lead_for_an_annotator_is_recorded_as_imported_by_the_lead(task, lead):
    submission = submission_create(task=task, actor=lead, instances=[])

    assert (submission.revision, submission.imported_by) == (1, lead)


@pytest.mark.parametrize("who", ["outsider", "annotator", "other_annotator"])
def test_image_label_by_someone_who_may_not_review_is_forbidden(request, submitted, reviewer, who):
    review_decide(submission=submitted, reviewer=reviewer, decision="accept")
    actor = request.getfixturevalue(who)

    with pytest.raises(ApplicationError) as refused:
        image_label_set(image=submitted.task.image, actor=actor, submission=submitted)

    assert refused.value.status == 403
    assert ImageLabel.objects.count() == 0


@pytest.mark.parametrize("who", ["outsider", "annotator", "reviewer"])
def test_review_assign_by_someone_who_does_not_lead_is_forbidden(request, task, who):
    actor = request.getfixturevalue(who)

    with pytest.raises(ApplicationError) as refused:
        review_assign(image=task.image, actor=actor)

    assert refused.value.status == 403
    assert ReviewAssignment.objects.count() == 0


def test_gold_by_a_reviewer_is_forbidden_and_by_a_lead_allowed(submitted, reviewer, lead):
    review_decide(submission=submitted, reviewer=reviewer, decision="accept")
    label = image_label_set(image=submitted.task.image, actor=reviewer, submission=submitted)

    with pytest.raises(ApplicationError) as refused:
        image_label_set_gold(label=label, actor=reviewer)
    gold = image_label_set_gold(label=label, actor=lead)

    assert refused.value.status == 403
    assert gold.is_gold is True
    assert ImageLabel.objects.get(pk=label.pk).is_gold is True


# ------------------------------------------------------ send-back, rework rounds and gold


def _accepted_label(submitted, reviewer):
    review_decide(submission=submitted, reviewer=reviewer, decision="accept")
    return image_label_set(image=submitted.task.image, actor=reviewer, submission=submitted)


def _rework_rounds(task) -> int:
    return Task.objects.annotate(n=rework_rounds_expression()).get(pk=task.pk).n


def test_send_back_rejects_the_tasks_and_keeps_the_label_in_force(submitted, reviewer):
    label = _accepted_label(submitted, reviewer)

    send_back = image_label_send_back(
        image=submitted.task.image, actor=reviewer, reasons=["missed_instance"], comment="left"
    )

    task = Task.objects.get(pk=submitted.task_id)
    label.refresh_from_db()
    assert (task.status, _rework_rounds(task)) == (TaskStatus.REJECTED, 1)
    assert (label.submission, label.sent_back) == (submitted, True)
    assert list(send_back.tasks.all()) == [task]
    event = AuditEvent.objects.get(verb="image_label.send_back")
    assert (event.actor, event.after["reasons"]) == (reviewer, ["missed_instance"])


def test_send_back_twice_is_a_conflict_and_without_label_too(submitted, reviewer, lead):
    with pytest.raises(ConflictError, match="no accepted label"):
        image_label_send_back(image=submitted.task.image, actor=lead, reasons=["other"])
    _accepted_label(submitted, reviewer)
    image_label_send_back(image=submitted.task.image, actor=lead, reasons=["other"])

    with pytest.raises(ConflictError, match="already sent back"):
        image_label_send_back(image=submitted.task.image, actor=lead, reasons=["other"])


@pytest.mark.parametrize("who", ["annotator", "other_annotator", "outsider"])
def test_send_back_by_someone_who_may_not_review_is_forbidden(request, submitted, reviewer, who):
    _accepted_label(submitted, reviewer)

    with pytest.raises(ApplicationError) as refused:
        image_label_send_back(
            image=submitted.task.image, actor=request.getfixturevalue(who), reasons=["other"]
        )

    assert refused.value.status == 403
    assert Task.objects.get(pk=submitted.task_id).status == TaskStatus.ACCEPTED


def test_rework_after_send_back_replaces_the_label_and_keeps_the_old_in_history(
    submitted, reviewer, lead, annotator, bubble
):
    label = _accepted_label(submitted, reviewer)
    image = submitted.task.image
    image_label_send_back(image=image, actor=lead, reasons=["boundary_too_loose"])
    rework = submission_create(
        task=submitted.task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(20, 20, 5))],
    )
    review_assign(image=image, actor=lead, reviewer=reviewer)
    review_decide(submission=rework, reviewer=reviewer, decision="accept")

    replaced = image_label_set(image=image, actor=reviewer, submission=rework)

    assert (replaced.pk, replaced.submission, replaced.sent_back) == (label.pk, rework, False)
    history = ImageLabelHistory.objects.get(image=image)
    assert (history.submission, history.accepted_by, history.replaced_by) == (
        submitted,
        reviewer,
        reviewer,
    )
    assert _rework_rounds(submitted.task) == 1


def test_a_label_not_sent_back_is_not_replaced(submitted, reviewer, lead):
    _accepted_label(submitted, reviewer)

    with pytest.raises(ConflictError, match="already has an accepted label"):
        image_label_set(image=submitted.task.image, actor=lead, from_consensus=True)


def test_rework_rounds_count_rejections(submitted, reviewer, annotator):
    review_decide(submission=submitted, reviewer=reviewer, decision="reject", reasons=["other"])
    second = submission_create(task=submitted.task, actor=annotator, instances=[])
    review_decide(submission=second, reviewer=reviewer, decision="reject", reasons=["other"])

    assert _rework_rounds(submitted.task) == 2


def test_submission_on_a_gold_image_is_scored_against_the_gold_label(
    submitted, reviewer, lead, other_annotator, bubble
):
    label = _accepted_label(submitted, reviewer)
    image_label_set_gold(label=label, actor=lead)
    later = TaskFactory(image=submitted.task.image, annotator=other_annotator)

    scored = submission_create(
        task=later,
        actor=other_annotator,
        instances=[
            InstanceInput(label_class=bubble, rle=disc(20, 20, 6)),
            InstanceInput(label_class=bubble, rle=disc(50, 35, 4)),
        ],
    )

    score = GoldScore.objects.get(submission=scored)
    assert (score.label, score.matched, score.missed, score.extra) == (label, 1, 0, 1)
    assert (score.mean_iou, score.pq, score.match_iou) == (1.0, pytest.approx(2 / 3), 0.5)


def test_submission_on_an_image_without_gold_is_not_scored(submitted, other_annotator):
    later = TaskFactory(image=submitted.task.image, annotator=other_annotator)

    submission_create(task=later, actor=other_annotator, instances=[])

    assert GoldScore.objects.count() == 0
