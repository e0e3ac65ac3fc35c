"""Every write of the QC app. Import from here; modules split the workflow from agreement."""

from qc.services.workflow import (
    FlagInput,
    InstanceInput,
    build_instance,
    image_label_set,
    image_label_set_gold,
    review_assign,
    review_decide,
    submission_create,
)

__all__ = [
    "FlagInput",
    "InstanceInput",
    "build_instance",
    "image_label_set",
    "image_label_set_gold",
    "review_assign",
    "review_decide",
    "submission_create",
]
