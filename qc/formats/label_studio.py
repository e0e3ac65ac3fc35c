"""Label Studio JSON reader: full task exports and prediction lists.

* ``polygonlabels``: ``value.points`` in percent of ``original_width`` /
  ``original_height``; ``rectanglelabels``: ``x, y, width, height`` in percent,
  ``rotation`` in degrees clockwise about the top-left corner. Both rasterised with
  pycocotools like every polygon.
* ``brushlabels`` with ``value.format == "rle"``: ``value.rle`` is Label Studio's
  bitstream RLE (@thi.ng/rle-pack) of the RGBA canvas (``original_width`` x
  ``original_height`` x 4 bytes, row-major); the alpha channel is the mask. Decoded here
  with the declared size checked against the image before anything is allocated.
* ``bitmasklabels``: ``value.imageDataURL`` is a PNG data URL of the whole image, black
  on transparent; alpha > 0 is the mask.
* everything else (keypoints, choices, text…) is skipped and counted by type.

Tasks: the image name is the basename of ``data[image_key]`` (URL path, query dropped).
Each non-cancelled annotation is one submission by ``completed_by`` (an email, a
username or a user id, as the export has it); predictions are read only with
``include_predictions`` (annotator ``model_version``). A prediction list file
(``[{"result": [...]}, ...]``) has no image name: ``image_name`` (default: the file's
stem) names it.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from qc.formats.base import (
    FormatError,
    FormatErrorsAt,
    Geometry,
    Invalid,
    Limits,
    Measure,
    ParsedImage,
    ParseResult,
    ReaderOptions,
    as_float,
    as_int,
    guard,
    opt,
    req,
)
from qc.formats.builder import ResultBuilder
from qc.formats.geometry import flat_points, polygon_geometry, rotated_box_polygon
from qc.formats.png import decode_mask_png
from qc.formats.sources import b64decode, load_json, read_bounded

__all__ = ["NO_IMAGE_SIZE", "OPTIONS", "SKIP_REMEDIES", "decode_brush_rle", "read_label_studio"]

_KINDS = {
    "polygonlabels": "polygonlabels",
    "rectanglelabels": "rectanglelabels",
    "brushlabels": "brushlabels",
    "bitmasklabels": "bitmasklabels",
}

# What is skipped when neither the results nor ``image_size`` give the image's size.
NO_IMAGE_SIZE = "annotation without image size"

# The options an import of Label Studio JSON takes, with their types
# (qc.formats.READER_OPTIONS); ``image_size`` is [width, height].
OPTIONS: ReaderOptions = {
    "image_key": str,
    "image_name": str,
    "image_size": (list, tuple),
    "include_predictions": bool,
}
# The option that would import what this reader skips, by what is skipped.
SKIP_REMEDIES: dict[str, str] = {NO_IMAGE_SIZE: "--image-size WIDTHxHEIGHT"}


def read_label_studio(
    path: Path,
    *,
    limits: Limits,
    measure: Measure | None = None,
    image_key: str | None = None,
    image_name: str | None = None,
    image_size: tuple[int, int] | None = None,
    include_predictions: bool = False,
) -> ParseResult:
    """Read a Label Studio JSON export (list of tasks) or a list of predictions.

    ``image_size`` = (width, height) is used when results carry no
    ``original_width``/``original_height`` (some prediction files). ``submissions`` lists
    every (image, annotator) pair that has an annotation, empty or not.
    """
    display = path.name
    with guard(display):
        document = load_json(read_bounded(path, limits, display), display)
        if isinstance(document, dict):
            document = [document]
        if not isinstance(document, list):
            raise FormatError("a Label Studio export must be a list", file=display)
        builder = ResultBuilder(display, limits, measure)
        submissions: dict[tuple[str, str | None], None] = {}
        context = _Context(display, builder, limits, image_size, submissions)
        if document and all(isinstance(t, dict) and "result" in t for t in document):
            name = image_name or path.stem
            for index, prediction in enumerate(document):
                annotator = _model(prediction)
                context.annotation(name, annotator, prediction, f"[{index}]")
        else:
            for index, task in enumerate(document):
                context.task(task, index, image_key, image_name, include_predictions)
        return builder.result(annotators_saw_all=False, submissions=list(submissions))


def _model(prediction: dict) -> str | None:
    """A prediction's annotator: its model version."""
    version = prediction.get("model_version")
    return str(version) if isinstance(version, str | int) and version != "" else None


