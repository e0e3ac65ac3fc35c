"""Every read of qc's stored rows that services, views, the API and commands share.

- :mod:`~qc.selectors.reports`: the agreement report built from stored results, and the
  stored report and style rows as the API shows them;
- :mod:`~qc.selectors.submissions`: an image's latest submissions as the engine reads them;
- :mod:`~qc.selectors.exports`: what an export contains, image by image;
- :mod:`~qc.selectors.jobs`: a project's import jobs and exports;
- :mod:`~qc.selectors.workflow`: images with their QC state, submissions under the blind
  rule, the review queue, rework rounds, an image's agreement and the audit log.
"""

from qc.selectors.jobs import exports_of, import_jobs_of
from qc.selectors.reports import (
    ANNOTATOR_KEYS,
    BOOTSTRAP_SEED,
    agreement_report,
    agreement_report_stored,
    report_as_interface,
    style_reports_visible_to,
)
from qc.selectors.submissions import latest_submissions, stored_instance
from qc.selectors.workflow import (
    API_QC_STATES,
    audit_events_of,
    gold_scores_visible_to,
    image_agreement,
    image_detail,
    image_label_of,
    images_visible_to,
    review_queue,
    rework_rounds_expression,
    submission_detail_prefetches,
    submissions_visible_to,
)

__all__ = [
    "ANNOTATOR_KEYS",
    "API_QC_STATES",
    "BOOTSTRAP_SEED",
    "agreement_report",
    "agreement_report_stored",
    "audit_events_of",
    "exports_of",
    "gold_scores_visible_to",
    "image_agreement",
    "image_detail",
    "image_label_of",
    "images_visible_to",
    "import_jobs_of",
    "latest_submissions",
    "report_as_interface",
    "review_queue",
    "rework_rounds_expression",
    "stored_instance",
    "style_reports_visible_to",
    "submission_detail_prefetches",
    "submissions_visible_to",
]
