"""Shapes as annotation tools write them (points, polygons, boxes, rotated boxes, circles)
checked and rasterised the COCO way (:func:`qc.masks.rle_from_polygons`). Pure module."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qc import masks
from qc.formats.base import Geometry, Invalid, ParsedImage, as_float, type_name

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


def polygon_geometry(
    parts: list[list[float]], image: ParsedImage, holes: list[list[float]] | None = None
) -> Geometry:
    """A source polygon as an object's :class:`Geometry`: its mask (:func:`polygon_rle`) and
    the parts and holes themselves, kept for export."""
    return Geometry(polygon_rle(parts, image, holes or ()), parts, holes or None)


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
