"""The agreement dashboard of a project and its CSV files (DESIGN §10, §11): for admins,
leads and reviewers of the project; annotators see their own style page instead (403 here),
outsiders nothing (404). Both read what the stored report holds (see
:mod:`qc.selectors.dashboards`); nothing is computed from masks at page time."""

import csv

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from projects.pages import project_page
from projects.permissions import Action, project_for
from qc.selectors.dashboards import CSV_NAMES, agreement_dashboard, dashboard_csv


@login_required
@require_safe
def project_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    dashboard = agreement_dashboard(user=request.user, role=role, project=project)
    return project_page(
        request, "qc/dashboard.html", project=project, role=role, dashboard=dashboard
    )


class CsvQuery(forms.Form):
    """What a CSV file may be narrowed to: a pair of annotators (``pairs``), a pq range
    (``image-pq``, as a histogram bin opens it). Parsed here so that no raw query value
    reaches the database (a NUL byte, which PostgreSQL refuses, or text for a number)."""

    a = forms.CharField(required=False, max_length=150)
    b = forms.CharField(required=False, max_length=150)
    pq_min = forms.FloatField(required=False, min_value=0, max_value=1)
    pq_max = forms.FloatField(required=False, min_value=0, max_value=1)


@login_required
@require_safe
def dashboard_csv_file(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """One of the dashboard's tables as CSV (``week``, ``class``, ``version``,
    ``heatmap``, ``annotators``, ``histogram``, ``pairs`` (``?a=&b=`` for one pair of
    annotators), ``image-pq`` (``?pq_min=&pq_max=`` for a range)); another name is a 404,
    a query that does not parse a 400 that says which value."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    if name not in CSV_NAMES:
        raise Http404("No such table.")
    query = CsvQuery(request.GET)
    if not query.is_valid():
        said = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in query.errors.items())
        return HttpResponse(
            f"This CSV file cannot be narrowed that way ({said})\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    params = query.cleaned_data
    table = dashboard_csv(project=project, name=name, params=params)
    if table is None:
        raise Http404("No such table.")
    header, rows = table
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{project.slug}-agreement-{name}{_suffix(name, params)}.csv"
    response["Content-Disposition"] = f'attachment; filename="{_safe(filename)}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _suffix(name: str, params: dict) -> str:
    """What the file name adds for a narrowed file: the pair, or the pq range."""
    if name == "pairs" and params["a"] and params["b"]:
        return f"-{params['a']}-{params['b']}"
    if name == "image-pq" and (params["pq_min"] is not None or params["pq_max"] is not None):
        lo = params["pq_min"] if params["pq_min"] is not None else 0.0
        hi = params["pq_max"] if params["pq_max"] is not None else 1.0
        return f"-pq-{lo:.2f}-{hi:.2f}"
    return ""


def _safe(filename: str) -> str:
    """The file name with only characters that need no quoting in a header."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in filename)
