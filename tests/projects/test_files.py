"""Private files are sent through django-sendfile2, from under MEDIA_ROOT only."""

import pytest
from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile
from django.http import Http404
from django.test import RequestFactory

from projects.files import private_field_response, private_file_response
from projects.models import Image


def test_private_file_response_sends_the_bytes_as_a_named_attachment(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SENDFILE_ROOT = str(tmp_path)
    stored = tmp_path / "exports" / "a1b2c3" / "export.json"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b'{"images": []}')

    response = private_file_response(
        RequestFactory().get("/"), stored, filename="pool-boiling.json"
    )

    assert b"".join(response.streaming_content) == b'{"images": []}'
    assert response["Content-Disposition"] == 'attachment; filename="pool-boiling.json"'


def test_private_file_response_refuses_a_path_outside_the_root(settings, tmp_path):
    settings.SENDFILE_ROOT = str(tmp_path / "media")
    (tmp_path / "media").mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("no")

    with pytest.raises(Http404):
        private_file_response(RequestFactory().get("/"), tmp_path / "media" / ".." / "secret.txt")


@pytest.mark.parametrize(
    ("stored_name", "disposition", "content_type"),
    [
        ("images/ab12/frame.png", "inline", "image/png"),
        ("images/ab12/frame.jpg", "inline", "image/jpeg"),
        # Files an image reader accepts but a browser would run as a page or a script.
        ("images/ab12/frame.html", "attachment", "application/octet-stream"),
        ("images/ab12/frame.js", "attachment", "application/octet-stream"),
        ("images/ab12/frame.svg", "attachment", "application/octet-stream"),
        ("images/ab12/frame", "attachment", "application/octet-stream"),
    ],
)
def test_a_stored_file_is_shown_inline_only_as_a_raster_image(
    settings, tmp_path, stored_name, disposition, content_type
):
    settings.MEDIA_ROOT = tmp_path
    settings.SENDFILE_ROOT = str(tmp_path)
    (tmp_path / stored_name).parent.mkdir(parents=True)
    (tmp_path / stored_name).write_bytes(b"GIF89a")
    field_file = FieldFile(None, Image._meta.get_field("file"), stored_name)
    field_file.storage = FileSystemStorage(location=tmp_path)

    response = private_field_response(
        RequestFactory().get("/"), field_file, filename="frame", attachment=False
    )

    assert response["Content-Disposition"].startswith(disposition)
    assert response["Content-Type"] == content_type
