"""The API's errors and the JSON it accepts.

One exception handler (:func:`exception_handler`): every error is JSON with a message and
field details; a refusal whose ``extra`` holds ``retry_after`` (seconds, as a 429 from a
service carries it) gets that ``Retry-After`` header, and a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413. One JSON parser (:class:`JSONParser`) refuses
documents nested deeper than :data:`MAX_JSON_DEPTH` with a 400 (Python's recursion would
otherwise end them in a 500), and :func:`json_depth_check` applies the same bound to JSON
read from a form field. :func:`not_found` and :func:`server_error` answer URLs under
``/api/`` that no API view handles. A database outage (``OperationalError``,
``InterfaceError``) is a 503 with ``"code": "database_unavailable"`` beside the message
(:func:`database_unavailable`), inside DRF's views and out.
"""

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from projects.errors import ApplicationError

__all__ = [
    "DATABASE_RETRY_AFTER_SECONDS",
    "DATABASE_UNAVAILABLE",
    "MAX_JSON_DEPTH",
    "JSONParser",
    "bad_request",
    "database_unavailable",
    "exception_handler",
    "json_depth_check",
    "json_loads",
    "not_found",
    "permission_denied",
    "server_error",
]

# Deep enough for every document the API takes (options, filters, instances with polygons).
MAX_JSON_DEPTH = 32


def json_depth_check(value: Any, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ValueError`` when ``value`` (parsed JSON) nests lists and objects deeper than
    ``limit``; walks it without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise ValueError(f"JSON nested deeper than {limit} levels.")
        stack.extend((child, depth + 1) for child in children)


def json_loads(text: str | bytes) -> Any:
    """``json.loads`` bounded by :data:`MAX_JSON_DEPTH`; ``ValueError`` on bad or too deep
    input (a document too deep for the decoder itself included)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    json_depth_check(value)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with a depth bound: too deep a document is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            return json_loads(text)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError included
            raise exceptions.ParseError(f"JSON parse error - {error}") from None


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "Invalid input."
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail)
    return str(detail)


# A 503 for a database outage: its body, and the seconds its Retry-After asks a client to
# wait (a restarted server or a failover is usually back by then, and a killed connection is
# replaced on the next request).
DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = {
    "message": "The database is unavailable just now; try again in a few seconds.",
    "details": {},
    "code": "database_unavailable",
}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Map service errors and DRF errors to `{"message": ..., "details": {...}}`."""
    if isinstance(exc, OperationalError | InterfaceError):
        # Django closes the broken connection at the end of the request.
        response = Response(DATABASE_UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, ApplicationError):
        response = Response({"message": exc.message, "details": exc.extra}, status=exc.status)
        if exc.extra.get("retry_after") is not None:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"message": "The request body is too large.", "details": {}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response({"message": "Bad request.", "details": {}}, status=400)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"errors": exc.messages}
        return Response(
            {"message": "Invalid input.", "details": details}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(detail, dict) and set(detail) == {"detail"}:
        detail = detail["detail"]
    response.data = {
        "message": _message(detail),
        "details": detail if isinstance(detail, dict) else {},
    }
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A URL under /api/ that no API view handles (or a view's 404 outside DRF)."""
    return JsonResponse({"message": "Not found.", "details": {}}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A request refused before any API view ran (a malformed or suspicious request)."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(
            {"message": "The request body is too large.", "details": {}}, status=413
        )
    return JsonResponse({"message": "Bad request.", "details": {}}, status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """A 403 raised outside DRF under /api/ (a CSRF failure included)."""
    return JsonResponse({"message": "Permission denied.", "details": {}}, status=403)


def database_unavailable(request: HttpRequest) -> JsonResponse:
    """503 for a database outage met outside DRF's views under /api/."""
    response = JsonResponse(DATABASE_UNAVAILABLE, status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> JsonResponse:
    """An unexpected error under /api/: JSON, with nothing of what went wrong."""
    return JsonResponse({"message": "Internal server error.", "details": {}}, status=500)
