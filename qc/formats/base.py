"""Shared types, errors and typed access for the annotation readers and writers.

Beside it: :mod:`qc.formats.sources` (bounded file, JSON, XML and zip access),
:mod:`qc.formats.geometry` (polygons and shapes to RLE) and :mod:`qc.formats.builder`
(the result a reader builds).

Pure module: no Django, no settings. Limits come in as a :class:`Limits` value.

Conventions used by every reader:

* Coordinates are pixels, ``[x, y]`` (column, row); polygons are flat COCO lists
  ``[x0, y0, x1, y1, ...]`` in the continuous frame where pixel ``(col, row)`` covers
  ``[col, col + 1) x [row, row + 1)``. Polygons are rasterised one way everywhere:
  pycocotools ``frPyObjects`` (through :func:`qc.masks.rle_from_polygons`).
* A mask is a pycocotools compressed RLE dict ``{"size": [h, w], "counts": bytes}``.
* Readers raise only :class:`FormatError`; its message names the file, the image and
  the object and says what is wrong.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import math
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from xml.etree import ElementTree
from xml.parsers import expat

import numpy as np

from qc import masks

__all__ = [
    "CocoIds",
    "FormatError",
    "Geometry",
    "Limits",
    "Measure",
    "ParseResult",
    "ParsedImage",
    "ParsedObject",
    "ReaderOptions",
]

# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class ParsedImage:
    """An image named by an annotation file, with its size in pixels."""

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class ParsedObject:
    """One instance read from a file.

    ``polygon`` holds the exterior parts and ``holes`` the interior rings of the source
    geometry (flat ``[x0, y0, ...]`` lists, pixels) when the source was a polygon, so an
    export can write the polygon back; both are ``None`` for bitmap sources.
    ``source`` says where in the file the object came from, for error messages and audit.
    """

    image: str
    label: str
    rle: dict
    annotator: str | None
    polygon: list[list[float]] | None
    holes: list[list[float]] | None
    attributes: dict
    source: str


Measure = Callable[[np.ndarray, tuple[int, int], ParsedImage], tuple[dict, Any]]
"""A reader's hook for bitmaps (:meth:`ResultBuilder.bitmap`): given a decoded crop that lies
inside its image (bool ``[row, col]``, its top-left pixel at ``(x, y)``) and the image, return
the crop's RLE and anything else to be measured from the pixels while they are at hand (the
import: the instance features), kept in the result's ``measured``."""


class Geometry(NamedTuple):
    """One object's geometry as a reader decoded it, before it becomes a :class:`ParsedObject`.

    ``rle``: its mask. ``polygon`` / ``holes``: the exterior parts and interior rings of the
    source polygon (flat ``[x0, y0, ...]`` lists, pixels) when the source was vector
    (:func:`qc.formats.geometry.polygon_geometry`), else None. ``measured``: what the
    reader's :data:`Measure` hook returned for a bitmap
    (:meth:`qc.formats.builder.ResultBuilder.bitmap_geometry`), else None.
    """

    rle: dict
    polygon: list[list[float]] | None = None
    holes: list[list[float]] | None = None
    measured: Any = None


ReaderOptions = dict[str, type | tuple[type, ...]]
"""The options an import of one format takes (``import_annotations(options=...)``), by
name, with the type or types each accepts: a reader module's ``OPTIONS``."""


@dataclass(frozen=True)
class CocoIds:
    """The ids a COCO file gives its images and categories, by image name and label, so
    that a later results file, which names only ids, can be matched to them."""

    images: dict[str, int]
    categories: dict[str, int]


@dataclass(frozen=True)
class ParseResult:
    """What a reader found in a file or folder.

    ``skipped`` counts the geometry the reader does not import (``{"line": 2}``);
    ``skipped_at`` says where the first of each kind was, as (image, object), for messages.

    Which (image, annotator) pairs are submissions (DESIGN §4.6):

    * ``submissions`` not ``None``: exactly these pairs, with or without objects
      (mask folders, Label Studio: the file says who looked at what);
    * otherwise ``annotators_saw_all`` ``True``: every listed image is a submission of
      the file's annotator (single-annotator formats such as COCO, LabelMe, CVAT);
    * otherwise (Supervisely with ``labelerLogin``): a labeler has a submission only for
      the images they drew on, unless the importer is told that labelers saw all images.

    ``coco_ids``: the COCO ids of the images and categories, when the file gave them.
    ``measured``: what the reader's :data:`Measure` hook returned for each object, in the
    order of ``objects`` (None for objects that are not bitmaps), when there was a hook.
    """

    images: list[ParsedImage]
    objects: list[ParsedObject]
    skipped: Counter[str]
    annotators_saw_all: bool
    submissions: list[tuple[str, str | None]] | None = None
    coco_ids: CocoIds | None = None
    measured: list[Any] | None = field(default=None, repr=False, compare=False)
    skipped_at: dict[str, tuple[str | None, str | None]] = field(
        default_factory=dict, repr=False, compare=False
    )


