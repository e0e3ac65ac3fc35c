"""Annotation imports on the database (DESIGN §8): all or nothing, idempotent, hostile-safe.

Small files are written here so every expectation is computed by hand; the real third-party
files go through the commands in test_io_commands.py.
"""

from __future__ import annotations

import base64
import gc
import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image as PILImage
from pycocotools import mask as coco_mask

from projects.errors import ApplicationError
from projects.models import AuditEvent, Image, LabelClass, Membership, Role, Task, TaskStatus
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc.agreement import boundary_width, instance_features
from qc.models import ImageAgreement, ImportJob, Instance, JobStatus, Submission
from qc.services import import_reading, submissions
from qc.services.import_jobs import import_job_create
from qc.services.imports import ImportRefused, import_annotations
from tests.factories import ImageFactory, TaskFactory, UserFactory
from tests.qc.formats.cvat_reference import cvat_decode, cvat_runs

# ----------------------------------------------------------------------- file helpers


def square(x: float, y: float, size: float) -> list[float]:
    return [x, y, x + size, y, x + size, y + size, x, y + size]


def write_coco(folder: Path, *, images, annotations, categories=None, name="labels.json") -> Path:
    document = {
        "images": images,
        "annotations": annotations,
        "categories": categories or [{"id": 1, "name": "bubble"}],
    }
    path = folder / name
    path.write_text(json.dumps(document))
    return path


def coco_image(image_id: int, name: str, width: int = 64, height: int = 48) -> dict:
    return {"id": image_id, "file_name": name, "width": width, "height": height}


def coco_polygon(ann_id: int, image_id: int, polygon: list[float], category: int = 1) -> dict:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "segmentation": [polygon],
        "iscrowd": 0,
    }


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bitmap_object(crop: np.ndarray, origin: tuple[int, int], *, login: str, label="bubble"):
    data = base64.b64encode(zlib.compress(png_bytes(crop.astype(np.uint8) * 255))).decode()
    return {
        "geometryType": "bitmap",
        "classTitle": label,
        "labelerLogin": login,
        "bitmap": {"data": data, "origin": list(origin)},
    }


def write_supervisely(folder: Path, documents: dict[str, dict], classes=("bubble",)) -> Path:
    root = folder / "project"
    (root / "ds" / "ann").mkdir(parents=True)
    meta = {"classes": [{"title": c, "shape": "bitmap"} for c in classes], "tags": []}
    (root / "meta.json").write_text(json.dumps(meta))
    for image, document in documents.items():
        (root / "ds" / "ann" / f"{image}.json").write_text(json.dumps(document))
    return root


def sv_document(objects: list[dict], width: int = 64, height: int = 48) -> dict:
    return {"size": {"width": width, "height": height}, "tags": [], "objects": objects}


def blob(size: int = 6) -> np.ndarray:
    return np.ones((size, size), dtype=bool)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def assert_refused(error: ImportRefused, *, file: str, image, obj, reason: str) -> None:
    assert (error.file, error.image, error.object, error.reason) == (file, image, obj, reason)
    assert error.message == (
        f"{file}: image {image if image is not None else '(none)'}: "
        f"object {obj if obj is not None else '(none)'}: {reason}"
    )


# ----------------------------------------------------------------------- behaviour


def test_import_annotations_coco_writes_images_tasks_submissions_and_instances(
    tmp_path, project, bubble, annotator, lead
):
    polygon = square(10, 8, 12)
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png"), coco_image(2, "b.png")],
        annotations=[coco_polygon(7, 1, polygon), coco_polygon(8, 1, square(40, 20, 5))],
    )

    started = timezone.now()

    summary = import_annotations(
        project=project, path=path, format="coco", actor=lead, annotator="annotator"
    )

    assert summary.as_dict() == {
        "project": "bubbles",
        "format": "coco",
        "source_name": "labels.json",
        "checksum": summary.checksum,
        "already_imported": False,
        "images": 2,
        "images_created": 2,
        "annotators": ["annotator"],
        "users_created": [],
        "members_added": [],
        "labels_created": [],
        "tasks_created": 2,
        "revisions": 0,
        "submissions": 2,
        "empty_submissions": 1,
        "instances": 2,
        "skipped": {},
        "agreement_queued": 0,
    }
    assert len(summary.checksum) == 64
    assert sorted(Image.objects.filter(project=project).values_list("name", "width", "height")) == [
        ("a.png", 64, 48),
        ("b.png", 64, 48),
    ]
    tasks = Task.objects.filter(image__project=project).order_by("image__name")
    assert [(t.image.name, t.annotator.username, t.status) for t in tasks] == [
        ("a.png", "annotator", TaskStatus.SUBMITTED),
        ("b.png", "annotator", TaskStatus.SUBMITTED),
    ]
    submissions = Submission.objects.filter(task__image__project=project).order_by(
        "task__image__name"
    )
    assert [
        (s.revision, s.source_format, s.source_name, s.source_checksum, s.imported_by)
        for s in submissions
    ] == [(1, "coco", "labels.json", summary.checksum, lead)] * 2
    first = Instance.objects.filter(submission=submissions[0]).order_by("pk").first()
    expected = masks.rle_from_polygons([polygon], height=48, width=64)
    features = instance_features(
        expected, boundary_px=boundary_width(height=48, width=64, boundary_px=None)
    )
    assert first.rle == masks.rle_to_string(expected)
    assert (first.label_class, first.area, first.bbox_x, first.bbox_y, first.bbox_w) == (
        bubble,
        features.area,
        10,
        8,
        12,
    )
    assert first.boundary_rle == masks.rle_to_string(features.boundary_rle)
    assert first.polygon == {"parts": [polygon], "holes": []}
    assert first.attributes == {"iscrowd": 0}
    assert Instance.objects.filter(submission=submissions[1]).count() == 0
    events = AuditEvent.objects.filter(project=project)
    assert sorted(events.values_list("verb", flat=True)) == sorted(
        ["image.create"] * 2
        + ["task.create"] * 2
        + ["submission.create"] * 2
        + ["annotations.import"]
    )
    created = events.get(verb="submission.create", object_id=str(submissions[0].pk))
    assert started <= created.created_at <= timezone.now()
    assert (created.actor, created.object_type, created.after["instances"]) == (
        lead,
        "qc.submission",
        2,
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_import_annotations_leaves_the_cycle_collector_as_it_found_it(
    tmp_path, project, bubble, annotator, lead, enabled
):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png")],
        annotations=[coco_polygon(7, 1, square(10, 8, 12))],
    )
    was_enabled = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        import_annotations(
            project=project, path=path, format="coco", actor=lead, annotator="annotator"
        )
        after = gc.isenabled()
    finally:
        (gc.enable if was_enabled else gc.disable)()

    assert after is enabled


