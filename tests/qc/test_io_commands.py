"""import_images, import_annotations and export_labels on the real third-party files.

Every expected count is computed here from the raw files (JSON, XML, PNG), independently of
the readers and the services.
"""

from __future__ import annotations

import hashlib
import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from projects.models import Image, LabelClass, Membership, Project, Role
from qc.models import Instance, Submission
from qc.services import image_label_set, review_decide
from tests.factories import LabelClassFactory, UserFactory

DATUMARO = "datumaro_assets/openvinotoolkit_datumaro"
KEPT_SUPERVISELY = {"bitmap", "polygon", "rectangle"}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def checksum_of(project: Project, source_name: str | None = None) -> str:
    (checksum,) = set(
        Submission.objects.filter(task__image__project=project)
        .filter(**({} if source_name is None else {"source_name": source_name}))
        .values_list("source_checksum", flat=True)
    )
    return checksum


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"


def import_line(
    project: Project,
    fmt: str,
    name: str,
    *,
    images: int,
    created: int,
    annotators: int,
    submissions: int,
    empty: int,
    instances: int,
    users: int = 0,
    classes: int = 0,
    skipped: Counter | None = None,
) -> str:
    """The summary line the command prints, from counts computed by the test."""
    extras = []
    if users:
        extras.append(f"{plural(users, 'user')} created")
    if classes:
        extras.append(f"{plural(classes, 'class', 'classes')} created")
    skipped_text = ", ".join(f"{k} {v}" for k, v in sorted((skipped or {}).items())) or "none"
    return (
        f"{project.slug}: {fmt} {name!r} (sha256 {checksum_of(project, name)[:12]}): "
        f"{plural(images, 'image')} ({created} created), {plural(annotators, 'annotator')}, "
        f"{plural(submissions, 'submission')} ({empty} empty, 0 new revisions of open tasks), "
        f"{plural(instances, 'instance')}"
        + (f"; {', '.join(extras)}" if extras else "")
        + f"; skipped: {skipped_text}."
    )


def new_project(slug: str) -> Project:
    return Project.objects.create(slug=slug, name=slug)


# --------------------------------------------------------------------- Supervisely


@pytest.mark.parametrize("kind", ["instance", "vector"])
def test_import_annotations_supervisely_counts_match_the_files(shared_data, db, kind):
    folder = shared_data / "supervisely" / kind
    documents = {
        p.name[: -len(".json")]: json.loads(p.read_text()) for p in folder.glob("ds/ann/*.json")
    }
    kept = [
        (image, o)
        for image, doc in documents.items()
        for o in doc["objects"]
        if o["geometryType"] in KEPT_SUPERVISELY
    ]
    skipped = Counter(
        o["geometryType"]
        for doc in documents.values()
        for o in doc["objects"]
        if o["geometryType"] not in KEPT_SUPERVISELY
    )
    pairs = {(image, o["labelerLogin"]) for image, o in kept}
    project = new_project(kind)

    line = run(
        "import_annotations",
        kind,
        str(folder),
        "--format",
        "supervisely",
        "--create-users",
        "--create-labels",
    )

    assert line == import_line(
        project,
        "supervisely",
        kind,
        images=len(documents),
        created=len(documents),
        annotators=len({login for _, login in pairs}),
        submissions=len(pairs),
        empty=0,
        instances=len(kept),
        users=len({login for _, login in pairs}),
        classes=len({o["classTitle"] for _, o in kept}),
        skipped=skipped,
    )
    sizes = {name: (doc["size"]["width"], doc["size"]["height"]) for name, doc in documents.items()}
    stored = Image.objects.filter(project=project).values_list("name", "width", "height")
    assert {name: (w, h) for name, w, h in stored} == sizes
    assert Membership.objects.get(project=project, user__username="Armen").role == Role.ANNOTATOR


def test_import_annotations_supervisely_again_changes_nothing_and_says_so(shared_data, db):
    folder = shared_data / "supervisely" / "instance"
    project = new_project("again")
    args = (
        "import_annotations",
        "again",
        str(folder),
        "--format",
        "supervisely",
        "--create-users",
        "--create-labels",
    )
    run(*args)
    before = row_counts()

    line = run(*args)

    assert row_counts() == before
    assert line == (
        f"again: supervisely 'instance' (sha256 {checksum_of(project)[:12]}) was already "
        "imported: 6 submissions come from it; nothing changed."
    )


