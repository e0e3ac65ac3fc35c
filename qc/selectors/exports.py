"""What an export contains (DESIGN §8): the categories and images to export, and each
image's objects with their provenance.

Per image, in image-name order:

* by default, accepted labels only: images with an ImageLabel, whose instances are the
  accepted submission's instances or, for a consensus label, its copied LabelInstances;
  an accepted label with no instance is an image with no annotation ("looked and found
  nothing");
* with ``include_unreviewed``, every image that has a submission: its accepted label when
  it has one, else its consensus when agreement has been computed (two or more
  annotators), else its most recent submission (the newest revision of the task submitted
  last; with one annotator, simply that annotator's latest revision).

Every object carries ``maskqc`` provenance: ``annotator`` (null for a consensus),
``reviewer`` (who accepted the label; null when unreviewed), ``agreement_pq`` (the image's
pooled pq, null below two annotators), ``label`` (``accepted`` or ``unreviewed``) and
``from`` (``submission`` or ``consensus``). Categories are the project's classes sorted by
name, numbered by position.

Objects are read for a chunk of image ids at a time and made image by image, so memory does
not grow with the number of annotations (the selection keeps one row per image).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, Model, OuterRef, QuerySet

from projects.models import Image, LabelClass, Project, TaskStatus
from qc.formats import ExportCategory, ExportImage, ExportObject
from qc.models import (
    ConsensusInstance,
    ImageAgreement,
    ImageLabel,
    Instance,
    LabelInstance,
    Submission,
)

__all__ = ["ExportSelection", "export_objects", "export_selection"]

# Shared by every image without metadata: the export keeps one row per image, keep it small.
_NO_METADATA: dict[str, Any] = {}
_ROW_CHUNK = 2000

# What an image's objects come from: (kind, key, annotator, reviewer, label state), where
# kind is "submission" (key: the submission), "label" (a consensus label; key: the label)
# or "consensus" (the unreviewed consensus; key: the image).
_Source = tuple[str, int, str | None, str | None, str]
# One instance of an image: (class id, RLE counts, polygon, attributes).
_Row = tuple[int, str, Any, Any]


@dataclass
class ExportSelection:
    """The export's categories (the classes asked for, numbered by position among all the
    project's classes) and its images in name order, with their ids. ``sent_back`` counts
    the images whose label was sent back for rework: it stays in force until a new one is
    accepted (DESIGN §6), so they are exported, though the overview no longer counts them
    as accepted."""

    categories: list[ExportCategory]
    class_names: dict[int, str]
    images: list[ExportImage]
    image_ids: list[int]
    sent_back: int = 0


def export_selection(
    *, project: Project, include_unreviewed: bool, filters: dict[str, Any]
) -> ExportSelection:
    """Categories and the images to export, in name order. ``filters`` are the export's
    validated filters (``classes``, ``images``, ``gold``)."""
    classes = list(
        LabelClass.objects.filter(project=project)
        .order_by("name")
        .values_list("pk", "name", "colour")
    )
    wanted = set(filters.get("classes", [c[1] for c in classes]))
    categories = [
        ExportCategory(name=name, id=position, color=colour)
        for position, (_, name, colour) in enumerate(classes, start=1)
        if name in wanted
    ]
    class_names = {pk: name for pk, name, _ in classes if name in wanted}
    images = Image.objects.filter(project=project)
    labelled = ImageLabel.objects.filter(image=OuterRef("pk"))
    if filters.get("gold"):
        labelled = labelled.filter(is_gold=True)
    if include_unreviewed and not filters.get("gold"):
        submitted = Submission.objects.filter(task__image=OuterRef("pk")).exclude(
            task__status=TaskStatus.CANCELLED
        )
        images = images.filter(Exists(labelled) | Exists(submitted))
    else:
        images = images.filter(Exists(labelled))
    if "images" in filters:
        images = images.filter(name__in=filters["images"])
    selection = ExportSelection(
        categories, class_names, [], [], sent_back=images.filter(label__sent_back=True).count()
    )
    for pk, name, width, height, metadata in (
        images.order_by("name")
        .values_list("pk", "name", "width", "height", "metadata")
        .iterator(chunk_size=_ROW_CHUNK)
    ):
        selection.images.append(
            ExportImage(name=name, width=width, height=height, metadata=metadata or _NO_METADATA)
        )
        selection.image_ids.append(pk)
    return selection


def export_objects(
    chunk: Sequence[int],
    *,
    selection: ExportSelection,
    images: dict[int, ExportImage],
    include_unreviewed: bool,
) -> Iterator[tuple[int, list[ExportObject]]]:
    """The export objects of a chunk of the selection's images, image by image (three
    queries per chunk, four with unreviewed images)."""
    sources, agreement = _sources(chunk, include_unreviewed=include_unreviewed)
    rows = _instance_rows(sources, classes=list(selection.class_names))
    # Objects are made one image at a time, as the writer asks for them.
    for image_id in chunk:
        if image_id not in sources:
            continue
        yield (
            image_id,
            _image_objects(
                images[image_id],
                rows.pop(image_id, []),
                source=sources[image_id],
                agreement_pq=agreement.get(image_id),
                class_names=selection.class_names,
            ),
        )


def _sources(
    chunk: Sequence[int], *, include_unreviewed: bool
) -> tuple[dict[int, _Source], dict[int, float | None]]:
    """What each image of the chunk exports (images with nothing to export are left out),
    and the images' pooled pq where agreement was computed."""
    labels = {
        label.image_id: label
        for label in ImageLabel.objects.filter(image_id__in=chunk).select_related(
            "accepted_by", "submission__task__annotator"
        )
    }
    agreement = dict(
        ImageAgreement.objects.filter(image_id__in=chunk).values_list("image_id", "pq")
    )
    sources: dict[int, _Source] = {}
    for image_id, label in labels.items():
        reviewer = label.accepted_by.username if label.accepted_by else None
        if label.submission_id is not None:
            annotator = label.submission.task.annotator.username
            sources[image_id] = ("submission", label.submission_id, annotator, reviewer, "accepted")
        else:
            sources[image_id] = ("label", label.pk, None, reviewer, "accepted")
    if include_unreviewed:
        rest = [i for i in chunk if i not in sources and i in agreement]
        for image_id in rest:
            sources[image_id] = ("consensus", image_id, None, None, "unreviewed")
        rest = [i for i in chunk if i not in sources]
        latest = (
            Submission.objects.filter(task__image_id__in=rest)
            .exclude(task__status=TaskStatus.CANCELLED)
            .order_by("task__image_id", "-submitted_at", "-pk")
            .values_list("pk", "task__image_id", "task__annotator__username")
        )
        for pk, image_id, username in latest:
            if image_id not in sources:
                sources[image_id] = ("submission", pk, username, None, "unreviewed")
    return sources, agreement


