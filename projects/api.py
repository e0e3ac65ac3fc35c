"""REST API for projects and label classes (/api/v1/projects/…)."""

from django.db.models import CharField, OuterRef, QuerySet, Subquery, Value
from rest_framework import generics

from projects.models import LabelClass, Membership, Project
from projects.permissions import Action, project_for
from projects.serializers import LabelClassSerializer, ProjectSerializer


class ProjectList(generics.ListAPIView):
    """Projects the user may enter, with the user's role in each."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[Project]:
        user = self.request.user
        if user.is_staff:
            return Project.objects.annotate(
                user_role=Value("admin", output_field=CharField())
            ).order_by("name")
        role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
        return (
            Project.objects.filter(memberships__user=user)
            .annotate(user_role=Subquery(role))
            .order_by("name")
        )


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
