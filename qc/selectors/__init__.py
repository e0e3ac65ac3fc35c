"""Every read of qc's stored rows that services, views, the API and commands share.

- :mod:`~qc.selectors.reports`: the agreement report built from stored results, and the
  stored report and style rows as the API shows them;
- :mod:`~qc.selectors.submissions`: an image's latest submissions as the engine reads them;
- :mod:`~qc.selectors.exports`: what an export contains, image by image;
- :mod:`~qc.selectors.jobs`: a project's import jobs and exports.
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

__all__ = [
    "ANNOTATOR_KEYS",
    "BOOTSTRAP_SEED",
    "agreement_report",
    "agreement_report_stored",
    "exports_of",
    "import_jobs_of",
    "latest_submissions",
    "report_as_interface",
    "stored_instance",
    "style_reports_visible_to",
]
