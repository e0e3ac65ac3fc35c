"""The site's URLs. Nothing under MEDIA_ROOT has a URL: private files (image pixels,
uploaded imports, exports) are sent by views that check who may read them (DESIGN §10).
Under /api/ every error is JSON, whichever view (or none) handled the request. /healthz
(config.health) is for load balancers: no login, JSON, 503 when the database or the task
queue is out of reach."""

import sys

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

import config.api_schema  # noqa: F401  (registers the schema extension)
from config.auth_views import LoginView
from config.health import HealthView
from config.middleware import DATABASE_ERRORS, database_unavailable
from projects import api_errors

# Pages that name no icon (the admin's) make the browser ask for /favicon.ico; the static
# URL is looked up per request, as the manifest of collected files may not exist at import.
urlpatterns = [
    path("healthz", HealthView.as_view(), name="healthz"),
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's set-up script served apart (?script), as the Content-Security-Policy wants.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # The login page with its limit on failed attempts, ahead of projects' own route.
    path("login/", LoginView.as_view(), name="login"),
    path("", include("projects.urls")),
    path("", include("qc.urls")),
]


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.bad_request(request, exception)
    return defaults.bad_request(request, exception)


def _error_page(request: HttpRequest, status: int, heading: str, explanation: str) -> HttpResponse:
    """An error in the site's layout, with the way back to the user's projects."""
    context = {"status": status, "heading": heading, "explanation": explanation}
    return render(request, "error.html", context, status=status)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.permission_denied(request, exception)
    match = getattr(request, "resolver_match", None)
    if match is not None and "slug" not in match.kwargs:
        # A page of the site, not of a project: no role of a project would open it.
        explanation = str(exception) if exception and str(exception) else "Only site admins may."
        return _error_page(request, 403, "Not allowed", explanation)
    return _error_page(
        request,
        403,
        "Not allowed",
        "Your role in this project does not let you open this page. "
        "A project lead can change your role.",
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return api_errors.not_found(request, exception)
    return _error_page(
        request,
        404,
        "Page not found",
        "There is nothing at this address, or it belongs to a project you are not a member of.",
    )


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the exception: a database outage met in a middleware
    # (the session or the user looked up), where DatabaseUnavailableMiddleware cannot see it,
    # is a 503 as well.
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return database_unavailable(request)
    if _is_api(request):
        return api_errors.server_error(request)
    return defaults.server_error(request)
