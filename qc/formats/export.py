"""Writer inputs and the mask → polygon tracer shared by the exporters.

The Django exporter maps database rows to :class:`ExportImage`, :class:`ExportCategory`
and :class:`ExportObject`; the writers (``write_coco``, ``write_supervisely``,
``write_mask_png``) are pure and byte-for-byte deterministic for the same input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qc import masks

__all__ = [
    "ExportCategory",
    "ExportImage",
    "ExportObject",
    "exact_polygons",
    "trace_polygons",
]


@dataclass(frozen=True)
class ExportImage:
    """An image of the export. ``id`` (COCO image id) defaults to the 1-based position."""

    name: str
    width: int
    height: int
    id: int | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExportCategory:
    """A label class. ``id`` defaults to the 1-based position; ``color`` is ``#rrggbb``."""

    name: str
    id: int | None = None
    color: str | None = None
    supercategory: str = ""


@dataclass(frozen=True)
class ExportObject:
    """An accepted instance.

    ``polygon``/``holes``: the source polygon when there was one (flat lists, pixels).
    ``attributes`` are the instance's free attributes (``iscrowd`` among them for COCO);
    ``provenance`` (annotator, reviewer, agreement, …) is written under a ``"maskqc"`` key.
    """

    image: str
    label: str
    rle: dict
    polygon: list[list[float]] | None = None
    holes: list[list[float]] | None = None
    attributes: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    id: int | None = None


# ------------------------------------------------------------------------ tracing

_EAST, _SOUTH, _WEST, _NORTH = 0, 1, 2, 3
_STEP = {_EAST: (1, 0), _SOUTH: (0, 1), _WEST: (-1, 0), _NORTH: (0, -1)}


def trace_polygons(crop: np.ndarray, origin: tuple[int, int]) -> list[list[float]]:
    """Trace a bool crop's pixel-edge boundary into COCO polygon parts.

    One part per 8-connected component: its outer boundary, with each hole joined to it
    by a zero-width bridge walked there and back (a "keyhole"), so that rasterising the
    parts (even-odd per part, union over parts, as pycocotools ``frPyObjects`` + ``merge``
    do) gives the crop back. Vertices lie on pixel corners, in image coordinates.
    """
    import cv2

    mask = np.zeros((crop.shape[0] + 2, crop.shape[1] + 2), dtype=np.uint8)
    mask[1:-1, 1:-1] = crop
    count, labels = cv2.connectedComponents(mask, connectivity=8)
    rings = _rings(mask.astype(bool))
    outer: dict[int, list[tuple[int, int]]] = {}
    holes: dict[int, list[list[tuple[int, int]]]] = {}
    for points, pixel in rings:
        component = int(labels[pixel])
        if _signed_area(points) > 0:
            outer[component] = points
        else:
            holes.setdefault(component, []).append(points)
    ox, oy = origin[0] - 1, origin[1] - 1
    parts: list[list[float]] = []
    for component in range(1, count):
        ring = outer[component]
        path = [*ring, ring[0]]
        for hole in holes.get(component, []):
            path += [*hole, hole[0], ring[0]]
        parts.append([float(v) for x, y in path for v in (x + ox, y + oy)])
    return parts


def _rings(mask: np.ndarray) -> list[tuple[list[tuple[int, int]], tuple[int, int]]]:
    """Closed boundary loops of a zero-padded bool mask, with one pixel of each loop.

    Edges run clockwise on screen around foreground (foreground on the walker's right);
    where two loops touch at a corner the walker turns left, joining diagonal neighbours
    (8-connectivity), so every hole lies inside exactly one outer loop. The returned
    vertices are the corners where the direction changes.
    """
    outgoing: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}
    sides = (
        (_EAST, np.roll(mask, 1, axis=0), (0, 0)),  # background above: top edge
        (_SOUTH, np.roll(mask, -1, axis=1), (1, 0)),  # background right: right edge
        (_WEST, np.roll(mask, -1, axis=0), (1, 1)),  # background below: bottom edge
        (_NORTH, np.roll(mask, 1, axis=1), (0, 1)),  # background left: left edge
    )
    for heading, neighbour, (dx, dy) in sides:
        rows, cols = np.nonzero(mask & ~neighbour)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            outgoing.setdefault((c + dx, r + dy), {})[heading] = (r, c)
    used: set[tuple[tuple[int, int], int]] = set()
    loops: list[tuple[list[tuple[int, int]], tuple[int, int]]] = []
    for start in sorted(outgoing):
        for first, pixel in sorted(outgoing[start].items()):
            if (start, first) in used:
                continue
            walk: list[tuple[tuple[int, int], int]] = []
            corner, heading = start, first
            while (corner, heading) not in used:
                used.add((corner, heading))
                walk.append((corner, heading))
                dx, dy = _STEP[heading]
                corner = (corner[0] + dx, corner[1] + dy)
                options = outgoing.get(corner, {})
                for turn in (3, 0, 1):  # left first, then straight, then right
                    if (heading + turn) % 4 in options:
                        heading = (heading + turn) % 4
                        break
                else:
                    break
            vertices = [walk[i][0] for i in range(len(walk)) if walk[i][1] != walk[i - 1][1]]
            loops.append((vertices, pixel))
    return loops


