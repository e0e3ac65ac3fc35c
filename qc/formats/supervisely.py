"""Supervisely project reader: ``meta.json`` + ``<dataset>/ann/<image>.json``.

* ``bitmap``: ``data`` = base64(zlib(PNG)) (a plain base64 PNG is accepted too), ``origin``
  = [x, y] of the crop's top-left pixel. Foreground as Supervisely reads it: alpha > 0 for
  PNGs with transparency, else non-zero. The crop is pasted at ``origin`` and clipped to
  the image; one with no pixel inside, or an empty one, is an error.
* ``polygon``: ``points.exterior`` [[x, y], ...] and ``points.interior`` (holes), rasterised
  with pycocotools like every polygon.
* ``rectangle``: ``points.exterior`` = [[left, top], [right, bottom]], pixel indices
  inclusive; filled as the box of pixel corners ``left..right+1`` x ``top..bottom+1``.
* other geometry types are skipped and counted by type.

Image name = the annotation file's name without ``.json``; annotator = ``labelerLogin``.
"""

from __future__ import annotations

import base64
import json
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from qc import masks
from qc.formats.base import (
    FormatError,
    FormatErrorsAt,
    Invalid,
    Limits,
    Measure,
    ParsedImage,
    ParseResult,
    ReaderOptions,
    as_int,
    guard,
    opt,
    req,
)
from qc.formats.builder import ResultBuilder
from qc.formats.export import (
    ExportCategory,
    ExportImage,
    ExportObject,
    category_color,
    grouped_by_image,
    png_bytes,
    provenance_block,
    safe_relative,
)
from qc.formats.geometry import flat_points, polygon_geometry
from qc.formats.png import PNG_SIGNATURE, decode_mask_png
from qc.formats.sources import SourceTree, b64decode, inflate, load_json

__all__ = ["OPTIONS", "SuperviselyWriteSummary", "read_supervisely", "write_supervisely"]

# An import of a Supervisely project takes no option (qc.formats.READER_OPTIONS); ``files``
# is how the import reads a large project in shards.
OPTIONS: ReaderOptions = {}


def read_supervisely(
    path: Path,
    *,
    limits: Limits,
    measure: Measure | None = None,
    files: Sequence[str] | None = None,
) -> ParseResult:
    """Read a Supervisely project folder or zip archive.

    Returns every annotated image (``ann/*.json``) and its bitmap, polygon and rectangle
    objects; ``annotators_saw_all`` is False because the annotator is per object.
    ``files`` reads only these files of a folder (relative POSIX paths: its meta.json and
    some of its annotation files), so that parts of a large project can be read in
    parallel.
    """
    display = path.name or str(path)
    with guard(display), SourceTree(path, limits, only=files) as tree:
        names = tree.names()
        meta_name = _find_meta(names, display)
        root = str(PurePosixPath(meta_name).parent)
        root = "" if root == "." else root + "/"
        meta = load_json(tree.read(meta_name), f"{display}/{meta_name}")
        known, classes, tag_names = _read_meta(meta, f"{display}/{meta_name}")
        builder = ResultBuilder(display, limits, measure)
        ann_names = [
            n
            for n in names
            if n.startswith(root) and n.endswith(".json") and PurePosixPath(n).parent.name == "ann"
        ]
        for name in ann_names:
            file = f"{display}/{name}"
            document = load_json(tree.read(name), file)
            _read_annotation(document, name, file, builder, known, classes, tag_names, limits)
        return builder.result(annotators_saw_all=False)


def _find_meta(names: list[str], display: str) -> str:
    """The shallowest ``meta.json``: the project root (a zip may wrap it in a folder)."""
    metas = [n for n in names if PurePosixPath(n).name == "meta.json"]
    if not metas:
        raise FormatError("no meta.json: not a Supervisely project", file=display)
    return min(metas, key=lambda n: (n.count("/"), n))