# ---------------------------------------------------------------------------- COCO


def test_import_annotations_coco_val2017_subset_counts(shared_data, db):
    path = shared_data / "coco_val2017_subset" / "instances_test.json"
    raw = json.loads(path.read_text())
    used = {a["category_id"] for a in raw["annotations"]}
    project = new_project("coco")

    line = run(
        "import_annotations",
        "coco",
        str(path),
        "--format",
        "coco",
        "--annotator",
        "coco",
        "--create-users",
        "--create-labels",
    )

    assert line == import_line(
        project,
        "coco",
        "instances_test.json",
        images=len(raw["images"]),
        created=len(raw["images"]),
        annotators=1,
        submissions=len(raw["images"]),
        empty=len({i["id"] for i in raw["images"]} - {a["image_id"] for a in raw["annotations"]}),
        instances=len(raw["annotations"]),
        users=1,
        classes=len(used),
    )
    names = {c["id"]: c["name"] for c in raw["categories"]}
    assert sorted(
        LabelClass.objects.filter(project=project).values_list("name", flat=True)
    ) == sorted(names[i] for i in used)


def val2014_instances(folder: Path, sizes: dict[int, list[int]], annotations: list) -> Path:
    """A COCO instances file naming the val2014 images of the results file (``sizes``: image
    id → [height, width]) and the 90 categories as ``cat<id>``."""
    path = folder / "instances_val2014.json"
    images = [
        {"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg", "height": h, "width": w}
        for i, (h, w) in sorted(sizes.items())
    ]
    categories = [{"id": c, "name": f"cat{c}"} for c in range(1, 91)]
    path.write_text(
        json.dumps({"images": images, "categories": categories, "annotations": annotations})
    )
    return path


def test_import_annotations_cocoapi_results_sized_from_the_rle(shared_data, db):
    path = shared_data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json"
    raw = json.loads(path.read_text())
    project = new_project("results")

    line = run(
        "import_annotations",
        "results",
        str(path),
        "--format",
        "coco",
        "--annotator",
        "model",
        "--create-users",
        "--create-labels",
    )

    image_ids = {r["image_id"] for r in raw}
    assert line == import_line(
        project,
        "coco",
        path.name,
        images=len(image_ids),
        created=len(image_ids),
        annotators=1,
        submissions=len(image_ids),
        empty=0,
        instances=len(raw),
        users=1,
        classes=len({r["category_id"] for r in raw}),
    )
    sizes = {r["image_id"]: tuple(r["segmentation"]["size"]) for r in raw}
    stored = Image.objects.filter(project=project).values_list("name", "height", "width")
    assert {int(name): (h, w) for name, h, w in stored} == sizes
    first = Instance.objects.filter(submission__task__image__project=project).order_by("pk")[0]
    assert (first.rle, first.attributes) == (
        raw[0]["segmentation"]["counts"],
        {"score": raw[0]["score"]},
    )


def test_import_annotations_cocoapi_results_matched_to_the_projects_coco_ids(
    shared_data, db, tmp_path
):
    # Arrange: the dataset's instances file imported first, one box per class the results
    # use (so those classes exist), on the first image
    path = shared_data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json"
    raw = json.loads(path.read_text())
    sizes = {r["image_id"]: r["segmentation"]["size"] for r in raw}
    first = min(sizes)
    used = sorted({r["category_id"] for r in raw})
    dataset = val2014_instances(
        tmp_path,
        sizes,
        [
            {
                "id": n,
                "image_id": first,
                "category_id": c,
                "segmentation": [[1, 1, 9, 1, 9, 9, 1, 9]],
            }
            for n, c in enumerate(used, start=1)
        ],
    )
    project = new_project("matched")
    common = ["--format", "coco", "--create-users", "--create-labels"]
    run("import_annotations", "matched", str(dataset), "--annotator", "truth", *common)
    images_before = Image.objects.filter(project=project).count()

    # Act: the results file alone, with no --images-from
    line = run("import_annotations", "matched", str(path), "--annotator", "model", *common)

    # Assert: no image or class created; each result on its image and class by COCO id
    assert line == import_line(
        project,
        "coco",
        path.name,
        images=len(sizes),
        created=0,
        annotators=1,
        submissions=len(sizes),
        empty=0,
        instances=len(raw),
        users=1,
        classes=0,
    )
    assert Image.objects.filter(project=project).count() == images_before == len(sizes)
    stored = Counter(
        Instance.objects.filter(submission__task__annotator__username="model").values_list(
            "submission__task__image__name", "label_class__name"
        )
    )
    assert stored == Counter(
        (f"COCO_val2014_{r['image_id']:012d}.jpg", f"cat{r['category_id']}") for r in raw
    )
    source = checksum_of(project, dataset.name)
    assert sorted(
        LabelClass.objects.filter(project=project).values_list("metadata", flat=True),
        key=lambda m: m["coco_id"],
    ) == [{"coco_id": c, "coco_source": source} for c in used]


