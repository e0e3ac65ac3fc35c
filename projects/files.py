"""Files as MaskQC stores and checks them."""

import hashlib
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django_sendfile import sendfile

__all__ = ["file_sha256", "private_file_response"]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read a MiB at a time (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def private_file_response(
    request: HttpRequest,
    path: Path | str,
    *,
    filename: str | None = None,
    attachment: bool = True,
    mimetype: str | None = None,
) -> HttpResponse:
    """The bytes of a private file under MEDIA_ROOT, through django-sendfile2's backend (the
    web server may send them). It checks nothing: call it after the permission check.
    ``filename`` names the download (default: the stored name)."""
    return sendfile(
        request,
        str(path),
        attachment=attachment,
        attachment_filename=filename or Path(path).name,
        mimetype=mimetype,
    )
