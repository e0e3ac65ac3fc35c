"""The result a reader builds: :class:`ResultBuilder` collects images and objects of one file,
enforcing names, sizes and limits. Pure module."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
    ParsedObject,
    ParseResult,
    as_int,
)

# ------------------------------------------------------------------ the builder


@dataclass
class ResultBuilder:
    """Collects images and objects, enforcing names, sizes and limits, for one file.

    ``measure``: the reader's :data:`Measure` hook, applied to every bitmap
    (:meth:`bitmap`); without one, bitmaps are only encoded.
    """

    file: str
    limits: Limits
    measure: Measure | None = None
    measured: list[Any] = field(default_factory=list)
    images: dict[str, ParsedImage] = field(default_factory=dict)
    image_sources: dict[str, str] = field(default_factory=dict)
    objects: list[ParsedObject] = field(default_factory=list)
    per_image: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_at: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def add_image(
        self, name: Any, width: Any, height: Any, *, source: str, repeat_ok: bool = False
    ) -> ParsedImage:
        """Register an image; a second one with the same name is an error unless identical
        and ``repeat_ok``."""
        with FormatErrorsAt(self.file, name if isinstance(name, str) else None):
            if not isinstance(name, str) or not name.strip():
                raise Invalid(f"image name must be a non-empty string, got {name!r}")
            width = as_int(width, "image width")
            height = as_int(height, "image height")
            if width <= 0 or height <= 0:
                raise Invalid(f"image size {width}x{height} is not positive")
            if width * height > self.limits.max_image_pixels:
                raise Invalid(
                    f"image is {width}x{height} = {width * height} pixels, over the limit "
                    f"of {self.limits.max_image_pixels}"
                )
            image = ParsedImage(name, width, height)
            previous = self.images.get(name)
            if previous is not None:
                if not repeat_ok:
                    raise Invalid(f"duplicate image name (also in {self.image_sources[name]})")
                if previous != image:
                    raise Invalid(
                        f"size {width}x{height} disagrees with {previous.width}x"
                        f"{previous.height} from {self.image_sources[name]}"
                    )
                return previous
            self.images[name] = image
            self.image_sources[name] = source
            return image

    def add_object(
        self,
        image: ParsedImage,
        label: Any,
        geometry: Geometry,
        *,
        source: str,
        annotator: str | None = None,
        attributes: dict | None = None,
    ) -> None:
        """Append an object of ``image``, enforcing a label and the per-image instance limit."""
        if not isinstance(label, str) or not label.strip():
            raise FormatError(
                f"label must be a non-empty string, got {label!r}",
                file=self.file,
                image=image.name,
                obj=source,
            )
        self.per_image[image.name] += 1
        if self.per_image[image.name] > self.limits.max_instances_per_image:
            raise FormatError(
                f"more than {self.limits.max_instances_per_image} instances in one image",
                file=self.file,
                image=image.name,
                obj=source,
            )
        self.objects.append(
            ParsedObject(
                image=image.name,
                label=label,
                rle=geometry.rle,
                annotator=annotator,
                polygon=geometry.polygon,
                holes=geometry.holes or None,
                attributes=dict(attributes or {}),
                source=source,
            )
        )
        self.measured.append(geometry.measured)

    def bitmap(
        self, crop: np.ndarray, origin: tuple[int, int], image: ParsedImage
    ) -> tuple[dict, Any]:
        """Clip a decoded bitmap to its image and encode it: its RLE, and what the
        ``measure`` hook took from its pixels (None without a hook).

        ``crop`` is bool ``[row, col]`` with its top-left pixel at ``origin`` (x, y), which
        may hang over any edge. Refused: an empty crop, and a crop with no pixel inside the
        image.
        """
        x, y = origin
        h, w = crop.shape
        if crop.size == 0:
            raise Invalid("empty bitmap: no foreground pixel")
        if x >= image.width or y >= image.height or x + w <= 0 or y + h <= 0:
            raise Invalid(
                f"bitmap at origin [{x}, {y}] of size {w}x{h} lies outside the "
                f"{image.width}x{image.height} image"
            )
        row_lo, col_lo = max(0, -y), max(0, -x)
        inside = crop[row_lo : image.height - y, col_lo : image.width - x]
        at = (x + col_lo, y + row_lo)
        try:
            if self.measure is None:
                rle = masks.rle_from_crop(inside, origin=at, height=image.height, width=image.width)
                return rle, None
            return self.measure(inside, at, image)
        except masks.MaskError:
            if inside.any():
                raise
            if inside.shape == crop.shape or not crop.any():
                raise Invalid("empty bitmap: no foreground pixel") from None
            raise Invalid(
                f"bitmap at origin [{x}, {y}] has no foreground pixel inside the "
                f"{image.width}x{image.height} image"
            ) from None

    def bitmap_geometry(
        self, crop: np.ndarray, origin: tuple[int, int], image: ParsedImage
    ) -> Geometry:
        """:meth:`bitmap` as the object's :class:`Geometry` (no polygon)."""
        rle, measured = self.bitmap(crop, origin, image)
        return Geometry(rle, None, None, measured)

    def skip(
        self, kind: str, count: int = 1, *, image: str | None = None, obj: str | None = None
    ) -> None:
        """Count geometry that is not imported; the first of a kind is remembered by its
        image and object."""
        self.skipped[kind] += count
        self.skipped_at.setdefault(kind, (image, obj))

    def result(
        self,
        *,
        annotators_saw_all: bool,
        submissions: list[tuple[str, str | None]] | None = None,
        coco_ids: CocoIds | None = None,
    ) -> ParseResult:
        """The finished, immutable result."""
        return ParseResult(
            images=list(self.images.values()),
            objects=self.objects,
            skipped=Counter(self.skipped),
            annotators_saw_all=annotators_saw_all,
            submissions=submissions,
            coco_ids=coco_ids,
            measured=self.measured if self.measure is not None else None,
            skipped_at=dict(self.skipped_at),
        )