def test_import_annotations_cocoapi_results_with_images_from(shared_data, db, tmp_path):
    path = shared_data / "cocoapi_results" / "instances_val2014_fakesegm100_results.json"
    raw = json.loads(path.read_text())
    sizes = {r["image_id"]: r["segmentation"]["size"] for r in raw}
    index = val2014_instances(tmp_path, sizes, [])
    project = new_project("mapped")

    line = run(
        "import_annotations",
        "mapped",
        str(path),
        "--format",
        "coco",
        "--annotator",
        "model",
        "--create-users",
        "--create-labels",
        "--images-from",
        str(index),
    )

    assert line == import_line(
        project,
        "coco",
        path.name,
        images=len(sizes),
        created=len(sizes),
        annotators=1,
        submissions=len(sizes),
        empty=0,
        instances=len(raw),
        users=1,
        classes=len({r["category_id"] for r in raw}),
    )
    assert Image.objects.filter(project=project, name="COCO_val2014_000000000042.jpg").exists() == (
        42 in sizes
    )
    assert set(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == {
        f"cat{r['category_id']}" for r in raw
    }


@pytest.mark.parametrize(
    ("relative", "skipped"),
    [
        ("instances_val.json", Counter()),
    ],
)
def test_import_annotations_datumaro_coco_counts(shared_data, db, relative, skipped):
    path = shared_data / DATUMARO / "coco_dataset/coco_instances/annotations" / relative
    raw = json.loads(path.read_text())
    segmented = [a for a in raw["annotations"] if a.get("segmentation")]
    project = new_project("datumaro")

    line = run(
        "import_annotations",
        "datumaro",
        str(path),
        "--format",
        "coco",
        "--annotator",
        "d",
        "--create-users",
        "--create-labels",
    )

    assert line == import_line(
        project,
        "coco",
        relative,
        images=len(raw["images"]),
        created=len(raw["images"]),
        annotators=1,
        submissions=len(raw["images"]),
        empty=len({i["id"] for i in raw["images"]} - {a["image_id"] for a in segmented}),
        instances=len(segmented),
        users=1,
        classes=len({a["category_id"] for a in segmented}),
        skipped=skipped,
    )


def test_import_annotations_datumaro_coco_of_boxes_only_is_refused(shared_data, db):
    # Its one annotation is a box without segmentation: skipped, and so nothing would be
    # imported but an empty submission, which would say the annotator found nothing.
    path = shared_data / DATUMARO / "coco_dataset/coco_instances/annotations/instances_train.json"
    raw = json.loads(path.read_text())
    assert [(a["id"], a["segmentation"]) for a in raw["annotations"]] == [(1, [])]
    new_project("datumaro")
    before = row_counts()

    with pytest.raises(CommandError) as caught:
        run("import_annotations", "datumaro", str(path), "--format", "coco", "--annotator", "d")

    assert str(caught.value) == (
        "instances_train.json: image a.jpg: object annotations[0] (id 1): nothing to import, "
        "every object was skipped: no_segmentation 1"
    )
    assert row_counts() == before


# ---------------------------------------------------------------------------- CVAT


@pytest.mark.parametrize(
    "relative",
    [
        f"{DATUMARO}/cvat_dataset/for_images/export_task/train.xml",
        f"{DATUMARO}/cvat_dataset/for_images/export_project/annotations.xml",
        "datumaro_assets/cvat-ai_datumaro/cvat_dataset/for_images/train.xml",
    ],
)
def test_import_annotations_cvat_counts(shared_data, db, relative):
    path = shared_data / relative
    root = ET.parse(path).getroot()
    images = list(root.iter("image"))
    kept, skipped, labels, with_shapes = 0, Counter(), set(), set()
    for position, image in enumerate(images):
        for shape in image:
            if shape.tag in ("polygon", "box", "mask") and shape.get("label"):
                kept += 1
                labels.add(shape.get("label"))
                with_shapes.add(position)
            elif shape.tag in ("polygon", "box", "mask"):
                skipped[f"{shape.tag} without label"] += 1
            else:
                skipped[shape.tag] += 1
    project = new_project("cvat")

    line = run(
        "import_annotations",
        "cvat",
        str(path),
        "--format",
        "cvat",
        "--annotator",
        "c",
        "--create-users",
        "--create-labels",
    )

    assert line == import_line(
        project,
        "cvat",
        path.name,
        images=len(images),
        created=len(images),
        annotators=1,
        submissions=len(images),
        empty=len(images) - len(with_shapes),
        instances=kept,
        users=1,
        classes=len(labels),
        skipped=skipped,
    )


# ------------------------------------------------------------------------- LabelMe


def test_import_annotations_labelme_folder_and_primitives_counts(shared_data, db):
    folder = shared_data / "labelme" / "instance_segmentation"
    shapes = [
        (p.stem, s)
        for p in sorted(folder.glob("*.json"))
        for s in json.loads(p.read_text())["shapes"]
    ]
    kept = [(f, s) for f, s in shapes if s["label"] != "__ignore__"]
    instances = len({(f, s["label"], s["group_id"]) for f, s in kept if s["group_id"] is not None})
    instances += sum(1 for _, s in kept if s["group_id"] is None)
    primitives = json.loads((shared_data / "labelme/primitives/primitives.json").read_text())
    primitive_kept = [
        s
        for s in primitives["shapes"]
        if s["shape_type"] in ("polygon", "rectangle", "circle", "mask")
    ]
    project = new_project("labelme")

    first = run(
        "import_annotations",
        "labelme",
        str(folder),
        "--format",
        "labelme",
        "--annotator",
        "lm",
        "--create-users",
        "--create-labels",
    )
    first_checksum = checksum_of(project)
    second = run(
        "import_annotations",
        "labelme",
        str(shared_data / "labelme/primitives/primitives.json"),
        "--format",
        "labelme",
        "--annotator",
        "lm",
        "--create-labels",
    )

    labels = {s["label"] for _, s in kept}
    assert first == (
        f"labelme: labelme 'instance_segmentation' (sha256 {first_checksum[:12]}): 3 images "
        f"(3 created), 1 annotator, 3 submissions (0 empty, 0 new revisions of open tasks), "
        f"{instances} instances; 1 user created, {len(labels)} classes created; "
        f"skipped: __ignore__ {len(shapes) - len(kept)}."
    )
    new_labels = {s["label"] for s in primitive_kept} - labels
    other = Counter(s["shape_type"] for s in primitives["shapes"] if s not in primitive_kept)
    assert second.endswith(
        f"1 image (1 created), 1 annotator, 1 submission (0 empty, 0 new revisions of open "
        f"tasks), {len(primitive_kept)} instances; {len(new_labels)} classes created; skipped: "
        + ", ".join(f"{k} {v}" for k, v in sorted(other.items()))
        + "."
    )


# -------------------------------------------------------------------- Label Studio


def test_import_annotations_label_studio_export_and_predictions(shared_data, db):
    export = shared_data / "label_studio/sdk_test_export_coco/data.json"
    results = json.loads(export.read_text())[0]["annotations"][0]["result"]
    geometric = [r for r in results if r["type"] in ("polygonlabels", "rectanglelabels")]
    brush = shared_data / "label_studio/ml_backend_yolo_tests/test_brush_labels.json"
    brushes = json.loads(brush.read_text())[0]["result"]
    project = new_project("ls")

    line = run(
        "import_annotations",
        "ls",
        str(export),
        "--format",
        "label-studio",
        "--annotator",
        "ls",
        "--create-users",
        "--create-labels",
    )
    exported_checksum = checksum_of(project)
    predictions = run(
        "import_annotations",
        "ls",
        str(brush),
        "--format",
        "label-studio",
        "--create-users",
        "--create-labels",
    )

    assert line == (
        f"ls: label-studio 'data.json' (sha256 {exported_checksum[:12]}): 1 image (1 created), "
        f"1 annotator, 1 submission (0 empty, 0 new revisions of open tasks), "
        f"{len(geometric)} instances; 1 user created, 2 classes created; skipped: "
        f"keypointlabels {len(results) - len(geometric)}."
    )
    assert predictions.endswith(
        f"1 image (1 created), 1 annotator, 1 submission (0 empty, 0 new revisions of open "
        f"tasks), {len(brushes)} instances; 1 user created, 1 class created; skipped: none."
    )
    assert Submission.objects.filter(task__annotator__username="yolo").count() == 1


def test_import_annotations_label_studio_polygon_predictions_need_a_size(shared_data, db):
    path = shared_data / "label_studio/ml_backend_yolo_tests/test_polygon_labels.json"
    polygons = json.loads(path.read_text())[0]["result"]
    project = new_project("lsp")

    line = run(
        "import_annotations",
        "lsp",
        str(path),
        "--format",
        "label-studio",
        "--image-size",
        "768x576",
        "--image-name",
        "frame.jpg",
        "--create-users",
        "--create-labels",
    )

    assert line.endswith(
        f"{len(polygons)} instances; 1 user created, 1 class created; skipped: none."
    )
    assert list(Image.objects.filter(project=project).values_list("name", "width", "height")) == [
        ("frame.jpg", 768, 576)
    ]


def test_import_annotations_label_studio_brushes_without_a_size_name_the_option(
    shared_data, db, tmp_path
):
    # The YOLO backend's brush predictions, as a backend that leaves out the image size
    # writes them.
    document = json.loads(
        (shared_data / "label_studio/ml_backend_yolo_tests/test_brush_labels.json").read_text()
    )
    for result in document[0]["result"]:
        del result["original_width"], result["original_height"]
    path = tmp_path / "test_brush_labels.json"
    path.write_text(json.dumps(document))
    project = new_project("lsb")
    before = row_counts()
    command = ("import_annotations", "lsb", str(path), "--format", "label-studio")

    with pytest.raises(CommandError) as caught:
        run(*command, "--create-users", "--create-labels")
    refused_counts = row_counts()
    line = run(*command, "--image-size", "768x576", "--create-users", "--create-labels")

    assert str(caught.value) == (
        "test_brush_labels.json: image test_brush_labels: object [0]: nothing to import, every "
        "object was skipped: annotation without image size 1 (pass --image-size WIDTHxHEIGHT)"
    )
    assert refused_counts == before
    assert line.endswith(
        f"{len(document[0]['result'])} instances; 1 user created, 1 class created; skipped: none."
    )
    assert list(Image.objects.filter(project=project).values_list("name", "width", "height")) == [
        ("test_brush_labels", 768, 576)
    ]


# ----------------------------------------------------------------------- PNG masks


def test_import_annotations_bubil_experts_inverted_polarity(shared_data, db):
    folder = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast"
    files = sorted(folder.glob("ExpertsAnnotations/*/seg_*.png"))
    non_empty = sum(1 for f in files if (np.asarray(PILImage.open(f).convert("L")) == 0).any())
    annotators = {f.parent.name for f in files}
    images = {f.name[len("seg_") : -len(".png")] for f in files}
    project = new_project("bubil")
    LabelClassFactory(project=project, name="cell")

    line = run(
        "import_annotations",
        "bubil",
        str(folder),
        "--format",
        "mask-png",
        "--pattern",
        "ExpertsAnnotations/{annotator}/seg_{image}.png",
        "--foreground",
        "zero",
        "--create-users",
        "--label",
        "cell",
        "--image-name",
        "{image}.png",
    )

    assert line == import_line(
        project,
        "mask-png",
        folder.name,
        images=len(images),
        created=len(images),
        annotators=len(annotators),
        submissions=len(files),
        empty=len(files) - non_empty,
        instances=non_empty,
        users=len(annotators),
        skipped=Counter({"empty_mask": len(files) - non_empty}) if len(files) > non_empty else None,
    )
    assert (len(files), len(annotators), len(images)) == (100, 10, 10)


def test_import_images_gives_annotation_images_their_pixels(shared_data, db):
    folder = shared_data / "bubil" / "dataset1_rat_smc_phase_contrast"
    raw = sorted((folder / "RawImages").glob("*.png"))
    project = new_project("cells")
    for path in raw:
        width, height = PILImage.open(path).size
        Image.objects.create(project=project, name=path.name, width=width, height=height)

    line = run("import_images", "cells", str(folder / "RawImages"))
    again = run("import_images", "cells", str(folder / "RawImages"))

    size = sum(p.stat().st_size for p in raw)
    assert line == (
        f"cells: {len(raw)} image files: 0 images created, {len(raw)} existing images given "
        f"their pixels, 0 unchanged ({size / 1e6:.1f} MB)."
    )
    assert again == (
        f"cells: {len(raw)} image files: 0 images created, 0 existing images given their "
        f"pixels, {len(raw)} unchanged (0.0 MB)."
    )
    stored = {i.name: i.sha256 for i in Image.objects.filter(project=project)}
    assert stored == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw}


