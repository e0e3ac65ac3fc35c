"""The pages of the annotation funnel; included from qc.urls.dashboards."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
