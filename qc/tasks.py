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
def agreement_update_for_images_task(*, image_ids: list[int]) -> None:
    """Recompute several images (an import queues its images in groups: one task row per
    image costs more than the queue's workers save), then queue their projects' reports.

    Every image is attempted; if some fail, the task fails afterwards naming them."""
    from projects.models import Image
    from qc.services.agreement import agreement_update_for_image

    failed: dict[int, str] = {}
    for image_id in image_ids:
        try:
            agreement_update_for_image(image_id=image_id)
        except Exception as error:  # one bad image must not stop the others
            failed[image_id] = f"{type(error).__name__}: {error}"
    projects = Image.objects.filter(pk__in=image_ids).values_list("project_id", flat=True)
    for project_id in sorted(set(projects)):
        agreement_summary_task.enqueue(project_id=project_id)
    if failed:
        raise RuntimeError(
            "agreement failed: " + "; ".join(f"image {i}: {why}" for i, why in failed.items())
        )


@task()
def agreement_summary_task(*, project_id: int) -> None:
    """Rebuild the project's agreement report unless it is already newer than every image's
    stored results."""
    from qc.services.agreement import agreement_summary_update_if_stale

    agreement_summary_update_if_stale(project_id=project_id)


@task()
def import_run_task(*, job_id: int) -> None:
    """Run one uploaded annotation import (qc.services.import_jobs.import_job_run)."""
    from qc.services.import_jobs import import_job_run

    import_job_run(job_id=job_id)


@task()
def export_run_task(*, export_id: int) -> None:
    """Write one export's file (qc.services.exports.export_run)."""
    from qc.services.exports import export_run

    export_run(export_id=export_id)
