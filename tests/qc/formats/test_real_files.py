"""Every real third-party file in ../shared/data reads, with counts taken from the files.

Expected counts are computed here from the raw JSON/XML/PNG (independently of the
readers), and a few geometry facts are checked against pycocotools or OpenCV directly.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from qc import masks
from qc.formats.base import Limits
from qc.formats.coco import read_coco
from qc.formats.cvat import read_cvat
from qc.formats.label_studio import read_label_studio
from qc.formats.labelme import read_labelme
from qc.formats.mask_png import read_mask_png
from qc.formats.supervisely import read_supervisely

DATUMARO_COCO = "datumaro_assets/openvinotoolkit_datumaro/coco_dataset/coco_instances/annotations"
DATUMARO_CVAT = "datumaro_assets/openvinotoolkit_datumaro/cvat_dataset/for_images"

# ------------------------------------------------------------------ Supervisely


@pytest.mark.parametrize("project", ["instance", "vector"])
def test_supervisely_project_counts_match_the_files(data: Path, limits: Limits, project: str):
    folder = data / "supervisely" / project
    raw = {
        p.name[: -len(".json")]: json.loads(p.read_text())
        for p in (folder / "ds/ann").glob("*.json")
    }
    kept = {"bitmap", "polygon", "rectangle"}
    types = Counter(o["geometryType"] for doc in raw.values() for o in doc["objects"])

    result = read_supervisely(folder, limits=limits)

    assert sorted(i.name for i in result.images) == sorted(raw)
    assert len(result.objects) == sum(n for t, n in types.items() if t in kept)
    assert result.skipped == Counter({t: n for t, n in types.items() if t not in kept})
    assert result.annotators_saw_all is False
    assert {o.annotator for o in result.objects} == {"Armen"}
    for image in result.images:
        size = raw[image.name]["size"]
        assert (image.width, image.height) == (size["width"], size["height"])


def test_supervisely_instance_counts_are_the_readme_figures(data: Path, limits: Limits):
    result = read_supervisely(data / "supervisely" / "instance", limits=limits)

    per_image = Counter(o.image for o in result.objects)
    assert (len(result.images), len(result.objects)) == (6, 8)
    assert sorted(per_image.values()) == [1, 1, 1, 1, 2, 2]


def test_supervisely_bitmap_equals_opencv_alpha_pasted_at_origin(data: Path, limits: Limits):
    ann = data / "supervisely/instance/ds/ann/cat2.jpg.json"
    document = json.loads(ann.read_text())
    result = read_supervisely(data / "supervisely" / "instance", limits=limits)
    objects = [o for o in result.objects if o.image == "cat2.jpg"]

    for raw, parsed in zip(document["objects"], objects, strict=True):
        png = zlib.decompress(base64.b64decode(raw["bitmap"]["data"]))
        decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        alpha = decoded[:, :, 3] > 0
        x, y = raw["bitmap"]["origin"]
        frame = np.zeros((document["size"]["height"], document["size"]["width"]), bool)
        h = min(alpha.shape[0], frame.shape[0] - y)
        w = min(alpha.shape[1], frame.shape[1] - x)
        frame[y : y + h, x : x + w] = alpha[:h, :w]
        assert np.array_equal(masks.rle_to_mask(parsed.rle), frame)


def test_supervisely_rectangle_is_the_inclusive_pixel_box(data: Path, limits: Limits):
    result = read_supervisely(data / "supervisely" / "vector", limits=limits)
    raw = json.loads((data / "supervisely/vector/ds/ann/cat1.jpg.json").read_text())
    (left, top), (right, bottom) = raw["objects"][0]["points"]["exterior"]

    rectangle = next(o for o in result.objects if o.image == "cat1.jpg")

    assert masks.rle_bbox(rectangle.rle) == (left, top, right - left + 1, bottom - top + 1)
    assert masks.rle_area(rectangle.rle) == (right - left + 1) * (bottom - top + 1)


def test_supervisely_polygon_equals_pycocotools(data: Path, limits: Limits):
    raw = json.loads((data / "supervisely/vector/ds/ann/dog3.jpg.json").read_text())
    exterior = [c for point in raw["objects"][0]["points"]["exterior"] for c in point]
    h, w = raw["size"]["height"], raw["size"]["width"]
    expected = coco_mask.merge(coco_mask.frPyObjects([exterior], h, w))

    result = read_supervisely(data / "supervisely" / "vector", limits=limits)
    polygon = next(o for o in result.objects if o.image == "dog3.jpg")

    assert np.array_equal(masks.rle_to_mask(polygon.rle), coco_mask.decode(expected) > 0)


# ------------------------------------------------------------------------- COCO


def test_coco_val2017_subset_counts(data: Path, limits: Limits):
    path = data / "coco_val2017_subset" / "instances_test.json"
    raw = json.loads(path.read_text())
    polygons = [a for a in raw["annotations"] if isinstance(a["segmentation"], list)]
    multi = [a for a in polygons if len(a["segmentation"]) > 1]
    crowds = [a for a in raw["annotations"] if a["iscrowd"]]

    result = read_coco(path, limits=limits)

    assert (len(polygons), len(multi), len(crowds)) == (45, 12, 1)
    assert len(result.images) == len(raw["images"]) == 4
    assert len(result.objects) == len(raw["annotations"]) == 46
    assert sum(1 for o in result.objects if o.polygon and len(o.polygon) > 1) == 12
    assert [o.attributes["iscrowd"] for o in result.objects].count(1) == 1
    assert result.annotators_saw_all is True


def test_coco_polygons_and_uncompressed_rle_equal_pycocotools(data: Path, limits: Limits):
    path = data / "coco_val2017_subset" / "instances_test.json"
    raw = json.loads(path.read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in raw["images"]}

    result = read_coco(path, limits=limits)

    for annotation, parsed in zip(raw["annotations"], result.objects, strict=True):
        h, w = sizes[annotation["image_id"]]
        expected = coco_mask.frPyObjects(annotation["segmentation"], h, w)
        if isinstance(expected, list):
            expected = coco_mask.merge(expected)
        assert np.array_equal(masks.rle_to_mask(parsed.rle), coco_mask.decode(expected) > 0)


def test_cocoapi_results_compressed_rle_counts(data: Path, limits: Limits):
    path = data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json"
    raw = json.loads(path.read_text())

    result = read_coco(path, limits=limits)

    assert len(raw) == len(result.objects) == 734
    assert len(result.images) == len({r["image_id"] for r in raw}) == 99
    first = raw[0]
    assert result.objects[0].rle["counts"] == first["segmentation"]["counts"].encode()
    assert result.objects[0].attributes["score"] == first["score"]


def test_cocoapi_results_with_an_image_mapping(data: Path, limits: Limits):
    from qc.formats.base import ParsedImage

    path = data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json"
    raw = json.loads(path.read_text())
    mapping = {
        r["image_id"]: ParsedImage(
            f"COCO_{r['image_id']:012d}.jpg", *reversed(r["segmentation"]["size"])
        )
        for r in raw
    }

    names = {r["category_id"]: f"class {r['category_id']}" for r in raw} | {18: "dog"}

    result = read_coco(path, limits=limits, images=mapping, categories=names)

    assert {i.name for i in result.images} == {m.name for m in mapping.values()}
    assert Counter(o.label for o in result.objects)["dog"] == sum(
        1 for r in raw if r["category_id"] == 18
    )


def test_datumaro_coco_val_mixes_polygon_and_crowd_rle(data: Path, limits: Limits):
    path = data / DATUMARO_COCO / "instances_val.json"
    raw = json.loads(path.read_text())

    result = read_coco(path, limits=limits)

    assert [o.label for o in result.objects] == ["a", "b"]
    assert result.objects[0].attributes == {"x": 1, "y": "hello", "iscrowd": 0}
    assert result.objects[1].attributes == {"iscrowd": 1}
    assert (
        masks.rle_area(result.objects[1].rle) == raw["annotations"][1]["segmentation"]["counts"][1]
    )


def test_datumaro_coco_train_box_only_annotation_is_skipped(data: Path, limits: Limits):
    path = data / DATUMARO_COCO / "instances_train.json"

    result = read_coco(path, limits=limits)

    assert [i.name for i in result.images] == ["a.jpg"]
    assert result.objects == []
    assert result.skipped == Counter({"no_segmentation": 1})


# ------------------------------------------------------------------------- CVAT


def _cvat_expected(path: Path) -> tuple[int, Counter]:
    root = ET.parse(path).getroot()
    kept, skipped = 0, Counter()
    for image in root.iter("image"):
        for shape in image:
            if shape.tag in ("polygon", "box", "mask") and shape.get("label"):
                kept += 1
            elif shape.tag in ("polygon", "box", "mask"):
                skipped[f"{shape.tag} without label"] += 1
            else:
                skipped[shape.tag] += 1
    return kept, skipped


@pytest.mark.parametrize(
    "relative",
    [
        "openvinotoolkit_datumaro/cvat_dataset/for_images/export_task/train.xml",
        "openvinotoolkit_datumaro/cvat_dataset/for_images/export_project/annotations.xml",
        "cvat-ai_datumaro/cvat_dataset/for_images/train.xml",
    ],
)
def test_cvat_xml_counts_match_the_file(data: Path, limits: Limits, relative: str):
    path = data / "datumaro_assets" / relative
    kept, skipped = _cvat_expected(path)
    images = len(list(ET.parse(path).getroot().iter("image")))

    result = read_cvat(path, limits=limits)

    assert len(result.images) == images
    assert len(result.objects) == kept
    assert result.skipped == skipped


def test_cvat_project_layout_names_images_by_subset(data: Path, limits: Limits):
    path = data / DATUMARO_CVAT / "export_project/annotations.xml"

    result = read_cvat(path, limits=limits)
    only_train = read_cvat(path, limits=limits, subset="Train")

    assert [i.name for i in result.images] == [
        f"{s}/{n}" for s in ("Test", "Train", "Validation") for n in ("img0.jpg", "img1.jpg")
    ]
    assert [i.name for i in only_train.images] == ["Train/img0.jpg", "Train/img1.jpg"]


def test_cvat_box_is_the_filled_box(data: Path, limits: Limits):
    path = (
        data
        / "datumaro_assets/openvinotoolkit_datumaro/cvat_dataset/for_images/export_task/train.xml"
    )

    box = read_cvat(path, limits=limits).objects[0]

    assert masks.rle_bbox(box.rle) == (0, 2, 4, 2)
    assert box.attributes == {
        "a1": "true",
        "a2": "v3",
        "a3": "0003",
        "a4": "2.4",
        "occluded": 1,
        "z_order": 1,
    }


# ----------------------------------------------------------------------- LabelMe


def test_labelme_instance_segmentation_groups_and_ignore(data: Path, limits: Limits):
    folder = data / "labelme" / "instance_segmentation"
    shapes = [s for p in sorted(folder.glob("*.json")) for s in json.loads(p.read_text())["shapes"]]
    ignored = sum(1 for s in shapes if s["label"] == "__ignore__")
    groups = {(s["label"], s["group_id"]) for s in shapes if s["group_id"] is not None}
    grouped_shapes = sum(1 for s in shapes if s["group_id"] is not None)
    expected = len(shapes) - ignored - grouped_shapes + len(groups)

    result = read_labelme(folder, limits=limits)

    assert len(result.images) == 3
    assert len(result.objects) == expected == 12
    assert result.skipped == Counter({"__ignore__": ignored})
    sofa = next(o for o in result.objects if o.label == "sofa")
    assert len(sofa.polygon) == 4
    person_parts = [
        o for o in result.objects if o.attributes.get("group_id") == 0 and o.label == "person"
    ]
    assert len(person_parts) == 1 and len(person_parts[0].polygon) == 2


def test_labelme_primitives_rectangle_circle_polygon_mask(data: Path, limits: Limits):
    path = data / "labelme" / "primitives" / "primitives.json"
    raw = json.loads(path.read_text())
    types = Counter(s["shape_type"] for s in raw["shapes"])
    kept = {"polygon", "rectangle", "circle", "mask"}

    result = read_labelme(path, limits=limits)

    assert len(result.objects) == sum(n for t, n in types.items() if t in kept) == 5
    assert result.skipped == Counter({t: n for t, n in types.items() if t not in kept})
    rectangle = result.objects[0]
    assert masks.rle_bbox(rectangle.rle) == (32, 35, 100, 100)
    shape = raw["shapes"][7]
    png = Image.open(__import__("io").BytesIO(base64.b64decode(shape["mask"])))
    expected = np.asarray(png) > 0
    (x, y), _ = np.asarray(shape["points"]).astype(int)
    _, origin = masks.rle_to_crop(result.objects[4].rle)
    assert origin == (x + int(np.argmax(expected.any(0))), y + int(np.argmax(expected.any(1))))
    assert masks.rle_area(result.objects[4].rle) == int(expected.sum())


# ------------------------------------------------------------------ Label Studio


def test_label_studio_export_percent_polygon_and_rectangle(data: Path, limits: Limits):
    path = data / "label_studio/sdk_test_export_coco/data.json"
    raw = json.loads(path.read_text())
    results = raw[0]["annotations"][0]["result"]
    polygon = next(r for r in results if r["type"] == "polygonlabels")
    w, h = polygon["original_width"], polygon["original_height"]
    flat = [
        c * (w if i % 2 == 0 else h) / 100
        for p in polygon["value"]["points"]
        for i, c in enumerate(p)
    ]
    expected = coco_mask.decode(coco_mask.merge(coco_mask.frPyObjects([flat], h, w))) > 0

    result = read_label_studio(path, limits=limits)

    assert [i.name for i in result.images] == ["test_image1.jpg"]
    assert [o.label for o in result.objects] == ["rectangle_label", "polygon_label"]
    assert result.skipped == Counter({"keypointlabels": 2})
    assert np.array_equal(masks.rle_to_mask(result.objects[1].rle), expected)
    assert result.submissions == [("test_image1.jpg", None)]


def test_label_studio_brush_rle_agrees_with_the_same_model_polygons(data: Path, limits: Limits):
    folder = data / "label_studio/ml_backend_yolo_tests"
    raw = json.loads((folder / "test_brush_labels.json").read_text())

    brushes = read_label_studio(folder / "test_brush_labels.json", limits=limits)
    polygons = read_label_studio(
        folder / "test_polygon_labels.json", limits=limits, image_size=(768, 576)
    )

    assert len(brushes.objects) == len(raw[0]["result"]) == 3
    assert [o.annotator for o in brushes.objects] == ["yolo"] * 3
    for brush, polygon in zip(brushes.objects, polygons.objects, strict=True):
        iou = coco_mask.iou([brush.rle], [polygon.rle], [0])[0][0]
        assert iou > 0.85


# --------------------------------------------------------------------- PNG masks


def _png_mode_counts(files: list[Path]) -> Counter:
    return Counter(Image.open(p).mode for p in files)


def test_bubil_experts_inverted_polarity(data: Path, limits: Limits):
    folder = data / "bubil" / "dataset1_rat_smc_phase_contrast"
    files = sorted(folder.glob("ExpertsAnnotations/*/seg_*.png"))
    annotators = {p.parent.name for p in files}

    result = read_mask_png(
        folder,
        limits=limits,
        pattern="ExpertsAnnotations/{annotator}/seg_{image}.png",
        foreground="zero",
        image_name="{image}.png",
    )

    assert _png_mode_counts(files) == Counter({"RGB": 63, "L": 37})
    assert len(files) == len(result.objects) == len(result.submissions) == 100
    assert {o.annotator for o in result.objects} == annotators
    assert sorted(i.name for i in result.images) == sorted(
        p.name for p in (folder / "RawImages").glob("*.png")
    )
    first = files[0]
    expected = np.asarray(Image.open(first).convert("L")) == 0
    parsed = next(
        o
        for o in result.objects
        if o.annotator == first.parent.name and o.image == first.name[len("seg_") :]
    )
    assert np.array_equal(masks.rle_to_mask(parsed.rle), expected)


def test_bubil_components_split_fragmented_masks(data: Path, limits: Limits):
    # One annotator's ten masks keep this fast; the full set is read in the test above.
    folder = data / "bubil" / "dataset1_rat_smc_phase_contrast"
    files = sorted(folder.glob("ExpertsAnnotations/Person5_ImageJ/seg_*.png"))
    expected = sum(
        cv2.connectedComponents(
            (np.asarray(Image.open(p).convert("L")) == 0).astype(np.uint8), connectivity=8
        )[0]
        - 1
        for p in files
    )

    result = read_mask_png(
        folder,
        limits=limits,
        pattern="ExpertsAnnotations/Person5_ImageJ/seg_{image}.png",
        foreground="zero",
        instances="components",
        annotator="Person5_ImageJ",
    )

    assert len(result.objects) == expected > len(files)


def test_bubil_crowd_rgba_and_gold_one_bit(data: Path, limits: Limits):
    crowd = data / "bubil" / "dataset4_lu_melanoma_fluorescence"
    gold = data / "bubil" / "dataset1_rat_smc_phase_contrast"
    crowd_files = sorted(crowd.glob("CrowdsourcedAnnotations/*/seg_*.png"))

    crowd_result = read_mask_png(
        crowd,
        limits=limits,
        pattern="CrowdsourcedAnnotations/{annotator}/seg_{image}.png",
        foreground="zero",
    )
    gold_result = read_mask_png(
        gold,
        limits=limits,
        pattern="GoldStandard/seg_{image}.png",
        foreground="zero",
        annotator="gold",
    )

    assert _png_mode_counts(crowd_files) == Counter({"RGBA": 427})
    assert len(crowd_result.images) == 61
    assert len(crowd_result.submissions) == len(crowd_files) == 427
    assert len(crowd_result.objects) + crowd_result.skipped["empty_mask"] == 427
    assert _png_mode_counts(sorted(gold.glob("GoldStandard/*.png"))) == Counter({"1": 10})
    assert len(gold_result.objects) == 10
    assert {o.annotator for o in gold_result.objects} == {"gold"}


@pytest.mark.parametrize("folder_name", ["masks_original", "masks_fixed"])
def test_dsb2018_one_png_per_instance(data: Path, limits: Limits, folder_name: str):
    root = data / "dsb2018_fixes"
    files = sorted(root.glob(f"*/{folder_name}/*.png"))

    result = read_mask_png(root, limits=limits, pattern=f"{{image}}/{folder_name}/{{instance}}.png")

    assert len(result.objects) == len(files)
    assert len(result.images) == 5
    assert result.submissions == [(i.name, None) for i in result.images]
    assert {o.attributes["instance"] for o in result.objects} == {p.stem for p in files}
