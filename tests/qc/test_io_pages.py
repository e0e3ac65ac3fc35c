"""The imports and exports pages (DESIGN §8, §9, §11): upload, follow, read the summary or
the error; start an export, follow it, download it. The task backend runs jobs inline
(tests/settings.py), once the request's transaction commits."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models.fields.files import FieldFile
from django.template.defaultfilters import filesizeformat
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.errors import ApplicationError
from projects.models import AuditEvent
from qc.models import Export, ImportJob, JobStatus, Submission
from qc.selectors.io import PER_PAGE, in_form_words, refusal_parts
from qc.services import image_label_send_back, image_label_set, review_decide
from qc.services.exports import export_create, export_run
from qc.services.import_jobs import import_job_create, import_job_run
from qc.views.io import ImportForm

pytestmark = pytest.mark.django_db


def coco_bytes(*, image: str = "a.png", polygon: list[float] | None = None) -> bytes:
    """A COCO instances file of one 64 x 48 image with one bubble."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": image, "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {
                    "id": 7,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [polygon or [4, 4, 20, 4, 20, 20, 4, 20]],
                    "iscrowd": 0,
                }
            ],
        }
    ).encode()


def upload(client, project, content: bytes, name: str = "labels.json", **fields):
    data = {"file": SimpleUploadedFile(name, content), "format": "coco", **fields}
    return client.post(reverse("import-start", args=[project.slug]), data)


@pytest.fixture
def as_lead(client, lead):
    client.force_login(lead)
    return client


def _job(project, lead, content: bytes, name: str = "labels.json", **options) -> ImportJob:
    job = import_job_create(
        project=project,
        actor=lead,
        upload=SimpleUploadedFile(name, content),
        format="coco",
        options=options,
    )
    return import_job_run(job_id=job.pk)


# ------------------------------------------------------------------------- imports


