"""The dashboards of a project: agreement, and (in qc.urls.funnel) the annotation funnel."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("qc.urls.funnel")),
]
