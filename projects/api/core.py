"""REST API: projects, label classes and members (/api/v1/projects/…)."""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from projects import selectors, services
from projects.models import LabelClass, Membership, Project
from projects.permissions import Action, project_for, project_role
from projects.serializers import (
    LabelClassSerializer,
    LabelClassWriteSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    MembershipRemovedSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)


class ProjectScoped:
    """A view inside one project (``slug`` in the URL): :meth:`project` answers 404 to an
    outsider and 403 to a member without the right (DESIGN §10)."""

    request: Request
    kwargs: dict

    def project(self, action: Action = Action.VIEW_PROJECT) -> Project:
        return project_for(user=self.request.user, slug=self.kwargs["slug"], action=action)[0]


def valid(serializer_class, request: Request, **context) -> dict:
    """The request body validated by ``serializer_class`` (a 400 listing the fields when
    it is not)."""
    serializer = serializer_class(data=request.data, context={"request": request, **context})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProjectList(generics.ListAPIView):
    """Projects the user may enter, with the user's role in each; or a new project (site
    admins only: anyone else gets a 403, whether the slug exists or not). The admin who
    creates it is not made a member: they add its lead."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.projects_visible_to(user=self.request.user)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def post(self, request: Request) -> Response:
        project = services.project_create(
            actor=request.user, **valid(ProjectCreateSerializer, request)
        )
        project.user_role = project_role(user=request.user, project=project)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetail(generics.RetrieveAPIView):
    """A project with the caller's role; its settings changed (leads and admins)."""

    serializer_class = ProjectSerializer

    def get_object(self) -> Project:
        project, role = project_for(user=self.request.user, slug=self.kwargs["slug"])
        project.user_role = role
        return project

    @extend_schema(request=ProjectUpdateSerializer, responses={200: ProjectSerializer})
    def patch(self, request: Request, slug: str) -> Response:
        project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
        serializer = ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(
            project=project, actor=request.user, **serializer.validated_data
        )
        project.user_role = role
        return Response(ProjectSerializer(project).data)


class LabelClassList(ProjectScoped, generics.ListAPIView):
    """The project's label classes (every member); a new one (leads and admins)."""

    serializer_class = LabelClassSerializer
    queryset = LabelClass.objects.none()  # the schema's model; requests use get_queryset

    def get_queryset(self) -> QuerySet[LabelClass]:
        return LabelClass.objects.filter(project=self.project()).order_by("name")

    @extend_schema(request=LabelClassWriteSerializer, responses={201: LabelClassSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self.project(Action.MANAGE_PROJECT)
        data = valid(LabelClassWriteSerializer, request)
        label_class = services.label_class_create(project=project, actor=request.user, **data)
        return Response(LabelClassSerializer(label_class).data, status=status.HTTP_201_CREATED)


class LabelClassDetail(ProjectScoped, generics.RetrieveAPIView):
    """One label class (every member); edit its name, colour or match IoU (leads, admins)."""

    serializer_class = LabelClassSerializer
    queryset = LabelClass.objects.none()

    def get_object(self) -> LabelClass:
        return get_object_or_404(LabelClass, project=self.project(), pk=self.kwargs["pk"])

    @extend_schema(request=LabelClassWriteSerializer(partial=True), responses=LabelClassSerializer)
    def patch(self, request: Request, slug: str, pk: int) -> Response:
        project = self.project(Action.MANAGE_PROJECT)
        label_class = get_object_or_404(LabelClass, project=project, pk=pk)
        serializer = LabelClassWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        label_class = services.label_class_update(
            label_class=label_class, actor=request.user, **serializer.validated_data
        )
        return Response(LabelClassSerializer(label_class).data)


class MemberList(ProjectScoped, generics.ListAPIView):
    """The project's members and roles; add a user as a member (leads and admins). A user
    who is a member already is a 409."""

    serializer_class = MemberSerializer
    queryset = Membership.objects.none()

    def get_queryset(self) -> QuerySet[Membership]:
        return selectors.members_of(project=self.project(Action.MANAGE_PROJECT))

    @extend_schema(request=MemberAddSerializer, responses={201: MemberSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self.project(Action.MANAGE_PROJECT)
        data = valid(MemberAddSerializer, request)
        membership = services.membership_add(
            project=project, user=data["username"], role=data["role"], actor=request.user
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetail(ProjectScoped, generics.RetrieveAPIView):
    """One member (leads and admins): change their role, or remove them; removing an
    annotator moves their open tasks to the other annotators (see the response)."""

    serializer_class = MemberSerializer
    queryset = Membership.objects.none()

    def get_object(self) -> Membership:
        members = selectors.members_of(project=self.project(Action.MANAGE_PROJECT))
        username = self.kwargs["username"]
        if "\x00" in username:  # no user has one, and PostgreSQL refuses it in a query
            raise Http404("No such member.")
        return get_object_or_404(members, user__username=username)

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def patch(self, request: Request, slug: str, username: str) -> Response:
        membership = self.get_object()
        data = valid(MemberRoleSerializer, request)
        membership = services.membership_role_change(
            membership=membership, role=data["role"], actor=request.user
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(request=None, responses={200: MembershipRemovedSerializer})
    def delete(self, request: Request, slug: str, username: str) -> Response:
        result = services.membership_remove(membership=self.get_object(), actor=request.user)
        return Response(MembershipRemovedSerializer(result).data)
