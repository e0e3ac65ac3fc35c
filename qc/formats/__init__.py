"""Pure readers and writers of annotation formats (DESIGN §8).

``READERS`` maps the ``--format`` names of ``import_annotations`` to reader functions
``read_<fmt>(path, *, limits, **options) -> ParseResult``; each raises only
:class:`~qc.formats.base.FormatError`.
"""

from __future__ import annotations

from collections.abc import Callable

from qc.formats.base import FormatError, Limits, ParsedImage, ParsedObject, ParseResult
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

__all__ = [
    "READERS",
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
