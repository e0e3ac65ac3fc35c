"""Pages of projects: home (each role to its work), the project overview, claiming the next
task and the guideline."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from projects import selectors, services
from projects.errors import ApplicationError, ConflictError
from projects.files import private_field_response
from projects.models import GuidelineVersion
from projects.pages import ROLE_HOME, project_page, raise_refusal
from projects.permissions import Action, project_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each user to their work: with one project straight there, else a project list."""
    entries = selectors.memberships_of(user=request.user)
    if len(entries) == 1:
        project, role = entries[0]
        return redirect(ROLE_HOME[role], slug=project.slug)
    return render(
        request,
        "projects/home.html",
        {"entries": [(project, role, ROLE_HOME[role]) for project, role in entries]},
    )


@login_required
def project_overview(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_OVERVIEW)
    return project_page(
        request,
        "projects/overview.html",
        project=project,
        role=role,
        **selectors.project_overview(project=project, user=request.user),
    )


@login_required
@require_POST
def task_claim_next(request: HttpRequest, slug: str) -> HttpResponse:
    """Claim the next assigned task and go to its submit page; a message either way."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
    try:
        task = services.task_claim_next(project=project, actor=request.user)
    except ConflictError:
        messages.info(
            request,
            "No task is waiting to be claimed: every task assigned to you is started or "
            "done. Your lead assigns new ones.",
        )
        return redirect("my-tasks", slug=project.slug)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
        return redirect("my-tasks", slug=project.slug)
    messages.success(request, f"{task.image.name} is yours now: upload your masks when ready.")
    return redirect("task-submit", slug=project.slug, pk=task.pk)


def safe_next(request: HttpRequest) -> str | None:
    """The ``next`` of the request (POST, else GET) when it is a path on this site."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@login_required
def guideline(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.READ_GUIDELINES)
    return project_page(
        request,
        "projects/guideline.html",
        project=project,
        role=role,
        next=safe_next(request),
        **selectors.guideline_page(user=request.user, project=project),
    )


@login_required
@require_POST
def guideline_acknowledge(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Acknowledge version ``pk``; then back to ``next`` (the page the gate sent the user
    from) once nothing is left to acknowledge, else to the guideline again."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.READ_GUIDELINES)
    version = get_object_or_404(GuidelineVersion, pk=pk, guideline__project=project)
    target = safe_next(request)
    try:
        services.guideline_acknowledge(version=version, user=request.user)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"You acknowledged {version}.")
        if target and not selectors.unacknowledged_versions(user=request.user, project=project):
            return redirect(target)
    back = reverse("guideline", args=[project.slug])
    return redirect(f"{back}?{urlencode({'next': target})}" if target else back)


@login_required
def guideline_example(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The picture of a guideline example, for whoever may read the project's guidelines."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.READ_GUIDELINES)
    example = selectors.guideline_example_of(user=request.user, project=project, pk=pk)
    if example is None or not example.image.file:
        raise Http404("No such example.")
    return private_field_response(request, example.image.file, attachment=False)
