"""Two decisions on one submission at once through the API, on PostgreSQL with real threads
and separate connections: one wins (201), the other gets a conflict (409)."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects.models import TaskStatus
from qc.models import InstanceFlag, Review
from qc.services import submission_create
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("trial", range(5))
def test_two_decisions_at_once_one_201_one_409(project, trial):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    annotator = UserFactory(username=f"ann{trial}")
    MembershipFactory(project=project, user=annotator, role="annotator")
    leads = [UserFactory(username=f"lead{trial}_{k}") for k in range(2)]
    for user in leads:
        MembershipFactory(project=project, user=user, role="lead")
    task = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    submission = submission_create(task=task, actor=annotator, instances=[])
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    bodies = [{"decision": "accept"}, {"decision": "reject", "reasons": ["other"]}]

    def decide(user, body):
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        try:
            response = client.post(
                f"/api/v1/projects/{project.slug}/submissions/{submission.pk}/review/",
                body,
                format="json",
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=pair) for pair in zip(leads, bodies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201, 409]
    review = Review.objects.get()
    task.refresh_from_db()
    expected = TaskStatus.ACCEPTED if review.decision == "accept" else TaskStatus.REJECTED
    assert (task.status, InstanceFlag.objects.count()) == (expected, 0)
