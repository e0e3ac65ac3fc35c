"""Database constraints hold whatever code path writes (they are checked by the database)."""

import pytest
from django.db import IntegrityError, transaction

from projects.models import Membership, Role, Task
from qc.models import Instance, Submission
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)


def test_task_second_for_same_image_and_annotator_is_refused(project, annotator):
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=annotator)

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(image=image, annotator=annotator)

    assert Task.objects.filter(image=image).count() == 1


def test_task_same_image_other_annotator_is_allowed(project, annotator, other_annotator):
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=annotator)

    TaskFactory(image=image, annotator=other_annotator)

    assert Task.objects.filter(image=image).count() == 2


def test_image_name_is_unique_within_project_only(db):
    first, second = ProjectFactory(), ProjectFactory()
    ImageFactory(project=first, name="frame.png")
    ImageFactory(project=second, name="frame.png")

    with pytest.raises(IntegrityError), transaction.atomic():
        ImageFactory(project=first, name="frame.png")


def test_membership_one_per_user_and_project(project, annotator):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(project=project, user=annotator, role=Role.LEAD)


def test_membership_role_must_be_known(project):
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(project=project, role="owner")


def test_label_class_name_unique_in_project(project):
    LabelClassFactory(project=project, name="bubble")

    with pytest.raises(IntegrityError), transaction.atomic():
        LabelClassFactory(project=project, name="bubble")


@pytest.mark.parametrize(
    "field,value",
    [
        ("overlap", 0),
        ("overlap_fraction", 1.5),
        ("match_iou", 0.0),
        ("quorum", 0.0),
        ("review_policy", "never"),
        ("consensus_method", "mean"),
    ],
)
def test_project_settings_out_of_range_are_refused(db, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectFactory(**{field: value})


def test_task_status_must_be_known(project, annotator):
    with pytest.raises(IntegrityError), transaction.atomic():
        TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="lost")


@pytest.fixture
def stored_submission(project, annotator):
    task = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    submission = Submission.objects.create(task=task, revision=1)
    instance = Instance.objects.create(
        submission=submission,
        label_class=LabelClassFactory(project=project),
        rle="0",
        bbox_x=0,
        bbox_y=0,
        bbox_w=1,
        bbox_h=1,
        area=1,
        perimeter=4.0,
        boundary_rle="0",
        boundary_px=1,
    )
    return submission, instance


def test_submission_update_is_refused_by_the_database(stored_submission):
    submission, _ = stored_submission

    with pytest.raises(IntegrityError), transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(source_format="edited")

    submission.refresh_from_db()
    assert submission.source_format == "api"


def test_instance_update_is_refused_by_the_database(stored_submission):
    _, instance = stored_submission

    with pytest.raises(IntegrityError), transaction.atomic():
        Instance.objects.filter(pk=instance.pk).update(area=99)

    instance.refresh_from_db()
    assert instance.area == 1


def test_submission_revision_unique_per_task(stored_submission):
    submission, _ = stored_submission

    with pytest.raises(IntegrityError), transaction.atomic():
        Submission.objects.create(task=submission.task, revision=1)


def test_project_delete_removes_its_submissions(stored_submission, project):
    project.delete()

    assert (
        Submission.objects.count(),
        Instance.objects.count(),
        UserFactory._meta.model.objects.filter(username="annotator").count(),
    ) == (0, 0, 1)
