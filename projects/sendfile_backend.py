"""A django-sendfile2 backend that streams the file from Django (``FileResponse``), a
block at a time, for deployments without a web server in front that could send it; the
library's own ``simple`` backend reads the whole file into memory first."""

from pathlib import Path

from django.http import FileResponse, HttpRequest


def sendfile(request: HttpRequest, filepath: Path, **kwargs: object) -> FileResponse:
    """The response django-sendfile2 completes with the download's headers."""
    return FileResponse(filepath.open("rb"))