def _user(annotation: dict) -> str | None:
    """``completed_by``: an email, a username or a user id."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        for key in ("email", "username", "id"):
            if isinstance(who.get(key), str | int) and not isinstance(who.get(key), bool):
                return str(who[key])
        return None
    if isinstance(who, str | int) and not isinstance(who, bool):
        return str(who)
    return None


class _Context:
    """State shared while reading one file."""

    def __init__(
        self,
        file: str,
        builder: ResultBuilder,
        limits: Limits,
        image_size: tuple[int, int] | None,
        submissions: dict[tuple[str, str | None], None],
    ) -> None:
        self.file = file
        self.builder = builder
        self.limits = limits
        self.image_size = image_size
        self.submissions = submissions
        self.images: dict[str, ParsedImage] = {}

    def task(
        self,
        task: Any,
        index: int,
        image_key: str | None,
        image_name: str | None,
        include_predictions: bool,
    ) -> None:
        """One task: its image, annotations and (optionally) predictions."""
        # Each task is one image: a second task naming it is a duplicate image.
        self.images.clear()
        with FormatErrorsAt(self.file, obj=f"task [{index}]"):
            if not isinstance(task, dict):
                raise Invalid("task must be an object")
            data = req(task, "data", dict, "task")
            name = image_name or _image_name(data, image_key)
            task_id = task.get("id")
        where_task = f"task [{index}]" + (f" (id {task_id})" if task_id is not None else "")
        with FormatErrorsAt(self.file, name, where_task):
            annotations = opt(task, "annotations", list, [])
            predictions = opt(task, "predictions", list, []) if include_predictions else []
        for number, annotation in enumerate(annotations):
            source = f"{where_task} annotation {number}"
            with FormatErrorsAt(self.file, name, source):
                if not isinstance(annotation, dict):
                    raise Invalid("annotation must be an object")
            if annotation.get("was_cancelled"):
                self.builder.skip("cancelled annotation", image=name, obj=source)
                continue
            self.annotation(name, _user(annotation), annotation, source)
        for number, prediction in enumerate(predictions):
            source = f"{where_task} prediction {number}"
            with FormatErrorsAt(self.file, name, source):
                if not isinstance(prediction, dict):
                    raise Invalid("prediction must be an object")
            self.annotation(name, _model(prediction), prediction, source)

    def annotation(self, name: str, annotator: str | None, entry: Any, source: str) -> None:
        """One annotation or prediction: its results become objects of one submission."""
        with FormatErrorsAt(self.file, name, source):
            if not isinstance(entry, dict):
                raise Invalid("annotation must be an object")
            results = req(entry, "result", list)
        image = self._image(name, results, source)
        if image is None:
            self.builder.skip(NO_IMAGE_SIZE, image=name, obj=source)
            return
        self.submissions.setdefault((image.name, annotator), None)
        for number, result in enumerate(results):
            where_result = f"{source} result {number}"
            with FormatErrorsAt(self.file, image.name, where_result):
                if not isinstance(result, dict):
                    raise Invalid("result must be an object")
                result_id = result.get("id")
                if isinstance(result_id, str | int):
                    where_result += f" (id {result_id})"
            with FormatErrorsAt(self.file, image.name, where_result):
                kind = req(result, "type", str)
                if kind not in _KINDS:
                    self.builder.skip(kind, image=image.name, obj=where_result)
                    continue
                value = req(result, "value", dict)
                labels = opt(value, kind, list, [])
                if not labels:
                    self.builder.skip(f"{kind} without label", image=image.name, obj=where_result)
                    continue
                label = check_label(labels[0])
                self._size_agrees(result, image)
                geometry = _geometry(kind, value, image, self.builder, self.limits)
                attributes: dict[str, Any] = {}
                if len(labels) > 1:
                    attributes["labels"] = [check_label(x) for x in labels]
                if isinstance(result.get("score"), int | float):
                    attributes["score"] = result["score"]
                if isinstance(result_id, str | int):
                    attributes["result_id"] = result_id
            self.builder.add_object(
                image,
                label,
                geometry,
                source=where_result,
                annotator=annotator,
                attributes=attributes,
            )

    def _image(self, name: str, results: list, source: str) -> ParsedImage | None:
        """The image of a submission, sized from its results or ``image_size``."""
        if name in self.images:
            return self.images[name]
        size = None
        for result in results:
            if isinstance(result, dict) and "original_width" in result:
                size = (result.get("original_width"), result.get("original_height"))
                break
        if size is None:
            size = self.image_size
        if size is None:
            return None
        image = self.builder.add_image(name, size[0], size[1], source=source)
        self.images[name] = image
        return image

    @staticmethod
    def _size_agrees(result: dict, image: ParsedImage) -> None:
        if "original_width" not in result:
            return
        width = as_int(result.get("original_width"), "original_width")
        height = as_int(result.get("original_height"), "original_height")
        if (width, height) != (image.width, image.height):
            raise Invalid(
                f"original size {width}x{height} differs from the image's "
                f"{image.width}x{image.height}"
            )


def check_label(label: Any) -> str:
    """A result's label must be a non-empty string."""
    if not isinstance(label, str) or not label:
        raise Invalid(f"label must be a non-empty string, got {label!r}")
    return label


