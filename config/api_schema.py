"""The OpenAPI schema's error responses: a drf-spectacular postprocessing hook that gives
every operation the errors it can answer with, all in the one shape the exception handler
writes (``projects.api_errors``: ``{"message": ..., "details": {...}}``); and an extension
that marks serializers refusing unknown keys as closed objects. ``config.urls`` imports this
module, which registers the extension before any schema is generated."""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension

__all__ = ["ClosedObjectExtension", "error_responses"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What is wrong, in words."},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "description": "Field errors by field name, or the refusal's particulars.",
        },
    },
    "required": ["message", "details"],
}
_DESCRIPTIONS = {
    "400": "Invalid input: the message says what, the details name the fields.",
    "401": "Not authenticated (no token, a bad token, or credentials that do not log in).",
    "403": "A member without the right to do this.",
    "404": "Not found, or in a project the user is not a member of.",
    "409": "The object changed first, or is not in a state that allows this.",
    "413": "The request body or the uploaded file is too large.",
    "429": "Too many requests or too much pending work; Retry-After says when to try again.",
}
_WRITES = {"post", "put", "patch", "delete"}


def _codes(method: str, secured: bool) -> list[str]:
    """Any operation may meet invalid input, a missing object, a conflict (a download not
    ready yet, a changed row), throttling and bad credentials (a stale token, or the token
    endpoint's wrong password); a secured one a missing right too; a write a large body."""
    codes = ["400", "401", "404", "409", "429"]
    if secured:
        codes.append("403")
    if method in _WRITES:
        codes.append("413")
    return sorted(codes)


def error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the error responses to every operation of ``result`` (the schema) and the
    ``Error`` component they refer to; responses an operation declares itself are kept."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    default_security = result.get("security")
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            security = operation.get("security", default_security)
            secured = bool(security) and security != [{}]
            responses = operation.setdefault("responses", {})
            for code in _codes(method, secured):
                responses.setdefault(
                    code,
                    {
                        "description": _DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                )
    return result


class ClosedObjectExtension(OpenApiSerializerExtension):
    """Serializers that refuse keys they do not name: their schema says so
    (``additionalProperties: false``), so a client learns it from the schema."""

    target_class = "qc.serializers.io.ExportFiltersSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}
