"""REST API: a project's images with their QC state, one image's detail, image uploads and
the pixels (after the permission check), and what a reviewer or lead does to one image:
review assignment, label, send-back, gold."""

import tempfile
from pathlib import Path

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.errors import ApplicationError
from projects.files import private_field_response
from projects.images import images_import
from projects.models import Image, Project, Task
from projects.permissions import Action, project_for
from qc.models import ImageLabel, Submission
from qc.selectors import API_QC_STATES, image_detail, image_label_of, images_visible_to
from qc.serializers.workflow import (
    GoldSerializer,
    ImageSerializer,
    ImagesUploadSerializer,
    LabelDetailSerializer,
    LabelOutSerializer,
    LabelSetSerializer,
    ReviewAssignmentSerializer,
    ReviewAssignSerializer,
    SendBackOutSerializer,
    SendBackSerializer,
    SubmissionSerializer,
    TaskBriefSerializer,
)
from qc.services import (
    image_label_send_back,
    image_label_set,
    image_label_set_gold,
    review_assign,
)

ERRORS = {400: OpenApiTypes.OBJECT, 401: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT}
NOT_FOUND = {404: OpenApiTypes.OBJECT}
CONFLICT = {409: OpenApiTypes.OBJECT}
# The largest id a filter takes (ids are 64-bit): a larger number is a 400, not a database
# overflow.
MAX_ID = 2**63 - 1


class ImageFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        field_name="qc_state", choices=[(s, s) for s in API_QC_STATES]
    )
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    annotator = django_filters.CharFilter(method="filter_annotator", help_text="Username.")
    gold = django_filters.BooleanFilter(field_name="label__is_gold")
    pq_min = django_filters.NumberFilter(field_name="agreement__pq", lookup_expr="gte")
    pq_max = django_filters.NumberFilter(field_name="agreement__pq", lookup_expr="lte")

    class Meta:
        model = Image
        fields = ["state", "name", "annotator", "gold", "pq_min", "pq_max"]

    def filter_annotator(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        tasks = Task.objects.filter(image=OuterRef("pk"), annotator__username=value)
        return queryset.filter(Exists(tasks))


def visible_image(request: Request, slug: str, pk: int) -> Image:
    """The image ``pk`` of the project, if the user may see it (404 otherwise)."""
    project, _ = project_for(user=request.user, slug=slug)
    return get_object_or_404(images_visible_to(user=request.user, project=project), pk=pk)


class ImageList(generics.ListCreateAPIView):
    """The project's images the caller may see, with their QC state (``annotating``,
    ``in_review``, ``accepted``, ``needs_rework``), pq and label; filters: state, name,
    annotator, gold, pq range. POST (leads and admins): upload image files (multipart
    ``files``); an image named like an existing one gets its pixels."""

    serializer_class = ImageSerializer
    queryset = Image.objects.none()
    filterset_class = ImageFilter
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Image]:
        project, _ = project_for(user=self.request.user, slug=self.kwargs["slug"])
        return images_visible_to(user=self.request.user, project=project)

    @extend_schema(
        request={"multipart/form-data": ImagesUploadSerializer},
        responses={201: OpenApiTypes.OBJECT, **ERRORS, **NOT_FOUND, 413: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
        upload = ImagesUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        summary = _images_store(project, upload.validated_data["files"], request.user)
        return Response(summary, status=status.HTTP_201_CREATED)


def _images_store(project: Project, files: list, actor: object) -> dict:
    with tempfile.TemporaryDirectory(prefix="maskqc-images-") as tmp:
        paths = []
        for upload in files:
            name = Path(upload.name or "").name
            if not name or name in {p.name for p in paths}:
                raise ApplicationError(f"Image file names must be given and unique: {name!r}.")
            path = Path(tmp) / name
            with path.open("wb") as out:
                for block in upload.chunks():
                    out.write(block)
            paths.append(path)
        return images_import(project=project, paths=paths, actor=actor).as_dict()


class ImageDetail(generics.RetrieveAPIView):
    """One image: its QC state, its tasks (with rework rounds), the submissions the caller
    may see and its label."""

    serializer_class = ImageSerializer
    queryset = Image.objects.none()

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})
    def get(self, request: Request, slug: str, pk: int) -> Response:
        image = visible_image(request, slug, pk)
        found = image_detail(user=request.user, image=image)
        return Response(
            {
                **ImageSerializer(image).data,
                "tasks": TaskBriefSerializer(found["tasks"], many=True).data,
                "submissions": SubmissionSerializer(found["submissions"], many=True).data,
            }
        )


