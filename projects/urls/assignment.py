"""The lead's assignment pages: images, assigning a batch, and the project's tasks."""

from django.urls import path

from projects.views import assignment as views

urlpatterns = [
    path("p/<slug:slug>/images/", views.project_images, name="project-images"),
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
