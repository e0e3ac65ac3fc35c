"""The REST API, version 1: token and session auth, OpenAPI at /api/schema/."""

from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from projects import api as projects_api
from qc import api as qc_api

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("projects/", projects_api.ProjectList.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", projects_api.ProjectDetail.as_view(), name="api-project"),
    path(
        "projects/<slug:slug>/label-classes/",
        projects_api.LabelClassList.as_view(),
        name="api-label-classes",
    ),
    path("projects/<slug:slug>/agreement/", qc_api.AgreementReport.as_view(), name="api-agreement"),
    path(
        "projects/<slug:slug>/agreement/annotators/",
        qc_api.StyleReports.as_view(),
        name="api-style-reports",
    ),
    path("projects/<slug:slug>/imports/", qc_api.ImportList.as_view(), name="api-imports"),
    path(
        "projects/<slug:slug>/imports/<int:pk>/", qc_api.ImportDetail.as_view(), name="api-import"
    ),
    path("projects/<slug:slug>/exports/", qc_api.ExportList.as_view(), name="api-exports"),
    path(
        "projects/<slug:slug>/exports/<int:pk>/", qc_api.ExportDetail.as_view(), name="api-export"
    ),
    path(
        "projects/<slug:slug>/exports/<int:pk>/download/",
        qc_api.ExportDownload.as_view(),
        name="api-export-download",
    ),
]
