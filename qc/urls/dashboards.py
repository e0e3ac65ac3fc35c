"""The dashboards of a project: agreement, and (in qc.urls.funnel) the annotation funnel."""

from django.urls import include, path

from qc.views import dashboards

urlpatterns: list = [
    path("p/<slug:slug>/dashboard/", dashboards.project_dashboard, name="project-dashboard"),
    path(
        "p/<slug:slug>/dashboard/<slug:name>.csv",
        dashboards.dashboard_csv_file,
        name="dashboard-csv",
    ),
    path("", include("qc.urls.funnel")),
]