def _results(folder: Path, results: list[dict], name: str = "results.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(results))
    return path


def _result(image_id: int, category: int = 1) -> dict:
    mask = np.zeros((48, 64), dtype=bool)
    mask[5:15, 5:15] = True
    rle = masks.rle_from_mask(mask)
    return {
        "image_id": image_id,
        "category_id": category,
        "segmentation": {"size": [48, 64], "counts": rle["counts"].decode()},
        "score": 0.5,
    }


def test_import_annotations_coco_results_refused_when_two_files_gave_ids(
    tmp_path, project, bubble, annotator, lead
):
    # Arrange: two COCO files that both number their (different) images from 1
    for name, image in (("a.json", "a1.png"), ("b.json", "b1.png")):
        path = write_coco(
            tmp_path,
            images=[coco_image(1, image)],
            annotations=[coco_polygon(1, 1, square(10, 8, 12))],
            name=name,
        )
        import_annotations(
            project=project, path=path, format="coco", actor=lead, annotator="annotator"
        )
    before = Instance.objects.count()

    # Act
    with pytest.raises(ImportRefused) as caught:
        import_annotations(
            project=project,
            path=_results(tmp_path, [_result(1)]),
            format="coco",
            actor=lead,
            annotator="other_annotator",
        )

    # Assert: refused, not matched to either file's image 1
    assert caught.value.reason == (
        "a COCO results file names images by id, and the images of project bubbles have "
        "COCO ids from 2 different files; pass --images-from with the instances file this "
        "one belongs to"
    )
    assert Instance.objects.count() == before


def test_import_annotations_coco_results_refuse_a_category_the_dataset_did_not_name(
    tmp_path, project, bubble, annotator, lead
):
    # Arrange: a dataset of one image and class 1 ("bubble"), then results for class 7
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a1.png")],
        annotations=[coco_polygon(1, 1, square(10, 8, 12))],
    )
    import_annotations(project=project, path=path, format="coco", actor=lead, annotator="annotator")

    # Act
    with pytest.raises(ImportRefused) as caught:
        import_annotations(
            project=project,
            path=_results(tmp_path, [_result(1), _result(1, category=7)]),
            format="coco",
            actor=lead,
            annotator="other_annotator",
            create_labels=True,
        )

    # Assert: named, and no class "7" made up
    assert (caught.value.image, caught.value.object, caught.value.reason) == (
        "a1.png",
        "[1]",
        "category_id 7 is not among the known categories",
    )
    assert list(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == [
        "bubble"
    ]


def test_import_annotations_summary_line_reads_as_one_sentence(
    tmp_path, project, bubble, annotator
):
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png")], annotations=[coco_polygon(1, 1, square(1, 1, 4))]
    )

    summary = import_annotations(
        project=project, path=path, format="coco", actor=None, annotator="annotator"
    )

    assert summary.line() == (
        f"bubbles: coco 'labels.json' (sha256 {summary.checksum[:12]}): 1 image (1 created), "
        "1 annotator, 1 submission (0 empty, 0 new revisions of open tasks), 1 instance; "
        "skipped: none."
    )


def test_import_annotations_same_source_again_changes_nothing_and_says_so(
    tmp_path, project, bubble, annotator
):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png"), coco_image(2, "b.png")],
        annotations=[coco_polygon(1, 1, square(1, 1, 4))],
    )
    first = import_annotations(
        project=project, path=path, format="coco", actor=None, annotator="annotator"
    )
    before = row_counts()

    again = import_annotations(
        project=project, path=path, format="coco", actor=None, annotator="annotator"
    )

    assert row_counts() == before
    assert (again.already_imported, again.submissions, again.checksum) == (
        True,
        2,
        first.checksum,
    )
    assert again.line() == (
        f"bubbles: coco 'labels.json' (sha256 {first.checksum[:12]}) was already imported: "
        "2 submissions come from it; nothing changed."
    )


def test_import_annotations_same_folder_with_another_pattern_is_another_import(
    tmp_path, project, annotator
):
    folder = tmp_path / "masks"
    for kind in ("original", "fixed"):
        (folder / "img1" / kind).mkdir(parents=True)
        mask = np.zeros((20, 30), np.uint8)
        mask[2:8, 3:9] = 255
        (folder / "img1" / kind / "n1.png").write_bytes(png_bytes(mask))
    LabelClass.objects.create(project=project, name="object")

    original = import_annotations(
        project=project,
        path=folder,
        format="mask-png",
        actor=None,
        annotator="original",
        create_users=True,
        options={"pattern": "{image}/original/{instance}.png"},
    )
    fixed = import_annotations(
        project=project,
        path=folder,
        format="mask-png",
        actor=None,
        annotator="fixed",
        create_users=True,
        options={"pattern": "{image}/fixed/{instance}.png"},
    )

    assert original.checksum != fixed.checksum
    assert (original.submissions, fixed.submissions, fixed.already_imported) == (1, 1, False)


