"""/api/v1/projects/<slug>/imports/ and /exports/: upload, progress, download."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qc.models import Export, ImportJob, Instance, Submission
from tests.factories import UserFactory


def _zip_folder(folder) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@pytest.fixture
def supervisely_zip(shared_data):
    return _zip_folder(shared_data / "supervisely" / "instance")


def _upload(api, project, data, *, fmt="supervisely", options=None):
    return api.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {
            "file": SimpleUploadedFile("instance.zip", data, content_type="application/zip"),
            "format": fmt,
            "options": json.dumps(options or {}),
        },
        format="multipart",
    )


def test_upload_import_runs_in_background_and_reports_summary(
    api, project, lead, supervisely_zip, django_capture_on_commit_callbacks
):
    api.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(
            api, project, supervisely_zip, options={"create_users": True, "create_labels": True}
        )

    assert response.status_code == 202
    assert response.data["status"] == "pending"
    job = api.get(f"/api/v1/projects/{project.slug}/imports/{response.data['id']}/").data
    assert (job["status"], job["progress"]) == ("done", 1.0)
    assert (
        Submission.objects.filter(task__image__project=project).count(),
        Instance.objects.filter(submission__task__image__project=project).count(),
    ) == (6, 8)
    assert job["summary"]["instances"] == 8


def test_upload_import_bad_file_fails_job_and_changes_nothing(
    api, project, lead, django_capture_on_commit_callbacks
):
    api.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(api, project, b'{"images": [', fmt="coco")

    job = ImportJob.objects.get(pk=response.data["id"])
    assert job.status == "failed"
    assert job.error == (
        "instance.zip: image (none): object (none): invalid JSON: Expecting value at line 1 "
        "column 13"
    )
    assert Submission.objects.count() == 0


def test_upload_import_unknown_format_is_json_400(api, project, lead):
    api.force_authenticate(lead)

    response = _upload(api, project, b"{}", fmt="pascal")

    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input."
    assert list(response.json()["details"]) == ["format"]
    assert ImportJob.objects.count() == 0


def test_upload_server_path_option_refused(api, project, lead):
    api.force_authenticate(lead)

    response = _upload(api, project, b"{}", fmt="coco", options={"images_from": "/etc/passwd"})

    assert response.status_code == 400
    assert "server path" in response.json()["message"]


@pytest.mark.parametrize("who,status", [("annotator", 403), ("reviewer", 403), ("outsider", 404)])
def test_imports_only_for_leads(api, request, project, who, status):
    api.force_authenticate(request.getfixturevalue(who))

    assert _upload(api, project, b"{}", fmt="coco").status_code == status
    assert api.get(f"/api/v1/projects/{project.slug}/imports/").status_code == status


@pytest.mark.parametrize("count", [1, 3])
def test_import_list_fixed_query_count(api, project, lead, django_assert_num_queries, count):
    for n in range(count):
        ImportJob.objects.create(
            project=project, created_by=lead, format="coco", source_name=f"f{n}.json"
        )
    api.force_authenticate(lead)

    # project, membership, count, jobs with their creators
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/imports/")

    assert [j["source_name"] for j in response.data["results"]] == [
        f"f{n}.json" for n in reversed(range(count))
    ]


@pytest.mark.parametrize("count", [1, 3])
def test_export_list_fixed_query_count(api, project, lead, django_assert_num_queries, count):
    started = [
        Export.objects.create(project=project, created_by=lead, format="coco").pk
        for _ in range(count)
    ]
    api.force_authenticate(lead)

    # project, membership, count, exports with their creators and project
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/projects/{project.slug}/exports/")

    assert [e["id"] for e in response.data["results"]] == started[::-1]


@pytest.fixture
def imported(api, project, lead, supervisely_zip, django_capture_on_commit_callbacks):
    api.force_authenticate(lead)
    with django_capture_on_commit_callbacks(execute=True):
        _upload(
            api, project, supervisely_zip, options={"create_users": True, "create_labels": True}
        )
    return project


def test_export_start_run_and_download(api, imported, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(
            f"/api/v1/projects/{imported.slug}/exports/",
            {"format": "coco", "include_unreviewed": True},
            format="json",
        )

    assert started.status_code == 202
    detail = api.get(f"/api/v1/projects/{imported.slug}/exports/{started.data['id']}/").data
    assert detail["status"] == "done"
    download = api.get(detail["download_url"])
    body = b"".join(download.streaming_content)
    assert download.status_code == 200
    assert hashlib.sha256(body).hexdigest() == detail["sha256"] == download["X-Checksum-SHA256"]
    coco = json.loads(body)
    assert (len(coco["images"]), len(coco["annotations"])) == (6, 8)


def test_export_download_before_done_is_409(api, imported, lead):
    export = Export.objects.create(project=imported, created_by=lead, format="coco")

    response = api.get(f"/api/v1/projects/{imported.slug}/exports/{export.pk}/download/")

    assert response.status_code == 409
    assert response.json()["message"] == f"Export {export.pk} is pending, not done yet."


def test_export_of_another_project_is_404(api, imported, lead):
    other_lead = UserFactory(username="other_lead", is_staff=False)
    export = Export.objects.create(project=imported, created_by=lead, format="coco")
    api.force_authenticate(other_lead)

    response = api.get(f"/api/v1/projects/{imported.slug}/exports/{export.pk}/")

    assert response.status_code == 404


def test_export_annotator_forbidden(api, imported, annotator):
    api.force_authenticate(annotator)

    response = api.post(
        f"/api/v1/projects/{imported.slug}/exports/", {"format": "coco"}, format="json"
    )

    assert response.status_code == 403
    assert Export.objects.count() == 0


IO_MATRIX = {
    "admin_user": (200, 200, 200, 200, 202),
    "lead": (200, 200, 200, 200, 202),
    "reviewer": (403, 403, 403, 403, 403),
    "annotator": (403, 403, 403, 403, 403),
    "other_annotator": (403, 403, 403, 403, 403),
    "outsider": (404, 404, 404, 404, 404),
    None: (401, 401, 401, 401, 401),
}


@pytest.mark.parametrize("who", list(IO_MATRIX))
def test_io_permission_matrix(api, request, project, lead, who, settings):
    """Import list and detail, export list and detail, export start, for every role."""
    for role in ("reviewer", "annotator", "other_annotator"):
        request.getfixturevalue(role)
    settings.MASKQC_MAX_PENDING_JOBS = 100
    job = ImportJob.objects.create(project=project, created_by=lead, format="coco")
    export = Export.objects.create(project=project, created_by=lead, format="coco")
    if who is not None:
        api.force_authenticate(request.getfixturevalue(who))
    base = f"/api/v1/projects/{project.slug}"

    statuses = (
        api.get(f"{base}/imports/").status_code,
        api.get(f"{base}/imports/{job.pk}/").status_code,
        api.get(f"{base}/exports/").status_code,
        api.get(f"{base}/exports/{export.pk}/").status_code,
        api.post(f"{base}/exports/", {"format": "coco"}, format="json").status_code,
    )

    assert statuses == IO_MATRIX[who]
