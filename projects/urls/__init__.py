"""The pages of projects: home, the overview, claiming a task and reading the guideline; the
lead's pages (settings, the guideline editor, assignment) are in this package's modules."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from projects import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("p/<slug:slug>/", views.project_overview, name="project-overview"),
    path("p/<slug:slug>/tasks/claim/", views.task_claim_next, name="task-claim-next"),
    path("p/<slug:slug>/guideline/", views.guideline, name="guideline"),
    path(
        "p/<slug:slug>/guideline/<int:pk>/acknowledge/",
        views.guideline_acknowledge,
        name="guideline-acknowledge",
    ),
    path(
        "p/<slug:slug>/guideline/examples/<int:pk>/",
        views.guideline_example,
        name="guideline-example",
    ),
    path("", include("projects.urls.setup")),
    path("", include("projects.urls.guidelines")),
    path("", include("projects.urls.assignment")),
]