def test_import_annotations_supervisely_labelers_get_submissions_only_where_they_drew(
    tmp_path, project, bubble, annotator, other_annotator
):
    root = write_supervisely(
        tmp_path,
        {
            "a.png": sv_document([bitmap_object(blob(), (2, 3), login="annotator")]),
            "b.png": sv_document([bitmap_object(blob(), (9, 9), login="other_annotator")]),
            "c.png": sv_document([]),
        },
    )

    summary = import_annotations(project=project, path=root, format="supervisely", actor=None)

    pairs = Task.objects.filter(image__project=project).values_list(
        "image__name", "annotator__username"
    )
    assert sorted(pairs) == [("a.png", "annotator"), ("b.png", "other_annotator")]
    assert (summary.images, summary.submissions, summary.empty_submissions) == (3, 2, 0)
    # Bitmaps have no source polygon: SQL NULL, not JSON null.
    stored = Instance.objects.filter(submission__task__image__project=project)
    assert (stored.filter(polygon__isnull=True).count(), stored.count()) == (2, 2)


def test_import_annotations_labelers_saw_all_images_gives_empty_submissions(
    tmp_path, project, bubble, annotator, other_annotator
):
    root = write_supervisely(
        tmp_path,
        {
            "a.png": sv_document([bitmap_object(blob(), (2, 3), login="annotator")]),
            "b.png": sv_document([bitmap_object(blob(), (9, 9), login="other_annotator")]),
            "c.png": sv_document([]),
        },
    )

    summary = import_annotations(
        project=project,
        path=root,
        format="supervisely",
        actor=None,
        labelers_saw_all_images=True,
    )

    pairs = Task.objects.filter(image__project=project).values_list(
        "image__name", "annotator__username"
    )
    assert sorted(pairs) == [
        (image, user)
        for image in ("a.png", "b.png", "c.png")
        for user in ("annotator", "other_annotator")
    ]
    assert (summary.submissions, summary.empty_submissions) == (6, 4)


def test_import_annotations_annotator_overrides_labeler_login_for_every_image(
    tmp_path, project, bubble, annotator
):
    root = write_supervisely(
        tmp_path,
        {
            "a.png": sv_document(
                [
                    bitmap_object(blob(), (2, 3), login="somebody"),
                    bitmap_object(blob(), (20, 20), login="someone_else"),
                ]
            ),
            "b.png": sv_document([]),
        },
    )

    summary = import_annotations(
        project=project, path=root, format="supervisely", actor=None, annotator="annotator"
    )

    submissions = Submission.objects.filter(task__image__project=project).order_by(
        "task__image__name"
    )
    assert [
        (s.task.image.name, s.task.annotator.username, s.instances.count()) for s in submissions
    ] == [
        ("a.png", "annotator", 2),
        ("b.png", "annotator", 0),
    ]
    assert summary.annotators == ["annotator"]


def test_import_annotations_open_task_gets_the_next_revision(tmp_path, project, bubble, annotator):
    image = ImageFactory(project=project, name="a.png", width=64, height=48)
    task = TaskFactory(image=image, annotator=annotator, status=TaskStatus.REJECTED)
    Submission.objects.create(task=task, revision=1)
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png")], annotations=[coco_polygon(1, 1, square(1, 1, 4))]
    )

    summary = import_annotations(
        project=project, path=path, format="coco", actor=None, annotator="annotator"
    )

    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED
    assert list(task.submissions.values_list("revision", flat=True).order_by("revision")) == [1, 2]
    assert (summary.tasks_created, summary.revisions, summary.images_created) == (0, 1, 0)


def test_import_annotations_submitted_task_is_refused_and_nothing_changes(
    tmp_path, project, bubble, annotator
):
    image = ImageFactory(project=project, name="a.png", width=64, height=48)
    TaskFactory(image=image, annotator=annotator, status=TaskStatus.SUBMITTED)
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "new.png"), coco_image(2, "a.png")],
        annotations=[coco_polygon(5, 2, square(1, 1, 4))],
    )
    before = row_counts()

    with pytest.raises(ImportRefused) as caught:
        import_annotations(
            project=project, path=path, format="coco", actor=None, annotator="annotator"
        )

    assert row_counts() == before
    assert_refused(
        caught.value,
        file="labels.json",
        image="a.png",
        obj="annotations[0] (id 5)",
        reason="annotator already has a submitted task on this image; only assigned, "
        "in-progress or rejected tasks take a new revision",
    )


def test_import_annotations_create_users_makes_them_annotators(tmp_path, project, bubble):
    elsewhere = UserFactory(username="visitor")
    root = write_supervisely(
        tmp_path,
        {
            "a.png": sv_document(
                [
                    bitmap_object(blob(), (2, 3), login="newcomer"),
                    bitmap_object(blob(), (20, 20), login="visitor"),
                ]
            )
        },
    )

    summary = import_annotations(
        project=project, path=root, format="supervisely", actor=None, create_users=True
    )

    roles = Membership.objects.filter(project=project).values_list("user__username", "role")
    assert sorted(roles) == [("newcomer", Role.ANNOTATOR), ("visitor", Role.ANNOTATOR)]
    assert (summary.users_created, summary.members_added) == (["newcomer"], ["visitor"])
    assert Membership.objects.get(project=project, user=elsewhere).role == Role.ANNOTATOR


def test_import_annotations_create_labels_creates_missing_classes(tmp_path, project, annotator):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png")],
        annotations=[
            coco_polygon(1, 1, square(1, 1, 4), 3),
            coco_polygon(2, 1, square(9, 9, 4), 9),
        ],
        categories=[{"id": 3, "name": "bubble"}, {"id": 9, "name": "droplet"}],
    )

    summary = import_annotations(
        project=project,
        path=path,
        format="coco",
        actor=None,
        annotator="annotator",
        create_labels=True,
    )

    assert summary.labels_created == ["bubble", "droplet"]
    assert sorted(LabelClass.objects.filter(project=project).values_list("name", flat=True)) == [
        "bubble",
        "droplet",
    ]
    labels = Instance.objects.filter(submission__task__image__project=project).order_by("pk")
    assert [i.label_class.name for i in labels] == ["bubble", "droplet"]