def _image_name(data: dict, image_key: str | None) -> str:
    """Basename of the task's image URL or path."""
    if image_key is not None:
        value = req(data, image_key, str, "task data")
    else:
        value = data.get("image")
        if not isinstance(value, str):
            strings = [v for v in data.values() if isinstance(v, str) and v]
            if not strings:
                raise Invalid("task data has no image reference")
            value = strings[0]
    path = unquote(urlparse(value).path) if "://" in value or value.startswith("/") else value
    name = PurePosixPath(path.replace("\\", "/")).name
    if not name:
        raise Invalid(f"cannot name the image of {value!r}")
    return name


def _geometry(
    kind: str, value: dict, image: ParsedImage, builder: ResultBuilder, limits: Limits
) -> Geometry:
    """The geometry of one result: a polygon for the vector kinds, a bitmap for masks."""
    sx, sy = image.width / 100.0, image.height / 100.0
    if kind == "polygonlabels":
        flat = flat_points(req(value, "points", list))
        polygon = [v * (sx if i % 2 == 0 else sy) for i, v in enumerate(flat)]
        return polygon_geometry([polygon], image)
    if kind == "rectanglelabels":
        x = as_float(req(value, "x", (int, float)), "x") * sx
        y = as_float(req(value, "y", (int, float)), "y") * sy
        w = as_float(req(value, "width", (int, float)), "width") * sx
        h = as_float(req(value, "height", (int, float)), "height") * sy
        rotation = as_float(opt(value, "rotation", (int, float), 0), "rotation")
        polygon = rotated_box_polygon(x, y, w, h, rotation, about_centre=False)
        return polygon_geometry([polygon], image)
    if kind == "bitmasklabels":
        crop = decode_mask_png(b64decode(req(value, "imageDataURL", str), "imageDataURL"), limits)
        if crop.shape != (image.height, image.width):
            raise Invalid(
                f"bitmask is {crop.shape[1]}x{crop.shape[0]}, the image "
                f"{image.width}x{image.height}"
            )
        return builder.bitmap_geometry(crop, (0, 0), image)
    fmt = opt(value, "format", str, "rle")
    if fmt != "rle":
        raise Invalid(f"brush format {fmt!r} is not supported (only 'rle')")
    data = req(value, "rle", list)
    alpha = decode_brush_rle(data, width=image.width, height=image.height, limits=limits)
    return builder.bitmap_geometry(alpha, (0, 0), image)


class _Bits:
    """MSB-first bit reader over a byte string."""

    def __init__(self, data: bytes) -> None:
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        self.pos = 0

    def read(self, count: int) -> int:
        end = self.pos + count
        if end > self.bits.size:
            raise Invalid("brush RLE is truncated")
        value = 0
        for bit in self.bits[self.pos : end].tolist():
            value = (value << 1) | bit
        self.pos = end
        return value

    def read_words(self, count: int, size: int) -> np.ndarray:
        end = self.pos + count * size
        if end > self.bits.size:
            raise Invalid("brush RLE is truncated")
        chunk = self.bits[self.pos : end].reshape(count, size).astype(np.uint64)
        self.pos = end
        weights = np.left_shift(np.uint64(1), np.arange(size - 1, -1, -1, dtype=np.uint64))
        return chunk @ weights


def decode_brush_rle(data: Any, *, width: int, height: int, limits: Limits) -> np.ndarray:
    """Decode Label Studio brush RLE to the alpha mask ``[row, col]`` (bool).

    Layout (@thi.ng/rle-pack, bits MSB first): 32 bits word count, 5 bits word size - 1,
    4 x 4 bits run-length field sizes - 1; then chunks of: 1 flag bit, 2 bits size class,
    that many bits holding count - 1, then one word repeated ``count`` times (flag 1) or
    ``count`` literal words (flag 0). The words are the RGBA canvas bytes.
    """
    if not isinstance(data, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in data
    ):
        raise Invalid("brush rle must be a list of bytes (0..255)")
    if len(data) > limits.max_decompressed_bytes:
        raise Invalid("brush rle is over the size limit")
    bits = _Bits(bytes(data))
    total = bits.read(32)
    if total != width * height * 4:
        raise Invalid(
            f"brush RLE declares {total} values, not width x height x 4 = "
            f"{width}x{height}x4 = {width * height * 4}"
        )
    if total > limits.max_decompressed_bytes:
        raise Invalid("brush RLE decodes beyond the size limit")
    word_size = bits.read(5) + 1
    if word_size > 8:
        raise Invalid(f"brush RLE word size {word_size} is not 8 bits or less")
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(total, dtype=np.uint8)
    index = 0
    while index < total:
        repeated = bits.read(1)
        count = bits.read(sizes[bits.read(2)]) + 1
        if index + count > total:
            raise Invalid("brush RLE runs past the declared size")
        if repeated:
            out[index : index + count] = bits.read(word_size)
        else:
            out[index : index + count] = bits.read_words(count, word_size)
        index += count
    return out.reshape(height, width, 4)[:, :, 3] > 0