class ImagePixels(APIView):
    """The image's pixels, to members of the project who may see the image."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **NOT_FOUND})
    def get(self, request: Request, slug: str, pk: int) -> HttpResponse:
        image = visible_image(request, slug, pk)
        if not image.file:
            raise ApplicationError(f"Image {image.name} has no pixels stored.", status=404)
        return private_field_response(request, image.file, filename=image.name, attachment=False)


def _reviewable_image(request: Request, slug: str, pk: int) -> Image:
    """An image of a project where the user has a role (404 for outsiders); the services
    decide whether this user may act on it."""
    project, _ = project_for(user=request.user, slug=slug)
    return get_object_or_404(Image.objects.filter(project=project), pk=pk)


class ImageReviewAssign(APIView):
    """Assign the image's review (leads and admins): to the reviewer named, or to the
    least-loaded project reviewer who did not annotate it; a reassignment cancels the
    open one."""

    @extend_schema(
        request=ReviewAssignSerializer,
        responses={201: ReviewAssignmentSerializer, **ERRORS, **NOT_FOUND},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        image = _reviewable_image(request, slug, pk)
        data = ReviewAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reviewer = None
        if data.validated_data["reviewer"]:
            reviewer = (
                get_user_model()
                .objects.filter(
                    username=data.validated_data["reviewer"],
                    memberships__project=image.project,
                )
                .first()
            )
            if reviewer is None:
                raise ApplicationError(
                    f"{data.validated_data['reviewer']!r} is not a member of {slug}."
                )
        assignment = review_assign(image=image, actor=request.user, reviewer=reviewer)
        return Response(ReviewAssignmentSerializer(assignment).data, status=201)


class ImageLabelView(APIView):
    """The image's label: GET shows the label in force (a consensus label's instances, the
    labels it replaced) to reviewers, leads and admins; POST sets it (a reviewer assigned
    to the image, a lead or an admin): one accepted submission or the consensus. A
    sent-back image's label is replaced."""

    @extend_schema(responses={200: LabelDetailSerializer, **NOT_FOUND, 403: OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project_for(user=request.user, slug=slug, action=Action.REVIEW)
        label = image_label_of(image=visible_image(request, slug, pk))
        if label is None:
            raise ApplicationError("This image has no accepted label.", status=404)
        return Response(LabelDetailSerializer(label).data)

    @extend_schema(
        request=LabelSetSerializer,
        responses={201: LabelOutSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        image = _reviewable_image(request, slug, pk)
        data = LabelSetSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        submission = None
        if data.validated_data.get("submission") is not None:
            submission = get_object_or_404(
                Submission.objects.filter(task__image=image), pk=data.validated_data["submission"]
            )
        label = image_label_set(
            image=image,
            actor=request.user,
            submission=submission,
            from_consensus=data.validated_data["consensus"],
        )
        return Response(LabelOutSerializer(label).data, status=201)


class ImageSendBack(APIView):
    """Send an accepted image back for rework with reasons (a reviewer who reviewed it, a
    lead or an admin); its label stays in force until a new one is accepted."""

    @extend_schema(
        request=SendBackSerializer,
        responses={201: SendBackOutSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request: Request, slug: str, pk: int) -> Response:
        image = _reviewable_image(request, slug, pk)
        data = SendBackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        send_back = image_label_send_back(image=image, actor=request.user, **data.validated_data)
        return Response(SendBackOutSerializer(send_back).data, status=201)


class ImageGold(APIView):
    """Mark or unmark the image's accepted label as gold (leads and admins)."""

    @extend_schema(
        request=GoldSerializer,
        responses={200: LabelOutSerializer, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def put(self, request: Request, slug: str, pk: int) -> Response:
        image = _reviewable_image(request, slug, pk)
        data = GoldSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = ImageLabel.objects.filter(image=image).first()
        if label is None:
            project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
            raise ApplicationError(f"Image {image.name} has no accepted label.", status=409)
        label = image_label_set_gold(
            label=label, actor=request.user, gold=data.validated_data["gold"]
        )
        return Response(LabelOutSerializer(label).data)
