"""Pages of projects: home (each role to its work), the project overview, the annotator's tasks
and the guideline."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from projects import selectors
from projects.pages import ROLE_HOME, project_page
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
        **selectors.project_overview(project=project),
    )


@login_required
def my_tasks(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
    tasks = selectors.tasks_of_annotator(user=request.user, project=project)
    return project_page(request, "projects/my_tasks.html", project=project, role=role, tasks=tasks)


@login_required
def task_claim_next(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def guideline(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def guideline_acknowledge(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")


@login_required
def guideline_example(request: HttpRequest, slug: str, **kwargs: object) -> HttpResponse:
    raise Http404("This page is being built.")
