"""Log formats: ``LOG_FORMAT=json`` writes each record as one JSON object on one line.

The request log (:class:`config.middleware.RequestLogMiddleware`, logger ``maskqc.request``)
passes its fields as ``extra``; they become keys of the object beside ``time``, ``level``,
``logger`` and ``message``. A record with an exception carries its traceback as ``exc``
(one string, newlines escaped), so a line stays one line.
"""

import json
import logging
from datetime import UTC, datetime

__all__ = ["REQUEST_FIELDS", "JsonFormatter"]

# The request log's fields, in the order a reader looks for them.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "user_id", "request_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the request
    log's fields when the record has them, and ``exc`` for an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)
