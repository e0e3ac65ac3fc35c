"""qc's REST API under /api/v1/projects/<slug>/ (routes in :mod:`qc.api_urls`): thin
views over qc's selectors and services, one module per concern -- :mod:`~qc.api.images`
(images, their pixels, review assignment, label, send-back, gold), :mod:`~qc.api.submissions`
(submissions under the blind rule, decisions), :mod:`~qc.api.reviews` (the review queue and
the audit log), :mod:`~qc.api.reports` (agreement and style), :mod:`~qc.api.io` (imports
and exports)."""