@dataclass(frozen=True)
class Limits:
    """Guards against hostile input; the Django layer fills them from settings.

    * ``max_file_bytes``: one annotation file (or one archive member, or a whole archive);
    * ``max_archive_bytes``: all the members of one archive, inflated;
    * ``max_decompressed_bytes``: one decoded payload (a zlib stream, a PNG's pixels);
    * ``max_image_pixels``: width x height of an image or of a bitmap;
    * ``max_instances_per_image``: objects of one image in one file.
    """

    max_file_bytes: int = 1 << 30
    max_archive_bytes: int = 1 << 30
    max_decompressed_bytes: int = 256 << 20
    max_image_pixels: int = 200_000_000
    max_instances_per_image: int = 10_000


class FormatError(ValueError):
    """An annotation file cannot be read. The message names file, image and object."""

    def __init__(
        self, message: str, *, file: str, image: str | None = None, obj: str | None = None
    ) -> None:
        self.message = message
        self.file = file
        self.image = image
        self.object = obj
        super().__init__(
            f"{file}: image {image if image is not None else '(none)'}: "
            f"object {obj if obj is not None else '(none)'}: {message}"
        )


class Invalid(ValueError):
    """Raised inside a reader with a human message; :func:`where` adds file/image/object."""


# ---------------------------------------------------------------- error context


def describe(exc: BaseException) -> str:
    """A short human description of an exception raised while parsing."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, Invalid):
        return str(exc)
    if isinstance(exc, masks.MaskError):
        return f"invalid mask: {exc}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, TypeError | AttributeError):
        return f"wrong type: {exc}"
    if isinstance(exc, RecursionError):
        return "document nested too deeply"
    if isinstance(exc, expat.ExpatError | ElementTree.ParseError):
        return f"invalid XML: {exc}"
    if isinstance(exc, binascii.Error):
        return f"invalid base64: {exc}"
    if isinstance(exc, zlib.error):
        return f"invalid zlib data: {exc}"
    if isinstance(exc, zipfile.BadZipFile):
        return f"not a readable zip archive: {exc}"
    if isinstance(exc, UnicodeError):
        return f"invalid text encoding: {exc}"
    if isinstance(exc, OSError):
        return f"unreadable: {exc}"
    return f"{type(exc).__name__}: {exc}"


class FormatErrorsAt:
    """``with FormatErrorsAt(file, image, obj):`` turns any error raised inside the block into a
    :class:`FormatError` at this place. A class rather than a generator: readers enter one
    or two per object, and this is several times cheaper."""

    __slots__ = ("file", "image", "obj")

    def __init__(self, file: str, image: str | None = None, obj: str | None = None) -> None:
        self.file, self.image, self.obj = file, image, obj

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any
    ) -> bool:
        if exc is None or isinstance(exc, FormatError) or not isinstance(exc, Exception):
            return False
        raise FormatError(describe(exc), file=self.file, image=self.image, obj=self.obj) from exc


# ------------------------------------------------------------------ typed access


def req(mapping: Any, key: str, kind: type | tuple[type, ...], what: str | None = None) -> Any:
    """``mapping[key]`` checked to be of ``kind`` (bool is never accepted as a number)."""
    if not isinstance(mapping, dict):
        raise Invalid(f"{what or 'element'} must be an object, got {type_name(mapping)}")
    if key not in mapping:
        raise Invalid(f"missing field {key!r}")
    return check_type(mapping[key], kind, key)


def opt(mapping: dict, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """``mapping.get(key, default)`` checked to be of ``kind`` when present and not null."""
    value = mapping.get(key)
    if value is None:
        return default
    return check_type(value, kind, key)


def check_type(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    """Return ``value`` if it is a ``kind``; bools are not numbers here."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise Invalid(f"field {name!r} must be {kind_name(kinds)}, got boolean")
    if not isinstance(value, kinds):
        raise Invalid(f"field {name!r} must be {kind_name(kinds)}, got {type_name(value)}")
    return value


def type_name(value: Any) -> str:
    """JSON-ish name of a Python value's type."""
    return {
        dict: "object",
        list: "array",
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def kind_name(kinds: tuple[type, ...]) -> str:
    """JSON-ish names of accepted types."""
    return " or ".join(
        {
            dict: "an object",
            list: "an array",
            str: "a string",
            int: "an integer",
            float: "a number",
        }.get(k, k.__name__)
        for k in kinds
    )


def as_int(value: Any, name: str) -> int:
    """An integer given as an int or an integral float/string (CVAT writes "10")."""
    if isinstance(value, bool):
        raise Invalid(f"{name} must be an integer, got boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{name} must be an integer, got {value!r}") from None
        if number.is_integer():
            return int(number)
    raise Invalid(f"{name} must be an integer, got {value!r}")


def as_float(value: Any, name: str) -> float:
    """A finite number given as int, float or numeric string."""
    if isinstance(value, bool):
        raise Invalid(f"{name} must be a number, got boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{name} must be a number, got {value!r}") from None
    else:
        raise Invalid(f"{name} must be a number, got {type_name(value)}")
    if not math.isfinite(number):
        raise Invalid(f"{name} must be finite, got {value!r}")
    return number


def guard(file: str) -> contextlib.AbstractContextManager[None]:
    """Outermost guard of a reader: anything unexpected becomes a file-level FormatError."""
    return FormatErrorsAt(file)
