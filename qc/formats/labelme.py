"""LabelMe (wkentaro/labelme) JSON reader: one JSON per image.

* ``polygon``: its points; ``rectangle``: the box between its two corner points;
  ``circle``: centre and a point on the circle, as a fine polygon; all rasterised with
  pycocotools like every polygon.
* ``mask``: ``mask`` is a base64 PNG of the box given by the two ``points``, placed at
  the first point truncated to whole pixels (as labelme pastes it); foreground non-zero
  (alpha > 0 when the PNG has transparency).
* shapes with the same ``label`` and non-null ``group_id`` are one instance (the union).
* the ``__ignore__`` label is skipped (counted as ``__ignore__``); so are other shape
  types (line, point, linestrip, points…), counted by type.

Image name = basename of ``imagePath`` (the JSON's stem when it is empty); size =
``imageWidth`` x ``imageHeight``.
"""

from __future__ import annotations

import math
from pathlib import Path, PureWindowsPath
from typing import Any

from qc import masks
from qc.formats.base import (
    FormatErrorsAt,
    Geometry,
    Invalid,
    Limits,
    Measure,
    ParsedImage,
    ParseResult,
    ReaderOptions,
    guard,
    opt,
    req,
)
from qc.formats.builder import ResultBuilder
from qc.formats.geometry import box_polygon, circle_polygon, flat_points, polygon_geometry
from qc.formats.png import decode_mask_png
from qc.formats.sources import SourceTree, b64decode, load_json, read_bounded

__all__ = ["IGNORE_LABEL", "OPTIONS", "read_labelme"]

IGNORE_LABEL = "__ignore__"

# An import of LabelMe files takes no option (qc.formats.READER_OPTIONS).
OPTIONS: ReaderOptions = {}


def read_labelme(path: Path, *, limits: Limits, measure: Measure | None = None) -> ParseResult:
    """Read one LabelMe JSON file, or every ``*.json`` under a folder (or in a zip)."""
    display = path.name or str(path)
    with guard(display):
        builder = ResultBuilder(display, limits, measure)
        if path.is_file() and path.suffix.lower() == ".json":
            data = read_bounded(path, limits, display)
            _read_file(load_json(data, display), path.name, display, builder, limits)
        else:
            with SourceTree(path, limits) as tree:
                for name in tree.names():
                    if name.lower().endswith(".json"):
                        file = f"{display}/{name}"
                        document = load_json(tree.read(name), file)
                        _read_file(document, name, file, builder, limits)
        return builder.result(annotators_saw_all=True)


def _read_file(document: Any, name: str, file: str, builder: ResultBuilder, limits: Limits) -> None:
    """One LabelMe document."""
    with FormatErrorsAt(file):
        if not isinstance(document, dict):
            raise Invalid("a LabelMe file must be an object")
        image_path = opt(document, "imagePath", str, "")
        image_name = PureWindowsPath(image_path).name if image_path else Path(name).stem
        shapes = req(document, "shapes", list)
    image = builder.add_image(
        image_name, document.get("imageWidth"), document.get("imageHeight"), source=name
    )
    groups: dict[tuple[str, Any], list[tuple[Geometry, dict, str]]] = {}
    order: list[tuple[str, Any]] = []
    for index, shape in enumerate(shapes):
        source = f"{Path(name).name} shape {index}"
        with FormatErrorsAt(file, image.name, source):
            if not isinstance(shape, dict):
                raise Invalid("shape must be an object")
            label = req(shape, "label", str)
            shape_type = opt(shape, "shape_type", str, "polygon")
            if label == IGNORE_LABEL:
                builder.skip(IGNORE_LABEL, image=image.name, obj=source)
                continue
            if shape_type not in ("polygon", "rectangle", "circle", "mask"):
                builder.skip(shape_type, image=image.name, obj=source)
                continue
            group_id = shape.get("group_id")
            if group_id is not None and not isinstance(group_id, int | str):
                raise Invalid("group_id must be an integer, a string or null")
            geometry = _shape(shape, shape_type, image, builder, limits)
            key = (label, group_id) if group_id is not None else (label, ("shape", index))
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append((geometry, shape, source))
    for key in order:
        label, group_id = key
        members = groups[key]
        sources = [source for _, _, source in members]
        source = sources[0] if len(sources) == 1 else f"{sources[0]} (+{len(sources) - 1})"
        with FormatErrorsAt(file, image.name, source):
            geometry = _union([geometry for geometry, _, _ in members])
        attributes: dict[str, Any] = {}
        if not isinstance(group_id, tuple):
            attributes["group_id"] = group_id
        _, first, _ = members[0]
        if first.get("flags"):
            attributes["flags"] = first["flags"]
        if isinstance(first.get("description"), str) and first["description"]:
            attributes["description"] = first["description"]
        builder.add_object(image, label, geometry, source=source, attributes=attributes)


def _union(shapes: list[Geometry]) -> Geometry:
    """The geometry of the shapes of one group: their union, with one polygon part per shape
    when every shape is a polygon."""
    if len(shapes) == 1:
        return shapes[0]
    parts = [shape.polygon[0] for shape in shapes if shape.polygon is not None]
    # What was measured of each shape does not hold for their union.
    return Geometry(
        masks.rle_union([shape.rle for shape in shapes]),
        parts if len(parts) == len(shapes) else None,
    )


def _shape(
    shape: dict, shape_type: str, image: ParsedImage, builder: ResultBuilder, limits: Limits
) -> Geometry:
    """The geometry of one shape: a one-part polygon for the vector shapes, a bitmap for
    masks."""
    points = flat_points(req(shape, "points", list))
    if shape_type == "polygon":
        return polygon_geometry([points], image)
    if len(points) != 4:
        raise Invalid(f"a {shape_type} needs exactly 2 points, got {len(points) // 2}")
    x0, y0, x1, y1 = points
    if shape_type == "rectangle":
        return polygon_geometry([box_polygon(x0, y0, x1, y1)], image)
    if shape_type == "circle":
        return polygon_geometry([circle_polygon(x0, y0, math.hypot(x1 - x0, y1 - y0))], image)
    crop = decode_mask_png(b64decode(req(shape, "mask", str), "mask"), limits)
    origin = (math.floor(min(x0, x1)), math.floor(min(y0, y1)))
    return builder.bitmap_geometry(crop, origin, image)
