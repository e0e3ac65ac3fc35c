"""REST API for agreement, imports and exports (/api/v1/projects/<slug>/…)."""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.errors import ConflictError
from projects.permissions import Action, has_permission, project_for
from qc.models import AgreementSummary, Export, ImportJob
from qc.selectors import report_as_interface
from qc.serializers import (
    ExportSerializer,
    ExportStartSerializer,
    ImportJobSerializer,
    ImportUploadSerializer,
)
from qc.services.exports import export_create
from qc.services.import_jobs import import_job_create


def _stored_report(project) -> dict:
    summary = AgreementSummary.objects.filter(project=project).first()
    if summary is None or not summary.report:
        return {
            "project": project.slug,
            "images": 0,
            "summary": None,
            "pairs": [],
            "annotators": [],
        }
    return summary.report


class AgreementReport(APIView):
    """The project's agreement report as `compute_agreement --json` prints it, plus
    breakdowns by class, week and guideline version. Leads, reviewers and admins."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
        report = _stored_report(project)
        base = report_as_interface(report) if report.get("summary") else report
        return Response(
            {
                **base,
                "by_class": report.get("by_class", {}),
                "by_week": report.get("by_week", {}),
                "by_guideline_version": report.get("by_guideline_version", {}),
            }
        )


class StyleReports(APIView):
    """Each annotator's style, in numbers and in words. Annotators see only their own."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
        everyone = has_permission(user=request.user, project=project, action=Action.VIEW_AGREEMENT)
        if not everyone and not has_permission(
            user=request.user, project=project, action=Action.VIEW_OWN_STYLE
        ):
            project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
        annotators = _stored_report(project)["annotators"]
        if not everyone:
            annotators = [a for a in annotators if a["username"] == request.user.username]
        return Response({"project": project.slug, "annotators": annotators})


class ImportList(generics.ListCreateAPIView):
    """Upload an annotation file to import in the background; list the project's imports.

    Leads and admins. The response to an upload is the job (HTTP 202); poll it for
    `status`, `progress` and, when done, `summary`.
    """

    queryset = ImportJob.objects.none()  # the schema's model; requests use get_queryset
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self):
        return ImportUploadSerializer if self.request.method == "POST" else ImportJobSerializer

    def _project(self):
        return project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=Action.MANAGE_PROJECT
        )[0]

    def get_queryset(self):
        return (
            ImportJob.objects.filter(project=self._project())
            .select_related("created_by")
            .order_by("-created_at", "-id")
        )

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
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetail(generics.RetrieveAPIView):
    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.none()

    def get_object(self) -> ImportJob:
        project, _ = project_for(
            user=self.request.user, slug=self.kwargs["slug"], action=Action.MANAGE_PROJECT
        )
        return get_object_or_404(
            ImportJob.objects.select_related("created_by"), project=project, pk=self.kwargs["pk"]
        )


class ExportList(generics.ListCreateAPIView):
    """Start an export of the accepted labels (HTTP 202) or list the project's exports."""

    queryset = Export.objects.none()

    def get_serializer_class(self):
        return ExportStartSerializer if self.request.method == "POST" else ExportSerializer

    def _project(self):
        return project_for(user=self.request.user, slug=self.kwargs["slug"], action=Action.EXPORT)[
            0
        ]

    def get_queryset(self):
        return (
            Export.objects.filter(project=self._project())
            .select_related("created_by", "project")
            .order_by("-created_at", "-id")
        )

    @extend_schema(request=ExportStartSerializer, responses={202: ExportSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = self._project()
        start = ExportStartSerializer(data=request.data)
        start.is_valid(raise_exception=True)
        export = export_create(project=project, actor=request.user, **start.validated_data)
        export.refresh_from_db()
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


def _export_of(request: Request, slug: str, pk: int) -> Export:
    project, _ = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    return get_object_or_404(
        Export.objects.select_related("created_by", "project"), project=project, pk=pk
    )


class ExportDetail(generics.RetrieveAPIView):
    serializer_class = ExportSerializer
    queryset = Export.objects.none()

    def get_object(self) -> Export:
        return _export_of(self.request, self.kwargs["slug"], self.kwargs["pk"])


class ExportDownload(APIView):
    """The export's file (COCO JSON, or a zip for Supervisely and PNG masks)."""

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str, pk: int) -> FileResponse:
        export = _export_of(request, slug, pk)
        if export.status != Export.Status.DONE:
            raise ConflictError(f"Export {export.pk} is {export.status}, not done yet.")
        response = FileResponse(
            export.file.open("rb"), as_attachment=True, filename=export.file.name.rsplit("/", 1)[-1]
        )
        response["X-Checksum-SHA256"] = export.sha256
        return response
