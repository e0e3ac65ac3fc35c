"""COCO reader: instances files and results-format lists.

Segmentation forms: polygons (a list of flat ``[x0, y0, ...]`` parts, unioned),
uncompressed RLE (``counts`` = list of ints, column-major, starting with background) and
compressed RLE (``counts`` = the pycocotools string). ``iscrowd`` is kept in the
attributes, with the annotation's own ``attributes`` object (Datumaro/CVAT write one) and
a results file's ``score``. Category ids need not be contiguous. An annotation with an
empty segmentation (a box-only detection) is skipped and counted as ``no_segmentation``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from qc import masks
from qc.formats.base import (
    CocoIds,
    FormatError,
    FormatErrorsAt,
    Geometry,
    Invalid,
    Limits,
    Measure,
    ParsedImage,
    ParseResult,
    ReaderOptions,
    as_int,
    check_type,
    guard,
    opt,
    req,
)
from qc.formats.builder import ResultBuilder
from qc.formats.export import ExportCategory, ExportImage, ExportObject, exact_polygons
from qc.formats.geometry import check_rle_total, flat_points, polygon_geometry
from qc.formats.sources import load_json, read_bounded

__all__ = ["OPTIONS", "PATH_OPTIONS", "CocoWriteSummary", "read_coco", "write_coco"]

# The options an import of COCO takes, with their types (qc.formats.READER_OPTIONS):
# ``images_from``, the instances file whose images and categories a results file's ids name
# (the import reads it into ``images`` and ``categories``), and ``all_mapped_images``.
OPTIONS: ReaderOptions = {"images_from": (str, Path), "all_mapped_images": bool}
# Those of them that name a path on the server.
PATH_OPTIONS = frozenset({"images_from"})


def read_coco(
    path: Path,
    *,
    limits: Limits,
    measure: Measure | None = None,
    images: Mapping[int, ParsedImage] | None = None,
    categories: Mapping[int, str] | None = None,
    all_mapped_images: bool = False,
    unmapped: str | None = None,
) -> ParseResult:
    """Read a COCO instances file (a JSON object) or a results file (a JSON list).

    For a results file, ``images`` maps ``image_id`` to the image (from the dataset's
    instances file or the project); without it, images are named by their id and sized
    from ``segmentation.size`` (polygons then cannot be read). Only images that have
    results are listed, unless ``all_mapped_images`` lists every mapped image (each is
    then an empty submission when it has no result). ``categories`` names a results
    file's category ids; without it the label is the id as a string. ``unmapped``: why a
    results file cannot be read without ``images`` here; it is then refused with that.
    Only an instances file gives its images' and categories' ids (``coco_ids``).
    """
    display = path.name
    with guard(display):
        document = load_json(read_bounded(path, limits, display), display)
        builder = ResultBuilder(display, limits, measure)
        ids = None
        if isinstance(document, list):
            if images is None and unmapped:
                raise FormatError(unmapped, file=display)
            _read_results(document, display, builder, images, categories, all_mapped_images)
        elif isinstance(document, dict):
            ids = _read_instances(document, display, builder)
        else:
            raise FormatError("a COCO file must be an object or a list", file=display)
        return builder.result(annotators_saw_all=True, coco_ids=ids)


def _read_instances(document: dict, file: str, builder: ResultBuilder) -> CocoIds:
    """An instances file: images, categories, annotations; returns their ids."""
    with FormatErrorsAt(file):
        image_list = req(document, "images", list)
        category_list = req(document, "categories", list)
        annotations = req(document, "annotations", list)
    categories = _categories(category_list, file)
    by_id: dict[int, ParsedImage] = {}
    for index, entry in enumerate(image_list):
        with FormatErrorsAt(file, obj=f"images[{index}]"):
            image_id = req(entry, "id", int, "image")
            name = req(entry, "file_name", str, "image")
        with FormatErrorsAt(file, name, f"images[{index}] (id {image_id})"):
            if image_id in by_id:
                raise Invalid(f"duplicate image id {image_id}")
        by_id[image_id] = builder.add_image(
            name, entry.get("width"), entry.get("height"), source=f"images[{index}]"
        )
    for index, annotation in enumerate(annotations):
        _read_annotation(annotation, index, file, builder, by_id, categories)
    return CocoIds(
        images={image.name: image_id for image_id, image in by_id.items()},
        categories={name: category_id for category_id, name in categories.items()},
    )


def _categories(entries: list, file: str) -> dict[int, str]:
    """Category names by id; ids need not be contiguous but must be unique."""
    categories: dict[int, str] = {}
    for index, entry in enumerate(entries):
        with FormatErrorsAt(file, obj=f"categories[{index}]"):
            category_id = req(entry, "id", int, "category")
            name = req(entry, "name", str, "category")
            if category_id in categories:
                raise Invalid(f"duplicate category id {category_id}")
            categories[category_id] = name
    return categories


def _read_results(
    entries: list,
    file: str,
    builder: ResultBuilder,
    images: Mapping[int, ParsedImage] | None,
    categories: Mapping[int, str] | None,
    all_mapped: bool,
) -> None:
    """A results list: annotations only, images from the mapping or from RLE sizes."""
    by_id: dict[int, ParsedImage] = {}
    if images is not None and all_mapped:
        for image_id in sorted(images):
            image = images[image_id]
            by_id[image_id] = builder.add_image(
                image.name, image.width, image.height, source=f"image id {image_id}"
            )
    for index, entry in enumerate(entries):
        with FormatErrorsAt(file, obj=f"[{index}]"):
            image_id = req(entry, "image_id", int, "result")
            if image_id not in by_id:
                if images is not None:
                    if image_id not in images:
                        raise Invalid(f"image_id {image_id} is not among the known images")
                    known = images[image_id]
                    name, width, height = known.name, known.width, known.height
                else:
                    segmentation = req(entry, "segmentation", dict, "result")
                    height, width = _segmentation_size(segmentation)
                    name = str(image_id)
        if image_id not in by_id:
            by_id[image_id] = builder.add_image(
                name, width, height, source=f"[{index}]", repeat_ok=True
            )
        _read_annotation(entry, index, file, builder, by_id, categories, results=True)


def _read_annotation(
    annotation: Any,
    index: int,
    file: str,
    builder: ResultBuilder,
    by_id: dict[int, ParsedImage],
    categories: Mapping[int, str] | None,
    *,
    results: bool = False,
) -> None:
    """One annotation; without ``categories`` (results file) the label is the id."""
    source = f"[{index}]" if results else f"annotations[{index}]"
    with FormatErrorsAt(file, obj=source):
        image_id = req(annotation, "image_id", int, "annotation")
        if image_id not in by_id:
            raise Invalid(f"image_id {image_id} is not in images")
        ann_id = opt(annotation, "id", int)
    image = by_id[image_id]
    if ann_id is not None:
        source = f"{source} (id {ann_id})"
    with FormatErrorsAt(file, image.name, source):
        category_id = req(annotation, "category_id", int, "annotation")
        if categories is None:
            label = str(category_id)
        elif category_id not in categories:
            raise Invalid(f"category_id {category_id} is not among the known categories")
        else:
            label = categories[category_id]
        segmentation = annotation.get("segmentation")
        if segmentation is None or segmentation == [] or segmentation == {}:
            builder.skip("no_segmentation", image=image.name, obj=source)
            return
        attributes: dict[str, Any] = {}
        extra = opt(annotation, "attributes", dict)
        if extra:
            attributes.update(extra)
        iscrowd = annotation.get("iscrowd")
        if iscrowd is not None:
            attributes["iscrowd"] = as_int(iscrowd, "iscrowd")
        if "score" in annotation:
            attributes["score"] = check_type(annotation["score"], (int, float), "score")
        if isinstance(segmentation, list):
            parts = [flat_points(part, "polygon") for part in segmentation]
            geometry = polygon_geometry(parts, image)
        elif isinstance(segmentation, dict):
            geometry = Geometry(_rle(segmentation, image))
        else:
            raise Invalid("segmentation must be a list of polygons or an RLE object")
    builder.add_object(image, label, geometry, source=source, attributes=attributes)


def _segmentation_size(segmentation: dict) -> tuple[int, int]:
    """An RLE segmentation's ``size``: (height, width)."""
    size = req(segmentation, "size", list)
    if len(size) != 2:
        raise Invalid("segmentation size must be [height, width]")
    return as_int(size[0], "height"), as_int(size[1], "width")