def _instance_rows(sources: dict[int, _Source], *, classes: list[int]) -> dict[int, list[_Row]]:
    """The instances of the exported classes, by image, in stored order: one query per kind
    of source."""
    rows: dict[int, list[_Row]] = defaultdict(list)
    by_key: dict[str, dict[int, int]] = defaultdict(dict)
    for image_id, (kind, key, *_) in sources.items():
        by_key[kind][key] = image_id
    if owners := by_key["submission"]:
        query = _masks_of(Instance, "submission_id", owners, classes, "polygon", "attributes")
        for submission_id, class_id, rle, polygon, attributes in query.iterator(
            chunk_size=_ROW_CHUNK
        ):
            rows[owners[submission_id]].append((class_id, rle, polygon, attributes))
    for kind, model, owner_field in (
        ("label", LabelInstance, "label_id"),
        ("consensus", ConsensusInstance, "image_id"),
    ):
        if owners := by_key[kind]:
            for key, class_id, rle in _masks_of(model, owner_field, owners, classes):
                rows[owners[key]].append((class_id, rle, None, None))
    return rows


def _masks_of(
    model: type[Model], owner_field: str, owners: dict[int, int], classes: list[int], *extra: str
) -> QuerySet:
    """(owner, class id, RLE, *extra) of the instances of ``model`` whose ``owner_field`` is
    one of ``owners`` and whose class is exported, in stored order."""
    return (
        model.objects.filter(**{f"{owner_field}__in": list(owners), "label_class_id__in": classes})
        .order_by("pk")
        .values_list(owner_field, "label_class_id", "rle", *extra)
    )


def _image_objects(
    image: ExportImage,
    rows: list[_Row],
    *,
    source: _Source,
    agreement_pq: float | None,
    class_names: dict[int, str],
) -> list[ExportObject]:
    """One image's export objects, every one carrying the image's provenance."""
    kind, _, annotator, reviewer, state = source
    provenance = {
        "annotator": annotator,
        "reviewer": reviewer,
        "agreement_pq": agreement_pq,
        "label": state,
        "from": "submission" if kind == "submission" else "consensus",
    }
    objects = []
    for class_id, rle, polygon, attributes in rows:
        polygon = polygon or {}
        objects.append(
            ExportObject(
                image=image.name,
                label=class_names[class_id],
                rle={"size": [image.height, image.width], "counts": rle.encode("ascii")},
                polygon=polygon.get("parts") or None,
                holes=polygon.get("holes") or None,
                attributes=dict(attributes or {}),
                provenance=provenance,
            )
        )
    return objects
