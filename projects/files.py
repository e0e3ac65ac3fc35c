"""Files as MaskQC stores and checks them."""

import hashlib
import mimetypes
import secrets
from pathlib import Path, PurePath

from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest, HttpResponse
from django_sendfile import sendfile

__all__ = [
    "file_sha256",
    "image_upload_to",
    "private_field_response",
    "private_file_response",
    "unguessable_name",
]


def unguessable_name(filename: str, *, keep: int = 60) -> str:
    """``<random token>/<filename>``: a name to store a private file under that nobody can
    guess (DESIGN §10), in a folder of its own so the file keeps its name. The name keeps
    its suffix and at most ``keep`` characters, so the whole fits a FileField's 100."""
    name = PurePath(filename).name or "file"
    if len(name) > keep:
        suffix = PurePath(name).suffix[:10]
        name = name[: keep - len(suffix)] + suffix
    return f"{secrets.token_urlsafe(16)}/{name}"


def image_upload_to(_image: object, filename: str) -> str:
    """Where an image's pixels are stored: ``images/<random token>/<filename>``."""
    return f"images/{unguessable_name(filename)}"


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


# What a stored file may be shown inline as: raster images only. Anything else (a file
# named .html or .js that an image reader also accepts) goes out as an opaque download, so
# that no stored file can run as a page or a script of this site.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/tiff", "image/bmp", "image/webp", "image/gif"}
)


def _served_as(name: str, attachment: bool) -> tuple[bool, str | None]:
    """Whether to send ``name`` as an attachment, and the content type to send it with."""
    if attachment:
        return True, None
    guessed, _ = mimetypes.guess_type(name)
    if guessed in INLINE_TYPES:
        return False, guessed
    return True, "application/octet-stream"


def private_field_response(
    request: HttpRequest,
    field_file: FieldFile,
    *,
    filename: str | None = None,
    attachment: bool = True,
) -> HttpResponse:
    """The bytes of a stored file (a FileField's value) as a download, after the caller's
    permission check. A file on the local file system goes through
    :func:`private_file_response` (so the web server may send it); a file in another storage
    (in-memory, object storage) is streamed by Django. ``filename`` names the download
    (default: the stored name's last part); ``attachment=False`` lets the browser show it
    (an image opened on its own) instead of saving it, when the stored name is that of a
    raster image (:data:`INLINE_TYPES`)."""
    name = filename or field_file.name.rsplit("/", 1)[-1]
    attachment, mimetype = _served_as(field_file.name, attachment)
    if not isinstance(field_file.storage, FileSystemStorage):
        response = FileResponse(field_file.open("rb"), as_attachment=attachment, filename=name)
        if mimetype:
            response["Content-Type"] = mimetype
        return response
    return private_file_response(
        request, field_file.path, filename=name, attachment=attachment, mimetype=mimetype
    )