def _rle(segmentation: dict, image: ParsedImage) -> dict:
    """Uncompressed (int list) or compressed (string) RLE, checked against the image."""
    height, width = _segmentation_size(segmentation)
    if (height, width) != (image.height, image.width):
        raise Invalid(
            f"RLE size {height}x{width} (h x w) differs from the image's "
            f"{image.height}x{image.width}"
        )
    counts = segmentation.get("counts")
    if isinstance(counts, list):
        runs = [as_int(c, "RLE count") for c in counts]
        if any(c < 0 for c in runs):
            raise Invalid("negative RLE count")
        check_rle_total(sum(runs), height, width)
        rle = masks.rle_from_uncompressed(runs, height=height, width=width)
    elif isinstance(counts, str):
        rle = masks.rle_from_string(counts, height=height, width=width)
    else:
        raise Invalid("RLE counts must be a list of integers or a string")
    if masks.rle_area(rle) == 0:
        raise Invalid("empty mask: RLE has no foreground pixel")
    return rle


# ------------------------------------------------------------------------ writer


@dataclass(frozen=True)
class CocoWriteSummary:
    """What :func:`write_coco` wrote; ``rle_fallbacks`` counts objects written as RLE in
    polygon mode because no polygon rasterises exactly to them (or they are crowds)."""

    images: int
    annotations: int
    rle_fallbacks: int


