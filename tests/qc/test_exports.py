"""Exports of accepted labels (DESIGN §8): what goes in, round trips, real clients, bytes."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image as PILImage
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from projects.errors import ApplicationError
from projects.models import Image, LabelClass, Project
from projects.services import guideline_version_create
from qc import masks
from qc.models import (
    ConsensusInstance,
    Export,
    ImageAgreement,
    ImageLabel,
    Instance,
    JobStatus,
    LabelInstance,
    Submission,
)
from qc.services import exports, image_label_set, review_decide
from qc.services.exports import export_create, export_write
from qc.services.imports import import_annotations
from tests.factories import ImageFactory, LabelClassFactory, TaskFactory

COCO_SUBSET = "coco_val2017_subset/instances_test.json"


def accept_all(project: Project, reviewer) -> None:
    """Accept the first submission of every image and make it the image's label."""
    for image in Image.objects.filter(project=project).order_by("name"):
        submission = (
            Submission.objects.filter(task__image=image).order_by("task__annotator__username")
        ).first()
        if submission is None:
            continue
        review_decide(submission=submission, reviewer=reviewer, decision="accept")
        image_label_set(image=image, actor=reviewer, submission=submission)


def label_sets(project: Project) -> dict[str, list[tuple[str, str, str]]]:
    """Per image: sorted (class, RLE, annotator) of every instance of the project."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    rows = Instance.objects.filter(submission__task__image__project=project).values_list(
        "submission__task__image__name",
        "label_class__name",
        "rle",
        "submission__task__annotator__username",
    )
    for image, label, rle, annotator in rows:
        out.setdefault(image, []).append((label, rle, annotator))
    return {image: sorted(items) for image, items in out.items()}


@pytest.fixture
def coco_project(shared_data, project, lead):
    import_annotations(
        project=project,
        path=shared_data / COCO_SUBSET,
        format="coco",
        actor=lead,
        annotator="coco",
        create_users=True,
        create_labels=True,
    )
    return project


def disc(cx: int, cy: int, r: int, height: int = 48, width: int = 64) -> dict:
    yy, xx = np.mgrid[:height, :width]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def add_submission(image, annotator, label_class, rles) -> Submission:
    from qc.services import InstanceInput, submission_create

    task = TaskFactory(image=image, annotator=annotator)
    return submission_create(
        task=task,
        actor=annotator,
        check_gate=False,
        instances=[InstanceInput(label_class=label_class, rle=rle) for rle in rles],
    )


# ----------------------------------------------------------------------- round trips


def test_export_coco_round_trip_gives_identical_masks_and_classes(coco_project, lead, tmp_path, db):
    accept_all(coco_project, lead)
    out = tmp_path / "export.json"

    summary = export_write(project=coco_project, format="coco", out_path=out)
    fresh = Project.objects.create(slug="fresh", name="fresh")
    again = import_annotations(
        project=fresh, path=out, format="coco", actor=None, annotator="coco", create_labels=True
    )

    assert (summary.images, summary.annotations, again.instances) == (4, 46, 46)
    assert label_sets(fresh) == label_sets(coco_project)
    crowd = Instance.objects.filter(
        submission__task__image__project=fresh, attributes__iscrowd=1
    ).count()
    assert crowd == 1


def test_export_supervisely_round_trip_gives_identical_masks_classes_and_labelers(
    shared_data, project, lead, tmp_path
):
    source = shared_data / "supervisely" / "instance"
    import_annotations(
        project=project,
        path=source,
        format="supervisely",
        actor=None,
        create_users=True,
        create_labels=True,
    )
    accept_all(project, lead)
    out = tmp_path / "export.zip"

    summary = export_write(project=project, format="supervisely", out_path=out)
    fresh = Project.objects.create(slug="fresh", name="fresh")
    again = import_annotations(
        project=fresh, path=out, format="supervisely", actor=None, create_labels=True
    )

    assert (summary.images, summary.annotations, again.instances, again.annotators) == (
        6,
        8,
        8,
        ["Armen"],
    )
    assert label_sets(fresh) == label_sets(project)


def test_export_coco_loads_in_pycocotools_and_scores_ap_one_against_itself(
    coco_project, lead, tmp_path, capsys
):
    accept_all(coco_project, lead)
    out = tmp_path / "export.json"
    export_write(project=coco_project, format="coco", out_path=out)

    ground_truth = COCO(str(out))
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "segmentation": a["segmentation"],
            "score": 1.0,
        }
        for a in ground_truth.loadAnns(ground_truth.getAnnIds())
    ]
    evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "segm")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()

    assert len(ground_truth.getImgIds()) == 4
    assert len(ground_truth.getAnnIds()) == 46
    assert evaluation.stats[0] == 1.0


def test_export_coco_polygons_write_the_source_polygons(coco_project, lead, tmp_path):
    accept_all(coco_project, lead)
    out = tmp_path / "export.json"

    summary = export_write(project=coco_project, format="coco", out_path=out, polygons=True)

    written = json.loads(out.read_text())["annotations"]
    stored = list(
        Instance.objects.filter(submission__task__image__project=coco_project)
        .order_by("submission__task__image__name", "pk")
        .values_list("polygon", flat=True)
    )
    polygons = [a["segmentation"] for a in written if isinstance(a["segmentation"], list)]
    assert polygons == [p["parts"] for p in stored if p is not None]
    assert summary.rle_fallbacks == 1  # the crowd stays RLE


# -------------------------------------------------------------------- reproducible


def test_export_write_is_byte_identical_for_the_same_state(coco_project, lead, tmp_path):
    accept_all(coco_project, lead)
    outputs = {}
    for run in (1, 2):
        for name, format in (("a.json", "coco"), ("a.zip", "supervisely"), ("m", "mask-png")):
            outputs[(run, name)] = export_write(
                project=coco_project, format=format, out_path=tmp_path / str(run) / name
            )

    for name in ("a.json", "a.zip"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()
        assert outputs[(1, name)].sha256 == outputs[(2, name)].sha256
        assert (
            outputs[(1, name)].sha256
            == hashlib.sha256((tmp_path / "1" / name).read_bytes()).hexdigest()
        )
    assert outputs[(1, "m")].manifest == outputs[(2, "m")].manifest
    assert outputs[(1, "m")].sha256 == outputs[(2, "m")].sha256


# ---------------------------------------------------------------------- what goes in


@pytest.fixture
def two_images(project, bubble, annotator, other_annotator):
    first = ImageFactory(project=project, name="a.png")
    second = ImageFactory(project=project, name="b.png")
    accepted = add_submission(first, annotator, bubble, [disc(10, 10, 4), disc(40, 20, 5)])
    add_submission(second, annotator, bubble, [disc(20, 20, 6)])
    return first, second, accepted


def test_export_write_contains_accepted_labels_only_by_default(two_images, lead, tmp_path):
    first, _, accepted = two_images
    review_decide(submission=accepted, reviewer=lead, decision="accept")
    image_label_set(image=first, actor=lead, submission=accepted)
    out = tmp_path / "export.json"

    summary = export_write(project=first.project, format="coco", out_path=out)

    document = json.loads(out.read_text())
    assert [i["file_name"] for i in document["images"]] == ["a.png"]
    assert [a["maskqc"] for a in document["annotations"]] == [
        {
            "annotator": "annotator",
            "reviewer": "lead",
            "agreement_pq": None,
            "label": "accepted",
            "from": "submission",
        }
    ] * 2
    assert [a["segmentation"]["counts"] for a in document["annotations"]] == [
        masks.rle_to_string(disc(10, 10, 4)),
        masks.rle_to_string(disc(40, 20, 5)),
    ]
    assert (summary.images, summary.annotations) == (1, 2)


def test_export_write_include_unreviewed_adds_the_latest_submission(two_images, lead, tmp_path):
    first, _, accepted = two_images
    review_decide(submission=accepted, reviewer=lead, decision="accept")
    image_label_set(image=first, actor=lead, submission=accepted)
    out = tmp_path / "export.json"

    export_write(project=first.project, format="coco", out_path=out, include_unreviewed=True)

    document = json.loads(out.read_text())
    assert [i["file_name"] for i in document["images"]] == ["a.png", "b.png"]
    assert [
        (a["image_id"], a["maskqc"]["label"], a["maskqc"]["reviewer"])
        for a in document["annotations"]
    ] == [
        (1, "accepted", "lead"),
        (1, "accepted", "lead"),
        (2, "unreviewed", None),
    ]


def test_export_write_include_unreviewed_prefers_the_consensus(
    project, bubble, annotator, other_annotator, tmp_path
):
    image = ImageFactory(project=project, name="a.png")
    add_submission(image, annotator, bubble, [disc(10, 10, 4)])
    add_submission(image, other_annotator, bubble, [disc(10, 10, 5)])
    ImageAgreement.objects.create(image=image, annotators=2, pq=0.75, consensus_method="majority")
    consensus = disc(10, 10, 4)
    x, y, w, h = masks.rle_bbox(consensus)
    ConsensusInstance.objects.create(
        image=image,
        label_class=bubble,
        rle=masks.rle_to_string(consensus),
        bbox_x=x,
        bbox_y=y,
        bbox_w=w,
        bbox_h=h,
        area=masks.rle_area(consensus),
        support=2,
    )
    out = tmp_path / "export.json"

    export_write(project=project, format="coco", out_path=out, include_unreviewed=True)

    annotations = json.loads(out.read_text())["annotations"]
    assert [(a["segmentation"]["counts"], a["maskqc"]) for a in annotations] == [
        (
            masks.rle_to_string(consensus),
            {
                "annotator": None,
                "reviewer": None,
                "agreement_pq": 0.75,
                "label": "unreviewed",
                "from": "consensus",
            },
        )
    ]


def test_export_write_consensus_label_exports_its_copied_instances(project, bubble, lead, tmp_path):
    image = ImageFactory(project=project, name="a.png")
    label = ImageLabel.objects.create(image=image, from_consensus=True, accepted_by=lead)
    rle = disc(30, 20, 7)
    x, y, w, h = masks.rle_bbox(rle)
    LabelInstance.objects.create(
        label=label,
        label_class=bubble,
        rle=masks.rle_to_string(rle),
        bbox_x=x,
        bbox_y=y,
        bbox_w=w,
        bbox_h=h,
        area=masks.rle_area(rle),
    )
    out = tmp_path / "export.json"

    export_write(project=project, format="coco", out_path=out)

    annotation = json.loads(out.read_text())["annotations"][0]
    assert (annotation["segmentation"]["counts"], annotation["maskqc"]["from"]) == (
        masks.rle_to_string(rle),
        "consensus",
    )
    assert (annotation["area"], annotation["bbox"]) == (masks.rle_area(rle), [x, y, w, h])


def test_export_write_empty_accepted_label_is_an_image_without_annotations(
    project, bubble, annotator, lead, tmp_path
):
    image = ImageFactory(project=project, name="a.png")
    submission = add_submission(image, annotator, bubble, [])
    review_decide(submission=submission, reviewer=lead, decision="accept")
    image_label_set(image=image, actor=lead, submission=submission)
    out = tmp_path / "export.json"

    summary = export_write(project=project, format="coco", out_path=out)

    document = json.loads(out.read_text())
    assert ([i["file_name"] for i in document["images"]], document["annotations"]) == (
        ["a.png"],
        [],
    )
    assert (summary.images, summary.annotations) == (1, 0)


def test_export_info_carries_project_filters_guidelines_and_export_id(two_images, lead, tmp_path):
    first, _, accepted = two_images
    review_decide(submission=accepted, reviewer=lead, decision="accept")
    image_label_set(image=first, actor=lead, submission=accepted)
    version = guideline_version_create(
        project=first.project,
        title="Bubbles",
        body="Rim.",
        author=lead,
        change_summary="Rim.",
        publish=True,
    )
    out = tmp_path / "export.json"

    export_write(
        project=first.project,
        format="coco",
        out_path=out,
        filters={"classes": ["bubble"]},
        export_id=17,
    )

    assert json.loads(out.read_text())["info"] == {
        "description": "MaskQC export of project Pool boiling",
        "contributor": "MaskQC",
        "version": "1",
        "project": {"slug": "bubbles", "name": "Pool boiling"},
        "export_id": 17,
        "labels": "accepted labels only",
        "filters": {"classes": ["bubble"], "include_unreviewed": False, "polygons": False},
        "guideline_versions": [
            {
                "guideline": "Bubbles",
                "number": 1,
                "published_at": version.published_at.isoformat(),
            }
        ],
    }


def test_export_write_class_filter_keeps_only_that_class(project, annotator, lead, tmp_path):
    bubble = LabelClassFactory(project=project, name="bubble")
    droplet = LabelClassFactory(project=project, name="droplet")
    image = ImageFactory(project=project, name="a.png")
    submission = add_submission(image, annotator, bubble, [disc(10, 10, 4)])
    Instance.objects.create(
        **{
            f: getattr(submission.instances.get(), f)
            for f in ("rle", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "area", "perimeter")
        },
        submission=submission,
        label_class=droplet,
        boundary_rle=submission.instances.get().boundary_rle,
        boundary_px=2,
    )
    review_decide(submission=submission, reviewer=lead, decision="accept")
    image_label_set(image=image, actor=lead, submission=submission)
    out = tmp_path / "export.json"

    export_write(project=project, format="coco", out_path=out, filters={"classes": ["droplet"]})

    document = json.loads(out.read_text())
    assert document["categories"] == [{"id": 2, "name": "droplet", "supercategory": ""}]
    assert [a["category_id"] for a in document["annotations"]] == [2]


def test_export_mask_png_writes_instance_and_class_pictures(two_images, lead, tmp_path):
    first, _, accepted = two_images
    review_decide(submission=accepted, reviewer=lead, decision="accept")
    image_label_set(image=first, actor=lead, submission=accepted)

    summary = export_write(project=first.project, format="mask-png", out_path=tmp_path / "m")

    instances = np.asarray(PILImage.open(tmp_path / "m" / "instances" / "a.png"))
    classes = np.asarray(PILImage.open(tmp_path / "m" / "classes" / "a.png"))
    expected = masks.rle_to_mask(disc(10, 10, 4)) * 1 + masks.rle_to_mask(disc(40, 20, 5)) * 2
    assert np.array_equal(instances, expected)
    assert np.array_equal(classes, (expected > 0) * 1)
    assert [f["path"] for f in summary.manifest] == [
        "classes/a.png",
        "instances/a.png",
        "labels.json",
        "maskqc_export.json",
    ]


# --------------------------------------------------------------------- refusals


def test_export_write_refuses_a_folder_that_is_not_empty(project, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")

    with pytest.raises(ApplicationError) as caught:
        export_write(project=project, format="supervisely", out_path=tmp_path / "out")

    assert caught.value.message == f"{tmp_path / 'out'} is a folder that is not empty."


def test_export_write_refuses_polygons_outside_coco(project, tmp_path):
    with pytest.raises(ApplicationError) as caught:
        export_write(project=project, format="mask-png", out_path=tmp_path / "m", polygons=True)

    assert caught.value.message == "Polygon output applies to COCO exports only."


def test_export_write_refuses_an_unknown_class(project, bubble, tmp_path):
    with pytest.raises(ApplicationError) as caught:
        export_write(
            project=project, format="coco", out_path=tmp_path / "a.json", filters={"classes": ["x"]}
        )

    assert caught.value.message == "Project bubbles has no class 'x'."
    assert not (tmp_path / "a.json").exists()


# --------------------------------------------------------------------- streaming


def accepted_images(project, bubble, annotator, lead, count: int) -> None:
    for index in range(count):
        image = ImageFactory(project=project, name=f"{index:03d}.png")
        submission = add_submission(image, annotator, bubble, [disc(10 + index, 10, 3)])
        review_decide(submission=submission, reviewer=lead, decision="accept")
        image_label_set(image=image, actor=lead, submission=submission)


@pytest.mark.parametrize("count", [1, 3])
def test_export_write_runs_a_fixed_number_of_queries(
    project, bubble, annotator, lead, tmp_path, count, django_assert_num_queries
):
    accepted_images(project, bubble, annotator, lead, count)

    # classes, images, images sent back, guideline versions; per chunk of images: labels,
    # agreement, instances
    with django_assert_num_queries(7):
        export_write(project=project, format="coco", out_path=tmp_path / "a.json")


def test_export_write_streams_annotations_to_the_writer(
    project, bubble, annotator, lead, tmp_path, monkeypatch
):
    accepted_images(project, bubble, annotator, lead, 3)
    monkeypatch.setattr(exports, "_IMAGE_CHUNK", 2)
    seen = {}
    real = exports.write_coco

    def spy(out, *, annotations, **kwargs):
        seen["generator"] = inspect.isgenerator(annotations)
        return real(out, annotations=annotations, **kwargs)

    monkeypatch.setattr(exports, "write_coco", spy)

    summary = export_write(project=project, format="coco", out_path=tmp_path / "a.json")

    assert (seen["generator"], summary.annotations) == (True, 3)


# ---------------------------------------------------------------------- export rows


def test_export_run_stores_the_file_with_sha256_manifest_and_counts(
    coco_project, lead, django_capture_on_commit_callbacks
):
    accept_all(coco_project, lead)

    with django_capture_on_commit_callbacks(execute=True):
        export = export_create(project=coco_project, actor=lead, format="supervisely")

    export.refresh_from_db()
    with export.file.open("rb") as handle:
        data = handle.read()
    assert (export.status, export.progress, export.error) == (JobStatus.DONE, 1.0, "")
    folder, token, name = export.file.name.split("/")
    assert (folder, len(token), name) == ("exports", 22, f"bubbles-export-{export.pk}.zip")
    assert export.sha256 == hashlib.sha256(data).hexdigest()
    assert export.counts == {
        "images": 4,
        "annotations": 46,
        "categories": 12,
        "rle_fallbacks": 0,
        "overlapping_pixels": 0,
        "sent_back": 0,
        "bytes": len(data),
    }
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {
            name: hashlib.sha256(archive.read(name)).hexdigest() for name in archive.namelist()
        }
        info = json.loads(archive.read("maskqc_export.json"))
    assert {f["path"]: f["sha256"] for f in export.manifest["files"]} == members
    assert info["export_id"] == export.pk


def test_export_run_records_a_refusal(project, lead, django_capture_on_commit_callbacks):
    LabelClassFactory(project=project, name="bubble")
    with django_capture_on_commit_callbacks(execute=True):
        export = export_create(
            project=project, actor=lead, format="coco", filters={"classes": ["bubble"]}
        )
    LabelClass.objects.filter(project=project).delete()
    export.status = JobStatus.PENDING
    export.save()

    exports.export_run(export_id=export.pk)

    export.refresh_from_db()
    assert (export.status, export.error) == (
        JobStatus.FAILED,
        "Project bubbles has no class 'bubble'.",
    )
    assert Export.objects.count() == 1


def test_export_create_refuses_an_unknown_format(project, lead):
    with pytest.raises(ApplicationError) as caught:
        export_create(project=project, actor=lead, format="voc")

    assert caught.value.message == (
        "Unknown export format 'voc'; choose one of coco, supervisely, mask-png."
    )
    assert Export.objects.count() == 0