def test_upload_imports_and_the_page_shows_the_summary(
    as_lead, project, bubble, annotator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(as_lead, project, coco_bytes(), annotator="annotator")

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("import-detail", args=[project.slug, job.pk])
    page = as_lead.get(response["Location"])
    html = page.content.decode()
    assert (job.status, page.status_code) == (JobStatus.DONE, 200)
    assert '<span class="n" id="summary-instances">1</span>' in html
    assert '<span class="n" id="summary-submissions">1</span>' in html
    assert '<tr><th scope="row">bubble</th><td>1</td></tr>' in html
    # The message stays true once the import is done: it says the page follows it.
    assert "labels.json is uploaded; this page follows its import." in html
    assert "queued" not in html
    # Done: the status partial does not poll any more.
    assert "hx-trigger" not in html


def test_a_broken_file_shows_file_image_and_object_and_the_form_to_try_again(
    as_lead, project, bubble, annotator, django_capture_on_commit_callbacks
):
    broken = coco_bytes(polygon=[1, 1, 9, 9])
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(as_lead, project, broken, name="broken.json", annotator="annotator")

    job = ImportJob.objects.get()
    page = as_lead.get(response["Location"])
    html = page.content.decode()
    assert job.status == JobStatus.FAILED
    assert Submission.objects.count() == 0
    assert job.error.startswith("broken.json: image a.png: object annotations[0] (id 7): ")
    assert "<dt>File</dt><dd>broken.json</dd>" in html
    assert "<dt>Image</dt><dd>a.png</dd>" in html
    assert "<dt>Object</dt><dd>annotations[0] (id 7)</dd>" in html
    assert "Upload again" in html
    # The form to try again is filled in as the failed import was asked.
    assert 'name="annotator" id="id_annotator" list="annotator-names" maxlength="150" ' in html
    assert 'value="annotator"' in html
    assert '<input type="radio" name="format" value="coco" checked>' in html


def test_an_unknown_annotator_is_explained_in_the_form_s_words(
    as_lead, project, bubble, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(as_lead, project, coco_bytes(), annotator="nobody")

    html = as_lead.get(response["Location"]).content.decode()
    assert (
        "<dt>What is wrong</dt><dd>annotator &#x27;nobody&#x27; is not a user; tick "
        "“Create missing users” to create them</dd>"
    ) in html


def test_mask_png_without_a_pattern_is_a_form_error_and_stores_nothing(as_lead, project):
    response = upload(as_lead, project, b"PK", name="masks.zip", format="mask-png", png_pattern="")

    assert response.status_code == 200
    assert "PNG masks need a pattern, e.g. {annotator}/{image}.png." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_a_file_over_the_limit_is_refused_naming_it(as_lead, project, settings):
    settings.MASKQC_MAX_UPLOAD_BYTES = 10

    response = upload(as_lead, project, coco_bytes(), name="big.json")

    assert response.status_code == 200
    assert (
        f"big.json: The file is {len(coco_bytes())} bytes, over the limit of 10."
        in response.content.decode()
    )
    assert ImportJob.objects.count() == 0


def test_a_bad_image_size_is_a_form_error(as_lead, project):
    response = upload(as_lead, project, b"[]", format="label-studio", ls_image_size="640 by 480")

    assert "Give the size as WIDTHxHEIGHT in pixels, e.g. 640x480." in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_the_form_passes_only_the_chosen_format_s_options():
    form = ImportForm(
        {
            "format": "label-studio",
            "ls_image_size": "640x480",
            "ls_include_predictions": "on",
            "png_pattern": "{image}.png",
            "create_labels": "on",
            "annotator": "anna",
        },
        {"file": SimpleUploadedFile("tasks.json", b"[]")},
    )

    assert form.is_valid(), form.errors
    assert form.options() == {
        "annotator": "anna",
        "create_labels": True,
        "image_size": [640, 480],
        "include_predictions": True,
    }


def test_the_status_partial_polls_while_pending_and_stops_when_done(as_lead, project, lead):
    job = ImportJob.objects.create(project=project, created_by=lead, format="coco")
    url = reverse("import-detail", args=[project.slug, job.pk])

    pending = as_lead.get(url, headers={"HX-Request": "true"}).content.decode()
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, progress=0.42)
    running = as_lead.get(url, headers={"HX-Request": "true"}).content.decode()
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="x: it broke")
    failed = as_lead.get(url, headers={"HX-Request": "true"}).content.decode()

    assert pending.startswith('<section class="card job-status job-pending" id="import-status"')
    assert f'hx-get="{url}" hx-trigger="every 2s" hx-swap="outerHTML"' in pending
    assert "<html" not in pending
    assert '<progress id="import-progress" max="100" value="42">42 %</progress>' in running
    assert 'hx-trigger="every 2s"' in running
    assert "hx-trigger" not in failed
    assert '<p class="error-line" id="import-error">x: it broke</p>' in failed
    page = as_lead.get(url)
    assert "HX-Request" in page["Vary"]
    assert page.content.decode().count('id="import-status"') == 1


def test_the_imports_list_is_newest_first_with_each_import_s_figures(
    as_lead, project, bubble, annotator, lead
):
    first = _job(project, lead, coco_bytes(), annotator="annotator")
    second = _job(project, lead, b"{", name="broken.json")

    html = as_lead.get(reverse("project-imports", args=[project.slug])).content.decode()

    assert html.index(f"Import {second.pk}</a>") < html.index(f"Import {first.pk}</a>")
    assert '<span class="badge bad">Failed</span>' in html
    detail = reverse("import-detail", args=[project.slug, first.pk])
    assert f'<a href="{detail}#by-class">1</a>' in html


@pytest.mark.parametrize("count", [1, 3])
def test_the_imports_list_takes_the_same_queries_for_1_and_3_imports(client, project, lead, count):
    for n in range(count):
        ImportJob.objects.create(
            project=project,
            created_by=lead,
            format="coco",
            source_name=f"f{n}.json",
            status=JobStatus.DONE,
            summary={"images": 1, "submissions": 2, "instances": 3},
        )
    client.force_login(lead)
    url = reverse("project-imports", args=[project.slug])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)

    assert response.status_code == 200
    assert response.content.decode().count('<tr class="job-done">') == count
    # session, user, project, membership; the page's count and rows; annotators, classes
    assert len(queries) == 8, [q["sql"] for q in queries]


