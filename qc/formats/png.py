"""PNG masks: bounded decoding and the foreground rule shared by the readers.

Pure module: no Django, no settings. Limits come in as a :class:`~qc.formats.base.Limits`.

Every PNG is checked against the limits from its header before anything is decoded
(:func:`png_header`, :func:`check_png`). :func:`decode_mask_png` then gives the foreground
of a mask PNG (:func:`png_foreground` says which pixels that is).

Annotation tools write mask PNGs in a handful of simple forms: a 1-bit palette with a
transparent background (Supervisely's own encoder), RGBA, grey. Opening one through Pillow's
PNG plugin costs more than the rest of reading the object, most of it the plugin reading
chunks in Python, so :func:`decode_mask_png` first tries a short path for exactly those
forms: a file made of IHDR, PLTE, tRNS, IDAT and IEND only, in order, every CRC correct, not
interlaced, whose pixel data goes straight to Pillow's own PNG decoder. Anything else --
interlacing, 16-bit samples, ancillary chunks, any damage -- goes through the plugin, which
decides as it always did; so the short path changes speed, never what is accepted or what it
decodes to (the tests compare the two on every form and filter, and on damaged files).
"""

from __future__ import annotations

import functools
import io
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from qc.formats.base import Invalid, Limits

__all__ = [
    "PNG_SIGNATURE",
    "PngHeader",
    "check_png",
    "decode_mask_png",
    "fast_foreground",
    "open_png",
    "png_foreground",
    "png_header",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


@dataclass(frozen=True)
class PngHeader:
    """The IHDR fields of a PNG."""

    width: int
    height: int
    bit_depth: int
    color_type: int

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the raw decoded pixels (what Pillow will allocate, about)."""
        bits = max(self.bit_depth, 8)
        return self.width * self.height * _CHANNELS.get(self.color_type, 4) * bits // 8


def png_header(data: bytes) -> PngHeader:
    """Read width, height, depth and colour type from a PNG's IHDR without decoding."""
    if not data.startswith(PNG_SIGNATURE):
        raise Invalid("not a PNG image")
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise Invalid("truncated PNG header")
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    if width == 0 or height == 0:
        raise Invalid("PNG with zero width or height")
    if color not in _CHANNELS:
        raise Invalid(f"PNG with unknown colour type {color}")
    return PngHeader(width, height, depth, color)


def check_png(header: PngHeader, limits: Limits) -> None:
    """Refuse a PNG whose declared size exceeds the pixel or decompressed-bytes limits."""
    pixels = header.width * header.height
    if pixels > limits.max_image_pixels:
        raise Invalid(
            f"PNG is {header.width}x{header.height} = {pixels} pixels, "
            f"over the limit of {limits.max_image_pixels}"
        )
    if header.decoded_bytes > limits.max_decompressed_bytes:
        raise Invalid(
            f"PNG decodes to {header.decoded_bytes} bytes, "
            f"over the limit of {limits.max_decompressed_bytes}"
        )


def open_png(data: bytes, limits: Limits) -> Any:
    """Decode a PNG with Pillow after checking its declared size against the limits.

    Pillow's own bomb check depends on a process-wide global, so it is not relied on:
    the header is checked here first, and Pillow's warning is silenced.
    """
    header = png_header(data)
    check_png(header, limits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=["PNG"])
        except UnidentifiedImageError:
            # Pillow's own message names an in-memory buffer, not the file.
            raise Invalid("not a readable PNG image (damaged header chunk)") from None
        image.load()
    return image


def png_foreground(image: Any) -> np.ndarray:
    """Foreground of a decoded mask image as Supervisely/LabelMe/Label Studio read it.

    Images with transparency (an alpha channel, or a tRNS chunk on palette/RGB/grey
    images): alpha > 0. Otherwise any non-zero channel (palette images through their
    colours). Returns a bool array ``[row, col]``.
    """
    mode = image.mode
    has_transparency = "transparency" in image.info
    if mode == "P" and has_transparency:
        alpha = _palette_alpha(image)
        if alpha is not None:
            # The alpha of each palette index, looked up per pixel: what convert("RGBA")
            # gives, without building the RGBA image.
            return (alpha > 0)[np.asarray(image)]
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or has_transparency:
        rgba = np.asarray(image.convert("RGBA"))
        return rgba[:, :, 3] > 0
    if mode == "P":
        return np.asarray(image.convert("RGB")).any(axis=2)
    array = np.asarray(image)
    if array.ndim == 3:
        return array.any(axis=2)
    return array != 0


def _palette_alpha(image: Any) -> np.ndarray | None:
    """Alpha of the 256 palette indices of a P image with a PNG tRNS chunk, as Pillow
    applies it (entries the chunk does not list are opaque); None for other forms."""
    palette = image.palette
    if palette is None or palette.mode != "RGB":
        return None
    transparency = image.info["transparency"]
    alpha = np.full(256, 255, dtype=np.uint8)
    if isinstance(transparency, int) and 0 <= transparency < 256:
        alpha[transparency] = 0
    elif isinstance(transparency, bytes) and len(transparency) <= 256:
        alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)
    else:
        return None
    return alpha


def decode_mask_png(data: bytes, limits: Limits) -> np.ndarray:
    """PNG bytes → foreground bool array ``[row, col]`` (:func:`png_foreground`'s rule),
    refused when its header is over the limits."""
    header = png_header(data)
    check_png(header, limits)
    foreground = fast_foreground(data, header)
    if foreground is not None:
        return foreground
    return png_foreground(open_png(data, limits))


# ------------------------------------------------------------------- the fast path

