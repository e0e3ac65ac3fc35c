"""Codec details on small hand-made inputs: brush RLE, CVAT mask runs, PNG modes,
Supervisely bitmap variants and meta forms, zipped projects."""

from __future__ import annotations

import base64
import io
import json
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as coco_mask

from qc import masks
from qc.agreement import instance_features, measure_crop
from qc.formats.base import Limits, ParsedImage
from qc.formats.builder import ResultBuilder
from qc.formats.cvat import read_cvat
from qc.formats.label_studio import decode_brush_rle
from qc.formats.mask_png import read_mask_png
from qc.formats.png import open_png, png_foreground
from qc.formats.supervisely import read_supervisely
from tests.qc.formats.cvat_reference import cvat_decode, cvat_runs


def _encode_brush(values: np.ndarray) -> list[int]:
    """Test-side encoder of the rle-pack layout: every run as a repeat chunk, 8-bit words,
    run-length field sizes 3, 4, 8, 16 bits."""
    bits: list[int] = []

    def put(value: int, count: int) -> None:
        bits.extend((value >> (count - 1 - i)) & 1 for i in range(count))

    sizes = [3, 4, 8, 16]
    put(values.size, 32)
    put(7, 5)
    for size in sizes:
        put(size - 1, 4)
    index = 0
    while index < values.size:
        run = 1
        while index + run < values.size and values[index + run] == values[index] and run < 65536:
            run += 1
        klass = next(k for k, size in enumerate(sizes) if run - 1 < (1 << size))
        put(1, 1)
        put(klass, 2)
        put(run - 1, sizes[klass])
        put(int(values[index]), 8)
        index += run
    bits.extend([0] * (-len(bits) % 8))
    return [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_brush_rle_round_trips_the_alpha_channel(width: int, height: int, data: st.DataObject):
    alpha = np.array(
        data.draw(
            st.lists(st.sampled_from([0, 255]), min_size=width * height, max_size=width * height)
        ),
        dtype=np.uint8,
    ).reshape(height, width)
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[:, :, 3] = alpha

    decoded = decode_brush_rle(
        _encode_brush(rgba.ravel()), width=width, height=height, limits=Limits()
    )

    assert np.array_equal(decoded, alpha > 0)


def test_brush_rle_literal_chunks_are_read():
    # Hand-assembled: 4 words, word size 8, sizes 3/4/8/16, one literal chunk of 4 words.
    bits = (
        format(4, "032b") + format(7, "05b") + "".join(format(s - 1, "04b") for s in (3, 4, 8, 16))
    )
    bits += "0" + "00" + format(3, "03b") + "".join(format(v, "08b") for v in (0, 0, 0, 200))
    bits += "0" * (-len(bits) % 8)
    data = [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]

    decoded = decode_brush_rle(data, width=1, height=1, limits=Limits())

    assert decoded.tolist() == [[True]]


def test_cvat_mask_runs_are_row_major_over_the_box_starting_with_background(tmp_path: Path):
    path = tmp_path / "annotations.xml"
    path.write_text(
        '<annotations><version>1.1</version><image id="0" name="a.png" width="6" height="4">'
        '<mask label="car" source="manual" occluded="0" rle="0, 2, 3, 1, 2, 4" left="1" '
        'top="1" width="4" height="3" z_order="0"></mask></image></annotations>'
    )
    expected = np.zeros((4, 6), dtype=bool)
    expected[1, 1:3] = True  # runs: 0 background, 2 foreground, 3 background, ...
    expected[2, 2] = True
    expected[3, 1:5] = True

    (mask,) = read_cvat(path, limits=Limits()).objects

    assert np.array_equal(masks.rle_to_mask(mask.rle), expected)


def _cvat_file(path: Path, image_size: tuple[int, int], boxes: list[tuple]) -> Path:
    """A CVAT for images 1.1 file as CVAT writes it: one image, one ``<mask>`` per
    (runs, left, top, width, height)."""
    shapes = "".join(
        f'<mask label="bubble" source="semi-auto" occluded="0" rle="{", ".join(map(str, runs))}" '
        f'left="{left}" top="{top}" width="{width}" height="{height}" z_order="0"></mask>'
        for runs, left, top, width, height in boxes
    )
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>'
        f'<image id="0" name="frame.png" width="{image_size[0]}" height="{image_size[1]}">'
        f"{shapes}</image></annotations>"
    )
    return path


