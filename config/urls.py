"""The site's URLs. Nothing under MEDIA_ROOT has a URL: private files (image pixels,
uploaded imports, exports) are sent by views that check who may read them (DESIGN §10).
Under /api/ every error is JSON, whichever view (or none) handled the request."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import config.api_schema  # noqa: F401  (registers the schema extension)
from config.auth_views import LoginView
from projects import api_errors

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # The login page with its limit on failed attempts, ahead of projects' own route.
    path("login/", LoginView.as_view(), name="login"),
    path("", include("projects.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.bad_request(request, exception)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.permission_denied(request, exception)
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return api_errors.server_error(request)
    return defaults.server_error(request)
