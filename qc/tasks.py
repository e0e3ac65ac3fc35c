"""Background tasks (Django Tasks API): thin wrappers that call services."""

from django_tasks import task


@task()
def agreement_update_for_image_task(*, image_id: int) -> None:
    """Recompute one image, then the project report that depends on it."""
    from projects.models import Image
    from qc.services.agreement import agreement_summary_update, agreement_update_for_image

    agreement_update_for_image(image_id=image_id)
    agreement_summary_update(
        project_id=Image.objects.values_list("project_id", flat=True).get(pk=image_id)
    )