def test_import_annotations_checks_the_rules_and_records_the_versions_acknowledged(
    tmp_path, project, bubble, annotator, other_annotator, lead
):
    rules = [{"rule": "min_area_px", "value": 20, "severity": "block"}]
    v1 = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Draw bubbles.",
        author=lead,
        change_summary="What changed.",
        publish=True,
    )
    v2 = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Draw them.",
        author=lead,
        rules=rules,
        change_summary="What changed.",
        publish=True,
    )
    guideline_acknowledge(version=v1, user=other_annotator)
    tiny = [coco_polygon(1, 1, square(1, 1, 4))]
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    first = write_coco(tmp_path / "a", images=[coco_image(1, "a.png")], annotations=tiny)
    second = write_coco(tmp_path / "b", images=[coco_image(1, "b.png")], annotations=tiny)

    for path, who in [(first, "annotator"), (second, "other_annotator")]:
        import_annotations(project=project, path=path, format="coco", actor=lead, annotator=who)

    # Work drawn elsewhere counts under the version its annotator had read, if any; the
    # rules in force now are checked on it all the same.
    unread = Submission.objects.get(task__annotator=annotator)
    read_v1 = Submission.objects.get(task__annotator=other_annotator)
    assert list(unread.guideline_versions.all()) == []
    assert list(read_v1.guideline_versions.all()) == [v1]
    assert v2 not in read_v1.guideline_versions.all()
    for submission in (unread, read_v1):
        assert [v["rule"] for v in submission.rule_violations] == ["min_area_px"]


def test_import_annotations_queues_agreement_once_per_image_with_two_submissions(
    tmp_path, project, bubble, annotator, other_annotator, django_capture_on_commit_callbacks
):
    root = write_supervisely(
        tmp_path,
        {
            "a.png": sv_document(
                [
                    bitmap_object(blob(), (2, 3), login="annotator"),
                    bitmap_object(blob(), (2, 3), login="other_annotator"),
                ]
            ),
            "b.png": sv_document([bitmap_object(blob(), (9, 9), login="annotator")]),
        },
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        summary = import_annotations(project=project, path=root, format="supervisely", actor=None)

    assert (len(callbacks), summary.agreement_queued) == (1, 1)
    agreement = ImageAgreement.objects.get(image__project=project)
    assert (agreement.image.name, agreement.annotators, agreement.pq) == ("a.png", 2, 1.0)


def test_import_annotations_progress_is_reported_in_steps_up_to_one(
    tmp_path, project, bubble, annotator
):
    path = write_coco(
        tmp_path,
        images=[coco_image(i, f"{i}.png") for i in range(1, 41)],
        annotations=[coco_polygon(i, i, square(1, 1, 4)) for i in range(1, 41)],
    )
    calls: list[tuple[float, str]] = []

    import_annotations(
        project=project,
        path=path,
        format="coco",
        actor=None,
        annotator="annotator",
        progress=lambda fraction, message: calls.append((fraction, message)),
    )

    fractions = [fraction for fraction, _ in calls]
    assert fractions == sorted(fractions)
    assert (fractions[0], fractions[-1], calls[-1][1]) == (0.0, 1.0, "done")
    assert len(calls) <= 60


def test_import_annotations_bitmap_features_equal_those_measured_from_the_stored_rle(
    tmp_path, project, bubble, annotator
):
    # The import measures a bitmap from the pixels it decoded, not from the RLE; the stored
    # features must be exactly what instance_features gives for the stored mask, also for
    # bitmaps hanging over each edge of the image (clipped) and with a hole.
    ring = np.ones((9, 7), dtype=bool)
    ring[3:6, 2:5] = False
    origins = [(20, 10), (-3, 5), (60, 30), (10, -4), (40, 43), (-2, -2), (58, 41)]
    root = write_supervisely(
        tmp_path,
        {"a.png": sv_document([bitmap_object(ring, o, login="annotator") for o in origins])},
    )

    import_annotations(project=project, path=root, format="supervisely", actor=None, workers=1)

    stored = Instance.objects.filter(submission__task__image__project=project).order_by("pk")
    assert stored.count() == len(origins)
    for instance in stored:
        rle = masks.rle_from_string(instance.rle, height=48, width=64)
        features = instance_features(rle, boundary_px=instance.boundary_px)
        bbox = (instance.bbox_x, instance.bbox_y, instance.bbox_w, instance.bbox_h)
        assert (instance.area, bbox, instance.perimeter, instance.boundary_rle) == (
            features.area,
            features.bbox,
            features.perimeter,
            masks.rle_to_string(features.boundary_rle),
        )


def test_import_annotations_worker_processes_give_the_serial_result(
    tmp_path, project, annotator, other_annotator, monkeypatch
):
    # Tiny thresholds send a small project through the sharded reader and the chunked
    # feature pool, so both parallel paths are compared with the serial one.
    monkeypatch.setattr(import_reading, "_PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(import_reading, "_PARALLEL_MIN_OBJECTS", 2)
    monkeypatch.setattr(import_reading, "_CHUNK_OBJECTS", 3)
    documents = {
        f"{i:02d}.png": sv_document(
            [
                bitmap_object(blob(3 + i % 4), (i, 2 * i), login="annotator"),
                bitmap_object(blob(4), (30, i), login="other_annotator"),
            ]
        )
        for i in range(7)
    }
    root = write_supervisely(tmp_path, documents)
    coco = write_coco(
        tmp_path,
        images=[coco_image(i, f"{i:02d}.png") for i in range(7)],
        annotations=[coco_polygon(i, i, square(i, i, 5)) for i in range(7)],
    )
    projects = {}
    for workers in (1, 2):
        target = type(project).objects.create(slug=f"w{workers}", name=f"w{workers}")
        LabelClass.objects.create(project=target, name="bubble")
        import_annotations(
            project=target, path=root, format="supervisely", actor=None, workers=workers
        )
        import_annotations(
            project=target,
            path=coco,
            format="coco",
            actor=None,
            annotator="coco",
            create_users=True,
            workers=workers,
        )
        projects[workers] = sorted(
            Instance.objects.filter(submission__task__image__project=target).values_list(
                "submission__task__image__name",
                "submission__task__annotator__username",
                "rle",
                "boundary_rle",
                "perimeter",
                "polygon",
            )
        )

    assert len(projects[1]) == 21
    assert projects[2] == projects[1]


# --------------------------------------------------------------------- import jobs


def test_import_job_run_completes_with_progress_one_and_the_summary(
    tmp_path, project, bubble, annotator, lead, django_capture_on_commit_callbacks
):
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png")], annotations=[coco_polygon(1, 1, square(1, 1, 4))]
    )
    upload = SimpleUploadedFile("labels.json", path.read_bytes())

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=upload,
            format="coco",
            options={"annotator": "annotator"},
        )

    job.refresh_from_db()
    assert (job.status, job.progress, job.error) == (JobStatus.DONE, 1.0, "")
    assert job.finished_at is not None
    assert (job.summary["submissions"], job.summary["instances"], job.summary["source_name"]) == (
        1,
        1,
        "labels.json",
    )
    assert job.message == (
        f"bubbles: coco 'labels.json' (sha256 {job.summary['checksum'][:12]}): 1 image "
        "(1 created), 1 annotator, 1 submission (0 empty, 0 new revisions of open tasks), "
        "1 instance; skipped: none."
    )
    assert Submission.objects.get(task__image__project=project).imported_by == lead