def _signed_area(points: list[tuple[int, int]]) -> float:
    """Shoelace area; positive for loops clockwise on screen (y down)."""
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    return float(np.dot(xs, np.roll(ys, -1)) - np.dot(np.roll(xs, -1), ys)) / 2


def exact_polygons(obj: ExportObject) -> list[list[float]] | None:
    """COCO polygon parts that rasterise exactly to ``obj.rle``, or None.

    The stored source polygon is used when it has no holes and still rasterises to the
    stored mask; otherwise the mask is traced. None when neither is exact (the caller then
    writes RLE).
    """
    height, width = obj.rle["size"]
    target = bytes(_counts(obj.rle))
    if obj.polygon and not obj.holes:
        try:
            rle = masks.rle_from_polygons(obj.polygon, height=height, width=width)
        except masks.MaskError:
            rle = None
        if rle is not None and bytes(_counts(rle)) == target:
            return [list(map(float, part)) for part in obj.polygon]
    crop, origin = masks.rle_to_crop(obj.rle)
    if crop.size == 0:
        return None
    parts = trace_polygons(crop, origin)
    try:
        rle = masks.rle_from_polygons(parts, height=height, width=width)
    except masks.MaskError:
        return None
    return parts if bytes(_counts(rle)) == target else None


def _counts(rle: dict[str, Any]) -> bytes:
    counts = rle["counts"]
    return counts.encode("ascii") if isinstance(counts, str) else counts


# ------------------------------------------------------------------ writer helpers


def grouped_by_image(
    images: Sequence[ExportImage], annotations: Iterable[ExportObject]
) -> Iterator[tuple[ExportImage, list[ExportObject]]]:
    """Yield each image with its objects, consuming ``annotations`` once, in image order.

    ``annotations`` must come grouped by image in the order of ``images`` (the exporter
    orders its query that way), so only one image's objects are held at a time.
    """
    position = {image.name: index for index, image in enumerate(images)}
    if len(position) != len(images):
        raise ValueError("duplicate image names in the export")
    iterator = iter(annotations)
    pending = next(iterator, None)
    for index, image in enumerate(images):
        objects: list[ExportObject] = []
        while pending is not None:
            where_ = position.get(pending.image)
            if where_ is None:
                raise ValueError(f"annotation on unknown image {pending.image!r}")
            if where_ < index:
                raise ValueError(
                    f"annotations must be grouped by image in image order; "
                    f"{pending.image!r} came back after {image.name!r}"
                )
            if where_ > index:
                break
            objects.append(pending)
            pending = next(iterator, None)
        yield image, objects


def safe_relative(name: str) -> str:
    """An image name usable as a relative path inside an export (no '..', not absolute)."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"image name {name!r} cannot be used as a path in an export")
    return "/".join(parts)


def png_bytes(array: np.ndarray, *, palette: list[int] | None = None) -> bytes:
    """Encode a 2-D uint8 (``L``) or uint16 (``I;16``) array as PNG deterministically.

    With ``palette`` a uint8 array becomes a palette image whose index 0 is transparent
    (Supervisely's bitmap form). Fixed compression settings, no metadata chunks.
    """
    import io

    from PIL import Image

    image = Image.fromarray(array)
    options: dict[str, Any] = {"compress_level": 6}
    if palette is not None:
        image.putpalette(palette)
        options["transparency"] = 0
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


DEFAULT_COLORS = (
    "#E6194B",
    "#3CB44B",
    "#FFE119",
    "#4363D8",
    "#F58231",
    "#911EB4",
    "#46F0F0",
    "#F032E6",
    "#BCF60C",
    "#FABEBE",
    "#008080",
    "#E6BEFF",
    "#9A6324",
    "#FFFAC8",
)


def category_color(category: ExportCategory, position: int) -> str:
    """The category's colour, or a fixed palette colour by position."""
    return category.color or DEFAULT_COLORS[position % len(DEFAULT_COLORS)]


def provenance_block(obj: ExportObject) -> dict:
    """The ``maskqc`` value of an object: provenance, plus attributes when there are any."""
    block = dict(obj.provenance)
    if obj.attributes:
        block["attributes"] = dict(obj.attributes)
    return block
