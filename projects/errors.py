from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A refusal a user can act on: the message says what is wrong and where.

    `extra` carries field details for the API; commands print the message and exit non-zero.
    """

    def __init__(self, message: str, *, extra: dict | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status = status


class ConflictError(ApplicationError):
    """Someone else changed the object first (HTTP 409)."""

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message, extra=extra, status=409)


class ImportRefused(ApplicationError):
    """An import refused because of its input. Like a reader's :class:`qc.formats.FormatError`, the
    message names the file, the image and the object, then says what is wrong; ``extra``
    carries them as fields for the API."""

    def __init__(
        self, message: str, *, file: str, image: str | None = None, obj: str | None = None
    ) -> None:
        self.file, self.image, self.object, self.reason = file, image, obj, message
        super().__init__(
            f"{file}: image {image if image is not None else '(none)'}: "
            f"object {obj if obj is not None else '(none)'}: {message}",
            extra={"file": file, "image": image, "object": obj, "reason": message},
        )

    @classmethod
    def from_format_error(cls, error: Any) -> ImportRefused:
        """The refusal of a reader's error (:class:`qc.formats.FormatError`: its ``message``,
        ``file``, ``image`` and ``object``)."""
        return cls(error.message, file=error.file, image=error.image, obj=error.object)
