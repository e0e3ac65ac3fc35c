"""Pictures of masks: an image (or a neutral canvas of its size) with coloured layers drawn
over it, as RGB arrays and PNG bytes; the annotators' coverage of each pixel and the
disagreement it shows; thumbnails of that disagreement.

Conventions are :mod:`qc.masks`' (masks are bool ``[row, col]`` arrays, counts are COCO
compressed RLE strings of the image's size). A **layer** is a full-frame mask drawn in one
colour: its pixels blended with the colour at ``fill_alpha`` and its edge drawn opaque,
``outline_px`` pixels wide. Work is cropped to each layer's bounding box, so drawing many
small instances costs what their boxes cost, not what the frame costs.

Pure module: numpy, Pillow and pycocotools (through :mod:`qc.masks`, and its decoder for
whole frames); no Django.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from pycocotools import mask as coco_mask

from qc import masks

__all__ = [
    "AGREEMENT_RGB",
    "DISAGREEMENT_RGB",
    "NEUTRAL_GREY",
    "Layer",
    "compose",
    "coverage",
    "decode",
    "disagreement_layer",
    "disagreement_levels",
    "disagreement_step",
    "edge",
    "flagged_picture_png",
    "png_bytes",
    "read_picture",
    "thumbnail_factor",
    "thumbnail_png",
]

# The canvas of an image imported without pixels: mid grey, so every palette colour shows.
NEUTRAL_GREY = 128

# Okabe–Ito vermillion for pixels the annotators disagree on, blue for pixels all of them
# drew: the two stay apart for every common colour-vision deficiency.
DISAGREEMENT_RGB = (0xD5, 0x5E, 0x00)
AGREEMENT_RGB = (0x00, 0x72, 0xB2)

# The disagreement levels' opacity runs from the first (drawn by one annotator) to the last
# (drawn by all but one): lightness, not hue, tells the levels apart, which every reader sees.
_LEVEL_ALPHA = (0.3, 0.8)


@dataclass(frozen=True)
class Layer:
    """A full-frame bool mask drawn in ``rgb``: filled at ``fill_alpha`` (0 = no fill) and
    outlined opaque ``outline_px`` pixels wide (0 = no outline)."""

    mask: np.ndarray
    rgb: tuple[int, int, int]
    fill_alpha: float = 0.35
    outline_px: int = 1


def decode(counts: str, height: int, width: int) -> np.ndarray:
    """The full-frame bool mask (height, width) of COCO compressed RLE ``counts``.

    Raises :class:`qc.masks.MaskError` when the counts are malformed or do not sum to
    height x width."""
    return masks.rle_to_mask({"size": [height, width], "counts": counts})


def coverage(masks_by_annotator: Sequence[Sequence[str]], height: int, width: int) -> np.ndarray:
    """Per pixel, how many annotators' masks cover it (uint8, height x width).

    ``masks_by_annotator`` holds, for each annotator, the RLE counts of their instances; an
    annotator whose instances overlap counts once on the overlap. Pixels with
    ``0 < coverage < annotators`` are where the annotators disagree. At most 255 annotators.
    The counts are trusted as :mod:`qc.masks` trusts them (stored, hence validated).
    """
    if len(masks_by_annotator) > 255:
        raise ValueError(f"coverage counts up to 255 annotators, got {len(masks_by_annotator)}")
    # Column-major, as pycocotools decodes: adding its frames costs no transposition.
    total = np.zeros((height, width), dtype=np.uint8, order="F")
    for counts_list in masks_by_annotator:
        if not counts_list:
            continue
        union = masks.rle_union([{"size": [height, width], "counts": c} for c in counts_list])
        # One full-frame decode of the union in pycocotools' C code: about a tenth of the
        # time of decoding each instance into its crop, for the tens of instances of an image.
        total += coco_mask.decode(union)
    return total


def disagreement_levels(coverage: np.ndarray, annotators: int) -> np.ndarray:
    """The coverage where the annotators disagree (``0 < c < annotators``), 0 elsewhere."""
    return np.multiply(coverage, coverage < annotators, dtype=np.uint8)


def disagreement_step(level: int, annotators: int) -> float:
    """How dark the disagreement of a pixel drawn by ``level`` of ``annotators`` is shaded,
    from 0 (one annotator alone) to 1 (all but one; with two annotators, always 1)."""
    return (level - 1) / (annotators - 2) if annotators > 2 else 1.0


def disagreement_layer(coverage: np.ndarray, annotators: int) -> tuple[Layer, ...]:
    """The pixels where the annotators disagree, shaded by how many of them drew the pixel.

    One layer per level ``c`` = 1 .. ``annotators`` - 1 ("drawn by c of n"), lightest for a
    pixel one annotator drew alone, darkest for one all but one drew; all in
    :data:`DISAGREEMENT_RGB`, filled without outline. Levels with no pixel are left out, so
    two annotators give at most one layer and one annotator none. Values of ``coverage`` at
    or above ``annotators`` are agreement and not shaded, so a map of
    :func:`disagreement_levels` gives the same layers as the coverage it came from.
    """
    layers = []
    low, high = _LEVEL_ALPHA
    for level in range(1, annotators):
        mask = coverage == level
        if not mask.any():
            continue
        alpha = low + (high - low) * disagreement_step(level, annotators)
        layers.append(Layer(mask, DISAGREEMENT_RGB, fill_alpha=alpha, outline_px=0))
    return tuple(layers)


def _canvas(base: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """An RGB uint8 copy of ``base`` (grey, RGB or RGBA; bool, any integer or [0, 1] float
    values), or the neutral grey canvas when it is None."""
    if base is None:
        return np.full((height, width, 3), NEUTRAL_GREY, dtype=np.uint8)
    base = np.asarray(base)
    if base.shape[:2] != (height, width) or base.ndim not in (2, 3):
        raise ValueError(f"base of shape {base.shape} is not a {width}x{height} picture")
    if base.ndim == 3:
        if base.shape[2] not in (3, 4):
            raise ValueError(f"base has {base.shape[2]} channels; 1, 3 or 4 are drawable")
        base = base[:, :, :3]
    if base.dtype == np.bool_:
        base = base.astype(np.uint8) * 255
    elif base.dtype.kind == "f":
        base = np.clip(np.rint(base * 255), 0, 255).astype(np.uint8)
    elif base.dtype != np.uint8:
        # Deeper integer pictures are scaled to their own maximum so faint frames stay visible.
        peak = int(base.max()) or 1
        base = (base.astype(np.float64) * (255 / peak)).astype(np.uint8)
    if base.ndim == 2:
        return np.repeat(base[:, :, None], 3, axis=2)
    return np.array(base, dtype=np.uint8, order="C", copy=True)


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row0, row1, col0, col1), ends exclusive, of the mask's True pixels; None if none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def edge(mask: np.ndarray, width_px: int = 1) -> np.ndarray:
    """The mask's pixels within ``width_px`` steps (4-neighbour) of a pixel outside it, the
    outside of the frame counting as outside: the mask minus its erosion by a cross,
    ``width_px`` times."""
    inner = mask.copy()
    for _ in range(width_px):
        padded = np.pad(inner, 1)
        inner = (
            padded[1:-1, 1:-1]
            & padded[:-2, 1:-1]
            & padded[2:, 1:-1]
            & padded[1:-1, :-2]
            & padded[1:-1, 2:]
        )
    return mask & ~inner


def _draw(canvas: np.ndarray, layer: Layer) -> None:
    mask = np.asarray(layer.mask, dtype=bool)
    box = _box(mask)
    if box is None:
        return
    r0, r1, c0, c1 = box
    # Outside its box the mask is all background, as the frame's outside is to edge(): the
    # edge of the crop is the edge of the full mask, inside the box.
    crop = mask[r0:r1, c0:c1]
    region = canvas[r0:r1, c0:c1]
    if layer.fill_alpha > 0:
        alpha = float(layer.fill_alpha)
        pixels = region[crop].astype(np.float64)
        pixels *= 1 - alpha
        pixels += np.asarray(layer.rgb, dtype=np.float64) * alpha
        region[crop] = np.rint(pixels).astype(np.uint8)
    if layer.outline_px > 0:
        region[edge(crop, layer.outline_px)] = layer.rgb


def compose(
    base: np.ndarray | None, height: int, width: int, layers: Sequence[Layer]
) -> np.ndarray:
    """The picture (height x width x 3 uint8) of ``base`` with ``layers`` drawn over it in
    order, each filled then outlined (:class:`Layer`).

    ``base`` is a grey (H x W) or RGB/RGBA (H x W x 3|4) array, or None for the neutral grey
    canvas of an image without pixels. Raises ValueError when ``base`` or a layer's mask is
    not of the image's size.
    """
    canvas = _canvas(base, height, width)
    for layer in layers:
        if np.shape(layer.mask) != (height, width):
            raise ValueError(
                f"layer mask of shape {np.shape(layer.mask)} is not a {width}x{height} mask"
            )
        _draw(canvas, layer)
    return canvas


def png_bytes(rgb: np.ndarray, *, max_side: int | None = None) -> bytes:
    """PNG bytes of an RGB uint8 picture, shrunk (aspect kept) so neither side exceeds
    ``max_side`` when given."""
    picture = PILImage.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if max_side is not None and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    # Level 3 writes thumbnails about as small as the default 6 does, several times faster.
    picture.save(out, format="PNG", compress_level=3)
    return out.getvalue()


# --- thumbnails --------------------------------------------------------------------------------


def thumbnail_factor(height: int, width: int, max_side: int) -> int:
    """The whole shrink factor that brings the image's longer side to ``max_side`` or less;
    the thumbnail is ceil(height / f) x ceil(width / f)."""
    return max(1, math.ceil(max(height, width) / max_side))


def _pool_max(array: np.ndarray, factor: int) -> np.ndarray:
    """Each ``factor`` x ``factor`` block's largest value (blocks at the right and bottom
    edges may be smaller): thin slivers survive shrinking, as an average would lose them.
    Rows then columns, one strided maximum per offset in the block."""
    if factor == 1:
        return array
    rows = array[0::factor].copy()
    for offset in range(1, factor):
        part = array[offset::factor]
        np.maximum(rows[: len(part)], part, out=rows[: len(part)])
    out = rows[:, 0::factor].copy()
    for offset in range(1, factor):
        part = rows[:, offset::factor]
        np.maximum(out[:, : part.shape[1]], part, out=out[:, : part.shape[1]])
    return out


_GREY_MODES = frozenset({"1", "L", "LA", "La"})
_DEEP_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def read_picture(source: BinaryIO | str, *, size: tuple[int, int]) -> np.ndarray:
    """An image file's pixels resized to ``size`` (width, height): grey (H x W) for grey
    files, RGB (H x W x 3) otherwise, uint8; deeper grey files scaled to their maximum.

    JPEG files are decoded at a reduced scale first when the target is small (Pillow's
    draft mode), and grey files stay one channel, so a thumbnail of a large picture does not
    convert every pixel. Raises what Pillow raises for an unreadable file (OSError,
    ``UnidentifiedImageError``, ``DecompressionBombError``).
    """
    with PILImage.open(source) as picture:
        picture.draft(picture.mode if picture.mode in ("L", "RGB") else "RGB", size)
        if picture.mode in _DEEP_MODES:
            array = np.asarray(picture)
            picture = PILImage.fromarray(_canvas(array, *array.shape)[:, :, 0], mode="L")
        elif picture.mode in _GREY_MODES:
            picture = picture.convert("L")
        elif picture.mode != "RGB":
            picture = picture.convert("RGB")
        if picture.size != size:
            picture = picture.resize(size, PILImage.Resampling.BOX, reducing_gap=2.0)
        return np.asarray(picture, dtype=np.uint8)


def thumbnail_png(
    base: np.ndarray | None,
    masks_by_annotator: Sequence[Sequence[str]],
    height: int,
    width: int,
    *,
    max_side: int = 240,
) -> bytes:
    """PNG thumbnail of an image's disagreement: the pixels every annotator drew in
    :data:`AGREEMENT_RGB`, those only some drew shaded by how many (:func:`disagreement_layer`),
    over ``base`` (already of thumbnail size, see :func:`thumbnail_factor`; None for a grey
    canvas).

    Masks are measured at full resolution and shrunk by keeping each block's strongest
    disagreement, so a one-pixel disagreement along an edge still shows.
    """
    factor = thumbnail_factor(height, width, max_side)
    small = (-(-height // factor), -(-width // factor))
    annotators = len(masks_by_annotator)
    cover = coverage(masks_by_annotator, height, width)
    levels = _pool_max(disagreement_levels(cover, annotators), factor)
    layers: list[Layer] = []
    if annotators:
        agreed = _pool_max(cover >= annotators, factor)
        layers.append(Layer(agreed & (levels == 0), AGREEMENT_RGB, fill_alpha=0.3, outline_px=0))
    layers += disagreement_layer(levels, annotators)
    return png_bytes(compose(base, small[0], small[1], layers))


# --- a review's picture: the flagged instances numbered --------------------------------

# Pixels beyond this side are shrunk away: the page shows the picture at most this wide.
PICTURE_MAX_SIDE = 2048

# Okabe–Ito: blue outlines the annotator's instances, vermillion fills and thickly
# outlines the flagged ones (numbered too, so colour is never the only sign).
OWN_RGB = (0x00, 0x72, 0xB2)
FLAGGED_RGB = (0xD5, 0x5E, 0x00)
# Layers are drawn a few at a time, so a frame of many instances never holds a full-frame
# mask for each at once.
_LAYERS_AT_ONCE = 16


def flagged_picture_png(
    base: np.ndarray | None,
    height: int,
    width: int,
    *,
    instances: Sequence[Any],
    numbers: dict[int, int],
) -> bytes:
    """One submission's ``instances`` (each with ``pk``, ``rle``, ``bbox_x``, ``bbox_y``)
    over ``base`` (or a neutral canvas): outlined thinly, the flagged ones (``numbers``:
    instance pk -> the number the page lists it by) filled and outlined thickly, then each
    flag's number in a box beside its instance; shrunk to :data:`PICTURE_MAX_SIDE`."""
    thin = max(1, round(max(height, width) / 900))
    canvas = base
    # Flagged instances last, so their thick outline is on top of a neighbour's thin one.
    ordered = sorted(instances, key=lambda i: (i.pk in numbers, i.pk))
    for start in range(0, len(ordered), _LAYERS_AT_ONCE):
        layers = []
        for instance in ordered[start : start + _LAYERS_AT_ONCE]:
            mask = decode(instance.rle, height, width)
            if instance.pk in numbers:
                layers.append(Layer(mask, FLAGGED_RGB, fill_alpha=0.45, outline_px=3 * thin))
            else:
                layers.append(Layer(mask, OWN_RGB, fill_alpha=0.0, outline_px=thin))
        canvas = compose(canvas, height, width, layers)
    if canvas is None:
        canvas = compose(None, height, width, [])
    flagged = [i for i in instances if i.pk in numbers]
    return _numbered_png(canvas, flagged, numbers)


def _numbered_png(canvas: np.ndarray, flagged: list[Any], numbers: dict[int, int]) -> bytes:
    """PNG of ``canvas`` with each flagged instance's number in a dark box at its top-left
    corner (inside the frame), shrunk to :data:`PICTURE_MAX_SIDE`."""
    picture = PILImage.fromarray(canvas, mode="RGB")
    height, width = canvas.shape[:2]
    size = max(14, round(max(height, width) / 32))
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(picture)
    for instance in flagged:
        text = str(numbers[instance.pk])
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        box_w, box_h = right - left + size // 2, bottom - top + size // 2
        x = min(max(0, instance.bbox_x - box_w), width - box_w)
        y = min(max(0, instance.bbox_y - box_h), height - box_h)
        draw.rectangle((x, y, x + box_w, y + box_h), fill=(0, 0, 0), outline=FLAGGED_RGB)
        draw.text(
            (x + box_w / 2, y + box_h / 2), text, fill=(255, 255, 255), font=font, anchor="mm"
        )
    return png_bytes(np.asarray(picture, dtype=np.uint8), max_side=PICTURE_MAX_SIDE)
