"""PNG mask folder reader.

A ``pattern`` relative to the folder locates the masks, with placeholders
``{annotator}``, ``{image}`` and optionally ``{instance}`` (each matches one path segment
or part of one; ``*`` matches anything within a segment), e.g.
``ExpertsAnnotations/{annotator}/seg_{image}.png`` or
``{image}/masks_original/{instance}.png``.

Pixel values: 1-bit, ``L`` and ``I`` images use their value; palette images their index;
RGB(A) images the largest channel (alpha ignored: BU-BIL crowd masks are RGBA with alpha
255 everywhere), or for ``instances="ids"`` the packed colour ``R<<16 | G<<8 | B``.

* ``foreground="nonzero"``: value ≠ 0 is the object; ``"zero"``: value = 0 is the object
  (BU-BIL draws objects black on white).
* ``instances="single"``: the file's foreground is one instance; ``"components"``: each
  8-connected component is an instance; ``"ids"``: each distinct non-zero value is one.

Every (image, annotator) pair with at least one file is a submission, even when the mask
is empty (the annotator looked and found nothing); an empty mask file is counted as
``empty_mask``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qc import masks
from qc.formats.base import (
    FormatErrorsAt,
    Invalid,
    Limits,
    Measure,
    ParseResult,
    ReaderOptions,
    guard,
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
from qc.formats.png import open_png, png_header
from qc.formats.sources import SourceTree

__all__ = [
    "EMPTY_MASK",
    "NOTHING_DRAWN",
    "OPTIONS",
    "MaskPngWriteSummary",
    "pattern_regex",
    "read_mask_png",
    "write_mask_png",
]

Foreground = Literal["nonzero", "zero"]
Instances = Literal["single", "components", "ids"]

# The options an import of a mask folder takes, with their types (qc.formats.READER_OPTIONS);
# the annotator comes from the pattern or the import's ``--annotator``.
OPTIONS: ReaderOptions = {
    "pattern": str,
    "foreground": str,
    "instances": str,
    "label": str,
    "image_name": str,
}
# What a mask file with no foreground pixel counts as skipped.
EMPTY_MASK = "empty_mask"
# Skips that lose no object: an empty mask is an annotator's "found nothing here", and its
# image's empty submission is what is read (DESIGN §4.6).
NOTHING_DRAWN = frozenset({EMPTY_MASK})


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Compile a placeholder pattern into a regex over relative POSIX paths."""
    if "{image}" not in pattern:
        raise Invalid("pattern must contain {image}")
    parts: list[str] = []
    seen: set[str] = set()
    for token in re.split(r"(\{[a-z]+\}|\*)", pattern):
        if token in ("{annotator}", "{image}", "{instance}"):
            name = token[1:-1]
            if name in seen:
                raise Invalid(f"placeholder {token} appears twice in the pattern")
            seen.add(name)
            parts.append(f"(?P<{name}>[^/]+?)")
        elif token == "*":
            parts.append("[^/]*")
        elif token.startswith("{") and token.endswith("}"):
            raise Invalid(f"unknown placeholder {token} in the pattern")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + r"\Z")


