"""Recomputing a project's features and agreement in the background, for leads and admins:
start one, and watch its progress without reloading the page (the status partial polls
itself while the job may still change); a failed one is retried from its page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from projects.errors import ApplicationError
from projects.pages import project_page, project_page_or_partial, raise_refusal
from projects.permissions import Action, project_for
from qc.selectors import recompute as selectors
from qc.services.recompute import recompute_create
from qc.views.io import job_retry_then_follow


@login_required
@require_http_methods(["GET", "POST"])
def project_recompute(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's recomputes; a POST starts one and opens it."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    if request.method == "POST":
        try:
            recompute = recompute_create(project=project, actor=request.user)
        except ApplicationError as error:
            raise_refusal(error)
            messages.error(request, error.message)
            return redirect("project-recompute", slug=project.slug)
        messages.success(request, "The recompute is queued; this page follows its progress.")
        return redirect("recompute-detail", slug=project.slug, pk=recompute.pk)
    return project_page(
        request,
        "qc/recompute.html",
        project=project,
        role=role,
        **selectors.recompute_page(project=project),
    )


@login_required
@require_http_methods(["GET"])
def recompute_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One recompute; to htmx's poll, only its status partial."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    state = selectors.recompute_of(project=project, pk=pk)
    if state is None:
        raise Http404("No such recompute.")
    return project_page_or_partial(
        request,
        "qc/recompute_detail.html",
        "qc/_recompute_status.html",
        project=project,
        role=role,
        state=state,
    )


@login_required
@require_POST
def recompute_retry(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Run a failed recompute again (every image, with the settings of now)."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    state = selectors.recompute_of(project=project, pk=pk)
    if state is None:
        raise Http404("No such recompute.")
    return job_retry_then_follow(
        request, project=project, job=state.job, noun="The recompute", detail="recompute-detail"
    )
