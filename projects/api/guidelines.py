"""REST API: guidelines and their versions — drafts, edits, publishing, acknowledgements
and the diff between two versions (/api/v1/projects/<slug>/guidelines/…)."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from projects import selectors, services
from projects.api.core import ProjectScoped, valid
from projects.models import Acknowledgement, Guideline, GuidelineVersion
from projects.permissions import Action
from projects.serializers import (
    AcknowledgementSerializer,
    GuidelineDiffQuerySerializer,
    GuidelineDiffSerializer,
    GuidelineDraftSerializer,
    GuidelineDraftUpdateSerializer,
    GuidelinePublishSerializer,
    GuidelineSerializer,
    GuidelineVersionSerializer,
)


class GuidelineScoped(ProjectScoped):
    """A view of one guideline (``gid``) and, where the URL has one, one of its versions
    (``number``); drafts are found only by those who write guidelines."""

    def guideline(self, action: Action = Action.READ_GUIDELINES) -> Guideline:
        project = self.project(action)
        guideline = get_object_or_404(Guideline, project=project, pk=self.kwargs["gid"])
        guideline.project = project  # the role already asked about it is remembered on it
        return guideline

    def version(
        self, action: Action = Action.READ_GUIDELINES, number: int | None = None
    ) -> GuidelineVersion:
        versions = selectors.guideline_versions_visible_to(
            user=self.request.user, guideline=self.guideline(action)
        )
        return get_object_or_404(versions, number=number or self.kwargs["number"])


def _version_created(request: Request, *, project, title: str, data: dict) -> Response:
    version = services.guideline_version_create(
        project=project,
        title=title,
        body=data["body"],
        author=request.user,
        change_summary=data.get("change_summary", ""),
        rules=data.get("rules", []),
    )
    return Response(GuidelineVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class GuidelineList(ProjectScoped, generics.ListAPIView):
    """The project's guidelines (every member); a new draft version of the guideline
    ``title``, created when missing (leads and admins)."""

    serializer_class = GuidelineSerializer
    queryset = Guideline.objects.none()

    def get_queryset(self) -> QuerySet[Guideline]:
        project = self.project(Action.READ_GUIDELINES)
        return selectors.guidelines_of(project=project, user=self.request.user)

    @extend_schema(request=GuidelineDraftSerializer, responses={201: GuidelineVersionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self.project(Action.WRITE_GUIDELINES)
        data = valid(GuidelineDraftSerializer, request, title_required=True)
        return _version_created(request, project=project, title=data["title"], data=data)


class GuidelineVersionList(GuidelineScoped, generics.ListAPIView):
    """A guideline's versions, newest first (drafts only for leads and admins); a new
    draft of it (leads and admins)."""

    serializer_class = GuidelineVersionSerializer
    queryset = GuidelineVersion.objects.none()

    def get_queryset(self) -> QuerySet[GuidelineVersion]:
        return selectors.guideline_versions_visible_to(
            user=self.request.user, guideline=self.guideline()
        )

    @extend_schema(request=GuidelineDraftSerializer, responses={201: GuidelineVersionSerializer})
    def post(self, request: Request, slug: str, gid: int) -> Response:
        guideline = self.guideline(Action.WRITE_GUIDELINES)
        data = valid(GuidelineDraftSerializer, request)
        return _version_created(
            request, project=guideline.project, title=guideline.title, data=data
        )


class GuidelineVersionDetail(GuidelineScoped, generics.RetrieveAPIView):
    """One version; edit a draft's body, rules or change summary (leads and admins; a
    published version is a 409)."""

    serializer_class = GuidelineVersionSerializer
    queryset = GuidelineVersion.objects.none()

    def get_object(self) -> GuidelineVersion:
        return self.version()

    @extend_schema(request=GuidelineDraftUpdateSerializer, responses=GuidelineVersionSerializer)
    def patch(self, request: Request, slug: str, gid: int, number: int) -> Response:
        version = self.version(Action.WRITE_GUIDELINES)
        data = valid(GuidelineDraftUpdateSerializer, request)
        version = services.guideline_version_update(version=version, actor=request.user, **data)
        return Response(GuidelineVersionSerializer(version).data)


class GuidelineVersionPublish(GuidelineScoped, generics.GenericAPIView):
    """Publish a draft with its change summary (leads and admins; required: given here or
    saved on the draft, else a 400 naming ``change_summary``); annotators must then
    acknowledge it before they submit. Publishing twice is a 409."""

    serializer_class = GuidelinePublishSerializer

    @extend_schema(request=GuidelinePublishSerializer, responses=GuidelineVersionSerializer)
    def post(self, request: Request, slug: str, gid: int, number: int) -> Response:
        version = self.version(Action.WRITE_GUIDELINES)
        data = valid(GuidelinePublishSerializer, request)
        version = services.guideline_version_publish(
            version=version, actor=request.user, change_summary=data.get("change_summary")
        )
        return Response(GuidelineVersionSerializer(version).data)


class GuidelineVersionAcknowledge(GuidelineScoped, generics.GenericAPIView):
    """The annotator has read this published version (acknowledging twice changes
    nothing)."""

    serializer_class = AcknowledgementSerializer

    @extend_schema(request=None, responses=AcknowledgementSerializer)
    def post(self, request: Request, slug: str, gid: int, number: int) -> Response:
        ack = services.guideline_acknowledge(version=self.version(), user=request.user)
        return Response(AcknowledgementSerializer(ack).data)


class GuidelineVersionAcknowledgements(GuidelineScoped, generics.ListAPIView):
    """Who has acknowledged this version, first first (leads and admins)."""

    serializer_class = AcknowledgementSerializer
    queryset = Acknowledgement.objects.none()

    def get_queryset(self) -> QuerySet[Acknowledgement]:
        return selectors.acknowledgements_of(version=self.version(Action.WRITE_GUIDELINES))


class GuidelineDiff(GuidelineScoped, generics.GenericAPIView):
    """Unified diffs of the markdown and of the rules from version ``from`` to ``to``."""

    serializer_class = GuidelineDiffSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.INT, required=True),
            OpenApiParameter("to", OpenApiTypes.INT, required=True),
        ],
        responses=GuidelineDiffSerializer,
    )
    def get(self, request: Request, slug: str, gid: int) -> Response:
        query = GuidelineDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        old = self.version(number=query.validated_data["from"])
        new = self.version(number=query.validated_data["to"])
        return Response(selectors.guideline_version_diff(old=old, new=new))
