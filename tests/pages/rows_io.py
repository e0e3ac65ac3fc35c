"""The rows of the role matrix for imports and exports: leads and admins only.

The World and the demo have no import or export of their own, so the targets make one the
way a lead would (through the services) and run it at once: an import of a file that does
not parse (it fails and stores nothing, so no other page changes) and an export of the
accepted labels (done, with a file to download). A failed export is one whose worker was
lost for good (started through the service, then failed as the watcher fails it). A
second call finds the first's. Retrying a failed job is a POST of leads and admins."""

import json
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Membership, Project, Role
from qc.models import Export, ImportJob, JobStatus
from qc.services.exports import export_create, export_run
from qc.services.import_jobs import import_job_create, import_job_run
from tests.pages.matrix import STAFF, Args, Case, statuses

LEADS_ONLY = statuses(**STAFF, reviewer=403, annotator=403)
STARTS = statuses(admin=302, lead=302, reviewer=403, annotator=403)
BROKEN_FILE = b'{"images": ['
# A COCO file of one new 64 x 48 image: what the upload rows post (never imported there:
# the test's transaction does not commit, so its job stays pending).
COCO_FILE = json.dumps(
    {
        "images": [{"id": 1, "file_name": "matrix.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[4, 4, 20, 4, 20, 20, 4, 20]],
                "iscrowd": 0,
            }
        ],
    }
).encode()


def _a_lead(project: Project) -> Any:
    return Membership.objects.filter(project=project, role=Role.LEAD).order_by("pk").first().user


def failed_import(project: Project, subject: Any) -> Args:
    """A failed import of the project (one is made when it has none)."""
    job = ImportJob.objects.filter(project=project, status=JobStatus.FAILED).first()
    if job is None:
        job = import_job_create(
            project=project,
            actor=_a_lead(project),
            upload=SimpleUploadedFile("broken.json", BROKEN_FILE),
            format="coco",
        )
        import_job_run(job_id=job.pk)
    return (job.pk,)


def failed_export(project: Project, subject: Any) -> Args:
    """A failed export of the project (one is made when it has none)."""
    export = Export.objects.filter(project=project, status=JobStatus.FAILED).first()
    if export is None:
        export = export_create(project=project, actor=_a_lead(project), format="coco")
        Export.objects.filter(pk=export.pk).update(
            status=JobStatus.FAILED, error="worker lost 3 times", attempts=3
        )
    return (export.pk,)


def _queued_again(model: Any) -> Any:
    def changed(args: Args) -> bool:
        return model.objects.get(pk=args[0]).status == JobStatus.PENDING

    return changed


def done_export(project: Project, subject: Any) -> Args:
    """A finished export of the project (one is made when it has none)."""
    export = Export.objects.filter(project=project, status=JobStatus.DONE).first()
    if export is None:
        export = export_create(project=project, actor=_a_lead(project), format="coco")
        export_run(export_id=export.pk)
    return (export.pk,)


UPLOAD = SimpleUploadedFile("matrix.json", COCO_FILE)


def _rewind(subject: Any) -> None:
    """The row's file reads from its start again (each request reads it to its end)."""
    UPLOAD.seek(0)


def _imported(args: Args) -> bool:
    return ImportJob.objects.filter(source_name="matrix.json").exists()


def _exported(args: Args) -> bool:
    return Export.objects.filter(format="supervisely").exists()


ROWS = [
    Case("project-imports", LEADS_ONLY),
    Case(
        "import-start",
        STARTS,
        method="POST",
        data={"file": UPLOAD, "format": "coco", "annotator": "annotator"},
        changed=_imported,
        prepare=_rewind,
        page=False,
    ),
    Case("import-detail", LEADS_ONLY, target=failed_import),
    Case(
        "import-retry",
        STARTS,
        target=failed_import,
        method="POST",
        changed=_queued_again(ImportJob),
        page=False,
    ),
    Case("project-exports", LEADS_ONLY),
    Case(
        "export-start",
        STARTS,
        method="POST",
        data={"format": "supervisely"},
        changed=_exported,
        page=False,
    ),
    Case("export-detail", LEADS_ONLY, target=done_export),
    Case("export-detail", LEADS_ONLY, target=failed_export, variant="failed"),
    Case(
        "export-retry",
        STARTS,
        target=failed_export,
        method="POST",
        changed=_queued_again(Export),
        page=False,
    ),
    Case("export-download", LEADS_ONLY, target=done_export, page=False),
]
