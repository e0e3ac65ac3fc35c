"""REST API: annotation imports (uploads run in the background), exports and recomputes.

Every job shows its run (status, progress, error, attempts, when it was created, claimed,
last heard of and ended); a failed one is queued again with a POST to its ``retry/``
(``qc.services.jobs.job_retry``: leads and admins; 409 unless it failed). Each kind is
seen by whom may start it (an outsider gets a 404, another member a 403).
"""

from django.db.models import Model
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.errors import ConflictError
from projects.files import private_field_response
from projects.models import Project
from projects.permissions import Action, project_for
from qc.models import Export, ImportJob, Recompute
from qc.selectors import (
    exports_of,
    import_jobs_of,
)
from qc.selectors.io import export_for_download
from qc.selectors.jobs import recomputes_of
from qc.serializers.io import (
    ExportSerializer,
    ExportStartSerializer,
    ImportJobSerializer,
    ImportUploadSerializer,
    RecomputeSerializer,
)
from qc.services.exports import export_create
from qc.services.import_jobs import import_job_create
from qc.services.jobs import job_retry
from qc.services.recompute import recompute_create


class _JobList(generics.ListCreateAPIView):
    """A project's background jobs, newest first, or a new one started (HTTP 202), for the
    users who may do ``permission_action``; the response to a start is the job, to poll."""

    permission_action: Action
    job_serializer: type[serializers.ModelSerializer]
    start_serializer: type[serializers.Serializer]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return self.start_serializer if self.request.method == "POST" else self.job_serializer

    def _project(self) -> Project:
        return project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=self.permission_action
        )[0]

    def _started(self, job: Model) -> Response:
        job.refresh_from_db()
        return Response(self.job_serializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportList(_JobList):
    """Upload an annotation file to import in the background; list the project's imports.

    Leads and admins. The response to an upload is the job (HTTP 202); poll it for
    `status`, `progress` and, when done, `summary`.
    """

    queryset = ImportJob.objects.none()  # the schema's model; requests use get_queryset
    parser_classes = [MultiPartParser, FormParser]
    permission_action = Action.MANAGE_PROJECT
    job_serializer = ImportJobSerializer
    start_serializer = ImportUploadSerializer

    def get_queryset(self):
        return import_jobs_of(project=self._project())

    @extend_schema(request=ImportUploadSerializer, responses={202: ImportJobSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self._project()
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        job = import_job_create(
            project=project,
            actor=request.user,
            upload=upload.validated_data["file"],
            format=upload.validated_data["format"],
            options=upload.validated_data["options"],
        )
        return self._started(job)


def _import_of(request: Request, slug: str, pk: int) -> ImportJob:
    project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    return get_object_or_404(import_jobs_of(project=project), pk=pk)


class ImportDetail(generics.RetrieveAPIView):
    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.none()

    def get_object(self) -> ImportJob:
        return _import_of(self.request, self.kwargs["slug"], self.kwargs["pk"])


class _JobRetry(APIView):
    """Queue a failed job again; the response is the job, queued (status ``pending``), to
    poll. Leads and admins; a job that has not failed is a 409."""

    job_serializer: type[serializers.ModelSerializer]

    def _job(self, request: Request, slug: str, pk: int) -> Model:
        raise NotImplementedError

    def post(self, request: Request, slug: str, pk: int) -> Response:
        job = job_retry(job=self._job(request, slug, pk), actor=request.user)
        return Response(self.job_serializer(job).data)


class ImportRetry(_JobRetry):
    """Run a failed import again, with the same file and options."""

    job_serializer = ImportJobSerializer

    def _job(self, request: Request, slug: str, pk: int) -> ImportJob:
        return _import_of(request, slug, pk)

    @extend_schema(request=None, responses={200: ImportJobSerializer})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)


class ImportFile(APIView):
    """The uploaded file an import read, under the name it was uploaded with. Leads and
    admins."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, pk: int) -> HttpResponse:
        job = _import_of(request, slug, pk)
        if not job.file:
            raise ConflictError(f"Import {job.pk} has no stored file.")
        return private_field_response(request, job.file, filename=job.source_name or None)


class ExportList(_JobList):
    """Start an export of the accepted labels (HTTP 202) or list the project's exports."""

    queryset = Export.objects.none()
    permission_action = Action.EXPORT
    job_serializer = ExportSerializer
    start_serializer = ExportStartSerializer

    def get_queryset(self):
        return exports_of(project=self._project())

    @extend_schema(request=ExportStartSerializer, responses={202: ExportSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self._project()
        start = ExportStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        export = export_create(project=project, actor=request.user, **start.validated_data)
        return self._started(export)


def _export_of(request: Request, slug: str, pk: int) -> Export:
    project, _ = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    return get_object_or_404(exports_of(project=project), pk=pk)


class ExportDetail(generics.RetrieveAPIView):
    serializer_class = ExportSerializer
    queryset = Export.objects.none()

    def get_object(self) -> Export:
        return _export_of(self.request, self.kwargs["slug"], self.kwargs["pk"])


class ExportRetry(_JobRetry):
    """Run a failed export again, as it was asked."""

    job_serializer = ExportSerializer

    def _job(self, request: Request, slug: str, pk: int) -> Export:
        return _export_of(request, slug, pk)

    @extend_schema(request=None, responses={200: ExportSerializer})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)


class ExportDownload(APIView):
    """The export's file (COCO JSON, or a zip for Supervisely and PNG masks)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, pk: int) -> HttpResponse:
        project, _ = project_for(user=request.user, slug=slug, action=Action.EXPORT)
        export = export_for_download(project=project, pk=pk)
        response = private_field_response(request, export.file)
        response["X-Checksum-SHA256"] = export.sha256
        return response


class RecomputeList(_JobList):
    """Start a recompute of the project's features and agreement (HTTP 202; no body: it
    covers every image, with the project's settings of now) or list the project's
    recomputes, newest first. Leads and admins."""

    queryset = Recompute.objects.none()
    permission_action = Action.MANAGE_PROJECT
    job_serializer = RecomputeSerializer
    start_serializer = RecomputeSerializer

    def get_queryset(self):
        return recomputes_of(project=self._project())

    @extend_schema(request=None, responses={202: RecomputeSerializer})
    def post(self, request: Request, slug: str) -> Response:
        recompute = recompute_create(project=self._project(), actor=request.user)
        return self._started(recompute)


def _recompute_of(request: Request, slug: str, pk: int) -> Recompute:
    project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    return get_object_or_404(recomputes_of(project=project), pk=pk)


class RecomputeDetail(generics.RetrieveAPIView):
    serializer_class = RecomputeSerializer
    queryset = Recompute.objects.none()

    def get_object(self) -> Recompute:
        return _recompute_of(self.request, self.kwargs["slug"], self.kwargs["pk"])


class RecomputeRetry(_JobRetry):
    """Run a failed recompute again (every image, with the project's settings of now)."""

    job_serializer = RecomputeSerializer

    def _job(self, request: Request, slug: str, pk: int) -> Recompute:
        return _recompute_of(request, slug, pk)

    @extend_schema(request=None, responses={200: RecomputeSerializer})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        return super().post(request, slug, pk)
