"""The agreement backlog: images whose stored agreement is missing, stale or to be removed
are found and queued again, and nothing is queued while agreement work still waits."""

import logging
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from projects.models import TaskStatus
from qc import masks
from qc.models import AgreementSummary, ImageAgreement
from qc.services import InstanceInput, submission_create
from qc.services.agreement import (
    agreement_summary_update,
    agreement_update_for_image,
    agreement_update_for_images_task,
)
from qc.services.agreement_backlog import (
    agreement_backlog_images,
    agreement_backlog_queue,
    agreement_backlog_reports,
    agreement_backlog_round,
    agreement_queue,
    agreement_work_waiting,
)
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

# RQ where nothing listens: every enqueue is refused with a ConnectionError.
REFUSING_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
REFUSING_QUEUES = {"default": {"URL": "redis://127.0.0.1:6399/0"}}
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def square(x: int, y: int, size: int = 8) -> dict:
    """An RLE of a ``size`` square at column x, row y on a 32 × 32 image."""
    grid = np.zeros((32, 32), dtype=bool)
    grid[y : y + size, x : x + size] = True
    return masks.rle_from_mask(grid)


@pytest.fixture
def annotators(project):
    users = []
    for name in ("amy", "bob", "cid"):
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user, role="annotator")
        users.append(user)
    return users


def _image(project, name: str):
    return ImageFactory(project=project, name=name, width=32, height=32)


def _submit(image, user, bubble, x: int = 4):
    """``user`` submits one square for ``image``; the on-commit agreement does not run
    (a test's transaction never commits), as when the queue was down."""
    task = image.tasks.filter(annotator=user).first() or TaskFactory(image=image, annotator=user)
    return submission_create(
        task=task, actor=user, instances=[InstanceInput(label_class=bubble, rle=square(x, 4))]
    )


def _submitted(image, users, bubble, *, computed: bool):
    for k, user in enumerate(users):
        _submit(image, user, bubble, x=4 + k)
    if computed:
        agreement_update_for_image(image_id=image.pk)
    return image


# ------------------------------------------------------------------ what the backlog finds


def test_backlog_images_missing_when_two_submissions_have_no_agreement(project, bubble, annotators):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)

    assert agreement_backlog_images() == {image.pk: "missing"}


def test_backlog_images_stale_when_a_submission_is_newer_than_the_agreement(
    project, bubble, annotators
):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)
    stored = ImageAgreement.objects.get(image=image)
    newest = image.tasks.get(annotator=annotators[1]).submissions.get().submitted_at
    # The agreement was stored before bob's submission arrived (its task never ran).
    ImageAgreement.objects.filter(pk=stored.pk).update(computed_at=newest - timedelta(seconds=1))

    assert agreement_backlog_images() == {image.pk: "stale"}


def test_backlog_images_stale_when_a_third_annotator_submitted_since(project, bubble, annotators):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)
    _submit(image, annotators[2], bubble, x=9)

    assert agreement_backlog_images() == {image.pk: "stale"}


def test_backlog_images_stale_when_a_submitted_task_was_cancelled_since(
    project, bubble, annotators
):
    image = _submitted(_image(project, "a.png"), annotators, bubble, computed=True)
    image.tasks.filter(annotator=annotators[2]).update(status=TaskStatus.CANCELLED)

    assert agreement_backlog_images() == {image.pk: "stale"}


def test_backlog_images_removed_when_fewer_than_two_live_submissions_remain(
    project, bubble, annotators
):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)
    image.tasks.filter(annotator=annotators[1]).update(status=TaskStatus.CANCELLED)

    assert agreement_backlog_images() == {image.pk: "removed"}


def test_backlog_images_empty_when_every_agreement_is_up_to_date(project, bubble, annotators):
    _submitted(_image(project, "both.png"), annotators[:2], bubble, computed=True)
    _submitted(_image(project, "one.png"), annotators[:1], bubble, computed=False)
    _image(project, "none.png")

    assert agreement_backlog_images() == {}
    assert agreement_backlog_queue() == 0


def test_backlog_images_of_one_project_leave_the_others_out(project, bubble, annotators):
    other = ProjectFactory(slug="drops")
    for user in annotators[:2]:
        MembershipFactory(project=other, user=user, role="annotator")
    mine = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)
    drop = LabelClassFactory(project=other, name="drop")
    theirs = _submitted(_image(other, "b.png"), annotators[:2], drop, computed=False)

    assert agreement_backlog_images(project=project) == {mine.pk: "missing"}
    assert agreement_backlog_images(project=other) == {theirs.pk: "missing"}
    assert agreement_backlog_images() == {mine.pk: "missing", theirs.pk: "missing"}