def test_a_page_past_the_end_or_not_a_number_shows_a_page(as_lead, project, lead):
    ImportJob.objects.create(project=project, created_by=lead, format="coco")

    for page in ("99", "abc", "-1"):
        response = as_lead.get(reverse("project-imports", args=[project.slug]), {"page": page})
        assert response.status_code == 200, page


def test_another_project_s_import_is_not_found(as_lead, project, outsider):
    other = ImportJob.objects.create(
        project=outsider.memberships.get().project, created_by=outsider, format="coco"
    )

    response = as_lead.get(reverse("import-detail", args=[project.slug, other.pk]))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("annotator", 403), ("outsider", 404)]
)
def test_only_leads_and_admins_may_import_and_a_refusal_stores_nothing(
    request, project, who, status
):
    actor = request.getfixturevalue(who)
    before = (ImportJob.objects.count(), AuditEvent.objects.count())

    with pytest.raises(ApplicationError) as refused:
        import_job_create(
            project=project,
            actor=actor,
            upload=SimpleUploadedFile("labels.json", coco_bytes()),
            format="coco",
        )

    assert refused.value.status == status
    assert (ImportJob.objects.count(), AuditEvent.objects.count()) == before


def test_refusal_parts_read_an_import_s_error():
    assert refusal_parts("a.json: image (none): object (none): invalid JSON: line 1") == {
        "file": "a.json",
        "image": None,
        "object": None,
        "reason": "invalid JSON: line 1",
    }
    assert refusal_parts("internal error: KeyError: 'x'") is None
    assert in_form_words("unknown class 'x'; pass --create-labels to create it") == (
        "unknown class 'x'; tick “Create missing classes” to create it"
    )


# ------------------------------------------------------------------------- exports


@pytest.fixture
def submitted(project, bubble, annotator, lead):
    """One image with one annotator's submission (nothing accepted yet)."""
    return _job(project, lead, coco_bytes(), annotator="annotator")


