"""The numpy PNG decoder decodes exactly what Pillow decodes, and leaves the rest to it."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from qc.formats.base import FormatError, FormatErrorsAt, Limits
from qc.formats.png import (
    PNG_SIGNATURE,
    decode_mask_png,
    fast_foreground,
    open_png,
    png_foreground,
    png_header,
)

# (colour type, bit depth) → samples per pixel; all forms PNG allows.
FORMS = {
    (0, 1): 1,
    (0, 2): 1,
    (0, 4): 1,
    (0, 8): 1,
    (0, 16): 1,
    (2, 8): 3,
    (3, 1): 1,
    (3, 2): 1,
    (3, 4): 1,
    (3, 8): 1,
    (4, 8): 2,
    (6, 8): 4,
}
FAST_FORMS = set(FORMS) - {(0, 16)}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _filter_row(kind: int, row: bytes, prior: bytes, bpp: int) -> bytes:
    """PNG filter ``kind`` applied to one row of bytes (the encoder's side, written from
    the specification's definitions, one byte at a time)."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((x - predictor) % 256)
    return bytes(out)


def _encode(
    samples: np.ndarray,
    color: int,
    depth: int,
    filters: list[int],
    *,
    palette: bytes | None = None,
    transparency: bytes | None = None,
) -> bytes:
    """A PNG of ``samples`` (``[row, col, sample]`` integers) with the given row filters."""
    height, width, channels = samples.shape
    if depth < 8:
        packed = np.packbits(
            np.unpackbits(samples.astype(np.uint8).reshape(height, width, 1), axis=2)[
                :, :, 8 - depth :
            ].reshape(height, -1),
            axis=1,
        )
    elif depth == 16:
        packed = samples.astype(">u2").view(np.uint8).reshape(height, -1)
    else:
        packed = samples.astype(np.uint8).reshape(height, -1)
    bpp = max(1, channels * depth // 8)
    prior = bytes(packed.shape[1])
    raw = bytearray()
    for row, kind in zip(packed, filters, strict=True):
        raw.append(kind)
        raw += _filter_row(kind, bytes(row), prior, bpp)
        prior = bytes(row)
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    out = PNG_SIGNATURE + _chunk(b"IHDR", header)
    if palette is not None:
        out += _chunk(b"PLTE", palette)
    if transparency is not None:
        out += _chunk(b"tRNS", transparency)
    return out + _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b"")


def _pillow(data: bytes) -> np.ndarray:
    return png_foreground(open_png(data, Limits()))


@st.composite
def pngs(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A valid PNG of any form and filters, and whether the fast path should take it."""
    color, depth = draw(st.sampled_from(sorted(FORMS)))
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 19))
    channels = FORMS[(color, depth)]
    palette = transparency = None
    top = (1 << depth) - 1
    if color == 3:
        entries = draw(st.integers(1, 1 << depth))
        palette = draw(st.binary(min_size=3 * entries, max_size=3 * entries))
        top = entries - 1
        if draw(st.booleans()):
            transparency = draw(st.binary(min_size=1, max_size=entries))
    samples = np.array(
        draw(
            st.lists(
                st.integers(0, top) | st.just(0),
                min_size=height * width * channels,
                max_size=height * width * channels,
            )
        )
    ).reshape(height, width, channels)
    filters = draw(st.lists(st.integers(0, 4), min_size=height, max_size=height))
    data = _encode(samples, color, depth, filters, palette=palette, transparency=transparency)
    fast = (color, depth) in FAST_FORMS
    return data, fast


@settings(max_examples=400, deadline=None)
@given(pngs())
def test_decode_mask_png_equals_pillow_on_every_form_and_filter(case: tuple[bytes, bool]):
    # Arrange
    data, fast = case

    # Act
    decoded = decode_mask_png(data, Limits())

    # Assert: the same pixels; the fast path took exactly the forms it claims
    assert np.array_equal(decoded, _pillow(data))
    assert (fast_foreground(data, png_header(data)) is not None) == fast


@settings(max_examples=300, deadline=None)
@given(pngs(), st.data())
def test_decode_mask_png_on_a_damaged_png_decides_as_pillow(
    case: tuple[bytes, bool], data: st.DataObject
):
    # Arrange: one byte changed, or the file cut short, after the IHDR
    png, _ = case
    position = data.draw(st.integers(33, len(png) - 1))
    if data.draw(st.booleans()):
        damaged = png[:position]
    else:
        damaged = png[:position] + bytes([png[position] ^ data.draw(st.integers(1, 255))])
        damaged += png[position + 1 :]

    # Act
    def outcome(decode):
        try:
            with FormatErrorsAt("mask.png"):
                return decode()
        except FormatError as error:
            return error

    fast = outcome(lambda: decode_mask_png(damaged, Limits()))
    reference = outcome(lambda: _pillow(damaged))

    # Assert: refused by both, or the same pixels
    if isinstance(reference, FormatError):
        assert isinstance(fast, FormatError)
        assert fast.message == reference.message
    else:
        assert np.array_equal(fast, reference)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"])
@pytest.mark.parametrize("optimize", [False, True])
def test_decode_mask_png_equals_pillow_on_pillow_written_pngs(mode: str, optimize: bool):
    # Arrange: a disc with a hole, in each mode Pillow writes
    rows, cols = np.mgrid[:40, :50]
    disc = ((rows - 20) ** 2 + (cols - 24) ** 2 < 300) & ((rows - 20) ** 2 + (cols - 24) ** 2 > 20)
    image = Image.fromarray(disc.astype(np.uint8) * 255).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=optimize)
    data = buffer.getvalue()

    # Act
    decoded = decode_mask_png(data, Limits())

    # Assert
    assert np.array_equal(decoded, _pillow(data))
    assert decoded.sum() == (disc.size if mode in ("RGBA", "LA") else disc.sum())


def test_decode_mask_png_leaves_an_index_past_the_palette_to_pillow():
    # Arrange: index 3 of a two-entry palette (Pillow decides; the fast path declines)
    samples = np.array([[[0], [3]]])
    data = _encode(samples, 3, 2, [0], palette=b"\0\0\0\xff\xff\xff")

    # Act / Assert
    assert fast_foreground(data, png_header(data)) is None
    assert np.array_equal(decode_mask_png(data, Limits()), _pillow(data))


def test_decode_mask_png_takes_the_fast_path_for_real_supervisely_bitmaps(shared_data: Path):
    # Arrange: every bitmap of the Supervisely sample project
    bitmaps = []
    for file in sorted((shared_data / "supervisely").rglob("ann/*.json")):
        for obj in json.loads(file.read_text())["objects"]:
            if obj["geometryType"] == "bitmap":
                raw = base64.b64decode(obj["bitmap"]["data"])
                bitmaps.append(raw if raw.startswith(PNG_SIGNATURE) else zlib.decompress(raw))
    assert bitmaps

    for data in bitmaps:
        # Act
        fast = fast_foreground(data, png_header(data))

        # Assert
        assert fast is not None
        assert np.array_equal(fast, _pillow(data))


def test_decode_mask_png_leaves_what_pillow_calls_a_bomb_to_pillow(monkeypatch):
    # Arrange: Pillow's own bomb threshold under the image, ours far above it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    data = _encode(np.ones((8, 8, 1), dtype=np.uint8), 0, 1, [0] * 8)

    # Act / Assert: refused as the plugin refuses it, not decoded on the short path
    assert fast_foreground(data, png_header(data)) is None
    with pytest.raises(Image.DecompressionBombError):
        decode_mask_png(data, Limits())
