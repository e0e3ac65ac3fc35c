"""The lead's assignment pages: images (and adding them), assigning a batch, and the
project's tasks."""

from django.urls import path

from projects.views import assignment as views
from projects.views.image_upload import image_upload

urlpatterns = [
    path("p/<slug:slug>/images/", views.project_images, name="project-images"),
    path("p/<slug:slug>/images/upload/", image_upload, name="image-upload"),
    path("p/<slug:slug>/assignment/", views.project_assignment, name="project-assignment"),
    path("p/<slug:slug>/assignment/assign/", views.assign, name="task-assign"),
    path("p/<slug:slug>/assignment/tasks/", views.project_task_list, name="project-task-list"),
    path(
        "p/<slug:slug>/assignment/tasks/<int:pk>/reassign/",
        views.task_reassign,
        name="task-reassign",
    ),
    path(
        "p/<slug:slug>/assignment/tasks/<int:pk>/cancel/",
        views.task_cancel_view,
        name="task-cancel",
    ),
]
