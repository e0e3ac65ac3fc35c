"""An annotator submits for a task by uploading a file."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def task_submit(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")
