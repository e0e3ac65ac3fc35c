"""The background tasks of qc (Django Tasks API), one place to find them all.

Each task is defined beside the service it runs, so that a service queues its own work
without importing up a layer; the worker finds a task by its module path, so this index
keeps the paths of tasks queued before they moved working too.
"""

from qc.services.agreement import (
    agreement_summary_task,
    agreement_update_for_image_task,
    agreement_update_for_images_task,
)
from qc.services.exports import export_run_task
from qc.services.import_jobs import import_run_task
from qc.services.recompute import recompute_part_task, recompute_run_task

__all__ = [
    "agreement_summary_task",
    "agreement_update_for_image_task",
    "agreement_update_for_images_task",
    "export_run_task",
    "import_run_task",
    "recompute_part_task",
    "recompute_run_task",
]