def test_an_export_starts_completes_and_downloads_with_its_sha256(
    as_lead, project, submitted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_lead.post(
            reverse("export-start", args=[project.slug]),
            {"format": "coco", "include_unreviewed": "on"},
        )

    export = Export.objects.get()
    assert response["Location"] == reverse("export-detail", args=[project.slug, export.pk])
    html = as_lead.get(response["Location"]).content.decode()
    assert export.status == JobStatus.DONE
    assert f'<code class="sha" id="export-sha256">{export.sha256}</code>' in html
    assert '<span class="n" id="count-images">1</span>' in html
    assert f"Export {export.pk} was started; this page follows it." in html
    assert "queued" not in html
    assert f"bubbles-export-{export.pk}.json" in html  # the manifest's one file
    download = as_lead.get(reverse("export-download", args=[project.slug, export.pk]))
    body = b"".join(download.streaming_content)
    assert hashlib.sha256(body).hexdigest() == export.sha256 == download["X-Checksum-SHA256"]
    assert download["Content-Disposition"] == (
        f'attachment; filename="bubbles-export-{export.pk}.json"'
    )
    assert json.loads(body)["info"]["filters"]["include_unreviewed"] is True


def test_an_export_s_counts_say_how_many_images_were_sent_back_with_their_label_in_force(
    as_lead, project, submitted, lead
):
    """The overview no longer counts a sent-back image as accepted, but its label stays in
    force (DESIGN §6) and the export holds it: the export's page says so where its count is,
    and the form says it before an export is started."""
    submission = Submission.objects.get()
    review_decide(submission=submission, reviewer=lead, decision="accept")
    image_label_set(image=submission.task.image, actor=lead, submission=submission)
    before = export_create(project=project, actor=lead, format="coco")
    export_run(export_id=before.pk)
    image_label_send_back(image=submission.task.image, actor=lead, reasons=["other"])
    after = export_create(project=project, actor=lead, format="coco")
    export_run(export_id=after.pk)

    pages = [
        as_lead.get(reverse("export-detail", args=[project.slug, e.pk])).content.decode()
        for e in (before, after)
    ]

    assert 'id="count-sent-back"' not in pages[0]
    assert (
        '<span class="n" id="count-images">1</span> <span class="muted" id="count-sent-back">'
        in pages[1]
    )
    assert "(1 sent back for rework, its label still in force)" in pages[1]
    form = as_lead.get(reverse("project-exports", args=[project.slug])).content.decode()
    assert (
        "An image sent back for rework keeps its label in exports until a new one is accepted"
        in form
    )


def test_an_export_of_nothing_accepted_says_why_it_is_empty(
    as_lead, project, submitted, lead, django_capture_on_commit_callbacks
):
    export = export_create(project=project, actor=lead, format="supervisely")
    export_run(export_id=export.pk)

    html = as_lead.get(reverse("export-detail", args=[project.slug, export.pk])).content.decode()

    assert "This export holds no image: no image has an accepted label" in html
    assert "inside the zip" in html


def test_the_export_form_s_filters_reach_the_service(
    as_lead, project, bubble, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_lead.post(
            reverse("export-start", args=[project.slug]),
            {
                "format": "mask-png",
                "classes": ["bubble"],
                "gold": "on",
                "polygons": "on",
                "images": "b.png\n a.png \n\n",
            },
        )

    assert Export.objects.get().filters == {
        "classes": ["bubble"],
        "gold": True,
        "images": ["a.png", "b.png"],
        "include_unreviewed": False,
        "polygons": False,  # polygons are COCO's only
    }


def test_an_unknown_class_is_a_form_error_and_starts_nothing(as_lead, project, bubble):
    response = as_lead.post(
        reverse("export-start", args=[project.slug]), {"format": "coco", "classes": ["cat"]}
    )

    assert response.status_code == 200
    assert "Select a valid choice. cat is not one of the available choices." in (
        response.content.decode()
    )
    assert Export.objects.count() == 0


def test_too_many_exports_at_once_is_said_on_the_form(as_lead, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 1
    Export.objects.create(project=project, created_by=lead, format="coco")

    response = as_lead.post(reverse("export-start", args=[project.slug]), {"format": "coco"})

    assert response.status_code == 200
    assert "bubbles already has 1 exports queued or running (at most 1)" in (
        response.content.decode()
    )
    assert Export.objects.count() == 1


def test_downloading_an_export_not_done_goes_back_to_its_page(as_lead, project, lead):
    export = Export.objects.create(project=project, created_by=lead, format="coco")

    response = as_lead.get(reverse("export-download", args=[project.slug, export.pk]), follow=True)

    assert response.redirect_chain == [
        (reverse("export-detail", args=[project.slug, export.pk]), 302)
    ]
    assert f"Export {export.pk} is pending, not done yet. Download it once it is done." in (
        response.content.decode()
    )


def test_a_failed_export_shows_its_error_and_the_form_to_start_again(as_lead, project, lead):
    export = Export.objects.create(
        project=project,
        created_by=lead,
        format="mask-png",
        filters={"include_unreviewed": True, "polygons": False, "gold": True},
        status=JobStatus.FAILED,
        error="Cannot export as mask-png: image name 'a/../b.png' is not a safe path",
    )

    html = as_lead.get(reverse("export-detail", args=[project.slug, export.pk])).content.decode()

    assert "Cannot export as mask-png: image name &#x27;a/../b.png&#x27; is not a safe path" in html
    assert "Start a new export" in html
    assert '<input type="radio" name="format" value="mask-png" checked>' in html
    assert 'name="include_unreviewed" id="id_include_unreviewed" checked' in html
    assert 'name="gold" id="id_gold" checked' in html


@pytest.mark.parametrize("count", [1, 3])
def test_the_exports_list_takes_the_same_queries_for_1_and_3_exports(
    client, project, lead, bubble, count
):
    for _ in range(count):
        export = export_create(project=project, actor=lead, format="coco")
        export_run(export_id=export.pk)
    client.force_login(lead)
    url = reverse("project-exports", args=[project.slug])

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)

    assert response.status_code == 200
    assert response.content.decode().count(">Download</a>") == count
    # session, user, project, membership; the page's count and rows; classes
    assert len(queries) == 7, [q["sql"] for q in queries]


def test_the_exports_pages_read_the_recorded_size_and_ask_storage_only_for_older_ones(
    as_lead, project, lead, bubble, monkeypatch
):
    export = export_create(project=project, actor=lead, format="coco")
    export_run(export_id=export.pk)
    export.refresh_from_db()
    size = export.file.size
    asked = []
    real = FieldFile.size
    monkeypatch.setattr(FieldFile, "size", property(lambda f: asked.append(f.name) or real.fget(f)))
    pages = [
        reverse(n, args=[project.slug, *a])
        for n, a in [("project-exports", []), ("export-detail", [export.pk])]
    ]

    recorded = [as_lead.get(url).content.decode() for url in pages]
    Export.objects.filter(pk=export.pk).update(
        counts={k: v for k, v in export.counts.items() if k != "bytes"}
    )
    older = [as_lead.get(url).content.decode() for url in pages]

    assert export.counts["bytes"] == size > 0
    assert f"({size} bytes)" in recorded[1] and f"({size} bytes)" in older[1]
    assert filesizeformat(size) in recorded[0] and filesizeformat(size) in older[0]
    assert asked == [export.file.name] * 2  # the two pages of the export made before


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("annotator", 403), ("outsider", 404)]
)
def test_only_leads_and_admins_may_export_and_a_refusal_stores_nothing(
    request, project, who, status
):
    actor = request.getfixturevalue(who)
    before = (Export.objects.count(), AuditEvent.objects.count())

    with pytest.raises(ApplicationError) as refused:
        export_create(project=project, actor=actor, format="coco")

    assert refused.value.status == status
    assert (Export.objects.count(), AuditEvent.objects.count()) == before