def _read_meta(meta: Any, file: str) -> tuple[set[str] | None, dict[int, str], dict[int, str]]:
    """Class titles (None when meta lists no classes), titles by class id, tag names by id.

    Tags come in the current form (``tags`` = [{"name", "id", ...}]) or the legacy one
    (``tags_images`` / ``tags_objects`` = lists of names or of objects).
    """
    with FormatErrorsAt(file):
        if not isinstance(meta, dict):
            raise Invalid("meta.json must be an object")
        class_list = opt(meta, "classes", list, [])
        titles: set[str] = set()
        by_id: dict[int, str] = {}
        for entry in class_list:
            title = req(entry, "title", str, "class")
            titles.add(title)
            class_id = opt(entry, "id", int)
            if class_id is not None:
                by_id[class_id] = title
        tags: dict[int, str] = {}
        for key in ("tags", "tags_images", "tags_objects"):
            for entry in opt(meta, key, list, []):
                if isinstance(entry, str):
                    continue
                name = req(entry, "name", str, "tag")
                tag_id = opt(entry, "id", int)
                if tag_id is not None:
                    tags[tag_id] = name
        return (titles if class_list else None), by_id, tags


def _read_annotation(
    document: Any,
    name: str,
    file: str,
    builder: ResultBuilder,
    known: set[str] | None,
    classes: dict[int, str],
    tag_names: dict[int, str],
    limits: Limits,
) -> None:
    """One ``ann/<image>.json``: register the image and read its objects."""
    image_name = PurePosixPath(name).name[: -len(".json")]
    with FormatErrorsAt(file, image_name):
        if not isinstance(document, dict):
            raise Invalid("annotation must be an object")
        size = req(document, "size", dict)
        width, height = req(size, "width", int), req(size, "height", int)
        objects = req(document, "objects", list)
    image = builder.add_image(image_name, width, height, source=name)
    for index, obj in enumerate(objects):
        source = f"{name} object {index}"
        with FormatErrorsAt(file, image_name, source):
            if not isinstance(obj, dict):
                raise Invalid(f"object must be an object, got {type(obj).__name__}")
            obj_id = opt(obj, "id", int)
            if obj_id is not None:
                source = f"{name} object {index} (id {obj_id})"
        with FormatErrorsAt(file, image_name, source):
            _read_object(obj, image, source, builder, classes, known, tag_names, limits)


def _read_object(
    obj: dict,
    image: ParsedImage,
    source: str,
    builder: ResultBuilder,
    classes: dict[int, str],
    known: set[str] | None,
    tag_names: dict[int, str],
    limits: Limits,
) -> None:
    """Decode one object's geometry and add it (or count it as skipped)."""
    kind = req(obj, "geometryType", str)
    label = opt(obj, "classTitle", str)
    if label is None:
        class_id = req(obj, "classId", int)
        if class_id not in classes:
            raise Invalid(f"classId {class_id} is not in meta.json")
        label = classes[class_id]
    elif known is not None and label not in known:
        raise Invalid(f"class {label!r} is not in meta.json")
    annotator = opt(obj, "labelerLogin", str)
    attributes = _attributes(obj, tag_names)
    if kind == "bitmap":
        bitmap = req(obj, "bitmap", dict)
        origin = req(bitmap, "origin", list)
        if len(origin) != 2:
            raise Invalid("bitmap origin must be [x, y]")
        x, y = as_int(origin[0], "origin x"), as_int(origin[1], "origin y")
        crop = decode_bitmap_payload(req(bitmap, "data", str), limits)
        geometry = builder.bitmap_geometry(crop, (x, y), image)
    elif kind == "polygon":
        points = req(obj, "points", dict)
        exterior = flat_points(req(points, "exterior", list), "exterior")
        interior = [flat_points(ring, "interior") for ring in opt(points, "interior", list, [])]
        geometry = polygon_geometry([exterior], image, interior)
    elif kind == "rectangle":
        points = req(obj, "points", dict)
        corners = flat_points(req(points, "exterior", list), "exterior")
        if len(corners) != 4:
            raise Invalid("rectangle exterior must be two points [[left, top], [right, bottom]]")
        left, right = sorted((round(corners[0]), round(corners[2])))
        top, bottom = sorted((round(corners[1]), round(corners[3])))
        box = [left, top, right + 1, top, right + 1, bottom + 1, left, bottom + 1]
        geometry = polygon_geometry([[float(v) for v in box]], image)
    else:
        builder.skip(kind, image=image.name, obj=source)
        return
    builder.add_object(
        image, label, geometry, source=source, annotator=annotator, attributes=attributes
    )


def decode_bitmap_payload(data: str, limits: Limits) -> Any:
    """base64(zlib(PNG)) or base64(PNG) → bool crop, with bomb checks on both layers."""
    raw = b64decode(data, "bitmap data")
    if not raw.startswith(PNG_SIGNATURE):
        raw = inflate(raw, limits.max_decompressed_bytes)
    return decode_mask_png(raw, limits)


