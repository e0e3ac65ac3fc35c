"""Background tasks (Django Tasks API): thin wrappers that call services."""

from django_tasks import task


@task()
def agreement_update_for_image_task(*, image_id: int) -> None:
    """Recompute one image, then queue the project report that depends on it.

    The report is its own task so that after a large import (one task per image, queued in
    order) the first report task rebuilds once and the ones behind it find nothing stale.
    """
    from projects.models import Image
    from qc.services.agreement import agreement_update_for_image

    agreement_update_for_image(image_id=image_id)
    project_id = Image.objects.values_list("project_id", flat=True).get(pk=image_id)
    agreement_summary_task.enqueue(project_id=project_id)


@task()
def agreement_summary_task(*, project_id: int) -> None:
    """Rebuild the project's agreement report unless it is already newer than every image's
    stored results."""
    from qc.services.agreement import agreement_summary_update_if_stale

    agreement_summary_update_if_stale(project_id=project_id)


@task()
def import_run_task(*, job_id: int) -> None:
    """Run one uploaded annotation import (qc.services.imports.import_job_run)."""
    from qc.services.imports import import_job_run

    import_job_run(job_id=job_id)


@task()
def export_run_task(*, export_id: int) -> None:
    """Write one export's file (qc.services.exports.export_run)."""
    from qc.services.exports import export_run

    export_run(export_id=export_id)
