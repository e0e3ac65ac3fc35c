"""The qc app's API routes, under /api/v1/."""

from django.urls import path

from qc.api import io, reports

urlpatterns = [
    path(
        "projects/<slug:slug>/agreement/", reports.AgreementReport.as_view(), name="api-agreement"
    ),
    path(
        "projects/<slug:slug>/agreement/annotators/",
        reports.StyleReports.as_view(),
        name="api-style-reports",
    ),
    path("projects/<slug:slug>/imports/", io.ImportList.as_view(), name="api-imports"),
    path("projects/<slug:slug>/imports/<int:pk>/", io.ImportDetail.as_view(), name="api-import"),
    path(
        "projects/<slug:slug>/imports/<int:pk>/file/",
        io.ImportFile.as_view(),
        name="api-import-file",
    ),
    path("projects/<slug:slug>/exports/", io.ExportList.as_view(), name="api-exports"),
    path("projects/<slug:slug>/exports/<int:pk>/", io.ExportDetail.as_view(), name="api-export"),
    path(
        "projects/<slug:slug>/exports/<int:pk>/download/",
        io.ExportDownload.as_view(),
        name="api-export-download",
    ),
]
