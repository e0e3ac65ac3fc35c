"""What an annotator learns of their own work: the reviews of it, one review drawn on its
image, and their style report with its weekly trend (DESIGN §11). Blind (DESIGN §6): an
annotator reads only their own submissions; another's submission id is a 404."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from PIL import Image as PILImage

from projects.pages import project_page
from projects.permissions import Action, project_for
from qc import render
from qc.selectors.feedback import (
    PictureData,
    feedback_page,
    review_feedback,
    review_picture_data,
    review_picture_key,
    style_feedback,
    submission_of,
)
from qc.trend_chart import trend_charts

# The picture of a review is drawn once and kept: a submission never changes and a review is
# decided once (the key names both), so only memory bounds how long.
PICTURE_CACHE_SECONDS = 24 * 3600


@login_required
@require_safe
def my_reviews(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.SUBMIT)
    return project_page(
        request,
        "qc/my_reviews.html",
        project=project,
        role=role,
        **feedback_page(user=request.user, project=project, page=request.GET.get("page")),
    )


@login_required
@require_safe
def my_review(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
    detail = review_feedback(user=request.user, project=project, pk=pk)
    if detail is None:
        raise Http404("No such review of your work.")
    return project_page(request, "qc/my_review.html", project=project, role=role, **detail)


@login_required
@require_safe
def my_review_picture(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The PNG of one submission's instances over its image (or a neutral canvas), the
    flagged ones filled, thickly outlined and numbered as the page lists them. Drawn after
    the permission check and kept in the cache (:func:`review_picture_key`)."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
    submission = submission_of(user=request.user, project=project, pk=pk)
    if submission is None:
        raise Http404("No such review of your work.")
    key = review_picture_key(submission)
    png = cache.get(key)
    if png is None:
        data = review_picture_data(submission=submission)
        png = render.flagged_picture_png(
            _base_pixels(data),
            data.image.height,
            data.image.width,
            instances=data.instances,
            numbers=data.numbers,
        )
        cache.set(key, png, PICTURE_CACHE_SECONDS)
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_safe
def my_style(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_OWN_STYLE)
    style = style_feedback(user=request.user, project=project)
    return project_page(
        request,
        "qc/my_style.html",
        project=project,
        role=role,
        charts=trend_charts(style["weeks"]),
        **style,
    )


def _base_pixels(data: PictureData) -> Any:
    """The image's pixels as RGB, or None (a neutral canvas) when it has none or they
    cannot be read."""
    image = data.image
    if not image.file:
        return None
    try:
        with image.file.open("rb") as handle:
            return render.read_picture(handle, size=(image.width, image.height))
    except (OSError, ValueError, PILImage.DecompressionBombError):
        return None
