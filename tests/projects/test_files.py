"""Private files are sent through django-sendfile2, from under MEDIA_ROOT only."""

import pytest
from django.http import Http404
from django.test import RequestFactory

from projects.files import private_file_response


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