def test_import_job_run_supervisely_zip_upload(
    tmp_path, project, bubble, annotator, lead, django_capture_on_commit_callbacks
):
    root = write_supervisely(
        tmp_path, {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="annotator")])}
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(root.rglob("*")):
            if file.is_file():
                archive.write(file, f"project/{file.relative_to(root).as_posix()}")

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("team.zip", buffer.getvalue()),
            format="supervisely",
        )

    job.refresh_from_db()
    assert (job.status, job.summary["instances"], job.summary["annotators"]) == (
        JobStatus.DONE,
        1,
        ["annotator"],
    )


def test_import_job_run_records_the_error_and_writes_nothing(
    tmp_path, project, bubble, lead, django_capture_on_commit_callbacks
):
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png")], annotations=[coco_polygon(1, 1, square(1, 1, 4))]
    )
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("labels.json", path.read_bytes()),
            format="coco",
            options={"annotator": "nobody"},
        )

    job.refresh_from_db()
    assert (job.status, job.message) == (JobStatus.FAILED, "failed")
    assert job.error == (
        "labels.json: image a.png: object annotations[0] (id 1): annotator 'nobody' is not a "
        "user; pass --create-users to create them"
    )
    after = row_counts()
    # Only the job itself and the audit event of its creation were added.
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        "qc.ImportJob": 1,
        "projects.AuditEvent": 1,
    }


def test_import_job_create_refuses_server_path_options(project, lead):
    with pytest.raises(ApplicationError) as caught:
        import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("results.json", b"[]"),
            format="coco",
            options={"images_from": "/etc/passwd"},
        )

    assert caught.value.message == (
        "Option 'images_from' names a server path and is not accepted here."
    )
    assert ImportJob.objects.count() == 0


# ------------------------------------------------------------ imports that store nothing


def ls_polygon(points: list[list[float]], *, sized: bool = True) -> dict:
    """A Label Studio polygon result, in percent of a 64 x 48 image (the size given or not)."""
    result = {
        "type": "polygonlabels",
        "value": {"points": points, "polygonlabels": ["bubble"]},
    }
    return {**result, "original_width": 64, "original_height": 48} if sized else result


