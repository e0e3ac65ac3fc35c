"""Shared types and safe decoders for the annotation readers and writers.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

import numpy as np

from qc import masks

__all__ = [
    "CocoIds",
    "FormatError",
    "Limits",
    "Measure",
    "ParseResult",
    "ParsedImage",
    "ParsedObject",
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


class where:  # lower case: it reads as a function, `with where(file, image, obj):`
    """``with where(file, image, obj):`` turns any error raised inside the block into a
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


# ------------------------------------------------------------------- file access


def read_bounded(path: Path, limits: Limits, display: str) -> bytes:
    """Read a whole file, refusing one larger than ``limits.max_file_bytes``."""
    with where(display):
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise Invalid(f"file is {size} bytes, over the limit of {limits.max_file_bytes}")
        with path.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
        if len(data) > limits.max_file_bytes:
            raise Invalid(f"file is over the limit of {limits.max_file_bytes} bytes")
        return data


def load_json(data: bytes, display: str) -> Any:
    """Parse JSON bytes (UTF-8, optional BOM); errors name the file."""
    with where(display):
        text = data.decode("utf-8-sig")
        return json.loads(text)


def parse_xml(data: bytes, display: str) -> ElementTree.Element:
    """Parse XML without DTDs: any DOCTYPE or entity declaration is refused.

    expat is driven directly so that no entity is ever expanded (no "billion laughs", no
    external entities); the tree is built with ElementTree's TreeBuilder.
    """
    with where(display):
        builder = ElementTree.TreeBuilder()
        parser = expat.ParserCreate()

        def refuse(*_args: Any) -> None:
            raise Invalid("XML with a DOCTYPE or entity declaration is not accepted")

        parser.StartDoctypeDeclHandler = refuse
        parser.EntityDeclHandler = refuse
        parser.UnparsedEntityDeclHandler = refuse
        parser.ExternalEntityRefHandler = refuse
        parser.StartElementHandler = builder.start
        parser.EndElementHandler = builder.end
        parser.CharacterDataHandler = builder.data
        parser.buffer_text = True
        parser.Parse(data, True)
        return builder.close()


# ---------------------------------------------------------------- safe decoders


def inflate(data: bytes, limit: int) -> bytes:
    """zlib-decompress ``data``, refusing output above ``limit`` bytes before allocating it."""
    decompressor = zlib.decompressobj()
    out = decompressor.decompress(data, limit + 1)
    if len(out) > limit or decompressor.unconsumed_tail:
        raise Invalid(f"compressed data expands beyond the limit of {limit} bytes")
    out += decompressor.flush()
    if len(out) > limit:
        raise Invalid(f"compressed data expands beyond the limit of {limit} bytes")
    if not decompressor.eof:
        raise Invalid("truncated zlib data")
    return out


def b64decode(text: Any, name: str) -> bytes:
    """Strict base64 (whitespace tolerated); a data URL prefix is stripped."""
    if not isinstance(text, str):
        raise Invalid(f"{name} must be a base64 string, got {type_name(text)}")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or ";base64" not in head:
            raise Invalid(f"{name} is a data URL without base64 payload")
    compact = "".join(text.split())
    return binascii.a2b_base64(compact.encode("ascii"), strict_mode=True)


# --------------------------------------------------------------- geometry helpers


def flat_points(points: Any, name: str = "points") -> list[float]:
    """``[[x, y], ...]`` or ``[x, y, ...]`` → flat list of finite floats."""
    if not isinstance(points, list):
        raise Invalid(f"{name} must be an array, got {type_name(points)}")
    flat: list[float] = []
    if points and isinstance(points[0], list | tuple):
        for pair in points:
            if not isinstance(pair, list | tuple) or len(pair) < 2:
                raise Invalid(f"{name} must be [x, y] pairs")
            flat.append(as_float(pair[0], f"{name} x"))
            flat.append(as_float(pair[1], f"{name} y"))
    else:
        if len(points) % 2:
            raise Invalid(f"{name} has an odd number of coordinates ({len(points)})")
        flat = [as_float(v, name) for v in points]
    return flat


