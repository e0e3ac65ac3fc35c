"""Adding images to a project from its images page (leads and admins): image files, or zips
of them, stored as ``manage.py import_images`` and the API store them
(:func:`projects.images.images_import`, through :func:`projects.services.image_create`).

All or nothing: one file that is not a readable image, too large, or named twice refuses the
whole upload with a message naming the file (and the zip it came in), and nothing is added.
An image the project has already without pixels (created by an annotation import) gets the
file's; the same file again changes nothing.
"""

import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from projects.errors import ApplicationError, ImportRefused
from projects.images import IMAGE_SUFFIXES, ImagesImportSummary, images_import
from projects.pages import raise_refusal
from projects.permissions import Action, project_for

ACCEPT = ",".join(sorted(IMAGE_SUFFIXES | {".zip"}))
_MAX_ZIP_MEMBERS = 10_000


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    """One or more files from one file input."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", _MultipleFileInput(attrs={"accept": ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(item, initial) for item in data]
        return [single(data or None, initial)]


class ImageUploadForm(forms.Form):
    files = _MultipleFileField(
        label="Image files or zips",
        error_messages={"required": "Choose image files, or a zip of them, to add."},
    )


def _refused(where: str, reason: str) -> ApplicationError:
    return ApplicationError(f"{where}: {reason}.", extra={"files": [reason]})


def _copy_limited(source: Any, target: Path, *, where: str, limit: int) -> int:
    """Copy a file object to ``target``, refusing one over ``limit`` bytes (whatever a zip
    says its size is)."""
    written = 0
    with target.open("wb") as out:
        while block := source.read(1024 * 1024):
            written += len(block)
            if written > limit:
                raise _refused(where, f"over the limit of {limit} bytes")
            out.write(block)
    return written


def _zip_members(upload: UploadedFile, folder: Path, names: dict[str, str]) -> list[Path]:
    """The image files of a zip (any folder inside it; hidden files and others skipped),
    written under ``folder``; ``names`` maps each image name to where it came from."""
    limit = settings.MASKQC_MAX_UPLOAD_BYTES
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError):
        raise _refused(upload.name, "not a readable zip archive") from None
    paths: list[Path] = []
    total = 0
    with archive:
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir()
            and PurePosixPath(info.filename).suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith((".", "__MACOSX")) for part in info.filename.split("/"))
        ]
        if len(members) > _MAX_ZIP_MEMBERS:
            raise _refused(upload.name, f"more than {_MAX_ZIP_MEMBERS} images")
        if not members:
            raise _refused(upload.name, "no image file inside")
        for info in members:
            name = PurePosixPath(info.filename).name
            where = f"{upload.name} › {info.filename}"
            if not name.isprintable():
                raise _refused(where, "not a name an image can have")
            _claim(names, name, where)
            try:
                with archive.open(info) as source:
                    total += _copy_limited(source, folder / name, where=where, limit=limit)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
                raise _refused(where, "cannot be read from the zip") from None
            if total > limit:
                raise _refused(upload.name, f"its images add up to over {limit} bytes")
            paths.append(folder / name)
    return paths


def _claim(names: dict[str, str], name: str, where: str) -> None:
    """Image names are file names, one image per name: a second file of a name is refused."""
    if name in names:
        raise _refused(where, f"another file of this upload is named {name} too ({names[name]})")
    names[name] = where


def _stored_files(uploads: list[UploadedFile], folder: Path, names: dict[str, str]) -> list[Path]:
    """Each upload written under ``folder`` (a zip as the images inside it); ``names`` gets
    where each image name came from."""
    paths: list[Path] = []
    for index, upload in enumerate(uploads):
        name = Path(upload.name or "").name
        if not name or not name.isprintable():
            raise _refused(repr(name) if name else "A file", "not a name an image can have")
        if name.lower().endswith(".zip"):
            inside = folder / f"zip-{index}"
            inside.mkdir()
            paths += _zip_members(upload, inside, names)
            continue
        _claim(names, name, name)
        path = folder / name
        try:
            with path.open("wb") as out:
                shutil.copyfileobj(upload, out)
        except OSError:  # a name longer than the file system takes
            raise _refused(name, "not a name an image can have") from None
        paths.append(path)
    return paths


def _added_words(summary: ImagesImportSummary) -> str:
    parts = []
    if summary.created:
        parts.append(f"added {summary.created} image{'s' if summary.created != 1 else ''}")
    if summary.attached:
        parts.append(
            f"gave {summary.attached} existing image{'s' if summary.attached != 1 else ''} "
            "their pixels"
        )
    if summary.unchanged:
        parts.append(
            f"{summary.unchanged} {'was' if summary.unchanged == 1 else 'were'} there already"
        )
    done = ", ".join(parts) if parts else "nothing to add"
    return f"{done[0].upper()}{done[1:]} ({summary.bytes / 1e6:.1f} MB)."


def _refusal_words(error: ApplicationError, names: dict[str, str], folder: str) -> str:
    """The refusal, naming the file as the lead uploaded it (and the zip it came in), never
    where this server kept it."""
    words = error.message
    if isinstance(error, ImportRefused) and error.image in names:
        words = f"{names[error.image]}: image {error.image}: {error.reason}."
    return re.sub(re.escape(folder) + r"/(zip-\d+/)?", "", words)


@login_required
@require_POST
def image_upload(request: HttpRequest, slug: str) -> HttpResponse:
    """Add the uploaded images, then back to the images page with what was done or why
    nothing was."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    form = ImageUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("project-images", slug=project.slug)
    names: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="maskqc-upload-") as tmp:
        try:
            paths = _stored_files(form.cleaned_data["files"], Path(tmp), names)
            summary = images_import(project=project, paths=paths, actor=request.user)
        except ApplicationError as error:
            raise_refusal(error)
            words = _refusal_words(error, names, tmp)
            messages.error(request, f"{words} Nothing was added.")
            return redirect("project-images", slug=project.slug)
    messages.success(request, _added_words(summary))
    return redirect("project-images", slug=project.slug)
