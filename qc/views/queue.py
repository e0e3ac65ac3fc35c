"""The review queue and its thumbnails (DESIGN §11).

The queue opens to those who may review in the project (an outsider gets a 404, an
annotator a 403); a thumbnail to those who may review its image, as the viewer does. The
filters are GET parameters: a value that does not parse is left out and said so beside its
field, never an error page.
"""

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_GET

from projects.pages import project_page
from projects.permissions import Action, may_review_image, project_for
from qc.selectors import queue as selectors
from qc.selectors.queue import PER_PAGE, PER_PAGE_CHOICES, QueueFilters, ReviewState

# A thumbnail asked for by its key (the page's link) is that drawing for good; asked for
# without, the browser checks its ETag each time.
THUMBNAIL_MAX_AGE = 7 * 24 * 3600
THUMBNAIL_CACHE_SECONDS = 7 * 24 * 3600


class QueueFilterForm(forms.Form):
    label_class = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    annotator = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    version = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    state = forms.ChoiceField(required=False, choices=ReviewState.CHOICES)
    pq_min = forms.FloatField(required=False, min_value=0, max_value=1)
    pq_max = forms.FloatField(required=False, min_value=0, max_value=1)
    per = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in PER_PAGE_CHOICES], empty_value=None
    )

    def filters(self) -> QueueFilters:
        """The filters that parsed; those that did not are left out."""
        self.is_valid()
        data = self.cleaned_data
        return QueueFilters(
            label_class=data.get("label_class"),
            annotator=data.get("annotator"),
            version=data.get("version"),
            state=data.get("state") or None,
            pq_min=data.get("pq_min"),
            pq_max=data.get("pq_max"),
        )

    def per_page(self) -> int:
        self.is_valid()
        return self.cleaned_data.get("per") or PER_PAGE


@login_required
@require_GET
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.REVIEW)
    form = QueueFilterForm(request.GET)
    queue = selectors.review_queue_page(
        user=request.user,
        project=project,
        filters=form.filters(),
        page=request.GET.get("page", 1),
        per_page=form.per_page(),
    )
    return project_page(
        request, "qc/review_queue.html", project=project, role=role, queue=queue, form=form
    )


@login_required
@require_GET
def image_thumbnail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The image's disagreement thumbnail (PNG), drawn once per key and kept in the cache."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.REVIEW)
    source = selectors.thumbnail_source(project=project, pk=pk)
    if source is None:
        raise Http404("No such image.")
    if not may_review_image(user=request.user, image=source.image):
        raise PermissionDenied(f"You may not review {source.image.name}.")
    etag = f'"{source.key}"'
    cache_control = (
        f"private, max-age={THUMBNAIL_MAX_AGE}, immutable"
        if request.GET.get("v") == source.key
        else "private, no-cache"
    )
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        not_modified["Cache-Control"] = cache_control
        return not_modified
    cache_key = f"maskqc:thumbnail:{source.key}"
    png = cache.get(cache_key)
    if png is None:
        png = selectors.thumbnail_png(source)
        cache.set(cache_key, png, THUMBNAIL_CACHE_SECONDS)
    response = HttpResponse(png, content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response