def check_polygon(flat: list[float], name: str = "polygon") -> None:
    """At least 3 points (a 4-number COCO polygon is not a box). Far-away vertices are
    refused by :func:`qc.masks.rle_from_polygons`."""
    if len(flat) < 6:
        raise Invalid(f"{name} has {len(flat) // 2} point(s); at least 3 are needed")


def polygon_rle(
    parts: Sequence[list[float]],
    image: ParsedImage,
    holes: Sequence[list[float]] = (),
) -> dict:
    """Rasterise polygon parts (union) minus holes with pycocotools ``frPyObjects``."""
    if not parts:
        raise Invalid("polygon without points")
    for part in parts:
        check_polygon(part)
    for hole in holes:
        check_polygon(hole, "polygon hole")
    rle = masks.rle_from_polygons(
        [list(p) for p in parts],
        height=image.height,
        width=image.width,
        holes=[list(h) for h in holes],
    )
    if masks.rle_area(rle) == 0:
        raise Invalid("polygon covers no pixel of the image")
    return rle


def box_polygon(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """Axis-aligned box corners as a flat polygon (continuous coordinates)."""
    left, right = sorted((x0, x1))
    top, bottom = sorted((y0, y1))
    if right <= left or bottom <= top:
        raise Invalid(f"box with no area ({x0}, {y0}, {x1}, {y1})")
    return [left, top, right, top, right, bottom, left, bottom]


def rotated_box_polygon(
    x: float, y: float, w: float, h: float, degrees: float, *, about_centre: bool
) -> list[float]:
    """Box ``(x, y, w, h)`` rotated clockwise (image axes) about its centre or top-left."""
    if w <= 0 or h <= 0:
        raise Invalid(f"box with no area (width {w}, height {h})")
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if degrees % 360 == 0:
        return [c for p in corners for c in p]
    cx, cy = (x + w / 2, y + h / 2) if about_centre else (x, y)
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    out: list[float] = []
    for px, py in corners:
        dx, dy = px - cx, py - cy
        out += [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]
    return out


def circle_polygon(cx: float, cy: float, radius: float) -> list[float]:
    """A circle as a polygon fine enough that its rasterisation is the disc's."""
    if radius <= 0:
        raise Invalid("circle with zero radius")
    count = max(16, min(4096, math.ceil(2 * math.pi * radius)))
    out: list[float] = []
    for k in range(count):
        angle = 2 * math.pi * k / count
        out += [cx + radius * math.cos(angle), cy + radius * math.sin(angle)]
    return out


# ---------------------------------------------------------------- RLE checks


def check_rle_total(total: int, height: int, width: int) -> None:
    """RLE runs must cover exactly height x width pixels."""
    if total != height * width:
        raise Invalid(
            f"RLE counts sum to {total}, not height x width = {height}x{width} = {height * width}"
        )


# ------------------------------------------------------------------ the builder


@dataclass
class ResultBuilder:
    """Collects images and objects, enforcing names, sizes and limits, for one file.

    ``measure``: the reader's :data:`Measure` hook, applied to every bitmap
    (:meth:`bitmap`); without one, bitmaps are only encoded.
    """

    file: str
    limits: Limits
    measure: Measure | None = None
    measured: list[Any] = field(default_factory=list)
    images: dict[str, ParsedImage] = field(default_factory=dict)
    image_sources: dict[str, str] = field(default_factory=dict)
    objects: list[ParsedObject] = field(default_factory=list)
    per_image: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_at: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def add_image(
        self, name: Any, width: Any, height: Any, *, source: str, repeat_ok: bool = False
    ) -> ParsedImage:
        """Register an image; a second one with the same name is an error unless identical
        and ``repeat_ok``."""
        with where(self.file, name if isinstance(name, str) else None):
            if not isinstance(name, str) or not name.strip():
                raise Invalid(f"image name must be a non-empty string, got {name!r}")
            width = as_int(width, "image width")
            height = as_int(height, "image height")
            if width <= 0 or height <= 0:
                raise Invalid(f"image size {width}x{height} is not positive")
            if width * height > self.limits.max_image_pixels:
                raise Invalid(
                    f"image is {width}x{height} = {width * height} pixels, over the limit "
                    f"of {self.limits.max_image_pixels}"
                )
            image = ParsedImage(name, width, height)
            previous = self.images.get(name)
            if previous is not None:
                if not repeat_ok:
                    raise Invalid(f"duplicate image name (also in {self.image_sources[name]})")
                if previous != image:
                    raise Invalid(
                        f"size {width}x{height} disagrees with {previous.width}x"
                        f"{previous.height} from {self.image_sources[name]}"
                    )
                return previous
            self.images[name] = image
            self.image_sources[name] = source
            return image

    def add_object(
        self,
        *,
        image: ParsedImage,
        label: Any,
        rle: dict,
        source: str,
        annotator: str | None = None,
        polygon: list[list[float]] | None = None,
        holes: list[list[float]] | None = None,
        attributes: dict | None = None,
        measured: Any = None,
    ) -> None:
        """Append an object, enforcing a label and the per-image instance limit."""
        if not isinstance(label, str) or not label.strip():
            raise FormatError(
                f"label must be a non-empty string, got {label!r}",
                file=self.file,
                image=image.name,
                obj=source,
            )
        self.per_image[image.name] += 1
        if self.per_image[image.name] > self.limits.max_instances_per_image:
            raise FormatError(
                f"more than {self.limits.max_instances_per_image} instances in one image",
                file=self.file,
                image=image.name,
                obj=source,
            )
        self.objects.append(
            ParsedObject(
                image=image.name,
                label=label,
                rle=rle,
                annotator=annotator,
                polygon=polygon,
                holes=holes or None,
                attributes=dict(attributes or {}),
                source=source,
            )
        )
        self.measured.append(measured)

    def bitmap(
        self, crop: np.ndarray, origin: tuple[int, int], image: ParsedImage
    ) -> tuple[dict, Any]:
        """Clip a decoded bitmap to its image and encode it: its RLE, and what the
        ``measure`` hook took from its pixels (None without a hook).

        ``crop`` is bool ``[row, col]`` with its top-left pixel at ``origin`` (x, y), which
        may hang over any edge. Refused: an empty crop, and a crop with no pixel inside the
        image.
        """
        x, y = origin
        h, w = crop.shape
        if crop.size == 0:
            raise Invalid("empty bitmap: no foreground pixel")
        if x >= image.width or y >= image.height or x + w <= 0 or y + h <= 0:
            raise Invalid(
                f"bitmap at origin [{x}, {y}] of size {w}x{h} lies outside the "
                f"{image.width}x{image.height} image"
            )
        row_lo, col_lo = max(0, -y), max(0, -x)
        inside = crop[row_lo : image.height - y, col_lo : image.width - x]
        at = (x + col_lo, y + row_lo)
        try:
            if self.measure is None:
                rle = masks.rle_from_crop(inside, origin=at, height=image.height, width=image.width)
                return rle, None
            return self.measure(inside, at, image)
        except masks.MaskError:
            if inside.any():
                raise
            if inside.shape == crop.shape or not crop.any():
                raise Invalid("empty bitmap: no foreground pixel") from None
            raise Invalid(
                f"bitmap at origin [{x}, {y}] has no foreground pixel inside the "
                f"{image.width}x{image.height} image"
            ) from None

    def skip(
        self, kind: str, count: int = 1, *, image: str | None = None, obj: str | None = None
    ) -> None:
        """Count geometry that is not imported; the first of a kind is remembered by its
        image and object."""
        self.skipped[kind] += count
        self.skipped_at.setdefault(kind, (image, obj))

    def result(
        self,
        *,
        annotators_saw_all: bool,
        submissions: list[tuple[str, str | None]] | None = None,
        coco_ids: CocoIds | None = None,
    ) -> ParseResult:
        """The finished, immutable result."""
        return ParseResult(
            images=list(self.images.values()),
            objects=self.objects,
            skipped=Counter(self.skipped),
            annotators_saw_all=annotators_saw_all,
            submissions=submissions,
            coco_ids=coco_ids,
            measured=self.measured if self.measure is not None else None,
            skipped_at=dict(self.skipped_at),
        )


def guard(file: str) -> contextlib.AbstractContextManager[None]:
    """Outermost guard of a reader: anything unexpected becomes a file-level FormatError."""
    return where(file)


# ------------------------------------------------------------- folders and zips


# Bytes inflated per step when an archive member is read: what a member can make the process
# hold beyond its own size, whatever its header says.
ZIP_CHUNK = 1 << 20
# zipfile inflates a bzip2 or LZMA chunk whole, however large it turns out: only these are read.
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})