# pycocotools 2.0.11 decodes through a numpy-1 array protocol; numpy 2 warns on every call.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_cvat_masks_without_their_final_background_run_are_read_as_cvat_defines_them(
    tmp_path: Path,
):
    rows, cols = np.mgrid[0:127, 0:127]
    disc = (rows - 60) ** 2 + (cols - 63) ** 2 <= 60**2  # its last rows are background
    corner = np.zeros((5, 4), dtype=bool)
    corner[1:3, 1:] = True  # its last run reaches the box's right edge, mid-box
    full = np.ones((3, 3), dtype=bool)  # no background to leave out
    boxes = [
        (cvat_runs(disc), 12, 5, 127, 127),
        (cvat_runs(corner), 150, 0, 4, 5),
        (cvat_runs(full), 0, 130, 3, 3),
    ]
    # The pixels the runs leave out: 6 rows and 63 pixels of the disc's box, 8 of the corner's.
    assert [w * h - sum(runs) for runs, _, _, w, h in boxes] == [6 * 127 + 63, 8, 0]
    path = _cvat_file(tmp_path / "annotations.xml", (160, 140), boxes)

    objects = read_cvat(path, limits=Limits()).objects

    assert len(objects) == 3
    for obj, (runs, left, top, width, _height) in zip(objects, boxes, strict=True):
        expected = cvat_decode(runs, (left, top, width, _height), (160, 140))
        assert np.array_equal(coco_mask.decode(obj.rle).astype(bool), expected)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 3), st.integers(0, 3), st.data())
def test_cvat_mask_runs_with_or_without_the_final_background_run_decode_alike(
    width: int, height: int, left: int, top: int, data: st.DataObject
):
    bits = data.draw(
        st.lists(st.booleans(), min_size=width * height, max_size=width * height).filter(any)
    )
    crop = np.array(bits, dtype=bool).reshape(height, width)
    runs = cvat_runs(crop, final_background=True)
    ends_in_background = len(runs) % 2 == 1
    written = runs[:-1] if ends_in_background and data.draw(st.booleans()) else runs
    size = (left + width + 2, top + height + 1)

    with tempfile.TemporaryDirectory() as folder:
        path = _cvat_file(
            Path(folder) / "annotations.xml", size, [(written, left, top, width, height)]
        )
        (obj,) = read_cvat(path, limits=Limits()).objects

    expected = cvat_decode(written, (left, top, width, height), size)
    assert np.array_equal(masks.rle_to_mask(obj.rle), expected)


def _save(array: np.ndarray, mode: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "1":
        Image.fromarray(array.astype(bool)).save(path)
    elif mode == "P":
        image = Image.fromarray(array.astype(np.uint8))
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
        image.save(path)
    elif mode == "RGB":
        Image.fromarray(np.dstack([array.astype(np.uint8) * 255] * 3)).save(path)
    elif mode == "RGBA":
        rgb = np.dstack([array.astype(np.uint8) * 255] * 3)
        Image.fromarray(np.dstack([rgb, np.full(array.shape, 255, np.uint8)])).save(path)
    else:
        Image.fromarray(array.astype(np.uint8) * 255).save(path)


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA"])
@pytest.mark.parametrize("foreground", ["nonzero", "zero"])
def test_mask_png_modes_and_polarity(tmp_path: Path, mode: str, foreground: str):
    drawn = np.zeros((5, 7), dtype=bool)
    drawn[1:3, 2:6] = True
    stored = drawn if foreground == "nonzero" else ~drawn
    _save(stored, mode, tmp_path / "ann" / "kim" / "f1.png")

    result = read_mask_png(
        tmp_path,
        limits=Limits(),
        pattern="ann/{annotator}/{image}.png",
        foreground=foreground,
        label="bubble",
    )

    (obj,) = result.objects
    assert (obj.annotator, obj.label, obj.image) == ("kim", "bubble", "f1")
    assert np.array_equal(masks.rle_to_mask(obj.rle), drawn)


def test_mask_png_ids_and_empty_masks(tmp_path: Path):
    ids = np.zeros((6, 6), dtype=np.uint8)
    ids[0:2, 0:2] = 3
    ids[4:6, 3:6] = 7
    Image.fromarray(ids).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "b.png")

    result = read_mask_png(
        tmp_path, limits=Limits(), pattern="{image}.png", instances="ids", annotator="lee"
    )

    assert [(o.image, o.attributes["value"], masks.rle_area(o.rle)) for o in result.objects] == [
        ("a", 3, 4),
        ("a", 7, 6),
    ]
    assert result.submissions == [("a", "lee"), ("b", "lee")]
    assert result.skipped == {"empty_mask": 1}


def _bitmap_data(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(zlib.compress(buffer.getvalue())).decode()


def _project(root: Path, meta: dict, objects: list[dict]) -> None:
    (root / "ds" / "ann").mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps(meta))
    ann = {"size": {"width": 8, "height": 6}, "objects": objects}
    (root / "ds" / "ann" / "f.png.json").write_text(json.dumps(ann))


