"""The lead's imports and exports pages (:mod:`qc.views.io`)."""

from django.urls import path

from qc.views import io

urlpatterns = [
    path("p/<slug:slug>/imports/", io.project_imports, name="project-imports"),
    path("p/<slug:slug>/imports/start", io.import_start, name="import-start"),
    path("p/<slug:slug>/imports/<int:pk>/", io.import_detail, name="import-detail"),
    path("p/<slug:slug>/imports/<int:pk>/retry", io.import_retry, name="import-retry"),
    path("p/<slug:slug>/exports/", io.project_exports, name="project-exports"),
    path("p/<slug:slug>/exports/start", io.export_start, name="export-start"),
    path("p/<slug:slug>/exports/<int:pk>/", io.export_detail, name="export-detail"),
    path("p/<slug:slug>/exports/<int:pk>/retry", io.export_retry, name="export-retry"),
    path("p/<slug:slug>/exports/<int:pk>/download", io.export_download, name="export-download"),
]
