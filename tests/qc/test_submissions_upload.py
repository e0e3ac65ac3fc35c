"""An annotator's own work uploaded as a file (qc.services.submission_upload): only new
revisions of the uploader's own open tasks, under the guideline gate."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.errors import ApplicationError, ImportRefused
from projects.models import TaskStatus
from projects.services import guideline_version_create
from qc.models import Submission
from qc.services import submission_create, submission_upload
from tests.factories import ImageFactory, TaskFactory


def _coco(*names: str) -> SimpleUploadedFile:
    data = {
        "images": [
            {"id": k, "file_name": name, "width": 16, "height": 16}
            for k, name in enumerate(names, 1)
        ],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": [
            {
                "id": k,
                "image_id": k,
                "category_id": 1,
                "segmentation": [[1, 1, 8, 1, 8, 8, 1, 8]],
                "iscrowd": 0,
            }
            for k in range(1, len(names) + 1)
        ],
    }
    return SimpleUploadedFile("work.json", json.dumps(data).encode(), "application/json")


@pytest.fixture
def tasks(project, annotator):
    return [
        TaskFactory(
            image=ImageFactory(project=project, name=n, width=16, height=16), annotator=annotator
        )
        for n in ("a.png", "b.png")
    ]


def test_upload_gives_each_own_open_task_a_revision(project, bubble, annotator, tasks):
    summary = submission_upload(
        project=project, actor=annotator, upload=_coco("a.png", "b.png"), format="coco"
    )

    assert (summary.submissions, summary.instances) == (2, 2)
    assert sorted(Submission.objects.values_list("task__image__name", "revision")) == [
        ("a.png", 1),
        ("b.png", 1),
    ]
    assert {t.status for t in type(tasks[0]).objects.all()} == {TaskStatus.SUBMITTED}


def test_upload_touching_a_task_that_is_not_open_changes_nothing(project, bubble, annotator, tasks):
    submission_create(task=tasks[1], actor=annotator, instances=[])

    with pytest.raises(ImportRefused) as refused:
        submission_upload(
            project=project, actor=annotator, upload=_coco("a.png", "b.png"), format="coco"
        )

    assert (refused.value.file, refused.value.image) == ("work.json", "b.png")
    assert Submission.objects.count() == 1


def test_upload_is_behind_the_guideline_gate(project, bubble, annotator, lead, tasks):
    guideline_version_create(
        project=project,
        title="Rules",
        body="x",
        author=lead,
        change_summary="What changed.",
        publish=True,
    )

    with pytest.raises(ApplicationError, match="Acknowledge the current guideline"):
        submission_upload(project=project, actor=annotator, upload=_coco("a.png"), format="coco")

    assert Submission.objects.count() == 0


@pytest.mark.parametrize("who", ["lead", "reviewer"])
def test_upload_by_someone_who_does_not_annotate_is_forbidden(request, project, bubble, tasks, who):
    with pytest.raises(ApplicationError) as refused:
        submission_upload(
            project=project,
            actor=request.getfixturevalue(who),
            upload=_coco("a.png"),
            format="coco",
        )

    assert refused.value.status == 403
    assert Submission.objects.count() == 0


def test_upload_option_naming_a_server_path_is_refused(project, bubble, annotator, tasks):
    with pytest.raises(ApplicationError, match="names a server path"):
        submission_upload(
            project=project,
            actor=annotator,
            upload=_coco("a.png"),
            format="coco",
            options={"images_from": "/etc/passwd"},
        )
