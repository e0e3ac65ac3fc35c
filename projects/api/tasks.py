"""REST API: tasks — the caller's own, a lead's filtered list, assigning a batch with the
overlap plan, claim-next, start, cancel and reassign (/api/v1/projects/<slug>/tasks/…)."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from projects import selectors, services
from projects.api.core import ProjectScoped, valid
from projects.filters import TaskFilter
from projects.models import Task
from projects.permissions import Action
from projects.serializers import (
    TaskAssignPlanSerializer,
    TaskAssignSerializer,
    TaskReassignSerializer,
    TaskSerializer,
)


class MyTasks(ProjectScoped, generics.ListAPIView):
    """The caller's own tasks in the project, open ones first (rework, in progress,
    assigned), then by due date."""

    serializer_class = TaskSerializer
    queryset = Task.objects.none()

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.tasks_of_annotator(user=self.request.user, project=self.project())


class TaskList(ProjectScoped, generics.ListAPIView):
    """Every task of the project (leads and admins), filtered by status (repeatable),
    annotator, image and due date."""

    serializer_class = TaskSerializer
    queryset = Task.objects.none()
    filterset_class = TaskFilter

    def get_queryset(self) -> QuerySet[Task]:
        return selectors.tasks_of_project(project=self.project(Action.ASSIGN_TASKS))


class TaskAssign(ProjectScoped, generics.GenericAPIView):
    """Assign a batch of images (leads and admins): each gets 1 or ``overlap`` annotators
    per the project's plan, the least loaded first, never the same image twice. The answer
    is the tasks created and who now has each image."""

    serializer_class = TaskAssignSerializer

    @extend_schema(request=TaskAssignSerializer, responses={201: TaskAssignPlanSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self.project(Action.ASSIGN_TASKS)
        data = valid(TaskAssignSerializer, request, project=project)
        created = services.task_assign(
            project=project,
            images=data["images"],
            actor=request.user,
            annotators=data.get("annotators"),
            due_date=data.get("due_date"),
            seed=data["seed"],
        )
        plan = {"created": created, "images": selectors.assignment_of(images=data["images"])}
        return Response(TaskAssignPlanSerializer(plan).data, status=status.HTTP_201_CREATED)


class TaskClaimNext(ProjectScoped, generics.GenericAPIView):
    """The caller's next assigned task (soonest due, then oldest), now in progress. Never
    the same task to two callers; nothing left is a 409."""

    serializer_class = TaskSerializer

    @extend_schema(request=None, responses=TaskSerializer)
    def post(self, request: Request, slug: str) -> Response:
        task = services.task_claim_next(project=self.project(), actor=request.user)
        return Response(TaskSerializer(task).data)


class _TaskAction(ProjectScoped, generics.GenericAPIView):
    serializer_class = TaskSerializer

    def task(self) -> Task:
        tasks = selectors.tasks_of_project(project=self.project())
        return get_object_or_404(tasks, pk=self.kwargs["pk"])


class TaskStart(_TaskAction):
    """Its annotator starts an assigned task (now in progress); anything else is a 409."""

    @extend_schema(request=None, responses=TaskSerializer)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        task = services.task_start(task=self.task(), actor=request.user)
        return Response(TaskSerializer(task).data)


class TaskCancel(_TaskAction):
    """A lead or an admin cancels an open task; a task not open is a 409."""

    @extend_schema(request=None, responses=TaskSerializer)
    def post(self, request: Request, slug: str, pk: int) -> Response:
        task = services.task_cancel(task=self.task(), actor=request.user)
        return Response(TaskSerializer(task).data)


class TaskReassign(_TaskAction):
    """A lead or an admin moves an open task to another annotator of the project; one who
    has a task on that image already is a 409. The answer is the new task (the old one is
    cancelled)."""

    @extend_schema(request=TaskReassignSerializer, responses={201: TaskSerializer})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        task = self.task()
        data = valid(TaskReassignSerializer, request)
        new = services.task_reassign(task=task, annotator=data["annotator"], actor=request.user)
        return Response(TaskSerializer(new).data, status=status.HTTP_201_CREATED)
