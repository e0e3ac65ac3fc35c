"""The agreement dashboard of a project and its CSV files (DESIGN §10, §11): for admins,
leads and reviewers of the project; annotators see their own style page instead (403 here),
outsiders nothing (404). Both read what the stored report holds (see
:mod:`qc.selectors.dashboards`); nothing is computed from masks at page time."""

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from projects.pages import project_page
from projects.permissions import Action, project_for
from qc.selectors.dashboards import agreement_dashboard, dashboard_csv


@login_required
@require_safe
def project_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    dashboard = agreement_dashboard(user=request.user, role=role, project=project)
    return project_page(
        request, "qc/dashboard.html", project=project, role=role, dashboard=dashboard
    )


@login_required
@require_safe
def dashboard_csv_file(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One of the dashboard's tables as CSV (``week``, ``class``, ``version``,
    ``heatmap``, ``annotators``, ``histogram``, ``pairs`` (``?a=&b=`` for one pair of
    annotators), ``image-pq``); another name is a 404."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    params = {key: request.GET.get(key, "") for key in ("a", "b")}
    table = dashboard_csv(project=project, name=name, params=params)
    if table is None:
        raise Http404("No such table.")
    header, rows = table
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    suffix = f"-{params['a']}-{params['b']}" if name == "pairs" and all(params.values()) else ""
    filename = f"{project.slug}-agreement-{name}{suffix}.csv"
    response["Content-Disposition"] = f'attachment; filename="{_safe(filename)}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _safe(filename: str) -> str:
    """The file name with only characters that need no quoting in a header."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
