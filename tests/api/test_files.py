"""Private files (DESIGN §10): exports and uploaded imports are stored under names nobody
can guess and sent only through views that check the roles; nothing under MEDIA_ROOT has a
URL."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django_sendfile.utils import _get_sendfile

from projects.files import unguessable_name
from qc.models import Export, ImportJob
from tests.factories import ImageFactory, TaskFactory

ROLES = ["admin_user", "lead", "reviewer", "annotator", "other_annotator", "outsider"]


@pytest.fixture
def export(project, lead):
    export = Export.objects.create(
        project=project, created_by=lead, format="coco", status="done", sha256="ab" * 32
    )
    export.file.save(unguessable_name("bubbles-export.json"), ContentFile(b'{"images": []}'))
    return export


@pytest.fixture
def import_job(project, lead):
    job = ImportJob.objects.create(
        project=project, created_by=lead, format="coco", source_name="team.json"
    )
    job.file.save(unguessable_name("upload.json"), ContentFile(b'{"annotations": []}'))
    return job


EXPECTED = {
    "admin_user": 200,
    "lead": 200,
    "reviewer": 403,
    "annotator": 403,
    "other_annotator": 403,
    "outsider": 404,
}


@pytest.mark.parametrize("who", ROLES)
def test_export_download_only_for_leads_and_admins(api, request, project, export, who):
    for role in ("lead", "reviewer", "annotator", "other_annotator"):
        request.getfixturevalue(role)
    api.force_authenticate(request.getfixturevalue(who))

    response = api.get(f"/api/v1/projects/{project.slug}/exports/{export.pk}/download/")

    assert response.status_code == EXPECTED[who]
    if response.status_code == 200:
        assert b"".join(response.streaming_content) == b'{"images": []}'
        assert response["Content-Disposition"] == 'attachment; filename="bubbles-export.json"'
    else:
        assert "message" in response.json()


@pytest.mark.parametrize("who", ROLES)
def test_import_file_only_for_leads_and_admins(api, request, project, import_job, who):
    for role in ("lead", "reviewer", "annotator", "other_annotator"):
        request.getfixturevalue(role)
    api.force_authenticate(request.getfixturevalue(who))

    response = api.get(f"/api/v1/projects/{project.slug}/imports/{import_job.pk}/file/")

    assert response.status_code == EXPECTED[who]
    if response.status_code == 200:
        assert b"".join(response.streaming_content) == b'{"annotations": []}'
        assert response["Content-Disposition"] == 'attachment; filename="team.json"'


def test_private_file_urls_refuse_anonymous_with_401(api, project, export, import_job):
    for path in (
        f"/api/v1/projects/{project.slug}/exports/{export.pk}/download/",
        f"/api/v1/projects/{project.slug}/imports/{import_job.pk}/file/",
    ):
        response = api.get(path)
        assert (path, response.status_code) == (path, 401)


def test_import_without_a_file_is_409(api, project, lead):
    job = ImportJob.objects.create(project=project, created_by=lead, format="coco")
    api.force_authenticate(lead)

    response = api.get(f"/api/v1/projects/{project.slug}/imports/{job.pk}/file/")

    assert (response.status_code, response.json()["message"]) == (
        409,
        f"Import {job.pk} has no stored file.",
    )


def test_uploaded_import_is_stored_under_an_unguessable_name(api, project, lead):
    api.force_authenticate(lead)
    api.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("team.json", b"{}"), "format": "coco", "options": "{}"},
        format="multipart",
    )
    api.post(
        f"/api/v1/projects/{project.slug}/imports/",
        {"file": SimpleUploadedFile("team.json", b"{}"), "format": "coco", "options": "{}"},
        format="multipart",
    )

    names = [job.file.name.split("/") for job in ImportJob.objects.order_by("pk")]
    assert [(folder, len(token), name) for folder, token, name in names] == [
        ("imports", 22, "team.json"),
        ("imports", 22, "team.json"),
    ]
    assert names[0][1] != names[1][1]


@pytest.mark.parametrize("debug", [False, True])
def test_media_urls_are_404(client, settings, export, debug):
    settings.DEBUG = debug

    response = client.get(f"/media/{export.file.name}")

    assert response.status_code == 404


@pytest.fixture
def nginx_sendfile(settings, tmp_path):
    """Files on disk under ``tmp_path``, sent by django-sendfile2's nginx backend (the
    library caches its backend, so it is forgotten before and after)."""
    settings.MEDIA_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    settings.SENDFILE_ROOT = str(tmp_path)
    settings.SENDFILE_BACKEND = "django_sendfile.backends.nginx"
    settings.SENDFILE_URL = "/protected"
    _get_sendfile.cache_clear()
    yield tmp_path
    _get_sendfile.cache_clear()


def test_download_from_the_file_system_is_handed_to_the_web_server(
    api, project, lead, reviewer, nginx_sendfile
):
    export = Export.objects.create(project=project, created_by=lead, format="coco", status="done")
    export.file.save(unguessable_name("bubbles-export.json"), ContentFile(b"{}"))
    path = f"/api/v1/projects/{project.slug}/exports/{export.pk}/download/"

    api.force_authenticate(reviewer)
    refused = api.get(path)
    api.force_authenticate(lead)
    response = api.get(path)

    assert refused.status_code == 403
    assert "X-Accel-Redirect" not in refused
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/protected/{export.file.name}"
    assert (nginx_sendfile / export.file.name).read_bytes() == b"{}"


PIXELS_EXPECTED = {
    "admin_user": 200,
    "lead": 200,
    "reviewer": 200,
    "annotator": 200,  # has a task on the image
    "other_annotator": 404,  # has none: the image is not theirs to see
    "outsider": 404,
}


@pytest.fixture
def image_with_pixels(project, annotator):
    image = ImageFactory(project=project, name="frame-7.png")
    image.file.save(unguessable_name("frame-7.png"), ContentFile(b"\x89PNG-bytes"))
    TaskFactory(image=image, annotator=annotator)
    return image


@pytest.mark.parametrize("who", ROLES)
def test_image_pixels_only_for_who_may_see_the_image(api, request, project, image_with_pixels, who):
    for role in ("lead", "reviewer", "annotator", "other_annotator"):
        request.getfixturevalue(role)
    api.force_authenticate(request.getfixturevalue(who))

    response = api.get(f"/api/v1/projects/{project.slug}/images/{image_with_pixels.pk}/pixels/")

    assert response.status_code == PIXELS_EXPECTED[who]
    if response.status_code == 200:
        assert b"".join(response.streaming_content) == b"\x89PNG-bytes"


def test_image_pixels_refuse_anonymous_with_401(api, project, image_with_pixels):
    response = api.get(f"/api/v1/projects/{project.slug}/images/{image_with_pixels.pk}/pixels/")

    assert (response.status_code, response["WWW-Authenticate"]) == (401, "Token")