def write_label_studio(folder: Path, tasks: list[dict], name: str = "tasks.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(tasks))
    return path


def ls_task(image: str, results: list[dict]) -> dict:
    return {
        "id": 1,
        "data": {"image": f"/data/upload/1/{image}"},
        "annotations": [{"completed_by": {"username": "annotator"}, "result": results}],
    }


TRIANGLE = [[10.0, 10.0], [50.0, 10.0], [30.0, 60.0]]


def test_import_annotations_label_studio_image_size_imports_what_was_skipped(
    tmp_path, project, bubble, annotator
):
    path = write_label_studio(tmp_path, [ls_task("a.png", [ls_polygon(TRIANGLE, sized=False)])])

    summary = import_annotations(
        project=project,
        path=path,
        format="label-studio",
        actor=None,
        options={"image_size": [64, 48]},
    )

    assert (summary.images, summary.submissions, summary.instances, summary.skipped) == (
        1,
        1,
        1,
        {},
    )
    assert Image.objects.get(project=project).name == "a.png"


def test_import_annotations_summary_names_the_option_for_what_it_skipped(
    tmp_path, project, bubble, annotator
):
    path = write_label_studio(
        tmp_path,
        [
            ls_task("a.png", [ls_polygon(TRIANGLE)]),
            ls_task("b.png", [ls_polygon(TRIANGLE, sized=False)]),
        ],
    )

    summary = import_annotations(project=project, path=path, format="label-studio", actor=None)

    assert (summary.instances, summary.skipped) == (1, {"annotation without image size": 1})
    assert summary.line() == (
        f"bubbles: label-studio 'tasks.json' (sha256 {summary.checksum[:12]}): 1 image "
        "(1 created), 1 annotator, 1 submission (0 empty, 0 new revisions of open tasks), "
        "1 instance; skipped: annotation without image size 1 (pass --image-size WIDTHxHEIGHT)."
    )


def test_import_annotations_mask_files_with_nothing_drawn_are_empty_submissions(
    tmp_path, project, annotator
):
    # Every mask is empty: the annotator looked at both images and found nothing there,
    # which is two empty submissions (DESIGN §4.6), not an import that lost its objects
    folder = tmp_path / "masks"
    folder.mkdir()
    for name in ("f1", "f2"):
        (folder / f"{name}.png").write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    LabelClass.objects.create(project=project, name="object")

    summary = import_annotations(
        project=project,
        path=folder,
        format="mask-png",
        actor=None,
        annotator="annotator",
        options={"pattern": "{image}.png"},
    )

    assert (summary.submissions, summary.empty_submissions, summary.instances) == (2, 2, 0)
    assert Submission.objects.filter(task__annotator=annotator).count() == 2
    assert Instance.objects.count() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_folder_whose_objects_are_all_skipped_is_refused_sharded_or_not(
    tmp_path, project, bubble, annotator, monkeypatch, counts_unchanged, workers
):
    monkeypatch.setattr(import_reading, "_PARALLEL_MIN_FILES", 2)
    point = {"geometryType": "point", "classTitle": "bubble", "labelerLogin": "annotator"}
    root = write_supervisely(tmp_path, {f"{i:02d}.png": sv_document([point]) for i in range(5)})

    error = refused(project=project, path=root, format="supervisely", workers=workers)

    assert_refused(
        error,
        file="project",
        image="00.png",
        obj="ds/ann/00.png.json object 0",
        reason="nothing to import, every object was skipped: point 5",
    )


def test_import_annotations_file_of_images_without_objects_gives_empty_submissions(
    tmp_path, project, bubble, annotator
):
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png"), coco_image(2, "b.png")], annotations=[]
    )

    summary = import_annotations(
        project=project, path=path, format="coco", actor=None, annotator="annotator"
    )

    assert (summary.submissions, summary.empty_submissions, summary.instances) == (2, 2, 0)
    assert summary.line().endswith("0 instances; skipped: none.")
    assert Submission.objects.filter(task__image__project=project).count() == 2


def test_import_job_run_fails_when_every_object_was_skipped(
    tmp_path, project, bubble, annotator, lead, django_capture_on_commit_callbacks
):
    path = write_label_studio(tmp_path, [ls_task("a.png", [ls_polygon(TRIANGLE, sized=False)])])
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("tasks.json", path.read_bytes()),
            format="label-studio",
        )

    job.refresh_from_db()
    assert (job.status, job.message, job.summary) == (JobStatus.FAILED, "failed", {})
    assert job.error == (
        "tasks.json: image a.png: object task [0] (id 1) annotation 0: nothing to import, every "
        "object was skipped: annotation without image size 1 (pass --image-size WIDTHxHEIGHT)"
    )
    after = row_counts()
    # Only the job itself and the audit event of its creation were added.
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {
        "qc.ImportJob": 1,
        "projects.AuditEvent": 1,
    }


# ------------------------------------------------------------------------ CVAT masks


def write_cvat(folder: Path, masks_by_image: dict[str, list], size=(64, 48)) -> Path:
    """A CVAT for images 1.1 task export with ``<mask>`` shapes: (runs, box) per image."""
    images = ""
    for index, (name, shapes) in enumerate(masks_by_image.items()):
        images += f'<image id="{index}" name="{name}" width="{size[0]}" height="{size[1]}">'
        for runs, (left, top, width, height) in shapes:
            images += (
                f'<mask label="bubble" source="semi-auto" occluded="0" '
                f'rle="{", ".join(map(str, runs))}" left="{left}" top="{top}" '
                f'width="{width}" height="{height}" z_order="0"></mask>'
            )
        images += "</image>"
    path = folder / "annotations.xml"
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version>{images}'
        "</annotations>"
    )
    return path


# pycocotools 2.0.11 decodes through a numpy-1 array protocol; numpy 2 warns on every call.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_import_annotations_cvat_masks_without_their_final_background_run(
    tmp_path, project, bubble, annotator
):
    rows, cols = np.mgrid[0:27, 0:27]
    disc = (rows - 12) ** 2 + (cols - 13) ** 2 <= 12**2
    ring = disc & ((rows - 12) ** 2 + (cols - 13) ** 2 > 5**2)
    step = np.zeros((6, 9), dtype=bool)
    step[1, 2:], step[2:4, 5:] = True, True
    shapes = {
        "a.png": [(cvat_runs(disc), (30, 10, 27, 27)), (cvat_runs(step), (0, 0, 9, 6))],
        "b.png": [(cvat_runs(ring), (2, 20, 27, 27))],
    }
    # Every box has background after its last foreground pixel, left out of the runs.
    assert [w * h - sum(r) for r, (_, _, w, h) in (*shapes["a.png"], *shapes["b.png"])] == [
        2 * 27 + 13,
        2 * 9,
        2 * 27 + 13,
    ]
    path = write_cvat(tmp_path, shapes)

    summary = import_annotations(
        project=project, path=path, format="cvat", actor=None, annotator="annotator"
    )

    assert (summary.images, summary.submissions, summary.instances) == (2, 2, 3)
    stored = Instance.objects.filter(submission__task__image__project=project).order_by(
        "submission__task__image__name", "id"
    )
    expected = [cvat_decode(runs, box, (64, 48)) for runs, box in shapes["a.png"]] + [
        cvat_decode(runs, box, (64, 48)) for runs, box in shapes["b.png"]
    ]
    decoded = [
        coco_mask.decode({"size": [48, 64], "counts": i.rle.encode()}).astype(bool) for i in stored
    ]
    assert len(decoded) == 3
    for mask, want in zip(decoded, expected, strict=True):
        assert np.array_equal(mask, want)
    assert [i.area for i in stored] == [int(m.sum()) for m in expected]


