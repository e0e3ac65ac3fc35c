"""Every write of the QC app. Import from here; modules split the workflow from agreement."""

from qc.services.exports import (
    EXPORT_FORMATS,
    ExportSummary,
    export_create,
    export_run,
    export_write,
)
from qc.services.import_jobs import import_job_create, import_job_run
from qc.services.imports import (
    ImportRefused,
    ImportSummary,
    import_annotations,
)
from qc.services.workflow import (
    FlagInput,
    InstanceInput,
    build_instance,
    image_label_set,
    image_label_set_gold,
    instance_values,
    review_assign,
    review_decide,
    submission_create,
)

__all__ = [
    "EXPORT_FORMATS",
    "ExportSummary",
    "FlagInput",
    "ImportRefused",
    "ImportSummary",
    "InstanceInput",
    "build_instance",
    "export_create",
    "export_run",
    "export_write",
    "image_label_set",
    "image_label_set_gold",
    "import_annotations",
    "import_job_create",
    "import_job_run",
    "instance_values",
    "review_assign",
    "review_decide",
    "submission_create",
]