def test_import_images_creates_images_with_header_sizes(shared_data, db):
    folder = shared_data / "coco_val2017_subset" / "images"
    files = sorted(folder.glob("*.jpg"))
    project = new_project("photos")

    line = run("import_images", "photos", str(folder))

    size = sum(p.stat().st_size for p in files)
    assert line == (
        f"photos: {len(files)} image files: {len(files)} images created, 0 existing images "
        f"given their pixels, 0 unchanged ({size / 1e6:.1f} MB)."
    )
    stored = Image.objects.filter(project=project).values_list("name", "width", "height")
    assert sorted(stored) == sorted((p.name, *PILImage.open(p).size) for p in files)
    image = Image.objects.get(project=project, name=files[0].name)
    with image.file.open("rb") as handle:
        assert handle.read() == files[0].read_bytes()
    # Stored under a name nobody can guess: images/<random token>/<file name>
    names = [i.file.name.split("/") for i in Image.objects.filter(project=project)]
    assert all(len(parts) == 3 and parts[0] == "images" for parts in names)
    assert sorted(parts[2] for parts in names) == sorted(p.name for p in files)
    assert len({parts[1] for parts in names}) == len(files)
    assert all(len(parts[1]) >= 20 for parts in names)


def test_import_images_size_disagreeing_is_refused_and_changes_nothing(shared_data, db):
    folder = shared_data / "coco_val2017_subset" / "images"
    first = sorted(folder.glob("*.jpg"))[0]
    project = new_project("photos")
    Image.objects.create(project=project, name=first.name, width=1, height=1)
    before = row_counts()

    with pytest.raises(CommandError) as caught:
        run("import_images", "photos", str(folder))

    width, height = PILImage.open(first).size
    assert str(caught.value) == (
        f"{first}: image {first.name}: object (none): size {width}x{height} disagrees with the "
        "project's image of 1x1 (width x height)"
    )
    assert row_counts() == before


