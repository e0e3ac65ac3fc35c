"""The review queue and its thumbnails."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def review_queue(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def image_thumbnail(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")