def read_mask_png(
    path: Path,
    *,
    limits: Limits,
    measure: Measure | None = None,
    pattern: str,
    foreground: Foreground = "nonzero",
    instances: Instances = "single",
    annotator: str | None = None,
    label: str = "object",
    image_name: str = "{image}",
) -> ParseResult:
    """Read every PNG under ``path`` (folder or zip) that matches ``pattern``.

    ``annotator`` names the annotator when the pattern has no ``{annotator}`` (and
    overrides it when it has one). ``image_name`` formats the image's name from the
    ``{image}`` match, e.g. ``"{image}.png"`` to match the raw images' file names. The
    image size comes from the masks; all masks of one image must agree.
    """
    display = path.name or str(path)
    with guard(display):
        if foreground not in ("nonzero", "zero"):
            raise Invalid(f"foreground must be 'nonzero' or 'zero', got {foreground!r}")
        if instances not in ("single", "components", "ids"):
            raise Invalid(f"instances must be 'single', 'components' or 'ids', got {instances!r}")
        if instances == "ids" and foreground == "zero":
            raise Invalid("instances='ids' needs foreground='nonzero' (0 is the background)")
        regex = pattern_regex(pattern)
        builder = ResultBuilder(display, limits, measure)
        submissions: dict[tuple[str, str | None], None] = {}
        with SourceTree(path, limits) as tree:
            matches = [(n, regex.match(n)) for n in tree.names()]
            found = [(n, m) for n, m in matches if m is not None]
            if not found:
                raise Invalid(f"no file matches the pattern {pattern!r}")
            for name, match in found:
                groups = match.groupdict()
                who = annotator if annotator is not None else groups.get("annotator")
                image = image_name.format(image=groups["image"])
                file = f"{display}/{name}"
                with FormatErrorsAt(file, image, name):
                    data = tree.read(name)
                    header = png_header(data)
                parsed = builder.add_image(
                    image, header.width, header.height, source=name, repeat_ok=True
                )
                submissions.setdefault((parsed.name, who), None)
                with FormatErrorsAt(file, image, name):
                    values = _values(open_png(data, limits), ids=instances == "ids")
                    crops = _instances(values, foreground, instances)
                if not crops:
                    builder.skip(EMPTY_MASK, image=parsed.name, obj=name)
                for key, crop, origin in crops:
                    source = name if key is None else f"{name} id {key}"
                    with FormatErrorsAt(file, image, source):
                        geometry = builder.bitmap_geometry(crop, origin, parsed)
                    attributes = {"file": name}
                    if groups.get("instance") is not None:
                        attributes["instance"] = groups["instance"]
                    if key is not None:
                        attributes["value"] = key
                    builder.add_object(
                        parsed, label, geometry, source=source, annotator=who, attributes=attributes
                    )
        return builder.result(annotators_saw_all=False, submissions=list(submissions))


def _values(image: object, *, ids: bool) -> np.ndarray:
    """The per-pixel value array ``[row, col]`` (see the module docstring)."""
    mode = image.mode  # type: ignore[attr-defined]
    if mode in ("RGB", "RGBA", "RGBa", "RGBX"):
        rgb = np.asarray(image.convert("RGB"))  # type: ignore[attr-defined]
        if ids:
            return (
                (rgb[:, :, 0].astype(np.uint32) << 16)
                | (rgb[:, :, 1].astype(np.uint32) << 8)
                | rgb[:, :, 2].astype(np.uint32)
            )
        # channel-wise maximum; np.maximum on planes is much faster than max(axis=2)
        return np.maximum(np.maximum(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])
    if mode in ("LA", "La", "PA"):
        return np.asarray(image)[:, :, 0]
    array = np.asarray(image)
    if array.ndim != 2:
        raise Invalid(f"unsupported PNG mode {mode}")
    return array


def _instances(
    values: np.ndarray, foreground: Foreground, instances: Instances
) -> list[tuple[int | None, np.ndarray, tuple[int, int]]]:
    """Split a value array into instance crops ``(key, crop, (x, y))``."""
    if instances == "single":
        mask = values != 0 if foreground == "nonzero" else values == 0
        return _cropped(mask, None)
    if instances == "components":
        import cv2

        mask = values != 0 if foreground == "nonzero" else values == 0
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask.astype(np.uint8), connectivity=8
        )
        out: list[tuple[int | None, np.ndarray, tuple[int, int]]] = []
        for component in range(1, count):
            left, top, width, height = (int(v) for v in stats[component, :4])
            crop = labels[top : top + height, left : left + width] == component
            out.append((component, crop, (left, top)))
        return out
    from scipy import ndimage

    keys, inverse = np.unique(values, return_inverse=True)
    labels = inverse.reshape(values.shape).astype(np.int32)
    if keys[0] != 0:
        labels += 1
        keys = np.concatenate([[0], keys])
    out = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = box
        out.append((int(keys[index]), labels[box] == index, (int(cols.start), int(rows.start))))
    return out