def test_import_annotations_dsb2018_one_png_per_instance(shared_data, db):
    folder = shared_data / "dsb2018_fixes"
    original = sorted(folder.glob("*/masks_original/*.png"))
    fixed = sorted(folder.glob("*/masks_fixed/*.png"))
    images = {p.parts[-3] for p in original}
    project = new_project("dsb")
    LabelClassFactory(project=project, name="nucleus")

    lines = [
        run(
            "import_annotations",
            "dsb",
            str(folder),
            "--format",
            "mask-png",
            "--pattern",
            f"{{image}}/masks_{kind}/{{instance}}.png",
            "--annotator",
            kind,
            "--create-users",
            "--label",
            "nucleus",
        )
        for kind in ("original", "fixed")
    ]

    checksums = sorted(
        Submission.objects.filter(task__image__project=project)
        .values_list("source_checksum", "task__annotator__username")
        .distinct()
    )
    by_user = {user: checksum for checksum, user in checksums}
    assert lines == [
        f"dsb: mask-png 'dsb2018_fixes' (sha256 {by_user[kind][:12]}): {len(images)} images "
        f"({created} created), 1 annotator, {len(images)} submissions (0 empty, 0 new revisions "
        f"of open tasks), {count} instances; 1 user created; skipped: none."
        for kind, created, count in (("original", 5, len(original)), ("fixed", 0, len(fixed)))
    ]
    assert (len(original), len(fixed)) == (113, 117)


