"""An import whose names hold text no database stores (a NUL, a lone surrogate) is refused
naming its file, image and object, those names escaped, and changes nothing; on SQLite and
on PostgreSQL alike (run with ``DATABASE_URL=postgres://...``), directly and as a job."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qc.models import JobStatus
from qc.services.import_jobs import import_job_create
from qc.services.import_text import shown
from qc.services.imports import ImportRefused, import_annotations
from tests.qc.test_imports import (
    assert_refused,
    bitmap_object,
    blob,
    coco_image,
    coco_polygon,
    row_counts,
    square,
    sv_document,
    write_coco,
    write_supervisely,
)


def refused(path, project, *, format: str, **options) -> ImportRefused:
    """The refusal of importing ``path``, after checking that nothing changed."""
    before = row_counts()
    with pytest.raises(ImportRefused) as caught:
        import_annotations(project=project, path=path, format=format, actor=None, **options)
    assert row_counts() == before
    assert "\x00" not in caught.value.message
    return caught.value


def test_shown_escapes_only_what_no_database_stores():
    assert shown("a\x00b\ud800c\tä.png") == "a\\u0000b\\ud800c\tä.png"


def test_coco_image_name_with_nul_is_refused_naming_file_and_image(
    tmp_path, project, bubble, annotator
):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "fine.png"), coco_image(2, "frame\u0000.png")],
        annotations=[coco_polygon(1, 2, square(1, 1, 4))],
    )

    error = refused(path, project, format="coco", annotator="annotator")

    assert_refused(
        error,
        file="labels.json",
        image="frame\\u0000.png",
        obj=None,
        reason="the image name holds a NUL character (\\u0000), which no database stores; "
        "rename the image in the file",
    )


def test_coco_image_name_with_a_lone_surrogate_is_refused(tmp_path, project, bubble, annotator):
    path = tmp_path / "labels.json"
    # json.dumps would write the surrogate as the escape that decodes to it.
    path.write_text(
        json.dumps(
            {
                "images": [coco_image(1, "frame\ud800.png")],
                "annotations": [],
                "categories": [{"id": 1, "name": "bubble"}],
            }
        )
    )

    error = refused(path, project, format="coco", annotator="annotator")

    assert error.image == "frame\\ud800.png"
    assert error.reason.startswith("the image name holds a lone surrogate (\\ud800)")


def test_coco_category_with_nul_is_refused_naming_the_object(tmp_path, project, annotator):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png")],
        annotations=[coco_polygon(7, 1, square(1, 1, 4))],
        categories=[{"id": 1, "name": "bub\u0000ble"}],
    )

    error = refused(path, project, format="coco", annotator="annotator", create_labels=True)

    assert_refused(
        error,
        file="labels.json",
        image="a.png",
        obj="annotations[0] (id 7)",
        reason="the class name 'bub\\u0000ble' holds a NUL character (\\u0000), which no "
        "database stores",
    )


def test_coco_attribute_with_nul_is_refused_naming_the_object(tmp_path, project, bubble, annotator):
    annotation = {**coco_polygon(7, 1, square(1, 1, 4)), "attributes": {"note": "x\u0000"}}
    path = write_coco(tmp_path, images=[coco_image(1, "a.png")], annotations=[annotation])

    error = refused(path, project, format="coco", annotator="annotator")

    assert (error.image, error.object) == ("a.png", "annotations[0] (id 7)")
    assert error.reason.startswith("the attribute text 'x\\u0000' holds a NUL character")


def test_supervisely_labeler_with_nul_is_refused_naming_the_object(tmp_path, project, bubble):
    root = write_supervisely(
        tmp_path, {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="ann\u0000")])}
    )

    error = refused(root, project, format="supervisely", create_users=True)

    assert error.file == "project"
    assert error.image == "a.png"
    assert error.object == "ds/ann/a.png.json object 0"
    assert error.reason == (
        "the annotator name 'ann\\u0000' holds a NUL character (\\u0000), which no database stores"
    )


def test_supervisely_class_with_nul_is_refused(tmp_path, project, annotator):
    root = write_supervisely(
        tmp_path,
        {"a.png": sv_document([bitmap_object(blob(), (2, 3), login="x", label="b\u0000")])},
        classes=("b\u0000",),
    )

    error = refused(root, project, format="supervisely", annotator="annotator", create_labels=True)

    assert error.image == "a.png"
    assert error.reason.startswith("the class name 'b\\u0000' holds a NUL character")


def test_import_job_records_the_refusal_of_a_nul_name(
    tmp_path, project, bubble, lead, annotator, django_capture_on_commit_callbacks
):
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "frame\u0000.png")],
        annotations=[coco_polygon(1, 1, square(1, 1, 4))],
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("labels.json", path.read_bytes()),
            format="coco",
            options={"annotator": "annotator"},
        )

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == (
        "labels.json: image frame\\u0000.png: object (none): the image name holds a NUL "
        "character (\\u0000), which no database stores; rename the image in the file"
    )
    assert not project.images.exists()
