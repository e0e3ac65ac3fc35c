"""Every kind of background work, queued by the services as in production and run by a
real worker process, on the database backend and on RQ (through Redis): agreement after
submissions land, the project report, an import, an export and a recompute.

Each test starts its worker, does what a user does, waits for the queue to drain and
checks what the worker stored (a worker process needs about a second to start).
"""

import hashlib
import io
import json
import zipfile

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from qc import masks
from qc.models import (
    AgreementResult,
    AgreementSummary,
    Export,
    ImageAgreement,
    ImportJob,
    JobStatus,
    Recompute,
    Submission,
)
from qc.selectors import agreement_report
from qc.services import InstanceInput, submission_create
from qc.services.agreement import agreement_update_for_image
from qc.services.exports import export_create
from qc.services.import_jobs import import_job_create
from qc.services.recompute import recompute_create
from qc.tasks import agreement_summary_task
from tests.factories import ImageFactory, LabelClassFactory, TaskFactory
from tests.tasks.workers import ROOT

CROWD = "bubil/dataset4_lu_melanoma_fluorescence/CrowdsourcedAnnotations"


def _disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:64, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def _submit_overlapping_discs(project, bubble, annotators) -> object:
    """One 64 x 64 image where each annotator draws a disc of radius 12, 4 px apart
    (IoU about 0.6: a match at the default match IoU of 0.5, none at 0.7)."""
    image = ImageFactory(project=project, name="a.png", width=64, height=64)
    for user, cx in zip(annotators, (30, 34), strict=True):
        task = TaskFactory(image=image, annotator=user)
        instance = InstanceInput(label_class=bubble, rle=_disc(cx, 30, 12))
        submission_create(task=task, actor=user, instances=[instance])
    return image


def _matched(image) -> int:
    return AgreementResult.objects.get(image=image, label_class__isnull=True).matched


def test_agreement_is_stored_after_the_second_submission_lands(
    task_backend, worker_process, wait_drained, project, bubble, annotator, other_annotator
):
    # The worker as a deployment starts it (`make worker`).
    with worker_process(task_backend, command=[str(ROOT / "bin" / "worker")]) as worker:
        image = _submit_overlapping_discs(project, bubble, [annotator, other_annotator])
        drained = wait_drained(task_backend, workers=[worker])

    assert drained.failed == []
    assert ImageAgreement.objects.filter(image=image).count() == 1
    assert _matched(image) == 1
    summary = AgreementSummary.objects.get(project=project)
    assert summary.report["images"] == 1
    assert summary.computed_at >= ImageAgreement.objects.get(image=image).computed_at


def test_the_project_report_is_rebuilt_from_the_stored_results(
    task_backend, worker_process, wait_drained, project, bubble, annotator, other_annotator
):
    with worker_process(task_backend) as worker:
        image = _submit_overlapping_discs(project, bubble, [annotator, other_annotator])
        wait_drained(task_backend, workers=[worker])
        # The image measured again here, inline: the report is now older than its results.
        agreement_update_for_image(image_id=image.pk)
        before = AgreementSummary.objects.get(project=project).computed_at
        agreement_summary_task.enqueue(project_id=project.pk)
        drained = wait_drained(task_backend, workers=[worker])

    assert drained.failed == []
    summary = AgreementSummary.objects.get(project=project)
    assert summary.computed_at > before
    assert summary.computed_at >= ImageAgreement.objects.get(image=image).computed_at
    assert summary.report == agreement_report(project=project)


def test_an_import_job_imports_and_its_agreement_follows(
    task_backend, worker_process, wait_drained, project, lead, shared_data
):
    """Four cells of BU-BIL's data set 4, each outlined by seven crowd workers."""
    LabelClassFactory(project=project, name="cell")
    files = sorted((shared_data / CROWD).glob("*/seg_*.png"))
    images = sorted({f.name for f in files})[:4]
    chosen = [f for f in files if f.name in images]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in chosen:
            archive.write(file, file.relative_to(shared_data / CROWD).as_posix())
    options = {
        "pattern": "{annotator}/seg_{image}.png",
        "foreground": "zero",
        "label": "cell",
        "image_name": "{image}.png",
        "create_users": True,
    }

    with worker_process(task_backend) as worker:
        job = import_job_create(
            project=project,
            actor=lead,
            upload=SimpleUploadedFile("crowd.zip", buffer.getvalue()),
            format="mask-png",
            options=options,
        )
        drained = wait_drained(task_backend, workers=[worker])

    assert drained.failed == []
    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.progress, job.error) == (JobStatus.DONE, 1.0, "")
    assert (len(chosen), len(images)) == (28, 4)
    assert (job.summary["submissions"], job.summary["images_created"]) == (28, 4)
    assert Submission.objects.filter(task__image__project=project).count() == 28
    assert ImageAgreement.objects.filter(image__project=project).count() == 4
    assert AgreementSummary.objects.get(project=project).report["images"] == 4


def test_an_export_job_writes_its_file_and_its_checksum(
    task_backend, worker_process, wait_drained, project, bubble, lead, annotator, other_annotator
):
    with worker_process(task_backend) as worker:
        _submit_overlapping_discs(project, bubble, [annotator, other_annotator])
        export = export_create(project=project, actor=lead, format="coco", include_unreviewed=True)
        drained = wait_drained(task_backend, workers=[worker])

    assert drained.failed == []
    export = Export.objects.get(pk=export.pk)
    assert (export.status, export.progress, export.error) == (JobStatus.DONE, 1.0, "")
    content = (task_backend.media_root / export.file.name).read_bytes()
    assert hashlib.sha256(content).hexdigest() == export.sha256
    coco = json.loads(content)
    counts = (export.counts["bytes"], export.counts["images"], export.counts["annotations"])
    assert counts == (len(content), len(coco["images"]), len(coco["annotations"]))
    assert [i["file_name"] for i in coco["images"]] == ["a.png"]


def test_a_recompute_measures_the_project_again(
    task_backend,
    worker_process,
    wait_drained,
    project,
    bubble,
    lead,
    annotator,
    other_annotator,
):
    with worker_process(task_backend) as worker:
        image = _submit_overlapping_discs(project, bubble, [annotator, other_annotator])
        wait_drained(task_backend, workers=[worker])
        assert _matched(image) == 1
        project.match_iou = 0.7
        project.save(update_fields=["match_iou"])
        recompute = recompute_create(project=project, actor=lead)
        drained = wait_drained(task_backend, workers=[worker])

    assert drained.failed == []
    recompute = Recompute.objects.get(pk=recompute.pk)
    assert (recompute.status, recompute.progress, recompute.error) == (JobStatus.DONE, 1.0, "")
    assert recompute.summary["images_recomputed"] == 1
    assert _matched(image) == 0