def test_backlog_images_limit_takes_the_lowest_ids_first(project, bubble, annotators):
    images = [
        _submitted(_image(project, f"{k}.png"), annotators[:2], bubble, computed=False)
        for k in range(3)
    ]

    assert agreement_backlog_images(limit=2) == {images[0].pk: "missing", images[1].pk: "missing"}


# ------------------------------------------------------------------ queueing it


def test_backlog_queue_computes_missing_stale_and_removed_agreement(project, bubble, annotators):
    missing = _submitted(_image(project, "m.png"), annotators[:2], bubble, computed=False)
    stale = _submitted(_image(project, "s.png"), annotators[:2], bubble, computed=True)
    _submit(stale, annotators[2], bubble, x=9)
    removed = _submitted(_image(project, "r.png"), annotators[:2], bubble, computed=True)
    removed.tasks.filter(annotator=annotators[0]).update(status=TaskStatus.CANCELLED)

    queued = agreement_backlog_queue()  # the immediate backend computes as it queues

    assert queued == 3
    assert ImageAgreement.objects.get(image=missing).annotators == 2
    assert ImageAgreement.objects.get(image=stale).annotators == 3
    assert not ImageAgreement.objects.filter(image=removed).exists()
    assert agreement_backlog_images() == {}


@override_settings(TASKS=DATABASE_TASKS)
def test_backlog_queue_queues_nothing_while_agreement_tasks_wait(project, bubble, annotators):
    first = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)
    second = _submitted(_image(project, "b.png"), annotators[:2], bubble, computed=False)
    agreement_update_for_images_task.enqueue(image_ids=[first.pk])

    queued = agreement_backlog_queue()

    assert queued == 0
    assert agreement_work_waiting() is True
    assert [r.args_kwargs["kwargs"] for r in DBTaskResult.objects.all()] == [
        {"image_ids": [first.pk]}
    ]
    assert agreement_backlog_images() == {first.pk: "missing", second.pk: "missing"}


@override_settings(TASKS=DATABASE_TASKS)
def test_backlog_queue_ignores_finished_and_started_agreement_tasks(project, bubble, annotators):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)
    agreement_update_for_images_task.enqueue(image_ids=[image.pk])
    agreement_update_for_images_task.enqueue(image_ids=[image.pk])
    # One finished before the image's data was lost, one taken by a worker that died.
    done, started = DBTaskResult.objects.order_by("enqueued_at")
    DBTaskResult.objects.filter(pk=done.pk).update(status=TaskResultStatus.SUCCESSFUL)
    DBTaskResult.objects.filter(pk=started.pk).update(status=TaskResultStatus.RUNNING)

    assert agreement_work_waiting() is False
    assert agreement_backlog_queue() == 1
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1


@override_settings(TASKS=DATABASE_TASKS)
@pytest.mark.parametrize("count", [1, 3])
def test_backlog_queue_query_count_does_not_grow_with_images(
    project, bubble, annotators, count, django_assert_num_queries
):
    for k in range(count):
        _submitted(_image(project, f"{k}.png"), annotators[:2], bubble, computed=False)

    # 1. agreement tasks waiting? 2. the backlog's images; then queueing one group:
    # 3. savepoint, 4. the task row, 5. release.
    with django_assert_num_queries(5):
        queued = agreement_backlog_queue()

    assert queued == count
    assert DBTaskResult.objects.count() == 1


@override_settings(TASKS=DATABASE_TASKS)
@pytest.mark.parametrize("count", [1, 3])
def test_backlog_queue_with_nothing_to_do_reads_three_times_whatever_the_images(
    project, bubble, annotators, count, django_assert_num_queries
):
    for k in range(count):
        _submitted(_image(project, f"{k}.png"), annotators[:2], bubble, computed=True)
    agreement_summary_update(project_id=project.pk)

    # 1. agreement tasks waiting? 2. the backlog's images 3. the stale reports.
    with django_assert_num_queries(3):
        queued = agreement_backlog_queue()

    assert queued == 0
    assert DBTaskResult.objects.count() == 0


# ------------------------------------------------------------------ the reports


