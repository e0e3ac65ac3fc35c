"""The OpenAPI schema's error responses: a drf-spectacular postprocessing hook that gives
every operation the errors it can answer with, all in the one shape the exception handler
writes (``projects.api_errors``: ``{"message": ..., "details": {...}}``)."""

from typing import Any

__all__ = ["error_responses"]

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
    "401": "Not authenticated (no or a bad token).",
    "403": "A member without the right to do this.",
    "404": "Not found, or in a project the user is not a member of.",
    "409": "The object changed first, or is not in a state that allows this.",
    "413": "The request body or the uploaded file is too large.",
    "429": "Too many requests or too much pending work; Retry-After says when to try again.",
}
_WRITES = {"post", "put", "patch", "delete"}


def _codes(method: str, operation: dict[str, Any], secured: bool) -> list[str]:
    codes = ["400", "404", "429"]
    if secured:
        codes += ["401", "403"]
    if method in _WRITES:
        codes += ["409", "413"]
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
            for code in _codes(method, operation, secured):
                responses.setdefault(
                    code,
                    {
                        "description": _DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                )
    return result
