"""REST API: submissions under the blind rule (DESIGN §6, §10) -- list, detail, a new one
for one's own task as JSON instances or as an uploaded file -- and review decisions."""

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.errors import ApplicationError
from projects.models import Project, Task
from projects.permissions import Action, has_permission, project_for
from qc.api.images import CONFLICT, ERRORS, MAX_ID, NOT_FOUND
from qc.models import Instance, Submission
from qc.selectors import submission_detail_prefetches, submissions_visible_to
from qc.serializers.workflow import (
    ReviewDecideSerializer,
    ReviewSerializer,
    SubmissionCreateSerializer,
    SubmissionDetailSerializer,
    SubmissionSerializer,
    SubmissionUploadSerializer,
    instance_inputs,
)
from qc.services import FlagInput, review_decide, submission_create, submission_upload


class SubmissionFilter(django_filters.FilterSet):
    image = django_filters.NumberFilter(field_name="task__image_id", min_value=1, max_value=MAX_ID)
    task = django_filters.NumberFilter(field_name="task_id", min_value=1, max_value=MAX_ID)
    annotator = django_filters.CharFilter(field_name="task__annotator__username")
    decision = django_filters.ChoiceFilter(
        field_name="review__decision", choices=[("accept", "accept"), ("reject", "reject")]
    )
    undecided = django_filters.BooleanFilter(field_name="review", lookup_expr="isnull")

    class Meta:
        model = Submission
        fields = ["image", "task", "annotator", "decision", "undecided"]


def _visible(request: Request, slug: str) -> tuple[Project, QuerySet[Submission]]:
    project, _ = project_for(user=request.user, slug=slug)
    return project, submissions_visible_to(user=request.user, project=project)


class SubmissionList(generics.ListCreateAPIView):
    """The submissions the caller may see: an annotator their own, a reviewer those of the
    images assigned to them, leads and admins all. POST: submit for one's own task as JSON
    instances (COCO RLE, compressed or not, or polygons)."""

    serializer_class = SubmissionSerializer
    queryset = Submission.objects.none()
    filterset_class = SubmissionFilter

    def get_queryset(self) -> QuerySet[Submission]:
        return _visible(self.request, self.kwargs["slug"])[1]

    @extend_schema(
        request=SubmissionCreateSerializer,
        responses={201: SubmissionDetailSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug)
        data = SubmissionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task = (
            Task.objects.select_related("image__project")
            .filter(image__project=project, pk=data.validated_data["task"])
            .first()
        )
        # Someone else's task is as unknown to an annotator as a missing one (the blind
        # rule); the service refuses everyone who may not submit for it with a 403.
        if task is None or (
            task.annotator_id != request.user.pk
            and not has_permission(
                user=request.user, project=project, action=Action.SEE_ALL_SUBMISSIONS
            )
        ):
            raise ApplicationError("No such task.", status=404)
        classes = {c.name: c for c in project.label_classes.all()}
        inputs = instance_inputs(
            data.validated_data["instances"], image=task.image, classes=classes
        )
        submission = submission_create(task=task, instances=inputs, actor=request.user)
        return Response(_detail(request, slug, submission.pk), status=status.HTTP_201_CREATED)


def _detail(request: Request, slug: str, pk: int) -> dict:
    _, visible = _visible(request, slug)
    submission = get_object_or_404(visible.prefetch_related(*submission_detail_prefetches()), pk=pk)
    return SubmissionDetailSerializer(submission).data


class SubmissionDetail(APIView):
    """One submission with its instances (RLE, box, area, source polygon), its rule
    violations, its review and flags, and its gold score; 404 to whoever may not see it."""

    @extend_schema(responses={200: SubmissionDetailSerializer, **NOT_FOUND})
    def get(self, request: Request, slug: str, pk: int) -> Response:
        return Response(_detail(request, slug, pk))


class SubmissionUpload(APIView):
    """Submit one's own work as an uploaded file in any importable format (a zip for folder
    formats): only new revisions of the uploader's own open tasks are written; anything
    else is refused, naming file, image and object."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": SubmissionUploadSerializer},
        responses={
            201: OpenApiTypes.OBJECT,
            **ERRORS,
            **NOT_FOUND,
            **CONFLICT,
            413: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug)
        data = SubmissionUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        summary = submission_upload(
            project=project,
            actor=request.user,
            upload=data.validated_data["file"],
            format=data.validated_data["format"],
            options=data.validated_data["options"],
        )
        return Response(summary.as_dict(), status=status.HTTP_201_CREATED)


class SubmissionReview(APIView):
    """Decide on a submission (a reviewer assigned to its image, a lead or an admin, never
    on one's own work): accept or reject with reason codes, a comment and per-instance
    flags. Two decisions at once: one wins, the other gets 409."""

    @extend_schema(
        request=ReviewDecideSerializer,
        responses={201: ReviewSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        _, visible = _visible(request, slug)
        submission = get_object_or_404(visible, pk=pk)
        data = ReviewDecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        flags_in = data.validated_data["flags"]
        instances = Instance.objects.in_bulk([f["instance"] for f in flags_in])
        flags = []
        for flag in flags_in:
            instance = instances.get(flag["instance"])
            if instance is None or instance.submission_id != submission.pk:
                raise ApplicationError(
                    f"Flagged instance {flag['instance']} is not part of this submission.",
                    extra={"flags": [flag["instance"]]},
                )
            flags.append(FlagInput(instance=instance, reason=flag["reason"], note=flag["note"]))
        review = review_decide(
            submission=submission,
            reviewer=request.user,
            decision=data.validated_data["decision"],
            reasons=data.validated_data["reasons"],
            comment=data.validated_data["comment"],
            flags=flags,
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)