class SourceTree:
    """The files of a folder or of a zip archive, by relative POSIX path.

    Every file (archive member) is read with the ``max_file_bytes`` limit. A zip is held to
    what it really inflates to, not to what its headers say: a member is inflated
    :data:`ZIP_CHUNK` bytes at a time and counted as it comes, and refused as soon as it
    passes ``max_file_bytes`` or the members read so far pass ``max_archive_bytes``; no
    buffer is sized from a header, so reading holds at most about twice a member's limit
    (its chunks, then their join). A member that is never read is never inflated. A member
    whose header admits to more than ``max_file_bytes`` is refused before it inflates.
    zipfile stops a member at the size its header gives and then checks its CRC, so a header
    that understates the size ends in a refusal as damaged after a chunk, not after the
    whole member. Every refusal names the archive and the member. ``only`` names the files
    of a folder to use (its own listing, made by the caller) instead of listing it again.
    """

    def __init__(self, path: Path, limits: Limits, only: Sequence[str] | None = None) -> None:
        self.path = path
        self.limits = limits
        self.display = path.name or str(path)
        self._zip: zipfile.ZipFile | None = None
        self._inflated = 0
        with where(self.display):
            if path.is_dir() and only is not None:
                self._names = sorted(only)
            elif path.is_dir():
                self._names = sorted(
                    p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
                )
            elif path.is_file():
                size = path.stat().st_size
                if size > limits.max_file_bytes:
                    raise Invalid(
                        f"archive is {size} bytes, over the limit of {limits.max_file_bytes}"
                    )
                self._zip = zipfile.ZipFile(path)
                self._names = sorted(
                    info.filename for info in self._zip.infolist() if not info.is_dir()
                )
            else:
                raise Invalid("no such file or folder")

    def names(self) -> list[str]:
        """All file paths, sorted."""
        return list(self._names)

    def read(self, name: str) -> bytes:
        """The bytes of one file, refused above the file-size limit (and, for an archive
        member, when the archive's members read so far inflate past its limit)."""
        with where(f"{self.display}/{name}"):
            if self._zip is None:
                return read_bounded(self.path / name, self.limits, f"{self.display}/{name}")
            return self._inflate(self._zip, self._zip.getinfo(name))

    def _inflate(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """One archive member, inflated in chunks and counted as it comes."""
        limit, archive_limit = self.limits.max_file_bytes, self.limits.max_archive_bytes
        if info.file_size > limit:
            raise Invalid(f"archive member is {info.file_size} bytes, over the limit of {limit}")
        if info.compress_type not in _ZIP_METHODS:
            raise Invalid(
                f"archive member is compressed with method {info.compress_type}; only stored "
                "and deflated members are read"
            )
        if info.flag_bits & 0x1:
            raise Invalid("archive member is encrypted")
        chunks: list[bytes] = []
        size = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(ZIP_CHUNK):
                    size += len(chunk)
                    self._inflated += len(chunk)
                    if size > limit:
                        raise Invalid(
                            f"archive member inflates to more than the limit of {limit} bytes"
                        )
                    if self._inflated > archive_limit:
                        raise Invalid(
                            f"archive members inflate to more than the archive limit of "
                            f"{archive_limit} bytes by this one"
                        )
                    chunks.append(chunk)
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:
            raise Invalid(f"archive member is damaged or its header is false: {error}") from None
        return b"".join(chunks)

    def close(self) -> None:
        """Release the archive handle."""
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
