"""qc's REST API under /api/v1/projects/<slug>/ (routes in :mod:`qc.api_urls`): thin
views over qc's selectors and services, one module per concern -- :mod:`~qc.api.reports`
(agreement and style), :mod:`~qc.api.io` (imports and exports)."""
