"""The lead's setup pages (settings, label classes, members) and creating a project."""

from django.urls import path

from projects.views import setup

urlpatterns = [
    path("projects/new/", setup.project_create, name="project-create"),
    path("p/<slug:slug>/settings/", setup.project_settings, name="project-settings"),
    path("p/<slug:slug>/settings/classes/", setup.project_classes, name="project-classes"),
    path(
        "p/<slug:slug>/settings/classes/<int:pk>/",
        setup.project_class_edit,
        name="project-class-edit",
    ),
    path("p/<slug:slug>/settings/members/", setup.project_members, name="project-members"),
    path(
        "p/<slug:slug>/settings/members/<int:pk>/role/",
        setup.project_member_role,
        name="project-member-role",
    ),
    path(
        "p/<slug:slug>/settings/members/<int:pk>/remove/",
        setup.project_member_remove,
        name="project-member-remove",
    ),
    path(
        "p/<slug:slug>/settings/members/<int:pk>/delete/",
        setup.project_member_delete,
        name="project-member-delete",
    ),
]
