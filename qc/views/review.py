"""The review viewer and the decisions taken in it."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def review_viewer(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def image_pixels(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def review_decide(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def review_label(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")
