"""The site's own middleware: one log line per request, and a 503 when the database is down.

:class:`RequestLogMiddleware` (first in ``MIDDLEWARE``) gives every request an id (the
proxy's ``X-Request-ID`` when it sends a sane one, else a new one), echoes it in the
response's ``X-Request-ID`` and logs one line on logger ``maskqc.request`` with the method,
the path (the query string's keys only: its values may be tokens or searches), the status,
the time taken in milliseconds, the user's id (``None`` when the request never looked the
user up) and the request id.

:class:`DatabaseUnavailableMiddleware` turns a database outage raised by a view
(``OperationalError`` or ``InterfaceError``: a server restarted, a connection killed, no
free pooled connection) into :func:`database_unavailable`: 503 with ``Retry-After``, JSON
in the API's error shape under ``/api/`` and the site's error page elsewhere, and closes
the broken connections so the next request opens new ones. ``config.urls.handler500`` and
``projects.api_errors.exception_handler`` answer the same for an outage met outside a view
(in a middleware) or inside DRF.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.encoding import escape_uri_path
from django.utils.functional import empty

__all__ = [
    "DATABASE_ERRORS",
    "DatabaseUnavailableMiddleware",
    "RequestLogMiddleware",
    "database_unavailable",
]

logger = logging.getLogger("maskqc.request")
database_logger = logging.getLogger("maskqc.database")

# An id from the proxy is kept when it is short and plain (no spaces, no control characters
# that would forge log lines); anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")
# How many of a query string's keys a log line keeps.
_MAX_QUERY_KEYS = 20

DATABASE_ERRORS = (OperationalError, InterfaceError)


def _user_id(request: HttpRequest) -> int | None:
    """The id of the request's user if something already looked the user up (a page, DRF's
    authentication); the log never looks it up itself (a query, and during a database
    outage an error)."""
    user = request.__dict__.get("user")
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if getattr(user, "is_authenticated", False) else None


def _logged_path(request: HttpRequest) -> str:
    path = escape_uri_path(request.path)
    keys = list(dict.fromkeys(request.GET.keys()))[:_MAX_QUERY_KEYS]
    return f"{path}?{'&'.join(escape_uri_path(key) for key in keys)}" if keys else path


def _quiet(request: HttpRequest) -> bool:
    """Static files and health probes: one of each per page view, or every few seconds
    from a load balancer, they would bury the requests people make; logged at DEBUG while
    they succeed."""
    path = request.path_info
    return path == "/healthz" or path.startswith(f"/{settings.STATIC_URL.strip('/')}/")


class RequestLogMiddleware:
    """One line per request on ``maskqc.request``; ``X-Request-ID`` in and out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {
            "method": request.method,
            "path": _logged_path(request),
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": _user_id(request),
            "request_id": request_id,
        }
        level = logging.DEBUG if _quiet(request) and response.status_code < 400 else logging.INFO
        logger.log(
            level,
            "%(method)s %(path)s %(status)s %(duration_ms)sms user=%(user_id)s id=%(request_id)s",
            fields,
            extra=fields,
        )
        return response


def _connections_close_broken() -> None:
    """Close every connection of this thread that met an error and no longer answers, as
    Django would at the end of the request: the rest of this request, and the next one,
    open a new connection (or take another from the pool) instead of reusing a dead one."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 for a database outage: the API's JSON error under ``/api/``, else the site's
    error page rendered without the request (no user, session or message lookups, which
    would need the database)."""
    # Imported here: projects.api_errors imports DRF's views, which import the parsers the
    # settings name (projects.api_errors itself) while the middleware loads.
    from projects import api_errors

    _connections_close_broken()
    if request.path_info.startswith("/api/"):
        response = api_errors.database_unavailable(request)
    else:
        context = {
            "status": 503,
            "heading": "Temporarily unavailable",
            "explanation": "MaskQC cannot reach its database just now. Try again in a few seconds.",
        }
        response = HttpResponse(loader.render_to_string("error.html", context), status=503)
    response["Retry-After"] = str(api_errors.DATABASE_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view's ``OperationalError``/``InterfaceError`` answers :func:`database_unavailable`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            database_logger.warning(
                "database unavailable: %s %s: %s",
                request.method,
                escape_uri_path(request.path),
                str(exception).splitlines()[0] if str(exception) else type(exception).__name__,
            )
            return database_unavailable(request)
        return None