def test_the_export_status_partial_polls_until_done(as_lead, project, lead, bubble):
    export = export_create(project=project, actor=lead, format="coco")
    url = reverse("export-detail", args=[project.slug, export.pk])

    pending = as_lead.get(url, headers={"HX-Request": "true"}).content.decode()
    export_run(export_id=export.pk)
    done = as_lead.get(url, headers={"HX-Request": "true"}).content.decode()

    assert f'hx-get="{url}" hx-trigger="every 2s" hx-swap="outerHTML"' in pending
    assert "<html" not in pending and "<html" not in done
    assert "hx-trigger" not in done
    download = reverse("export-download", args=[project.slug, export.pk])
    assert f'<a class="button" id="download" href="{download}" download>Download</a>' in done


def test_a_real_supervisely_project_imports_through_the_page(
    as_lead, project, shared_data, django_capture_on_commit_callbacks
):
    folder = shared_data / "supervisely" / "instance"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            as_lead,
            project,
            buffer.getvalue(),
            name="instance.zip",
            format="supervisely",
            create_users="on",
            create_labels="on",
        )

    job = ImportJob.objects.get()
    html = as_lead.get(response["Location"]).content.decode()
    assert (job.status, job.summary["instances"]) == (JobStatus.DONE, 8)
    assert '<span class="n" id="summary-instances">8</span>' in html
    assert f"Users created: {', '.join(job.summary['users_created'])}" in html


def test_the_imports_list_pages_by_twenty(as_lead, project, lead):
    for n in range(PER_PAGE + 1):
        ImportJob.objects.create(
            project=project, created_by=lead, format="coco", source_name=f"{n}"
        )

    first = as_lead.get(reverse("project-imports", args=[project.slug])).content.decode()
    second = as_lead.get(reverse("project-imports", args=[project.slug]), {"page": 2})

    assert first.count('<tr class="job-pending">') == PER_PAGE
    assert "Page 1 of 2 · imports 1–20 of 21" in first
    assert second.content.decode().count('<tr class="job-pending">') == 1