def _attributes(obj: dict, tag_names: dict[int, str]) -> dict:
    """Supervisely id, description and object tags (name → value)."""
    attributes: dict[str, Any] = {}
    if isinstance(obj.get("id"), int):
        attributes["supervisely_id"] = obj["id"]
    if isinstance(obj.get("description"), str) and obj["description"]:
        attributes["description"] = obj["description"]
    tags: dict[str, Any] = {}
    for tag in obj.get("tags") or []:
        if isinstance(tag, str):
            tags[tag] = None
        elif isinstance(tag, dict):
            name = tag.get("name")
            tag_id = tag.get("tagId")
            if not isinstance(name, str) and isinstance(tag_id, int):
                name = tag_names.get(tag_id)
            if isinstance(name, str):
                value = tag.get("value")
                tags[name] = value if isinstance(value, str | int | float) else None
    if tags:
        attributes["tags"] = tags
    return attributes


# ------------------------------------------------------------------------ writer


@dataclass(frozen=True)
class SuperviselyWriteSummary:
    """What :func:`write_supervisely` wrote."""

    images: int
    objects: int


def write_supervisely(
    out: Path,
    *,
    categories: Sequence[ExportCategory],
    images: Sequence[ExportImage],
    annotations: Iterable[ExportObject],
    dataset: str = "ds",
) -> SuperviselyWriteSummary:
    """Write a Supervisely project: ``meta.json`` and ``<dataset>/ann/<image>.json``.

    ``out`` is a folder (created) or, when it ends in ``.zip``, a zip archive with fixed
    timestamps so the bytes depend only on the inputs. Every object is a ``bitmap``
    (palette PNG, index 1 opaque, zlib, base64; origin = its bbox corner), lossless. The
    annotator (``provenance["annotator"]``) becomes ``labelerLogin``; provenance and
    attributes go under ``maskqc``. ``annotations`` must be grouped by image in image order
    (one image's objects are held at a time).
    """
    dataset = safe_relative(dataset)
    known = {c.name for c in categories}
    meta = {
        "classes": [
            {"title": c.name, "shape": "bitmap", "color": category_color(c, i), "hotkey": ""}
            for i, c in enumerate(categories)
        ],
        "tags": [],
        "projectType": "images",
    }
    sink = _Sink(out)
    count = 0
    try:
        sink.write("meta.json", _json_bytes(meta))
        for image, objects in grouped_by_image(images, annotations):
            rows = []
            for obj in objects:
                if obj.label not in known:
                    raise ValueError(f"object with unknown class {obj.label!r}")
                rows.append(_bitmap_object(obj))
            document = {
                "description": "",
                "tags": [],
                "size": {"height": image.height, "width": image.width},
                "objects": rows,
            }
            sink.write(f"{dataset}/ann/{safe_relative(image.name)}.json", _json_bytes(document))
            count += len(rows)
    finally:
        sink.close()
    return SuperviselyWriteSummary(images=len(images), objects=count)


def _bitmap_object(obj: ExportObject) -> dict:
    """One Supervisely bitmap object for an export object."""
    crop, (x, y) = masks.rle_to_crop(obj.rle)
    if crop.size == 0:
        raise ValueError(f"empty mask on image {obj.image!r}")
    png = png_bytes(crop.astype(np.uint8), palette=[0, 0, 0, 255, 255, 255])
    row: dict[str, Any] = {
        "classTitle": obj.label,
        "description": "",
        "geometryType": "bitmap",
        "tags": [],
        "bitmap": {
            "data": base64.b64encode(zlib.compress(png, 6)).decode("ascii"),
            "origin": [x, y],
        },
    }
    annotator = obj.provenance.get("annotator")
    if isinstance(annotator, str):
        row["labelerLogin"] = annotator
    block = provenance_block(obj)
    if block:
        row["maskqc"] = block
    return row


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode()


class _Sink:
    """Files written into a folder, or into a deterministic zip when the path ends .zip."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.zip: zipfile.ZipFile | None = None
        if out.suffix.lower() == ".zip":
            out.parent.mkdir(parents=True, exist_ok=True)
            self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        else:
            out.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            self.zip.writestr(info, data)
        else:
            target = self.out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
