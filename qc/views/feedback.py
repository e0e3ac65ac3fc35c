"""What an annotator learns of their own work: reviews and style."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse


@login_required
def my_reviews(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def my_review(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def my_review_picture(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def my_style(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")
