"""Writers: round trips (read → write → read gives identical RLEs and classes), real
clients (pycocotools COCO / COCOeval), byte-for-byte determinism, exact polygon tracing."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from qc import masks
from qc.formats.base import Limits, ParseResult
from qc.formats.coco import read_coco, write_coco
from qc.formats.export import ExportCategory, ExportImage, ExportObject, trace_polygons
from qc.formats.mask_png import read_mask_png, write_mask_png
from qc.formats.supervisely import read_supervisely, write_supervisely


def _export(
    result: ParseResult,
) -> tuple[list[ExportCategory], list[ExportImage], list[ExportObject]]:
    """Map a parse result to writer inputs, objects grouped in image order."""
    order = {image.name: index for index, image in enumerate(result.images)}
    categories = [ExportCategory(name) for name in sorted({o.label for o in result.objects})]
    images = [ExportImage(i.name, i.width, i.height) for i in result.images]
    objects = [
        ExportObject(
            image=o.image,
            label=o.label,
            rle=o.rle,
            polygon=o.polygon,
            holes=o.holes,
            attributes=o.attributes,
            provenance={"annotator": o.annotator, "source": o.source},
        )
        for o in sorted(result.objects, key=lambda o: order[o.image])
    ]
    return categories, images, objects


def _signature(objects) -> list[tuple[str, str, bytes]]:
    return [(o.image, o.label, bytes(o.rle["counts"])) for o in objects]


def _write_coco(tmp_path: Path, result: ParseResult, *, polygons: bool) -> tuple[Path, object]:
    categories, images, objects = _export(result)
    path = tmp_path / ("polygons.json" if polygons else "rle.json")
    with path.open("wb") as out:
        summary = write_coco(
            out,
            info={"project": "bubbles", "export": 7},
            categories=categories,
            images=images,
            annotations=(o for o in objects),
            polygons=polygons,
        )
    return path, summary


def _self_ap(path: Path) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO(str(path))
        detections = ground_truth.loadRes(
            [dict(a, score=1.0) for a in ground_truth.dataset["annotations"]]
        )
        evaluation = COCOeval(ground_truth, detections, "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


@pytest.mark.parametrize("polygons", [False, True])
def test_coco_round_trip_of_coco_file_is_identical(
    data: Path, limits: Limits, tmp_path: Path, polygons: bool
):
    original = read_coco(data / "coco_val2017_subset/instances_test.json", limits=limits)

    path, summary = _write_coco(tmp_path, original, polygons=polygons)
    again = read_coco(path, limits=limits)

    assert _signature(again.objects) == _signature(_export(original)[2])
    assert summary.annotations == 46
    assert summary.rle_fallbacks == (1 if polygons else 0)  # the crowd stays RLE
    assert _self_ap(path) == 1.0


@pytest.mark.parametrize("polygons", [False, True])
def test_coco_export_of_supervisely_bitmaps_round_trips(
    data: Path, limits: Limits, tmp_path: Path, polygons: bool
):
    original = read_supervisely(data / "supervisely/instance", limits=limits)

    path, summary = _write_coco(tmp_path, original, polygons=polygons)
    again = read_coco(path, limits=limits)

    assert _signature(again.objects) == _signature(_export(original)[2])
    assert summary.rle_fallbacks == 0
    assert _self_ap(path) == 1.0
    document = json.loads(path.read_text())
    assert document["annotations"][0]["maskqc"]["annotator"] == "Armen"
    assert document["info"] == {"project": "bubbles", "export": 7}


def test_coco_export_is_byte_identical_for_the_same_input(
    data: Path, limits: Limits, tmp_path: Path
):
    original = read_coco(data / "coco_val2017_subset/instances_test.json", limits=limits)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()

    first, _ = _write_coco(tmp_path / "a", original, polygons=True)
    second, _ = _write_coco(tmp_path / "b", original, polygons=True)

    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("target", ["project", "project.zip"])
def test_supervisely_round_trip_keeps_masks_classes_and_labelers(
    data: Path, limits: Limits, tmp_path: Path, target: str
):
    original = read_supervisely(data / "supervisely/instance", limits=limits)
    categories, images, objects = _export(original)

    write_supervisely(tmp_path / target, categories=categories, images=images, annotations=objects)
    again = read_supervisely(tmp_path / target, limits=limits)

    assert _signature(again.objects) == _signature(objects)
    assert [o.annotator for o in again.objects] == [o.annotator for o in original.objects]


def test_supervisely_zip_is_byte_identical_for_the_same_input(
    data: Path, limits: Limits, tmp_path: Path
):
    original = read_supervisely(data / "supervisely/vector", limits=limits)
    categories, images, objects = _export(original)

    for name in ("a.zip", "b.zip"):
        write_supervisely(
            tmp_path / name, categories=categories, images=images, annotations=objects
        )

    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_mask_png_round_trip_instances_and_classes(data: Path, limits: Limits, tmp_path: Path):
    original = read_supervisely(data / "supervisely/instance", limits=limits)
    categories, images, objects = _export(original)

    summary = write_mask_png(
        tmp_path, categories=categories, images=images, annotations=iter(objects)
    )
    again = read_mask_png(tmp_path, limits=limits, pattern="instances/{image}.png", instances="ids")

    assert summary.overlapping_pixels == 0
    assert sorted(bytes(o.rle["counts"]) for o in again.objects) == sorted(
        bytes(o.rle["counts"]) for o in objects
    )
    class_ids = {c.name: i for i, c in enumerate(categories, start=1)}
    for obj in again.objects:
        classes = np.asarray(Image.open(tmp_path / "classes" / f"{obj.image}.png"))
        values = set(np.unique(classes[masks.rle_to_mask(obj.rle)]).tolist())
        source = next(o for o in objects if o.rle["counts"] == obj.rle["counts"])
        assert values == {class_ids[source.label]}
    listing = json.loads((tmp_path / "labels.json").read_text())
    assert len(listing["images"]) == 6


def test_writers_refuse_annotations_out_of_image_order(data: Path, limits: Limits, tmp_path: Path):
    original = read_supervisely(data / "supervisely/instance", limits=limits)
    categories, images, objects = _export(original)

    with pytest.raises(ValueError, match="grouped by image"):
        write_mask_png(
            tmp_path, categories=categories, images=images, annotations=list(reversed(objects))
        )


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 14), st.integers(1, 14))))
def test_traced_polygons_rasterise_back_exactly(crop: np.ndarray):
    if not crop.any():
        return
    height, width = crop.shape[0] + 3, crop.shape[1] + 2
    rle = masks.rle_from_crop(crop, origin=(1, 2), height=height, width=width)

    parts = trace_polygons(crop, (1, 2))

    assert masks.rle_from_polygons(parts, height=height, width=width)["counts"] == rle["counts"]