def test_backlog_reports_missing_or_older_than_an_image_result(project, bubble, annotators):
    other = ProjectFactory(slug="drops")
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)
    assert agreement_backlog_reports() == [project.pk]  # never built
    summary = agreement_summary_update(project_id=project.pk)
    assert agreement_backlog_reports() == []
    stored = ImageAgreement.objects.get(image=image).computed_at
    AgreementSummary.objects.filter(pk=summary.pk).update(computed_at=stored - timedelta(seconds=1))

    assert agreement_backlog_reports() == [project.pk]
    assert agreement_backlog_reports(project=other) == []


def test_backlog_round_queues_a_stale_report_once_no_image_is_due(project, bubble, annotators):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)

    done = agreement_backlog_round()  # the immediate backend rebuilds it as it queues
    again = agreement_backlog_round()

    assert (done.queued, done.reports) == ([], [project.pk])
    assert AgreementSummary.objects.get(project=project).report["images"] == 1
    assert (again.queued, again.reports) == ([], [])
    assert ImageAgreement.objects.filter(image=image).count() == 1


def test_backlog_round_leaves_reports_to_the_images_tasks_when_images_are_due(
    project, bubble, annotators
):
    _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)
    _submitted(_image(project, "b.png"), annotators[:2], bubble, computed=False)

    done = agreement_backlog_round()

    assert (len(done.queued), done.reports) == (1, [])
    assert AgreementSummary.objects.get(project=project).report["images"] == 2


@override_settings(TASKS=REFUSING_TASKS, RQ_QUEUES=REFUSING_QUEUES)
def test_agreement_queue_logs_one_warning_and_returns_false_when_the_queue_refuses(db, caplog):
    with caplog.at_level(logging.WARNING, logger="maskqc.agreement"):
        queued = agreement_queue(image_ids=[4, 5, 9])

    assert queued is False
    [record] = caplog.records
    assert record.getMessage().startswith(
        "agreement not queued for images 4, 5, 9 (ConnectionError: "
    )
    assert record.getMessage().endswith(
        "); the agreement backlog queues it once the task queue takes work again"
    )


@override_settings(TASKS=REFUSING_TASKS, RQ_QUEUES=REFUSING_QUEUES)
def test_images_task_stores_its_images_when_their_report_cannot_be_queued(
    project, bubble, annotators, caplog
):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)

    with caplog.at_level(logging.WARNING, logger="maskqc.agreement"):
        agreement_update_for_images_task.call(image_ids=[image.pk])

    assert ImageAgreement.objects.get(image=image).annotators == 2
    [record] = caplog.records
    assert record.getMessage().startswith(
        f"agreement report of project {project.pk} not queued (ConnectionError: "
    )
    assert agreement_backlog_reports() == [project.pk]


# ------------------------------------------------------------------ the command


def test_command_prints_what_it_queued(project, bubble, annotators, capsys):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)

    call_command("agreement_backlog", "--project", "bubbles")

    assert capsys.readouterr().out == (
        f"Queued agreement for 1 image of bubbles (1 missing): {image.pk}\n"
    )


def test_command_prints_the_reports_it_queued(project, bubble, annotators, capsys):
    _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=True)

    call_command("agreement_backlog")

    assert capsys.readouterr().out == (
        "No image needs its agreement computed; queued the agreement report of 1 project: bubbles\n"
    )


def test_command_says_when_nothing_is_to_do(project, capsys):
    call_command("agreement_backlog", "--project", "bubbles")

    assert capsys.readouterr().out == "No image of bubbles needs its agreement computed.\n"


@override_settings(TASKS=DATABASE_TASKS)
def test_command_says_when_agreement_work_still_waits(project, bubble, annotators, capsys):
    image = _submitted(_image(project, "a.png"), annotators[:2], bubble, computed=False)
    agreement_update_for_images_task.enqueue(image_ids=[image.pk])

    call_command("agreement_backlog")

    assert capsys.readouterr().out == (
        "Agreement work is still waiting in the task queue; nothing queued "
        "(run this again once the workers have drained it).\n"
    )


@override_settings(TASKS=REFUSING_TASKS, RQ_QUEUES=REFUSING_QUEUES)
def test_command_fails_naming_the_queue_when_it_cannot_be_reached(project, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="maskqc.agreement"),
        pytest.raises(CommandError) as failed,
    ):
        call_command("agreement_backlog")

    assert str(failed.value) == (
        "The task queue could not be reached; nothing queued (the log says why)."
    )
    [record] = caplog.records
    assert record.getMessage().startswith(
        "agreement backlog: the task queue cannot be read (ConnectionError: "
    )


def test_command_refuses_an_unknown_project(db):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("agreement_backlog", "--project", "nope")
