"""The REST API, version 1: token and session auth, OpenAPI at /api/schema/. Each app has
its routes (projects/api_urls.py, qc/api_urls.py)."""

from django.urls import include, path

from config.auth_views import TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("", include("projects.api_urls")),
    path("", include("qc.api_urls")),
]
