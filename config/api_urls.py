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
]
