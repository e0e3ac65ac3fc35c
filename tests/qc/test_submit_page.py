"""Submitting for a task by upload: the dry-run check and the final submit
(qc.services.workflow.submission_import, qc.services.staging) and the page (task-submit)."""

import json

import pytest

from projects.errors import ImportRefused
from projects.models import AuditEvent, TaskStatus
from projects.services import guideline_acknowledge, guideline_version_create
from qc.models import Instance, Submission
from qc.services.workflow import submission_import
from tests.factories import ImageFactory, TaskFactory


def _coco_bytes(name: str = "a.png", *, squares: tuple[int, ...] = (6,), size: int = 16) -> bytes:
    """A COCO file for image ``name`` with one square instance of each side length."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": name, "width": size, "height": size}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {
                    "id": k,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [[1, 1, 1 + side, 1, 1 + side, 1 + side, 1, 1 + side]],
                    "iscrowd": 0,
                }
                for k, side in enumerate(squares, 1)
            ],
        }
    ).encode()


@pytest.fixture
def task(project, bubble, annotator):
    image = ImageFactory(project=project, name="a.png", width=16, height=16)
    return TaskFactory(image=image, annotator=annotator, status=TaskStatus.IN_PROGRESS)


@pytest.fixture
def rules(project, lead, annotator):
    """A published guideline with a warning (min area 20 px) and a blocking rule (at most
    two instances), acknowledged by the annotator."""
    version = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Outline bubbles.",
        author=lead,
        rules=[
            {"rule": "min_area_px", "value": 20, "severity": "warn"},
            {"rule": "max_instances", "value": 2, "severity": "block"},
        ],
        publish=True,
    )
    guideline_acknowledge(version=version, user=annotator)
    return version


def _counts() -> tuple[int, int, int]:
    return Submission.objects.count(), Instance.objects.count(), AuditEvent.objects.count()


def test_dry_run_writes_nothing_and_shows_what_the_import_stores(
    tmp_path, project, annotator, task, rules
):
    path = tmp_path / "work.json"
    path.write_bytes(_coco_bytes(squares=(6, 3)))
    before = _counts()

    checked = submission_import(
        project=project, actor=annotator, path=path, format="coco", task=task, dry_run=True
    )

    assert _counts() == before
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert checked.dry_run is True
    [would] = checked.submissions
    assert (would.image, would.revision, would.instances, would.by_class) == (
        "a.png",
        1,
        2,
        [("bubble", 2)],
    )
    assert [(v["rule"], v["severity"], v["instance"]) for v in would.violations] == [
        ("min_area_px", "warn", 1)
    ]

    stored = submission_import(
        project=project, actor=annotator, path=path, format="coco", task=task
    )

    assert stored.submissions == checked.submissions
    assert Submission.objects.get().rule_violations == would.violations
    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED


def test_dry_run_of_a_file_for_another_image_is_refused_naming_it(
    tmp_path, project, annotator, task
):
    other = TaskFactory(
        image=ImageFactory(project=project, name="b.png", width=16, height=16),
        annotator=annotator,
    )
    path = tmp_path / "work.json"
    path.write_bytes(_coco_bytes("b.png"))

    with pytest.raises(ImportRefused) as refused:
        submission_import(
            project=project, actor=annotator, path=path, format="coco", task=task, dry_run=True
        )

    assert refused.value.message == (
        "work.json: image b.png: object annotations[0] (id 1): not the image of this task (a.png); "
        "upload each image's masks from its own task"
    )
    assert Submission.objects.filter(task=other).count() == 0