# ------------------------------------------------------------------- bad input


def test_import_annotations_bad_input_exits_with_the_message_and_changes_nothing(shared_data, db):
    path = shared_data / "coco_val2017_subset" / "instances_test.json"
    new_project("strict")
    UserFactory(username="coco")
    before = row_counts()

    with pytest.raises(CommandError) as caught:
        run("import_annotations", "strict", str(path), "--format", "coco", "--annotator", "coco")

    raw = json.loads(path.read_text())
    first = raw["annotations"][0]
    image = next(i["file_name"] for i in raw["images"] if i["id"] == first["image_id"])
    category = next(c["name"] for c in raw["categories"] if c["id"] == first["category_id"])
    assert str(caught.value) == (
        f"instances_test.json: image {image}: object annotations[0] (id {first['id']}): class "
        f"{category!r} is not in project strict; pass --create-labels to create it"
    )
    assert row_counts() == before


def test_import_annotations_unknown_project_is_an_error(shared_data, db):
    with pytest.raises(CommandError) as caught:
        run("import_annotations", "nope", str(shared_data), "--format", "coco")

    assert str(caught.value) == "No project with slug 'nope'."


def test_import_annotations_progress_bar_goes_to_stderr(shared_data, db, capsys):
    new_project("bar")

    call_command(
        "import_annotations",
        "bar",
        str(shared_data / "supervisely" / "instance"),
        "--format",
        "supervisely",
        "--create-users",
        "--create-labels",
        "--progress",
        stdout=io.StringIO(),
    )

    assert "import: 100%" in capsys.readouterr().err


