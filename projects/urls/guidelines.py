"""The guideline editor's pages (leads and admins): the editor's home, drafts with their
live preview, publishing, the history with its diff, and the acknowledgements."""

from django.urls import path

from projects.views import guidelines as views

urlpatterns = [
    path("p/<slug:slug>/guideline/edit/", views.guideline_editor, name="guideline-editor"),
    path(
        "p/<slug:slug>/guideline/versions/new/",
        views.guideline_version_new,
        name="guideline-version-new",
    ),
    path(
        "p/<slug:slug>/guideline/versions/<int:pk>/edit/",
        views.guideline_draft,
        name="guideline-draft",
    ),
    path(
        "p/<slug:slug>/guideline/versions/<int:pk>/publish/",
        views.guideline_publish,
        name="guideline-publish",
    ),
    path(
        "p/<slug:slug>/guideline/versions/<int:pk>/discard/",
        views.guideline_draft_discard_view,
        name="guideline-draft-discard",
    ),
    path("p/<slug:slug>/guideline/preview/", views.guideline_preview, name="guideline-preview"),
    path("p/<slug:slug>/guideline/history/", views.guideline_history, name="guideline-history"),
    path(
        "p/<slug:slug>/guideline/acknowledgements/",
        views.guideline_acknowledgements,
        name="guideline-acknowledgements",
    ),
]
