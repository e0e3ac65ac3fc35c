"""A job's run in Chromium, on the demo: a lead opens an import whose worker was lost for
good, reads its error, presses Retry and is back on the import's page, which says it is
queued again and, once a worker has run it, shows what it stored, without a reload. A
reviewer of the project is not let in.

Jobs wait in a task backend that runs nothing (as the demo's queue waits for its worker);
the test plays the worker (``import_job_run``) while the page is open."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from projects.models import AuditEvent
from qc.models import ImportJob, JobStatus
from qc.services.import_jobs import import_job_create, import_job_run
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLLED = 8_000  # two polls of the status partial (every 2 s) and some
LOST = "worker lost 3 times; last sign of life at 2026-12-01T09:00:00+00:00"


@pytest.fixture
def queued(settings):
    """Jobs are queued and wait for a worker, as in the demo (``make demo``)."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}
    }


def _coco() -> bytes:
    """A COCO file of one new frame of the demo's size with one bubble drawn by anna."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": "retried_frame.png", "width": 640, "height": 480}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {
                    "id": 1,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [[40, 40, 90, 40, 90, 90, 40, 90]],
                    "iscrowd": 0,
                }
            ],
        }
    ).encode()


def _lost_import(demo) -> ImportJob:
    """An import whose worker was lost on each of its three attempts, failed by the
    watcher as ``jobs_reap_stuck`` fails one."""
    lead = get_user_model().objects.get(username="lead")
    job = import_job_create(
        project=demo.project,
        actor=lead,
        upload=SimpleUploadedFile("frames.json", _coco()),
        format="coco",
        options={"annotator": "anna"},
    )
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED,
        error=LOST,
        attempts=3,
        progress=0.4,
        started_at=now,
        heartbeat_at=now,
        finished_at=now,
    )
    return job


def test_a_lead_retries_a_failed_import_and_it_is_queued_then_done(demo, page, queued):
    job = _lost_import(demo)
    demo.log_in(page, "lead")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/imports/{job.pk}/"))
    status = page.locator("#import-status")
    assert status.locator("h2").inner_text() == "The import failed: nothing was stored"
    assert status.locator(".badge").inner_text() == "Failed"
    assert page.locator("#import-error").inner_text() == LOST
    assert page.locator("#import-attempt").inner_text() == "attempt 3 of 3"
    assert page.locator("#import-retry").is_visible()
    shot(page, "jobs/import-failed")

    with page.expect_navigation():
        page.click("#import-retry")

    assert page.url == demo.page_url(f"/p/{demo.project.slug}/imports/{job.pk}/")
    assert status.locator(".badge").inner_text() == "Queued"
    assert page.locator("#import-when").inner_text().startswith("Queued again since ")
    assert page.locator("#import-when").inner_text().endswith(": waiting for a worker.")
    assert f"Import {job.pk} is queued again; this page follows it." in page.inner_text("main")
    assert page.locator("#import-retry").count() == 0
    assert page.locator("#import-error").count() == 0
    job.refresh_from_db()
    assert (job.status, job.error, job.claims) == (JobStatus.PENDING, "", 0)
    event = AuditEvent.objects.get(verb="import_job.retry", object_id=str(job.pk))
    assert event.actor.username == "lead"
    shot(page, "jobs/import-queued-again")
    page.evaluate("() => { window.maskqcStayed = true; }")

    import_job_run(job_id=job.pk)  # the worker

    page.locator("#summary-instances").wait_for(timeout=POLLED)
    assert page.evaluate("() => window.maskqcStayed === true"), "the page was reloaded"
    assert status.locator(".badge").inner_text() == "Finished"
    assert page.locator("#summary-instances").inner_text() == "1"
    assert page.locator("#import-attempt").count() == 0


def test_a_reviewer_is_not_let_into_an_import(demo, page, page_watch, queued):
    job = _lost_import(demo)
    reviewer = demo.usernames("reviewer")[0]
    demo.log_in(page, reviewer)
    page_watch.expect_status(403)

    response = page.goto(demo.page_url(f"/p/{demo.project.slug}/imports/{job.pk}/"))

    assert response.status == 403
    assert LOST not in page.content()
    assert page.locator("#import-retry").count() == 0
