"""The annotator's task list (DESIGN §11): their tasks with status, due date and the
feedback waiting on rejected ones."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from projects.pages import project_page
from projects.permissions import Action, project_for
from qc.selectors.tasks import annotator_tasks_page


@login_required
def my_tasks(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.SUBMIT)
    return project_page(
        request,
        "qc/my_tasks.html",
        project=project,
        role=role,
        **annotator_tasks_page(
            user=request.user, project=project, status=request.GET.get("status")
        ),
    )
