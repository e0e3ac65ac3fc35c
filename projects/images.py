"""Image files into a project (``manage.py import_images``): each file's size from its
header, its sha256, and the file stored under MEDIA, all or nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from projects.audit import audit
from projects.errors import ImportRefused
from projects.files import file_sha256
from projects.models import Image, Project
from projects.progress import ProgressCallback, ProgressThrottle
from projects.services import image_create

__all__ = ["IMAGE_SUFFIXES", "ImagesImportSummary", "images_import"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"})
_IN_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class ImagesImportSummary:
    """What ``images_import`` did."""

    project: str
    files: int = 0
    created: int = 0
    attached: int = 0
    unchanged: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "files": self.files,
            "created": self.created,
            "attached": self.attached,
            "unchanged": self.unchanged,
            "bytes": self.bytes,
        }

    def line(self) -> str:
        return (
            f"{self.project}: {self.files} image files: {self.created} images created, "
            f"{self.attached} existing images given their pixels, {self.unchanged} unchanged "
            f"({self.bytes / 1e6:.1f} MB)."
        )


@dataclass(frozen=True)
class _ImageFile:
    path: Path
    name: str
    width: int
    height: int
    sha256: str
    size: int


def _image_files(paths: Iterable[Path | str]) -> list[Path]:
    """The files named, and the image files directly inside the folders named."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        elif path.is_file():
            files.append(path)
        else:
            raise ImportRefused("no such file or folder", file=str(path))
    return files


def _inspect_image(path: Path) -> _ImageFile:
    """Size from the header (pixels are not decoded), sha256 and byte count of one file."""

    size = path.stat().st_size
    if size > settings.MASKQC_MAX_UPLOAD_BYTES:
        raise ImportRefused(
            f"file is {size} bytes, over the limit of {settings.MASKQC_MAX_UPLOAD_BYTES}",
            file=path.name,
            image=path.name,
        )
    try:
        with PILImage.open(path) as picture:
            width, height = picture.size
    except (UnidentifiedImageError, PILImage.DecompressionBombError, OSError) as error:
        raise ImportRefused(
            f"not a readable image: {error}", file=path.name, image=path.name
        ) from None
    if width * height > settings.MASKQC_MAX_IMAGE_PIXELS:
        raise ImportRefused(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{settings.MASKQC_MAX_IMAGE_PIXELS}",
            file=path.name,
            image=path.name,
        )
    return _ImageFile(path, path.name, width, height, file_sha256(path), size)


def images_import(
    *,
    project: Project,
    paths: Sequence[Path | str],
    actor: Any,
    progress: ProgressCallback | None = None,
) -> ImagesImportSummary:
    """Store image files in the project, all or nothing; image name = file name.

    Files are given directly or as folders (their image files, not subfolders). Size comes
    from the file's header, sha256 from its bytes; the file is stored under MEDIA through
    the default storage. An image the project already has (created by an annotation
    import) gets its pixels when its size agrees; the same bytes again change nothing;
    a size or content that disagrees is an error naming the file.
    """
    report = ProgressThrottle(progress)
    files = _image_files(paths)
    names = _unique_names(files)
    inspected = []
    for index, path in enumerate(files):
        inspected.append(_inspect_image(path))
        report(0.5 * (index + 1) / max(len(files), 1), "reading image headers")
    summary = ImagesImportSummary(project=project.slug, files=len(files))
    stored: list[str] = []
    try:
        with transaction.atomic():
            project = Project.objects.select_for_update().get(pk=project.pk)
            existing = _images_named(project, names)
            for index, item in enumerate(inspected):
                _image_store(
                    item,
                    image=existing.get(item.name),
                    project=project,
                    actor=actor,
                    summary=summary,
                    stored=stored,
                )
                report(0.5 + 0.5 * (index + 1) / len(inspected), "storing images")
    except BaseException:
        # Storage is not transactional: remove what this call stored.
        for name in stored:
            with contextlib.suppress(Exception):
                default_storage.delete(name)
        raise
    report(1.0, "done")
    return summary


def _unique_names(files: list[Path]) -> list[str]:
    """The files' names (image names), refusing two files of one name."""
    seen: dict[str, Path] = {}
    for path in files:
        if path.name in seen:
            raise ImportRefused(
                f"duplicate image name (also {seen[path.name]})", file=str(path), image=path.name
            )
        seen[path.name] = path
    return list(seen)


def _images_named(project: Project, names: list[str]) -> dict[str, Image]:
    """The project's images of these names, by name."""
    existing: dict[str, Image] = {}
    for chunk in _chunks(names):
        for image in Image.objects.filter(project=project, name__in=chunk):
            existing[image.name] = image
    return existing


def _image_store(
    item: _ImageFile,
    *,
    image: Image | None,
    project: Project,
    actor: Any,
    summary: ImagesImportSummary,
    stored: list[str],
) -> None:
    """Store one file: a new image, or the pixels of the project's ``image`` of its name
    (unless it has them already); counted in ``summary``, the stored name added to
    ``stored``. A size or pixels that disagree with ``image`` are refused."""
    if image is None:
        with item.path.open("rb") as handle:
            created = image_create(
                project=project,
                name=item.name,
                width=item.width,
                height=item.height,
                sha256=item.sha256,
                actor=actor,
                file=File(handle, name=item.name),
            )
        stored.append(created.file.name)
        summary.created += 1
        summary.bytes += item.size
    elif (image.width, image.height) != (item.width, item.height):
        raise ImportRefused(
            f"size {item.width}x{item.height} disagrees with the project's image "
            f"of {image.width}x{image.height} (width x height)",
            file=str(item.path),
            image=item.name,
        )
    elif image.file and image.sha256 == item.sha256:
        summary.unchanged += 1
    elif image.file:
        raise ImportRefused(
            f"the project's image has other pixels (sha256 {image.sha256[:12]}, "
            f"this file {item.sha256[:12]})",
            file=str(item.path),
            image=item.name,
        )
    else:
        _image_attach(item, image=image, project=project, actor=actor, stored=stored)
        summary.attached += 1
        summary.bytes += item.size


def _image_attach(
    item: _ImageFile, *, image: Image, project: Project, actor: Any, stored: list[str]
) -> None:
    """Give an image without pixels the file's, with its sha256."""
    with item.path.open("rb") as handle:
        image.file.save(item.name, File(handle, name=item.name), save=False)
    stored.append(image.file.name)
    before = {"sha256": image.sha256}
    image.sha256 = item.sha256
    image.save(update_fields=["file", "sha256"])
    audit(
        actor=actor,
        verb="image.update",
        obj=image,
        project=project,
        before=before,
        after={"file": image.file.name, "sha256": item.sha256},
    )