# ------------------------------------------------------------------ hostile input


@pytest.fixture
def counts_unchanged(db):
    """Fails the test when it leaves any table with another row count."""
    before = row_counts()
    yield
    assert row_counts() == before


def refused(**kwargs) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        import_annotations(actor=None, **kwargs)
    return caught.value


def raw_bitmap_document(data: str) -> dict:
    """A Supervisely document of one bitmap object whose data is given as is."""
    return sv_document(
        [
            {
                "geometryType": "bitmap",
                "classTitle": "bubble",
                "labelerLogin": "annotator",
                "bitmap": {"data": data, "origin": [0, 0]},
            }
        ]
    )


def write_truncated_json(tmp_path: Path) -> Path:
    path = tmp_path / "cut.json"
    path.write_text('{"images": [{"id": 1, "file_name": "a.png", "width": 64, "heig')
    return path


def write_png_bomb(tmp_path: Path) -> Path:
    # A valid PNG header declaring 50000 x 50000 pixels, with almost no data behind it.
    header = png_bytes(np.zeros((1, 1), np.uint8))
    ihdr = bytearray(header)
    ihdr[16:24] = (50000).to_bytes(4, "big") + (50000).to_bytes(4, "big")
    crc = zlib.crc32(bytes(ihdr[12:29])).to_bytes(4, "big")
    ihdr[29:33] = crc
    data = base64.b64encode(zlib.compress(bytes(ihdr))).decode()
    return write_supervisely(tmp_path, {"a.png": raw_bitmap_document(data)})


def write_cvat_runs_overflowing_the_box(tmp_path: Path) -> Path:
    step = np.zeros((6, 9), dtype=bool)
    step[1, 2:] = True
    overflowing = [*cvat_runs(step), 6 * 9 - sum(cvat_runs(step)), 1]
    return write_cvat(
        tmp_path,
        {"a.png": [(cvat_runs(step), (0, 0, 9, 6))], "b.png": [(overflowing, (3, 4, 9, 6))]},
    )


def write_boxes_without_segmentation(tmp_path: Path) -> Path:
    # Boxes without segmentation: importing the images alone would record the annotator's
    # boxes as empty submissions.
    box = {"id": 5, "image_id": 2, "category_id": 1, "bbox": [1, 1, 4, 4], "segmentation": []}
    return write_coco(
        tmp_path,
        images=[coco_image(1, "a.png"), coco_image(2, "b.png")],
        annotations=[box, {**box, "id": 6}],
    )


COCO = {"format": "coco", "annotator": "annotator"}
SUPERVISELY = {"format": "supervisely"}
SV_OBJECT = "ds/ann/a.png.json object 0"


@pytest.mark.parametrize(
    ("write", "arguments", "file", "image", "obj", "reason"),
    [
        pytest.param(
            write_truncated_json,
            COCO,
            "cut.json",
            None,
            None,
            "invalid JSON: Unterminated string starting at at line 1 column 58",
            id="truncated_json",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path,
                images=[coco_image(1, "a.png")],
                annotations=[{**coco_polygon(3, 1, square(1, 1, 4)), "category_id": "1"}],
            ),
            COCO,
            "labels.json",
            "a.png",
            "annotations[0] (id 3)",
            "field 'category_id' must be an integer, got string",
            id="wrong_types",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path,
                images=[coco_image(1, "a.png")],
                annotations=[coco_polygon(3, 1, [0, 0, 4, 4])],
            ),
            COCO,
            "labels.json",
            "a.png",
            "annotations[0] (id 3)",
            "polygon has 2 point(s); at least 3 are needed",
            id="polygon_with_two_points",
        ),
        pytest.param(
            lambda tmp_path: write_supervisely(
                tmp_path,
                {"a.png": sv_document([bitmap_object(blob(), (64, 10), login="annotator")])},
            ),
            SUPERVISELY,
            "project/ds/ann/a.png.json",
            "a.png",
            SV_OBJECT,
            "bitmap at origin [64, 10] of size 6x6 lies outside the 64x48 image",
            id="bitmap_origin_outside_the_image",
        ),
        pytest.param(
            write_png_bomb,
            SUPERVISELY,
            "project/ds/ann/a.png.json",
            "a.png",
            SV_OBJECT,
            "PNG is 50000x50000 = 2500000000 pixels, over the limit of 100000000",
            id="png_bomb",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path, images=[coco_image(1, "huge.png", 20000, 10000)], annotations=[]
            ),
            COCO,
            "labels.json",
            "huge.png",
            None,
            "image is 20000x10000 = 200000000 pixels, over the limit of 100000000",
            id="image_over_the_pixel_limit",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path,
                images=[coco_image(1, "a.png")],
                annotations=[
                    {
                        "id": 4,
                        "image_id": 1,
                        "category_id": 1,
                        "iscrowd": 1,
                        "segmentation": {"size": [48, 64], "counts": [100, 20, 100]},
                    }
                ],
            ),
            COCO,
            "labels.json",
            "a.png",
            "annotations[0] (id 4)",
            "RLE counts sum to 220, not height x width = 48x64 = 3072",
            id="rle_counts_not_summing",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path,
                images=[coco_image(1, "a.png")],
                annotations=[
                    coco_polygon(1, 1, square(1, 1, 4)),
                    coco_polygon(2, 1, square(9, 9, 4), 2),
                ],
                categories=[{"id": 1, "name": "bubble"}, {"id": 2, "name": "droplet"}],
            ),
            COCO,
            "labels.json",
            "a.png",
            "annotations[1] (id 2)",
            "class 'droplet' is not in project bubbles; pass --create-labels to create it",
            id="unknown_class_without_create_labels",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path, images=[coco_image(1, "a.png"), coco_image(2, "a.png")], annotations=[]
            ),
            COCO,
            "labels.json",
            "a.png",
            None,
            "duplicate image name (also in images[0])",
            id="duplicate_image_names",
        ),
        pytest.param(
            lambda tmp_path: write_label_studio(
                tmp_path, [ls_task("a.png", [ls_polygon(TRIANGLE, sized=False)])]
            ),
            {"format": "label-studio"},
            "tasks.json",
            "a.png",
            "task [0] (id 1) annotation 0",
            "nothing to import, every object was skipped: annotation without image size 1 "
            "(pass --image-size WIDTHxHEIGHT)",
            id="label_studio_results_without_a_size_naming_the_option",
        ),
        pytest.param(
            write_boxes_without_segmentation,
            COCO,
            "labels.json",
            "b.png",
            "annotations[0] (id 5)",
            "nothing to import, every object was skipped: no_segmentation 2",
            id="file_whose_objects_are_all_skipped",
        ),
        pytest.param(
            write_cvat_runs_overflowing_the_box,
            {"format": "cvat", "annotator": "annotator"},
            "annotations.xml",
            "b.png",
            "<mask> #0 in <image id=1>",
            "rle runs sum to 55, more than the box's 9x6 = 54 pixels",
            id="cvat_mask_runs_overflowing_the_box",
        ),
    ],
)
def test_hostile_input_is_refused(
    tmp_path,
    project,
    bubble,
    annotator,
    counts_unchanged,
    write,
    arguments,
    file,
    image,
    obj,
    reason,
):
    path = write(tmp_path)

    error = refused(project=project, path=path, **arguments)

    assert_refused(error, file=file, image=image, obj=obj, reason=reason)