# ----------------------------------------------------------------------- export


def test_export_labels_writes_coco_and_prints_the_summary(shared_data, db, tmp_path):
    project = new_project("out")
    run(
        "import_annotations",
        "out",
        str(shared_data / "supervisely" / "instance"),
        "--format",
        "supervisely",
        "--create-users",
        "--create-labels",
    )
    lead = UserFactory(username="boss")
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    for submission in Submission.objects.filter(task__image__project=project):
        review_decide(submission=submission, reviewer=lead, decision="accept")
        image_label_set(image=submission.task.image, actor=lead, submission=submission)
    target = tmp_path / "labels.json"

    line = run("export_labels", "out", "--format", "coco", "--out", str(target))
    again = run("export_labels", "out", "--format", "coco", "--out", str(tmp_path / "b.json"))

    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert line == (
        f"out: exported 6 images, 8 annotations, 2 classes (accepted labels) as coco to "
        f"{target} (sha256 {digest})."
    )
    assert target.read_bytes() == (tmp_path / "b.json").read_bytes()
    assert again.endswith(f"(sha256 {digest}).")
    document = json.loads(target.read_text())
    first = document["annotations"][0]
    assert first["maskqc"]["annotator"] == "Armen"


def test_export_labels_unknown_format_or_project_is_an_error(db, tmp_path):
    new_project("empty")

    with pytest.raises(CommandError) as caught:
        run("export_labels", "nope", "--format", "coco", "--out", str(tmp_path / "a.json"))

    assert str(caught.value) == "No project with slug 'nope'."


def test_export_labels_empty_project_writes_an_empty_dataset(db, tmp_path):
    new_project("empty")
    target = tmp_path / "empty.zip"

    line = run("export_labels", "empty", "--format", "mask-png", "--out", str(target))

    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    assert line == (
        f"empty: exported 0 images, 0 annotations, 0 classes (accepted labels) as mask-png "
        f"to {target} (sha256 {digest})."
    )
    assert Path(target).stat().st_size > 0
