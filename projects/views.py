"""Pages: home (each role to its work), project list and overview, my tasks, review queue."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from projects import selectors
from projects.models import Project, Role
from projects.permissions import ADMIN, Action, project_for

ROLE_HOME = {
    ADMIN: "project-overview",
    Role.LEAD: "project-overview",
    Role.REVIEWER: "review-queue",
    Role.ANNOTATOR: "my-tasks",
}


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


def _project_page(
    request: HttpRequest, template: str, *, project: Project, role: str, **context: Any
) -> HttpResponse:
    """A page of one project: the template gets the project and the user's role in it."""
    return render(request, template, {"project": project, "role": role, **context})


@login_required
def project_overview(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_OVERVIEW)
    return _project_page(
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
    return _project_page(request, "projects/my_tasks.html", project=project, role=role, tasks=tasks)


@login_required
def review_queue(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.REVIEW)
    images = selectors.review_queue(user=request.user, project=project)
    return _project_page(
        request, "projects/review_queue.html", project=project, role=role, images=images
    )