def _dumps(value: Any) -> bytes:
    """Deterministic compact JSON (sorted keys, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def write_coco(
    out: BinaryIO,
    *,
    info: dict,
    categories: Sequence[ExportCategory],
    images: Sequence[ExportImage],
    annotations: Iterable[ExportObject],
    polygons: bool = False,
    licenses: Sequence[dict] = (),
) -> CocoWriteSummary:
    """Write a COCO instances file, streaming the annotations (one per line).

    Segmentation is compressed RLE (``counts`` as a string) by default. With
    ``polygons``, an object is written as polygon parts that rasterise exactly to its
    mask: its source polygon when that still matches, else its traced pixel-edge boundary
    (holes joined by zero-width keyholes); crowds and objects without an exact polygon
    stay RLE. ``area`` is the mask's pixel count and ``bbox`` its integer box. Image and
    category ids default to 1-based positions; annotation ids to 1-based order. Free
    attributes are written under ``attributes`` and provenance under ``maskqc``. The
    bytes depend only on the inputs (sorted keys, fixed separators).
    """
    category_ids = _ids_by_name(categories, "category")
    image_ids = _ids_by_name(images, "image")
    category_rows = [
        {"id": category_ids[c.name], "name": c.name, "supercategory": c.supercategory}
        for c in categories
    ]
    image_rows = [
        {
            **image.metadata,
            "id": image_ids[image.name],
            "file_name": image.name,
            "width": image.width,
            "height": image.height,
        }
        for image in images
    ]
    out.write(b'{"info":' + _dumps(info) + b',\n"licenses":' + _dumps(list(licenses)))
    out.write(b',\n"categories":' + _dumps(category_rows))
    out.write(b',\n"images":[')
    for index, row in enumerate(image_rows):
        out.write((b",\n" if index else b"\n") + _dumps(row))
    out.write(b'],\n"annotations":[')
    count = fallbacks = 0
    for position, obj in enumerate(annotations, start=1):
        row, fell_back = _annotation_row(obj, position, image_ids, category_ids, polygons)
        fallbacks += int(fell_back)
        out.write((b",\n" if count else b"\n") + _dumps(row))
        count += 1
    out.write(b"\n]}\n")
    return CocoWriteSummary(images=len(image_rows), annotations=count, rle_fallbacks=fallbacks)


def _ids_by_name(
    entries: Sequence[ExportCategory] | Sequence[ExportImage], kind: str
) -> dict[str, int]:
    """The COCO id of each category or image by name: its own ``id``, else its 1-based
    position. A name given twice is refused."""
    ids: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        if entry.name in ids:
            raise ValueError(f"duplicate {kind} {entry.name!r}")
        ids[entry.name] = entry.id if entry.id is not None else position
    return ids


def _annotation_row(
    obj: ExportObject,
    position: int,
    image_ids: dict[str, int],
    category_ids: dict[str, int],
    polygons: bool,
) -> tuple[dict[str, Any], bool]:
    """One annotation's row (id defaulting to ``position``), and whether it fell back to RLE
    in polygon mode (:class:`CocoWriteSummary`)."""
    if obj.image not in image_ids:
        raise ValueError(f"annotation on unknown image {obj.image!r}")
    if obj.label not in category_ids:
        raise ValueError(f"annotation with unknown category {obj.label!r}")
    attributes = dict(obj.attributes)
    iscrowd = 1 if attributes.pop("iscrowd", 0) else 0
    segmentation: Any = exact_polygons(obj) if polygons and not iscrowd else None
    fell_back = polygons and segmentation is None
    if segmentation is None:
        segmentation = {"size": list(obj.rle["size"]), "counts": masks.rle_to_string(obj.rle)}
    row: dict[str, Any] = {
        "id": obj.id if obj.id is not None else position,
        "image_id": image_ids[obj.image],
        "category_id": category_ids[obj.label],
        "segmentation": segmentation,
        "area": masks.rle_area(obj.rle),
        "bbox": list(masks.rle_bbox(obj.rle)),
        "iscrowd": iscrowd,
    }
    if attributes:
        row["attributes"] = attributes
    if obj.provenance:
        row["maskqc"] = obj.provenance
    return row, fell_back
