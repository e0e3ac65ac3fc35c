"""CVAT for images 1.1 XML reader (task and project exports).

* ``<polygon points="x,y;x,y;...">``: rasterised with pycocotools like every polygon.
* ``<box xtl ytl xbr ybr [rotation]>``: the filled box (continuous corners; ``rotation``
  in degrees clockwise about the box centre, as CVAT draws it).
* ``<mask rle left top width height>``: ``rle`` is comma-separated run lengths over the
  ``width`` x ``height`` box at (``left``, ``top``), row-major, alternating background /
  foreground and starting with background (a leading 0 when the first pixel is set), as
  ``cvat_sdk.masks.encode_mask`` writes them. Runs that stop short of ``width x height``
  leave the rest of the box background (CVAT's own exports leave out the final background
  run); runs that overflow the box are refused.
* every other element (polyline, points, ellipse, cuboid, skeleton, tag, track) is
  skipped and counted; so is a shape with an empty ``label``.

In a project export the same image name appears once per subset; images are then named
``<subset>/<name>`` (the layout of the export's ``images/`` folder).
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from qc.formats.base import (
    FormatError,
    FormatErrorsAt,
    Geometry,
    Invalid,
    Limits,
    Measure,
    ParsedImage,
    ParseResult,
    ReaderOptions,
    as_float,
    as_int,
    guard,
)
from qc.formats.builder import ResultBuilder
from qc.formats.geometry import polygon_geometry, rotated_box_polygon
from qc.formats.sources import parse_xml, read_bounded

__all__ = ["OPTIONS", "read_cvat"]

_SHAPES = ("polygon", "box", "mask")

# The options an import of CVAT XML takes, with their types (qc.formats.READER_OPTIONS).
OPTIONS: ReaderOptions = {"subset": str}


def read_cvat(
    path: Path,
    *,
    limits: Limits,
    measure: Measure | None = None,
    subset: str | None = None,
    subset_prefix: bool | None = None,
) -> ParseResult:
    """Read a CVAT for images 1.1 ``annotations.xml``.

    ``subset`` keeps only that subset's images. ``subset_prefix`` names images
    ``<subset>/<name>``; by default it is on for project exports (a ``<project>`` in
    ``<meta>``) and off for task exports.
    """
    display = path.name
    with guard(display):
        root = parse_xml(read_bounded(path, limits, display), display)
        if root.tag != "annotations":
            raise FormatError(f"root element is <{root.tag}>, not <annotations>", file=display)
        if subset_prefix is None:
            subset_prefix = root.find("meta/project") is not None
        builder = ResultBuilder(display, limits, measure)
        for index, element in enumerate(root):
            if element.tag == "track":
                builder.skip("track", obj=f"<track> #{index}")
            if element.tag != "image":
                continue
            image_subset = element.get("subset")
            if subset is not None and image_subset != subset:
                continue
            name = element.get("name")
            if subset_prefix and image_subset and isinstance(name, str):
                name = f"{image_subset}/{name}"
            with FormatErrorsAt(display, name, f"<image> #{index}"):
                if not name:
                    raise Invalid("<image> without a name")
            image = builder.add_image(
                name,
                element.get("width"),
                element.get("height"),
                source=f"<image id={element.get('id')}>",
            )
            _read_shapes(element, image, display, builder, limits)
        return builder.result(annotators_saw_all=True)


def _read_shapes(
    element: Element, image: ParsedImage, file: str, builder: ResultBuilder, limits: Limits
) -> None:
    """The shapes of one ``<image>``."""
    for index, shape in enumerate(element):
        source = f"<{shape.tag}> #{index} in <image id={element.get('id')}>"
        if shape.tag not in _SHAPES:
            builder.skip(shape.tag, image=image.name, obj=source)
            continue
        label = shape.get("label")
        if not label:
            builder.skip(f"{shape.tag} without label", image=image.name, obj=source)
            continue
        with FormatErrorsAt(file, image.name, source):
            attributes: dict[str, str | int] = {
                child.get("name") or "": child.text or ""
                for child in shape
                if child.tag == "attribute"
            }
            for key in ("occluded", "z_order", "group_id"):
                if shape.get(key) is not None:
                    attributes[key] = as_int(shape.get(key), key)
            if shape.get("source"):
                attributes["source"] = shape.get("source") or ""
            if shape.tag == "polygon":
                geometry = polygon_geometry([_points(shape.get("points"))], image)
            elif shape.tag == "box":
                x0, y0 = as_float(shape.get("xtl"), "xtl"), as_float(shape.get("ytl"), "ytl")
                x1, y1 = as_float(shape.get("xbr"), "xbr"), as_float(shape.get("ybr"), "ybr")
                rotation = as_float(shape.get("rotation") or 0, "rotation")
                box = rotated_box_polygon(x0, y0, x1 - x0, y1 - y0, rotation, about_centre=True)
                geometry = polygon_geometry([box], image)
            else:
                geometry = _mask(shape, image, builder, limits)
        builder.add_object(image, label, geometry, source=source, attributes=attributes)


def _points(text: str | None) -> list[float]:
    """``"x,y;x,y;..."`` → flat list of floats."""
    if not text:
        raise Invalid("missing points")
    flat: list[float] = []
    for pair in text.split(";"):
        values = pair.split(",")
        if len(values) != 2:
            raise Invalid(f"point {pair!r} is not 'x,y'")
        flat += [as_float(values[0], "x"), as_float(values[1], "y")]
    return flat


def _mask(shape: Element, image: ParsedImage, builder: ResultBuilder, limits: Limits) -> Geometry:
    """Decode a ``<mask>``'s row-major run lengths over its box and place the box
    (:meth:`ResultBuilder.bitmap_geometry`). Pixels of the box after the last run are
    background."""
    left, top = as_int(shape.get("left"), "left"), as_int(shape.get("top"), "top")
    width, height = as_int(shape.get("width"), "width"), as_int(shape.get("height"), "height")
    if width <= 0 or height <= 0:
        raise Invalid(f"mask box {width}x{height} is not positive")
    box = width * height
    if box > limits.max_image_pixels:
        raise Invalid(f"mask box {width}x{height} is over the pixel limit")
    text = shape.get("rle") or ""
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise Invalid("rle must be comma-separated whole numbers") from None
    if not counts:
        raise Invalid("mask without rle runs")
    if min(counts) < 0:
        raise Invalid("negative run in rle")
    # Summed as Python integers: huge runs cannot wrap around into a plausible total.
    total = sum(counts)
    if total > box:
        raise Invalid(
            f"rle runs sum to {total}, more than the box's {width}x{height} = {box} pixels"
        )
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    crop = np.zeros(box, dtype=bool)
    crop[:total] = np.repeat(values, np.array(counts, dtype=np.int64))
    return builder.bitmap_geometry(crop.reshape(height, width), (left, top), image)
