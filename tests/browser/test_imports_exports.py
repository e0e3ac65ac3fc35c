"""Imports and exports in Chromium, on the demo: the lead uploads a COCO file and sees its
summary replace the progress without a reload, uploads a broken one and reads which file,
image and object are wrong, starts an export, follows it to done and downloads it, and the
downloaded bytes' sha256 is the one the page shows.

The jobs wait in a task backend that runs nothing (as the demo's queue waits for its
worker); the test then plays the worker (``import_job_run``, ``export_run``) while the page
is open, so what the page shows is its polling, not a page load."""

import hashlib
import json
from pathlib import Path

import pytest

from projects.selectors import QCState, qc_state_counts
from qc.models import Export, ImageLabel, ImportJob
from qc.services.exports import export_run
from qc.services.import_jobs import import_job_run
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough for two polls of the status partial (every 2 s).
POLLED = 8_000
_MARK = "() => { window.maskqcStayed = true; }"
_STAYED = "() => window.maskqcStayed === true"


@pytest.fixture
def queued(settings):
    """Jobs are queued and wait for a worker, as in the demo (``make demo``)."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}
    }


def _square(x: int, y: int, size: int) -> list[int]:
    return [x, y, x + size, y, x + size, y + size, x, y + size]


def _coco(annotations: list[dict], *, image: str = "upload_frame.png") -> bytes:
    """A COCO file of one new frame of the demo's size with bubbles drawn by anna."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": image, "width": 640, "height": 480}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {"id": n, "image_id": 1, "category_id": 1, "segmentation": [polygon], "iscrowd": 0}
                for n, polygon in enumerate(annotations, start=1)
            ],
        }
    ).encode()


def _upload(page, demo, name: str, content: bytes) -> ImportJob:
    page.goto(demo.page_url(f"/p/{demo.project.slug}/imports/"))
    page.set_input_files(
        "#id_file", files=[{"name": name, "mimeType": "application/json", "buffer": content}]
    )
    page.check("input[name=format][value=coco]")
    page.fill("#id_annotator", "anna")
    with page.expect_navigation():
        page.click("#upload")
    return ImportJob.objects.get(source_name=name)


def test_an_uploaded_import_shows_its_summary_without_a_reload(demo, page, queued):
    demo.log_in(page, "lead")
    page.goto(demo.page_url(f"/p/{demo.project.slug}/imports/"))
    assert "No import yet." in page.locator("#imports-empty").inner_text()
    # Only the chosen format's options show.
    page.check("input[name=format][value=mask-png]")
    assert page.locator("fieldset[data-format=mask-png]").is_visible()
    assert not page.locator("fieldset[data-format=label-studio]").is_visible()
    shot(page, "io/imports-empty")

    job = _upload(page, demo, "frames.json", _coco([_square(40, 40, 30), _square(200, 120, 24)]))

    assert page.url == demo.page_url(f"/p/{demo.project.slug}/imports/{job.pk}/")
    status = page.locator("#import-status")
    assert "Waiting for a worker" in status.inner_text()
    assert page.locator("#import-progress").is_visible()
    shot(page, "io/import-pending")
    page.evaluate(_MARK)

    import_job_run(job_id=job.pk)

    page.locator("#summary-instances").wait_for(timeout=POLLED)
    assert page.evaluate(_STAYED), "the page was reloaded"
    assert page.locator("#import-progress").count() == 0
    assert page.locator("#summary-images").inner_text() == "1"
    assert page.locator("#summary-submissions").inner_text() == "1"
    assert page.locator("#summary-instances").inner_text() == "2"
    assert page.locator("#instances-by-class").inner_text().split() == ["bubble", "2"]
    assert "Annotators: anna" in page.locator("#import-people").inner_text()
    shot(page, "io/import-done")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/imports/"))
    row = page.locator("#import-list tbody tr").first
    assert row.locator(".file-name").inner_text().startswith("frames.json")
    assert row.locator(".badge").inner_text() == "Finished"
    shot(page, "io/imports")


def test_a_broken_import_names_the_file_image_and_object(demo, page, queued):
    demo.log_in(page, "lead")
    # A polygon of two points: not a shape.
    job = _upload(page, demo, "broken.json", _coco([_square(40, 40, 30), [10, 10, 50, 50]]))
    page.evaluate(_MARK)

    import_job_run(job_id=job.pk)

    refusal = page.locator("#import-refusal")
    refusal.wait_for(timeout=POLLED)
    assert page.evaluate(_STAYED), "the page was reloaded"
    assert refusal.locator("dd").all_inner_texts()[:3] == [
        "broken.json",
        "upload_frame.png",
        "annotations[1] (id 2)",
    ]
    # The same error as one line, as the API and the command give it, is one click away.
    page.click(".error-details summary")
    assert page.locator("#import-error").inner_text() == (
        "broken.json: image upload_frame.png: object annotations[1] (id 2): polygon has 2 "
        "point(s); at least 3 are needed"
    )
    # A new upload starts from the same page, filled in as this one was asked.
    form = page.locator("#import-form")
    assert form.locator("h2").inner_text() == "Upload again"
    assert page.input_value("#id_annotator") == "anna"
    assert page.is_checked("input[name=format][value=coco]")
    shot(page, "io/import-failed")


def test_an_export_completes_and_its_download_has_the_sha256_shown(demo, page, queued):
    demo.log_in(page, "lead")
    page.goto(demo.page_url(f"/p/{demo.project.slug}/exports/"))
    assert "No export yet." in page.locator("#exports-empty").inner_text()
    page.check("input[name=format][value=supervisely]")
    assert not page.locator("#id_polygons").is_visible()
    page.check("input[name=format][value=coco]")
    assert page.locator("#id_polygons").is_visible()
    shot(page, "io/exports-empty")

    with page.expect_navigation():
        page.click("#start-export")
    export = Export.objects.get(project=demo.project)
    assert "Waiting for a worker" in page.locator("#export-status").inner_text()
    page.evaluate(_MARK)

    export_run(export_id=export.pk)

    page.locator("#download").wait_for(timeout=POLLED)
    assert page.evaluate(_STAYED), "the page was reloaded"
    export.refresh_from_db()
    shown = page.locator("#export-sha256").inner_text()
    assert shown == export.sha256
    assert int(page.locator("#count-images").inner_text()) == export.counts["images"] > 0
    # The overview's accepted images and the images sent back, their labels in force.
    sent_back = ImageLabel.objects.filter(image__project=demo.project, sent_back=True).count()
    accepted = qc_state_counts(project=demo.project)[QCState.ACCEPTED]
    assert export.counts["images"] == accepted + sent_back and sent_back == 1
    assert page.locator("#count-sent-back").inner_text() == (
        "(1 sent back for rework, its label still in force)"
    )
    assert f"Export {export.pk} was started; this page follows it." in page.inner_text("main")
    assert page.locator("#manifest tbody tr").count() == 1
    shot(page, "io/export-done")
    with page.expect_download() as caught:
        page.click("#download")
    download = caught.value
    body = Path(download.path()).read_bytes()
    assert hashlib.sha256(body).hexdigest() == shown
    assert download.suggested_filename == f"{demo.project.slug}-export-{export.pk}.json"
    assert len(json.loads(body)["images"]) == export.counts["images"]

    page.goto(demo.page_url(f"/p/{demo.project.slug}/exports/"))
    row = page.locator("#export-list tbody tr").first
    assert row.locator(".badge").inner_text() == "Finished"
    assert row.locator("code.sha").get_attribute("title") == shown
    shot(page, "io/exports")
