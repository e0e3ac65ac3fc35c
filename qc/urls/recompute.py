from django.urls import path

from qc.views import recompute

urlpatterns = [
    path("p/<slug:slug>/recompute/", recompute.project_recompute, name="project-recompute"),
    path("p/<slug:slug>/recompute/<int:pk>/", recompute.recompute_detail, name="recompute-detail"),
    path(
        "p/<slug:slug>/recompute/<int:pk>/retry",
        recompute.recompute_retry,
        name="recompute-retry",
    ),
]
