"""Hostile input: each case ends in a FormatError that names file, image and object."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from qc.formats.base import FormatError, Limits
from qc.formats.coco import read_coco
from qc.formats.cvat import read_cvat
from qc.formats.label_studio import read_label_studio
from qc.formats.labelme import read_labelme
from qc.formats.supervisely import read_supervisely


def _coco(tmp_path: Path, *, images=None, annotations=None, text: str | None = None) -> Path:
    document = {
        "images": images or [{"id": 1, "file_name": "bubble.png", "width": 5, "height": 10}],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": annotations if annotations is not None else [],
    }
    path = tmp_path / "instances.json"
    path.write_text(text if text is not None else json.dumps(document))
    return path


def _supervisely(tmp_path: Path, obj: dict, size=(20, 10)) -> Path:
    root = tmp_path / "project"
    (root / "ds" / "ann").mkdir(parents=True)
    (root / "meta.json").write_text(
        json.dumps({"classes": [{"title": "bubble", "shape": "bitmap"}]})
    )
    ann = {"size": {"width": size[0], "height": size[1]}, "objects": [obj]}
    (root / "ds" / "ann" / "frame1.png.json").write_text(json.dumps(ann))
    return root


def _bitmap(data: str, origin=(0, 0)) -> dict:
    return {
        "id": 77,
        "classTitle": "bubble",
        "geometryType": "bitmap",
        "labelerLogin": "ana",
        "bitmap": {"data": data, "origin": list(origin)},
    }


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _assert_names(error: FormatError, file: str, image: str | None, obj: str | None, what: str):
    assert error.file == file
    assert error.image == image
    assert error.object == obj
    assert what in error.message
    text = str(error)
    assert file in text and (image or "(none)") in text and (obj or "(none)") in text


def test_truncated_json_names_the_file(tmp_path: Path):
    path = _coco(tmp_path, text='{"images": [{"id": 1, "file_na')

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(caught.value, "instances.json", None, None, "invalid JSON")


def test_wrong_type_names_image_and_annotation(tmp_path: Path):
    path = _coco(
        tmp_path,
        annotations=[
            {"id": 9, "image_id": 1, "category_id": "1", "segmentation": [[0, 0, 4, 0, 4, 4]]}
        ],
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(
        caught.value,
        "instances.json",
        "bubble.png",
        "annotations[0] (id 9)",
        "'category_id' must be an integer, got string",
    )


def test_polygon_with_fewer_than_three_points(tmp_path: Path):
    path = _coco(
        tmp_path,
        annotations=[{"id": 3, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 4]]}],
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(
        caught.value,
        "instances.json",
        "bubble.png",
        "annotations[0] (id 3)",
        "2 point(s); at least 3",
    )


def test_bitmap_origin_outside_the_image(tmp_path: Path):
    png = _png(2, 2, b"\x00\xff\xff\x00\xff\xff")
    data = base64.b64encode(zlib.compress(png)).decode()
    root = _supervisely(tmp_path, _bitmap(data, origin=(500, 3)))

    with pytest.raises(FormatError) as caught:
        read_supervisely(root, limits=Limits())

    _assert_names(
        caught.value,
        "project/ds/ann/frame1.png.json",
        "frame1.png",
        "ds/ann/frame1.png.json object 0 (id 77)",
        "outside the 20x10 image",
    )


def test_empty_bitmap_is_refused(tmp_path: Path):
    png = _png(2, 2, b"\x00\x00\x00\x00\x00\x00")
    root = _supervisely(tmp_path, _bitmap(base64.b64encode(zlib.compress(png)).decode()))

    with pytest.raises(FormatError) as caught:
        read_supervisely(root, limits=Limits())

    _assert_names(
        caught.value,
        "project/ds/ann/frame1.png.json",
        "frame1.png",
        "ds/ann/frame1.png.json object 0 (id 77)",
        "empty bitmap",
    )


def test_zlib_bomb_is_refused_before_it_expands(tmp_path: Path):
    bomb = zlib.compress(b"\x00" * (16 << 20), 9)  # 16 MiB of zeros in ~16 KiB
    root = _supervisely(tmp_path, _bitmap(base64.b64encode(bomb).decode()))

    with pytest.raises(FormatError) as caught:
        read_supervisely(root, limits=Limits(max_decompressed_bytes=1 << 20))

    _assert_names(
        caught.value,
        "project/ds/ann/frame1.png.json",
        "frame1.png",
        "ds/ann/frame1.png.json object 0 (id 77)",
        "beyond the limit of 1048576",
    )


def test_png_bomb_is_refused_from_its_header(tmp_path: Path):
    # Declares 60000 x 60000 pixels (3.6 GB decoded); only one row of data follows.
    png = _png(60000, 60000, b"\x00" * 60001)
    root = _supervisely(tmp_path, _bitmap(base64.b64encode(zlib.compress(png)).decode()))

    with pytest.raises(FormatError) as caught:
        read_supervisely(root, limits=Limits())

    _assert_names(
        caught.value,
        "project/ds/ann/frame1.png.json",
        "frame1.png",
        "ds/ann/frame1.png.json object 0 (id 77)",
        "60000x60000 = 3600000000 pixels",
    )


def test_image_width_times_height_over_the_limit(tmp_path: Path):
    path = _coco(
        tmp_path, images=[{"id": 1, "file_name": "huge.png", "width": 100000, "height": 100000}]
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(caught.value, "instances.json", "huge.png", None, "over the limit")


def test_rle_counts_not_summing_to_height_times_width(tmp_path: Path):
    path = _coco(
        tmp_path,
        annotations=[
            {
                "id": 4,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"size": [10, 5], "counts": [0, 20, 29]},
            }
        ],
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(
        caught.value, "instances.json", "bubble.png", "annotations[0] (id 4)", "sum to 49"
    )


def test_compressed_rle_string_not_summing(tmp_path: Path):
    path = _coco(
        tmp_path,
        annotations=[
            {
                "id": 5,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [10, 5], "counts": "04n0"},
            }
        ],
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(
        caught.value, "instances.json", "bubble.png", "annotations[0] (id 5)", "invalid mask"
    )


def test_duplicate_image_names_within_a_file(tmp_path: Path):
    path = _coco(
        tmp_path,
        images=[
            {"id": 1, "file_name": "bubble.png", "width": 5, "height": 10},
            {"id": 2, "file_name": "bubble.png", "width": 5, "height": 10},
        ],
    )

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits())

    _assert_names(
        caught.value,
        "instances.json",
        "bubble.png",
        None,
        "duplicate image name (also in images[0])",
    )


def test_instances_per_image_over_the_limit(tmp_path: Path):
    polygon = {"image_id": 1, "category_id": 1, "segmentation": [[0, 0, 4, 0, 4, 4]]}
    path = _coco(tmp_path, annotations=[dict(polygon, id=n) for n in range(3)])

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits(max_instances_per_image=2))

    _assert_names(
        caught.value,
        "instances.json",
        "bubble.png",
        "annotations[2] (id 2)",
        "more than 2 instances",
    )


def test_xml_entity_expansion_is_refused(tmp_path: Path):
    path = tmp_path / "annotations.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxxxx">'
        '<!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;">]><annotations>&y;</annotations>'
    )

    with pytest.raises(FormatError) as caught:
        read_cvat(path, limits=Limits())

    _assert_names(caught.value, "annotations.xml", None, None, "DOCTYPE")


def test_cvat_mask_runs_overflowing_the_box(tmp_path: Path):
    # Runs that stop short of the box are CVAT's own exports (the rest is background, see
    # test_codecs); runs past its last pixel describe pixels outside it.
    path = tmp_path / "annotations.xml"
    path.write_text(
        '<annotations><image id="3" name="f.png" width="6" height="4">'
        '<mask label="bubble" rle="1, 2, 3" left="1" top="1" width="4" height="3"/>'
        '<mask label="bubble" rle="1, 2, 3, 4, 3" left="1" top="1" width="4" height="3"/>'
        "</image></annotations>"
    )

    with pytest.raises(FormatError) as caught:
        read_cvat(path, limits=Limits())

    _assert_names(
        caught.value,
        "annotations.xml",
        "f.png",
        "<mask> #1 in <image id=3>",
        "rle runs sum to 13, more than the box's 4x3 = 12 pixels",
    )


def test_cvat_mask_runs_too_large_to_sum_in_64_bits(tmp_path: Path):
    # Two runs of 2**63 wrap a 64-bit sum around to 0.
    path = tmp_path / "annotations.xml"
    path.write_text(
        '<annotations><image id="3" name="f.png" width="6" height="4">'
        f'<mask label="bubble" rle="{2**63}, {2**63}" left="1" top="1" width="4" height="3"/>'
        "</image></annotations>"
    )

    with pytest.raises(FormatError) as caught:
        read_cvat(path, limits=Limits())

    _assert_names(
        caught.value,
        "annotations.xml",
        "f.png",
        "<mask> #0 in <image id=3>",
        f"rle runs sum to {2**64}, more than the box's 4x3 = 12 pixels",
    )


def test_label_studio_brush_rle_declaring_a_wrong_size(tmp_path: Path):
    header = list((123).to_bytes(4, "big")) + [0] * 8
    task = [
        {
            "id": 1,
            "data": {"image": "/data/upload/1/f.png"},
            "annotations": [
                {
                    "result": [
                        {
                            "id": "r1",
                            "type": "brushlabels",
                            "original_width": 4,
                            "original_height": 4,
                            "value": {"format": "rle", "rle": header, "brushlabels": ["bubble"]},
                        }
                    ]
                }
            ],
        }
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(task))

    with pytest.raises(FormatError) as caught:
        read_label_studio(path, limits=Limits())

    _assert_names(
        caught.value,
        "export.json",
        "f.png",
        "task [0] (id 1) annotation 0 result 0 (id r1)",
        "declares 123 values",
    )


def test_labelme_mask_bomb_in_a_shape(tmp_path: Path):
    png = _png(60000, 60000, b"\x00" * 60001)
    document = {
        "imagePath": "f.jpg",
        "imageWidth": 8,
        "imageHeight": 8,
        "shapes": [
            {
                "label": "bubble",
                "shape_type": "mask",
                "points": [[0, 0], [7, 7]],
                "mask": base64.b64encode(png).decode(),
            }
        ],
    }
    path = tmp_path / "f.json"
    path.write_text(json.dumps(document))

    with pytest.raises(FormatError) as caught:
        read_labelme(path, limits=Limits())

    _assert_names(caught.value, "f.json", "f.jpg", "f.json shape 0", "over the limit")


def test_file_over_the_size_limit(tmp_path: Path):
    path = _coco(tmp_path)

    with pytest.raises(FormatError) as caught:
        read_coco(path, limits=Limits(max_file_bytes=10))

    _assert_names(caught.value, "instances.json", None, None, "over the limit of 10")


def test_png_decoding_leaves_pillows_global_limit_alone():
    from PIL import Image

    before = Image.MAX_IMAGE_PIXELS
    from qc.formats.png import decode_mask_png

    crop = decode_mask_png(_png(3, 1, b"\x00\x00\x07\x00"), Limits())

    assert before == Image.MAX_IMAGE_PIXELS
    assert np.array_equal(crop, [[False, True, False]])


def test_label_studio_two_tasks_with_one_image_name(tmp_path: Path):
    result = {
        "id": "r",
        "type": "rectanglelabels",
        "original_width": 8,
        "original_height": 8,
        "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["b"]},
    }
    tasks = [
        {"id": n, "data": {"image": "s3://bucket/f.png"}, "annotations": [{"result": [result]}]}
        for n in (1, 2)
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))

    with pytest.raises(FormatError) as caught:
        read_label_studio(path, limits=Limits())

    _assert_names(caught.value, "export.json", "f.png", None, "duplicate image name")