# Pillow's mode and raw mode for the (colour type, bit depth) pairs the fast path decodes
# (as its PNG plugin maps them); 16-bit samples are left to the plugin.
_FAST_FORMS = {
    (0, 1): ("1", "1"),
    (0, 2): ("L", "L;2"),
    (0, 4): ("L", "L;4"),
    (0, 8): ("L", "L"),
    (2, 8): ("RGB", "RGB"),
    (3, 1): ("P", "P;1"),
    (3, 2): ("P", "P;2"),
    (3, 4): ("P", "P;4"),
    (3, 8): ("P", "P"),
    (4, 8): ("LA", "LA"),
    (6, 8): ("RGBA", "RGBA"),
}


def fast_foreground(data: bytes, header: PngHeader) -> np.ndarray | None:
    """The foreground of a PNG in one of the simple forms (module docstring); ``None`` when
    the file is not in such a form, which says nothing about whether it is valid.
    ``header`` is ``png_header(data)``, already checked against the limits.

    The pixel data goes straight to Pillow's PNG ("zip") decoder -- the one its PNG plugin
    feeds, with the same raw mode -- so the pixels are the plugin's; what is skipped is the
    plugin's chunk-by-chunk reading in Python, which this module does once, strictly.
    """
    form = _FAST_FORMS.get((header.color_type, header.bit_depth))
    if form is None:
        return None
    chunks = _simple_chunks(data)
    if chunks is None:
        return None
    ihdr, palette, transparency, idat = chunks
    if ihdr[10:13] != b"\0\0\0":  # compression, filter method, interlace
        return None
    mode, raw_mode = form
    bomb = Image.MAX_IMAGE_PIXELS
    if bomb is not None and header.width * header.height > 2 * bomb:
        return None  # the plugin refuses these (DecompressionBombError) whatever our limits
    try:
        image = Image.frombytes(mode, (header.width, header.height), idat, "zip", raw_mode)
    except (ValueError, OSError):
        return None  # damaged pixel data: the plugin decides how to refuse it
    return _foreground(np.asarray(image), header, palette, transparency)


# Chunk type → (rank in the simple layout, CRC-32 of the type, which each chunk's CRC starts from).
_SIMPLE_CHUNKS = {
    kind: (rank, zlib.crc32(kind))
    for rank, kind in enumerate((b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"))
}


def _simple_chunks(data: bytes) -> tuple[bytes, bytes | None, bytes | None, bytes] | None:
    """IHDR, PLTE, tRNS and the joined IDAT data of a PNG made of exactly IHDR, [PLTE],
    [tRNS], IDAT..., IEND in that order with correct CRCs and nothing after; else None."""
    found: dict[bytes, bytes] = {}
    idat: list[bytes] = []
    position, last = len(PNG_SIGNATURE), -1
    end = len(data)
    while position + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, position)
        stop = position + 8 + length
        if stop + 4 > end:
            return None
        rank, kind_crc = _SIMPLE_CHUNKS.get(kind, (-1, 0))
        # Chunks come in rank order; only IDAT repeats, and its parts are contiguous.
        if rank < last or (rank == last and rank != 3):
            return None
        body = data[position + 8 : stop]
        if zlib.crc32(body, kind_crc) != int.from_bytes(data[stop : stop + 4], "big"):
            return None
        if rank == 3:
            idat.append(body)
        else:
            found[kind] = body
        last, position = rank, stop + 4
        if rank == 4:
            break
    if position != end or last != 4 or not idat or len(found.get(b"IHDR", b"")) != 13:
        return None
    if found[b"IEND"]:
        return None
    return found[b"IHDR"], found.get(b"PLTE"), found.get(b"tRNS"), b"".join(idat)


def _foreground(
    values: np.ndarray, header: PngHeader, palette: bytes | None, transparency: bytes | None
) -> np.ndarray | None:
    """Foreground of decoded pixels by :func:`png_foreground`'s rule, or None for the forms
    left to Pillow (palette indices past the palette, tRNS outside palette images)."""
    color = header.color_type
    if color == 3:
        if palette is None or not palette or len(palette) % 3 or len(palette) > 768:
            return None
        entries = len(palette) // 3
        if transparency is not None and len(transparency) > entries:
            return None
        if entries < 1 << header.bit_depth and int(values.max(initial=0)) >= entries:
            return None
        return _palette_select(palette, transparency)(values)
    if palette is not None or transparency is not None:
        return None
    if color == 0:
        return values != 0
    if color == 2:
        return values.any(axis=2)
    return values[:, :, -1] > 0  # grey + alpha, RGBA: the alpha channel


@functools.lru_cache(maxsize=256)
def _palette_select(
    palette: bytes, transparency: bytes | None
) -> Callable[[np.ndarray], np.ndarray]:
    """Palette indices → foreground for one PLTE (and tRNS): alpha > 0 with a tRNS chunk
    (entries it does not list are opaque), else a non-zero colour. Masks share a handful of
    palettes, so this is built once per palette; a mask palette has one background entry,
    and comparing with it is many times faster than a gather."""
    entries = len(palette) // 3
    if transparency is not None:
        alpha = np.full(entries, 255, dtype=np.uint8)
        alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)
        lookup = alpha > 0
    else:
        lookup = np.frombuffer(palette, dtype=np.uint8).reshape(entries, 3).any(axis=1)
    background = np.flatnonzero(~lookup)
    if background.size == 0:
        return lambda values: np.ones(values.shape, dtype=bool)
    if background.size == 1:
        index = int(background[0])
        return lambda values: values != index
    return lambda values: np.take(lookup, values)
