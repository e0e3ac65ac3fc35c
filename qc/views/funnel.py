"""The work dashboard of a project (the funnel: images and tasks by state, throughput per
day, the review backlog, overdue tasks) with its throughput as CSV, and the site admin's
page of all projects (DESIGN §10, §11).

The funnel opens to those who see the project's dashboards (admins, leads, reviewers; an
annotator gets a 403, an outsider a 404); the page of all projects to site staff only.
Every count links to the list behind it, where the viewer may open that list and it holds
exactly what was counted: the images and task lists are the lead's, so a reviewer's counts
of the project are plain numbers; the count of the viewer's own review queue (which leaves
out what the viewer annotated, and a reviewer's images assigned to others) links to it."""

import csv
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_safe

from projects.models import Project, Role
from projects.pages import project_page
from projects.permissions import ADMIN, Action, project_for
from projects.selectors import QCState
from qc import funnel_chart
from qc.funnel_chart import Bar
from qc.selectors.funnel import WEEKS, WEEKS_CHOICES, Day, funnel_page, site_projects, throughput

_MANAGERS = frozenset({ADMIN, Role.LEAD})


class WeeksForm(forms.Form):
    weeks = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in WEEKS_CHOICES], empty_value=None
    )

    def weeks_shown(self) -> int:
        """The weeks asked for, or the default when none (or one not offered) was."""
        return (self.cleaned_data.get("weeks") if self.is_valid() else None) or WEEKS


def list_url(name: str, project: Project, **query: Any) -> str:
    """The URL of the list ``name`` of ``project`` with ``query`` as its filters."""
    path = reverse(name, args=[project.slug])
    return f"{path}?{urlencode(query)}" if query else path


def _image_bars(project: Project, images: list, *, manages: bool) -> list[Bar]:
    return [
        Bar(key, label, n, list_url("project-images", project, state=key) if manages else None)
        for key, label, n in images
    ]


def _task_bars(project: Project, tasks: list, *, manages: bool) -> list[Bar]:
    return [
        Bar(key, label, n, list_url("project-task-list", project, status=key) if manages else None)
        for key, label, n in tasks
    ]


def _daily_charts(days: list[Day]) -> list[dict[str, Any]]:
    dates = [d.day for d in days]
    return [
        {
            "key": key,
            "chart": funnel_chart.daily_columns(
                chart_id=f"daily-{key}",
                title=title,
                days=dates,
                counts=[getattr(d, key) for d in days],
            ),
        }
        for key, title in (
            ("submissions", "Submissions made"),
            ("reviews", "Reviews decided"),
            ("labels", "Labels accepted"),
        )
    ]


@login_required
@require_safe
def project_funnel(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    form = WeeksForm(request.GET)
    manages = role in _MANAGERS
    data = funnel_page(
        user=request.user, project=project, weeks=form.weeks_shown(), may_open_all=manages
    )
    return project_page(
        request,
        "qc/funnel.html",
        project=project,
        role=role,
        manages=manages,
        weeks_choices=WEEKS_CHOICES,
        image_chart=funnel_chart.count_bars(
            chart_id="image-states",
            title="Images by QC state",
            bars=_image_bars(project, data["images"], manages=manages),
        ),
        task_chart=funnel_chart.count_bars(
            chart_id="task-statuses",
            title="Tasks by status",
            bars=_task_bars(project, data["tasks"], manages=manages),
        ),
        daily_charts=_daily_charts(data["days"]),
        rework=dict((key, n) for key, _, n in data["images"])[QCState.NEEDS_REWORK],
        rework_url=list_url("project-images", project, state=QCState.NEEDS_REWORK),
        in_review_url=list_url("project-images", project, state=QCState.IN_REVIEW),
        overdue_url=list_url("project-task-list", project, overdue=1),
        images_url=list_url("project-images", project),
        tasks_url=list_url("project-task-list", project),
        agreement_url=list_url("project-dashboard", project),
        **data,
    )


@login_required
@require_safe
def throughput_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The funnel's throughput table as CSV, one row a day, oldest first."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
    weeks = WeeksForm(request.GET).weeks_shown()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{project.slug}-throughput-{weeks}w.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(
        [
            "day",
            "submissions",
            "reviews_decided",
            "reviews_accepted",
            "reviews_rejected",
            "labels_accepted",
        ]
    )
    for day in throughput(project=project, weeks=weeks):
        writer.writerow(
            [
                day.day.isoformat(),
                day.submissions,
                day.reviews,
                day.accepted,
                day.rejected,
                day.labels,
            ]
        )
    return response


@login_required
@require_safe
def site_dashboard(request: HttpRequest) -> HttpResponse:
    """Every project of the site in one table, for site staff (others get a 403)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only site admins see every project.")
    rows = [
        {
            "row": row,
            "images_url": list_url("project-images", row.project),
            "states": [
                (key, label, n, list_url("project-images", row.project, state=key))
                for key, label, n in row.states
            ],
            "tasks_url": list_url("project-task-list", row.project, status="open"),
            "waiting_url": list_url("project-images", row.project, state=QCState.IN_REVIEW),
            "agreement_url": list_url("project-dashboard", row.project),
        }
        for row in site_projects()
    ]
    return render(request, "qc/site_dashboard.html", {"rows": rows})
