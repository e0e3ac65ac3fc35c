"""Recomputing a project in the background: who may start it, what it changes in the stored
agreement, and the pages that follow its progress."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.errors import ApplicationError
from qc import masks
from qc.models import AgreementResult, JobStatus, Recompute
from qc.selectors.recompute import recompute_of
from qc.services import InstanceInput, submission_create
from qc.services.agreement import agreement_update_for_image
from qc.services.recompute import recompute_create, recompute_run
from tests.factories import ImageFactory, TaskFactory


def _disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:64, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


@pytest.fixture
def compared(project, bubble, annotator, other_annotator):
    """One image where the two annotators' discs overlap with an IoU of about 0.6: a match
    at the default match IoU (0.5), none at 0.7."""
    image = ImageFactory(project=project, name="a.png", width=64, height=64)
    for user, cx in [(annotator, 30), (other_annotator, 34)]:
        task = TaskFactory(image=image, annotator=user)
        rle = _disc(cx, 30, 12)
        submission_create(
            task=task, actor=user, instances=[InstanceInput(label_class=bubble, rle=rle)]
        )
    agreement_update_for_image(image_id=image.pk)
    return image


def _matched(image) -> int:
    return AgreementResult.objects.get(image=image, label_class__isnull=True).matched


def test_a_recompute_measures_again_with_the_settings_of_now(
    project, lead, compared, django_capture_on_commit_callbacks
):
    assert _matched(compared) == 1
    project.match_iou = 0.7
    project.save(update_fields=["match_iou"])

    with django_capture_on_commit_callbacks(execute=True):
        recompute = recompute_create(project=project, actor=lead)

    recompute.refresh_from_db()
    assert (recompute.status, recompute.progress) == (JobStatus.DONE, 1.0)
    assert recompute.summary["images"] == 1
    assert recompute.summary["images_recomputed"] == 1
    assert recompute.summary["failed"] == {}
    assert _matched(compared) == 0
    assert recompute.message.startswith(f"{project.slug}: 2 instances on 1 image checked")


@pytest.mark.parametrize("who", ["reviewer", "annotator", "outsider"])
def test_only_leads_and_admins_start_one(request, project, who):
    with pytest.raises(ApplicationError) as refused:
        recompute_create(project=project, actor=request.getfixturevalue(who))

    assert refused.value.status == (404 if who == "outsider" else 403)
    assert not Recompute.objects.exists()


def test_a_project_with_jobs_queued_refuses_another(project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 1
    recompute_create(project=project, actor=lead)

    with pytest.raises(ApplicationError) as refused:
        recompute_create(project=project, actor=lead)

    assert refused.value.status == 429
    assert Recompute.objects.count() == 1


def test_a_second_runner_leaves_a_taken_recompute(project, lead):
    taken = Recompute.objects.create(project=project, created_by=lead, status=JobStatus.RUNNING)

    assert recompute_run(recompute_id=taken.pk).status == JobStatus.RUNNING


def test_the_status_partial_polls_until_the_recompute_ends(client, project, lead):
    recompute = Recompute.objects.create(project=project, created_by=lead)
    client.force_login(lead)
    url = reverse("recompute-detail", args=[project.slug, recompute.pk])

    pending = client.get(url, headers={"HX-Request": "true"}).content.decode()
    recompute_run(recompute_id=recompute.pk)
    done = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert pending.lstrip().startswith("<section") and 'hx-trigger="every 2s"' in pending
    assert "<html" not in pending
    assert "hx-trigger" not in done and 'id="recompute-summary"' in done


def test_starting_one_from_the_page_opens_it(
    client, project, lead, compared, django_capture_on_commit_callbacks
):
    client.force_login(lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("project-recompute", args=[project.slug]))

    recompute = Recompute.objects.get()
    assert response["Location"] == reverse("recompute-detail", args=[project.slug, recompute.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Finished" in page and 'id="recompute-summary"' in page


def test_a_refused_start_is_a_message(client, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 0
    client.force_login(lead)

    response = client.post(reverse("project-recompute", args=[project.slug]), follow=True)

    assert "already has 0 recomputes queued or running" in response.content.decode()
    assert not Recompute.objects.exists()


def test_another_projects_recompute_is_not_found(client, project, lead, outsider):
    other = Recompute.objects.create(
        project=outsider.memberships.get().project, created_by=outsider
    )
    client.force_login(lead)

    response = client.get(reverse("recompute-detail", args=[project.slug, other.pk]))

    assert response.status_code == 404


def test_the_selector_answers_none_for_another_projects_recompute(project, lead, outsider):
    other = Recompute.objects.create(
        project=outsider.memberships.get().project, created_by=outsider
    )
    mine = Recompute.objects.create(project=project, created_by=lead)

    assert recompute_of(project=project, pk=other.pk) is None
    assert recompute_of(project=project, pk=mine.pk).job == mine


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_list_costs_the_same_for_one_and_three_recomputes(client, project, lead):
    client.force_login(lead)
    url = reverse("project-recompute", args=[project.slug])
    Recompute.objects.create(project=project, created_by=lead, status=JobStatus.DONE)
    one = _queries(client, url)
    for _ in range(2):
        Recompute.objects.create(project=project, created_by=lead, status=JobStatus.FAILED)

    assert _queries(client, url) == one


def test_the_page_and_its_partial_vary_with_the_htmx_header(client, project, lead):
    recompute = Recompute.objects.create(project=project, created_by=lead)
    client.force_login(lead)
    url = reverse("recompute-detail", args=[project.slug, recompute.pk])

    for headers in ({}, {"HX-Request": "true"}):
        assert "HX-Request" in client.get(url, headers=headers)["Vary"]