@pytest.mark.parametrize(
    ("write", "arguments", "file", "image", "obj", "reason"),
    [
        # The folder is the file; the object names the annotation file inside it.
        pytest.param(
            lambda tmp_path: write_supervisely(
                tmp_path, {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="ghost")])}
            ),
            SUPERVISELY,
            "project",
            "a.png",
            SV_OBJECT,
            "annotator 'ghost' is not a user; pass --create-users to create them",
            id="missing_annotator_without_create_users",
        ),
        pytest.param(
            lambda tmp_path: write_coco(
                tmp_path,
                images=[coco_image(1, "a.png")],
                annotations=[coco_polygon(6, 1, square(1, 1, 4))],
            ),
            {"format": "coco"},
            "labels.json",
            "a.png",
            "annotations[0] (id 6)",
            "the file does not name the annotator; pass --annotator",
            id="file_without_annotator",
        ),
    ],
)
def test_hostile_input_is_refused_in_a_project_without_the_annotator(
    tmp_path, project, bubble, counts_unchanged, write, arguments, file, image, obj, reason
):
    path = write(tmp_path)

    error = refused(project=project, path=path, **arguments)

    assert_refused(error, file=file, image=image, obj=obj, reason=reason)


def test_hostile_zlib_bomb_is_refused(
    tmp_path, project, bubble, annotator, settings, counts_unchanged
):
    settings.MASKQC_MAX_DECOMPRESSED_BYTES = 1 << 20
    bomb = base64.b64encode(zlib.compress(b"\0" * (64 << 20), 9)).decode()
    root = write_supervisely(tmp_path, {"a.png": raw_bitmap_document(bomb)})

    error = refused(project=project, path=root, format="supervisely")

    assert_refused(
        error,
        file="project/ds/ann/a.png.json",
        image="a.png",
        obj="ds/ann/a.png.json object 0",
        reason="compressed data expands beyond the limit of 1048576 bytes",
    )


def test_hostile_size_disagreeing_with_an_existing_image_is_refused(
    tmp_path, project, bubble, annotator
):
    ImageFactory(project=project, name="a.png", width=640, height=480)
    path = write_coco(
        tmp_path, images=[coco_image(1, "a.png")], annotations=[coco_polygon(1, 1, square(1, 1, 4))]
    )
    before = row_counts()

    error = refused(project=project, path=path, format="coco", annotator="annotator")

    assert row_counts() == before

    assert_refused(
        error,
        file="labels.json",
        image="a.png",
        obj=None,
        reason="size 64x48 in the file disagrees with the project's image of 640x480 "
        "(width x height)",
    )


def test_hostile_option_of_another_format_is_refused(tmp_path, project, counts_unchanged):
    path = write_coco(tmp_path, images=[], annotations=[])

    with pytest.raises(ApplicationError) as caught:
        import_annotations(
            project=project, path=path, format="coco", actor=None, options={"pattern": "{image}"}
        )

    assert caught.value.message == (
        "Option 'pattern' does not apply to format coco "
        "(its options: all_mapped_images, images_from)."
    )


def test_import_annotations_failure_while_writing_rolls_everything_back(
    tmp_path, project, monkeypatch, counts_unchanged
):
    # Users, memberships, classes, images, tasks and submissions are written before the
    # instances; a failure there must take all of them back.
    def fail(model, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(submissions, "insert_rows", fail)
    root = write_supervisely(
        tmp_path, {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="newcomer")])}
    )

    with pytest.raises(RuntimeError):
        import_annotations(
            project=project,
            path=root,
            format="supervisely",
            actor=None,
            create_users=True,
            create_labels=True,
        )


def test_import_annotations_member_with_another_role_keeps_it(tmp_path, project, bubble, lead):
    # A lead who also annotated keeps the lead role.
    root = write_supervisely(
        tmp_path, {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="lead")])}
    )

    summary = import_annotations(project=project, path=root, format="supervisely", actor=None)

    assert summary.members_added == []
    assert Membership.objects.get(project=project, user=lead).role == Role.LEAD
