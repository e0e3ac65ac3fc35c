"""The REST API, version 1: token and session auth, OpenAPI at /api/schema/. Each app has
its routes (projects/api_urls.py, qc/api_urls.py)."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("projects.api_urls")),
    path("", include("qc.api_urls")),
]