@pytest.mark.parametrize("kind", ["palette", "grayscale", "rgba"])
def test_supervisely_bitmap_png_variants_and_clipping(tmp_path: Path, kind: str):
    pixels = np.array([[0, 1, 1], [1, 1, 0]], dtype=np.uint8)
    if kind == "palette":
        image = Image.fromarray(pixels)
        image.putpalette([0, 0, 0, 255, 255, 255])
        image.info["transparency"] = 0
    elif kind == "grayscale":
        image = Image.fromarray(pixels * 255)
    else:
        image = Image.fromarray(np.dstack([pixels * 0] * 3 + [pixels * 255]).astype(np.uint8))
    if kind == "palette":
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", transparency=0)
        data = base64.b64encode(zlib.compress(buffer.getvalue())).decode()
    else:
        data = _bitmap_data(image)
    # origin puts the last column past the right edge: it is clipped
    _project(
        tmp_path / "p",
        {"classes": [{"title": "bubble", "shape": "bitmap"}]},
        [
            {
                "classTitle": "bubble",
                "geometryType": "bitmap",
                "bitmap": {"data": data, "origin": [6, 4]},
            }
        ],
    )

    (obj,) = read_supervisely(tmp_path / "p", limits=Limits()).objects

    expected = np.zeros((6, 8), dtype=bool)
    expected[4, 7] = True
    expected[5, 6:8] = True
    assert np.array_equal(masks.rle_to_mask(obj.rle), expected)


def test_supervisely_legacy_meta_polygon_with_hole_and_zip(tmp_path: Path):
    meta = {
        "classes": [{"title": "bubble", "shape": "polygon", "color": "#FF0000"}],
        "tags_images": ["day"],
        "tags_objects": ["blurry"],
    }
    polygon = {
        "classTitle": "bubble",
        "geometryType": "polygon",
        "labelerLogin": "ana",
        "tags": [{"name": "blurry", "value": None}],
        "points": {
            "exterior": [[0, 0], [6, 0], [6, 6], [0, 6]],
            "interior": [[[2, 2], [4, 2], [4, 4], [2, 4]]],
        },
    }
    _project(tmp_path / "wrapped" / "p", meta, [polygon])
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for file in sorted((tmp_path / "wrapped").rglob("*.json")):
            out.write(file, file.relative_to(tmp_path / "wrapped").as_posix())

    (obj,) = read_supervisely(archive, limits=Limits()).objects

    assert masks.rle_area(obj.rle) == 36 - 4
    assert obj.holes == [[2.0, 2.0, 4.0, 2.0, 4.0, 4.0, 2.0, 4.0]]
    assert (obj.annotator, obj.attributes["tags"]) == ("ana", {"blurry": None})


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_builder_bitmap_clips_to_the_image_and_measures_what_it_encodes(
    rows: int, cols: int, data: st.DataObject
):
    # Arrange: a random bitmap at an origin that may hang over any edge of a 10 x 8 image
    crop = np.array(
        data.draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols)), dtype=bool
    ).reshape(rows, cols)
    x = data.draw(st.integers(-cols + 1, 9))
    y = data.draw(st.integers(-rows + 1, 7))
    image = ParsedImage("f", width=10, height=8)
    frame = np.zeros((8 + 2 * rows, 10 + 2 * cols), dtype=bool)
    frame[rows + y : 2 * rows + y, cols + x : 2 * cols + x] = crop
    expected = frame[rows : rows + 8, cols : cols + 10]
    if not expected.any():
        return
    seen = []

    def measure(inside, origin, parsed):
        seen.append((inside.copy(), origin, parsed))
        return measure_crop(inside, origin=origin, height=8, width=10, boundary_px=2)

    # Act
    plain, nothing = ResultBuilder("f.json", Limits()).bitmap(crop, (x, y), image)
    rle, features = ResultBuilder("f.json", Limits(), measure).bitmap(crop, (x, y), image)

    # Assert: the clipped mask, encoded the same with and without the hook, and the hook
    # saw exactly the part inside the image
    assert nothing is None
    assert plain == rle == masks.rle_from_mask(expected)
    ((inside, origin, parsed),) = seen
    assert parsed == image
    assert np.array_equal(masks.crop_to_frame(inside, origin, height=8, width=10), expected)
    assert features == instance_features(rle, boundary_px=2)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(1, 256),
    st.one_of(st.integers(0, 255), st.binary(min_size=1, max_size=256)),
    st.data(),
)
def test_png_foreground_of_palette_png_with_transparency_equals_its_rgba_alpha(
    rows: int, cols: int, colours: int, transparency: int | bytes, data: st.DataObject
):
    # Arrange: a palette PNG with a tRNS chunk (one index or a table, possibly shorter than
    # the palette); indices may lie past the palette
    indices = np.array(
        data.draw(st.lists(st.integers(0, 255), min_size=rows * cols, max_size=rows * cols)),
        dtype=np.uint8,
    ).reshape(rows, cols)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([i % 256 for i in range(3 * colours)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=transparency)
    decoded = open_png(buffer.getvalue(), Limits())

    # Act
    foreground = png_foreground(decoded)

    # Assert
    assert np.array_equal(foreground, np.asarray(decoded.convert("RGBA"))[:, :, 3] > 0)
