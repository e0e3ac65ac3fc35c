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
