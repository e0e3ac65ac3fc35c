"""Every qc workflow list endpoint runs a fixed number of queries, whatever its length."""

import pytest
from django.contrib.auth import get_user_model

from qc.services import (
    InstanceInput,
    image_label_set,
    image_label_set_gold,
    review_decide,
    submission_create,
)
from tests.factories import ImageFactory, TaskFactory


def _images(project, annotator, bubble, n: int):
    """n images, each with a submitted, decided task (review, audit events, instances)."""
    import numpy as np

    from qc import masks

    mask = np.zeros((16, 16), bool)
    mask[2:6, 2:6] = True
    for k in range(n):
        image = ImageFactory(project=project, name=f"img_{k}.png", width=16, height=16)
        task = TaskFactory(image=image, annotator=annotator)
        submission_create(
            task=task,
            actor=annotator,
            instances=[InstanceInput(label_class=bubble, rle=masks.rle_from_mask(mask))],
        )


def _fresh(user):
    """The user as a new request sees them (no role remembered on the object)."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("n", [1, 3])
def test_images_list_query_count(
    api, project, bubble, lead, annotator, n, django_assert_num_queries
):
    _images(project, annotator, bubble, n)
    api.force_authenticate(_fresh(lead))

    # project, role, count, page of images (label, agreement, state and reviewer inline)
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/images/")

    assert response.data["count"] == n


@pytest.mark.parametrize("n", [1, 3])
def test_submissions_list_query_count(
    api, project, bubble, lead, annotator, n, django_assert_num_queries
):
    _images(project, annotator, bubble, n)
    for submission in project.images.all():
        review_decide(
            submission=submission.tasks.get().submissions.get(), reviewer=lead, decision="accept"
        )
    api.force_authenticate(_fresh(annotator))

    # project, role, count, page (task, image, annotator, review, gold score, counts inline)
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/submissions/")

    assert response.data["count"] == n
    assert [s["review"]["decision"] for s in response.data["results"]] == ["accept"] * n


@pytest.mark.parametrize("n", [1, 3])
def test_review_queue_query_count(
    api, project, bubble, lead, annotator, n, django_assert_num_queries
):
    _images(project, annotator, bubble, n)
    api.force_authenticate(_fresh(lead))

    # project, role, count, page
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/review-queue/")

    assert response.data["count"] == n


@pytest.mark.parametrize("n", [1, 3])
def test_audit_log_query_count(api, project, bubble, lead, annotator, n, django_assert_num_queries):
    _images(project, annotator, bubble, n)
    api.force_authenticate(_fresh(lead))

    # project, role, count, page of events with their actors
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/audit/")

    assert response.data["count"] == n


@pytest.mark.parametrize("n", [1, 3])
def test_gold_scores_list_query_count(
    api, project, bubble, lead, annotator, other_annotator, n, django_assert_num_queries
):
    _images(project, annotator, bubble, n)
    for image in project.images.all():
        submission = image.tasks.get().submissions.get()
        review_decide(submission=submission, reviewer=lead, decision="accept")
        label = image_label_set(image=image, actor=lead, submission=submission)
        image_label_set_gold(label=label, actor=lead)
        later = TaskFactory(image=image, annotator=other_annotator)
        submission_create(task=later, actor=other_annotator, instances=[])
    api.force_authenticate(_fresh(lead))

    # project, role, count, page of scores with their submissions, tasks, images, annotators
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/gold-scores/")

    assert response.data["count"] == n
