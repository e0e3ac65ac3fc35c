"""Every write of the QC app; import from here.

- :mod:`~qc.services.submissions`: every submission is stored here, one or thousands;
- :mod:`~qc.services.workflow`: one submission, review assignments, decisions;
- :mod:`~qc.services.labels`: image labels, by a reviewer or by the review policy;
- :mod:`~qc.services.imports`: annotation files into submissions, a sequence of steps
  (``import_source``, ``import_reading``, ``import_plan``, ``import_write``), in the
  background through ``import_jobs``;
- :mod:`~qc.services.exports`: accepted labels out;
- :mod:`~qc.services.agreement` and ``features``: what is derived from stored masks;
- :mod:`~qc.services.jobs`: the life of a background job (claim, done or failed);
- :mod:`~qc.services.bulk`: many rows at once (COPY on PostgreSQL).
"""

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
from qc.services.labels import (
    gold_scores_store,
    image_label_send_back,
    image_label_set,
    image_label_set_gold,
    review_policy_apply,
)
from qc.services.submissions import (
    InstanceInput,
    SubmissionDraft,
    instance_values,
    submissions_create,
)
from qc.services.workflow import (
    FlagInput,
    review_assign,
    review_decide,
    submission_create,
    submission_upload,
)

__all__ = [
    "EXPORT_FORMATS",
    "ExportSummary",
    "FlagInput",
    "ImportRefused",
    "ImportSummary",
    "InstanceInput",
    "SubmissionDraft",
    "export_create",
    "export_run",
    "export_write",
    "gold_scores_store",
    "image_label_send_back",
    "image_label_set",
    "image_label_set_gold",
    "import_annotations",
    "import_job_create",
    "import_job_run",
    "instance_values",
    "review_assign",
    "review_decide",
    "review_policy_apply",
    "submission_create",
    "submission_upload",
    "submissions_create",
]
