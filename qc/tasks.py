"""Background tasks (Django Tasks API): thin wrappers that call one service."""

from django_tasks import task


@task()
def agreement_update_for_image_task(*, image_id: int) -> None:
    from qc.services.agreement import agreement_update_for_image

    agreement_update_for_image(image_id=image_id)
