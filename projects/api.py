"""REST API for projects and label classes (/api/v1/projects/…)."""

from django.db.models import QuerySet
from rest_framework import generics

from projects.models import LabelClass, Project
from projects.permissions import Action, project_for
from projects.selectors import projects_visible_to
from projects.serializers import LabelClassSerializer, ProjectSerializer


class ProjectList(generics.ListAPIView):
    """Projects the user may enter, with the user's role in each."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[Project]:
        return projects_visible_to(user=self.request.user)


class ProjectDetail(generics.RetrieveAPIView):
    serializer_class = ProjectSerializer

    def get_object(self) -> Project:
        project, role = project_for(user=self.request.user, slug=self.kwargs["slug"])
        project.user_role = role
        return project


class LabelClassList(generics.ListAPIView):
    serializer_class = LabelClassSerializer
    queryset = LabelClass.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[LabelClass]:
        project, _ = project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=Action.VIEW_PROJECT
        )
        return LabelClass.objects.filter(project=project).order_by("name")