def _cropped(
    mask: np.ndarray, key: int | None
) -> list[tuple[int | None, np.ndarray, tuple[int, int]]]:
    """The tight crop of a bool mask and its origin; nothing when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return [(key, mask[top:bottom, left:right], (int(left), int(top)))]


# ------------------------------------------------------------------------ writer


@dataclass(frozen=True)
class MaskPngWriteSummary:
    """What :func:`write_mask_png` wrote; ``overlapping_pixels`` were claimed by more than
    one instance (the later instance wins in both PNGs)."""

    images: int
    objects: int
    overlapping_pixels: int


def write_mask_png(
    out_dir: Path,
    *,
    categories: Sequence[ExportCategory],
    images: Sequence[ExportImage],
    annotations: Iterable[ExportObject],
) -> MaskPngWriteSummary:
    """Write an instance-id PNG and a class PNG per image, plus ``labels.json``.

    ``instances/<image>.png``: pixel = 1-based instance number in the image (0 =
    background); ``classes/<image>.png``: pixel = category id (0 = background). Both are
    8-bit (``L``) when the largest value fits, else 16-bit. ``<image>`` is the image name,
    with ``.png`` appended unless it already ends so. ``labels.json`` lists the
    categories and, per image, each instance's number, class and ``maskqc`` provenance.
    ``annotations`` must be grouped by image in image order.
    """
    category_ids: dict[str, int] = {}
    for position, category in enumerate(categories, start=1):
        category_ids[category.name] = category.id if category.id is not None else position
    if any(not 0 < value < 65536 for value in category_ids.values()):
        raise ValueError("category ids must be between 1 and 65535 for a class PNG")
    out_dir.mkdir(parents=True, exist_ok=True)
    listing: dict[str, Any] = {
        "categories": [
            {"id": category_ids[c.name], "name": c.name, "color": category_color(c, i)}
            for i, c in enumerate(categories)
        ],
        "images": [],
    }
    written: set[str] = set()
    total = overlap = 0
    for image, objects in grouped_by_image(images, annotations):
        relative = safe_relative(image.name)
        if not relative.lower().endswith(".png"):
            relative += ".png"
        if relative in written:
            raise ValueError(f"two images would both be written as {relative!r}")
        written.add(relative)
        if len(objects) > 65535:
            raise ValueError(f"image {image.name!r} has more than 65535 instances")
        instance_ids = np.zeros((image.height, image.width), dtype=np.uint16)
        class_ids = np.zeros((image.height, image.width), dtype=np.uint16)
        rows = []
        for number, obj in enumerate(objects, start=1):
            if obj.label not in category_ids:
                raise ValueError(f"object with unknown class {obj.label!r}")
            if list(obj.rle["size"]) != [image.height, image.width]:
                raise ValueError(f"mask size differs from image {image.name!r}")
            crop, (x, y) = masks.rle_to_crop(obj.rle)
            if crop.size == 0:
                raise ValueError(f"empty mask on image {image.name!r}")
            window = (slice(y, y + crop.shape[0]), slice(x, x + crop.shape[1]))
            overlap += int(np.count_nonzero(instance_ids[window][crop]))
            instance_ids[window][crop] = number
            class_ids[window][crop] = category_ids[obj.label]
            row: dict[str, Any] = {"instance": number, "label": obj.label}
            block = provenance_block(obj)
            if block:
                row["maskqc"] = block
            rows.append(row)
        for folder, array in (("instances", instance_ids), ("classes", class_ids)):
            narrow = array.astype(np.uint8) if array.max(initial=0) < 256 else array
            target = out_dir / folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(png_bytes(narrow))
        listing["images"].append(
            {
                "name": image.name,
                "file": relative,
                "width": image.width,
                "height": image.height,
                "instances": rows,
            }
        )
        total += len(objects)
    text = json.dumps(listing, sort_keys=True, indent=1, ensure_ascii=True) + "\n"
    (out_dir / "labels.json").write_bytes(text.encode())
    return MaskPngWriteSummary(images=len(images), objects=total, overlapping_pixels=overlap)
