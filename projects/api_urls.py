"""The projects app's API routes, under /api/v1/."""

from django.urls import path

from projects import api

urlpatterns = [
    path("projects/", api.ProjectList.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", api.ProjectDetail.as_view(), name="api-project"),
    path(
        "projects/<slug:slug>/label-classes/",
        api.LabelClassList.as_view(),
        name="api-label-classes",
    ),
]
