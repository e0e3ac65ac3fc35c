"""The pages of the annotation funnel; included from qc.urls.dashboards."""

from django.urls import path

from qc.views import funnel

urlpatterns = [
    path("p/<slug:slug>/dashboard/work/", funnel.project_funnel, name="project-funnel"),
    path(
        "p/<slug:slug>/dashboard/work/throughput.csv",
        funnel.throughput_csv,
        name="project-funnel-csv",
    ),
    path("dashboard/", funnel.site_dashboard, name="site-dashboard"),
]
