"""One exception handler for the API: every error is JSON with a message and field details."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from projects.errors import ApplicationError


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "Invalid input."
    if isinstance(detail, list):
        return " ".join(str(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Map service errors and DRF errors to `{"message": ..., "details": {...}}`."""
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "details": exc.extra}, status=exc.status)
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
