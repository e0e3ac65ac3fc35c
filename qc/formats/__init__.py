"""Pure readers and writers of annotation formats (DESIGN §8). No Django, no settings.

The package:

* :mod:`~qc.formats.base`: the result types (``ParsedImage``, ``ParsedObject``,
  ``ParseResult``, ``Geometry``), ``Limits``, ``FormatError`` and typed field access;
* :mod:`~qc.formats.sources`: bounded file, JSON and XML reading, zlib and base64, folders and
  zip archives; :mod:`~qc.formats.png`: bounded PNG decoding and the foreground rule;
* :mod:`~qc.formats.geometry`: polygons, boxes and circles to RLE;
* :mod:`~qc.formats.builder`: ``ResultBuilder``, which collects one file's images and objects
  under the limits;
* one module per format, each with its reader, the ``OPTIONS`` an import of it takes and,
  where it has them, its writer and its skip knowledge: :mod:`~qc.formats.supervisely`,
  :mod:`~qc.formats.coco`, :mod:`~qc.formats.cvat`, :mod:`~qc.formats.labelme`,
  :mod:`~qc.formats.label_studio`, :mod:`~qc.formats.mask_png`;
* :mod:`~qc.formats.export`: the writers' inputs and helpers, and the mask-to-polygon tracer.

``READERS`` maps the ``--format`` names of ``import_annotations`` to reader functions
``read_<fmt>(path, *, limits, **options) -> ParseResult``; each raises only
:class:`~qc.formats.base.FormatError`.
"""

from __future__ import annotations

from collections.abc import Callable

from qc.formats import coco, cvat, label_studio, labelme, mask_png, supervisely
from qc.formats.base import (
    FormatError,
    Limits,
    ParsedImage,
    ParsedObject,
    ParseResult,
    ReaderOptions,
)
from qc.formats.coco import read_coco, write_coco
from qc.formats.cvat import read_cvat
from qc.formats.export import ExportCategory, ExportImage, ExportObject
from qc.formats.label_studio import read_label_studio
from qc.formats.labelme import read_labelme
from qc.formats.mask_png import read_mask_png, write_mask_png
from qc.formats.supervisely import read_supervisely, write_supervisely

READERS: dict[str, Callable[..., ParseResult]] = {
    "supervisely": read_supervisely,
    "coco": read_coco,
    "cvat": read_cvat,
    "labelme": read_labelme,
    "label-studio": read_label_studio,
    "mask-png": read_mask_png,
}

# The options an import of each format takes (``import_annotations(options=...)``), with
# their types, by format: each reader module's OPTIONS.
READER_OPTIONS: dict[str, ReaderOptions] = {
    "supervisely": supervisely.OPTIONS,
    "coco": coco.OPTIONS,
    "cvat": cvat.OPTIONS,
    "labelme": labelme.OPTIONS,
    "label-studio": label_studio.OPTIONS,
    "mask-png": mask_png.OPTIONS,
}
# Options that name a path on the server: accepted from the command line, never from uploads.
PATH_OPTIONS: frozenset[str] = coco.PATH_OPTIONS
# What a reader skips that an option would have imported: the option, by format and by what
# was skipped (ParseResult.skipped).
SKIP_REMEDIES: dict[str, dict[str, str]] = {
    "label-studio": label_studio.SKIP_REMEDIES,
}
# Skips that lose no object (ParseResult.skipped): an empty mask file is an annotator's
# "found nothing here" (DESIGN §4.6).
NOTHING_DRAWN: frozenset[str] = mask_png.NOTHING_DRAWN

__all__ = [
    "NOTHING_DRAWN",
    "PATH_OPTIONS",
    "READERS",
    "READER_OPTIONS",
    "SKIP_REMEDIES",
    "ExportCategory",
    "ExportImage",
    "ExportObject",
    "FormatError",
    "Limits",
    "ParseResult",
    "ParsedImage",
    "ParsedObject",
    "read_coco",
    "read_cvat",
    "read_label_studio",
    "read_labelme",
    "read_mask_png",
    "read_supervisely",
    "write_coco",
    "write_mask_png",
    "write_supervisely",
]
