"""REST API: the project's agreement report and the annotators' style reports."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.models import Image
from projects.permissions import Action, has_permission, project_for
from qc.selectors import agreement_report_stored, image_agreement, style_reports_visible_to
from qc.serializers.workflow import image_agreement_data


class AgreementReport(APIView):
    """The project's agreement report as `compute_agreement --json` prints it, plus
    breakdowns by class, week and guideline version. Leads, reviewers and admins."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
        return Response(agreement_report_stored(project=project))


class StyleReports(APIView):
    """Each annotator's style, in numbers and in words. Annotators see only their own."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_PROJECT)
        if not (
            has_permission(user=request.user, project=project, action=Action.VIEW_AGREEMENT)
            or has_permission(user=request.user, project=project, action=Action.VIEW_OWN_STYLE)
        ):
            # A member with neither right gets the agreement's 403.
            project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
        annotators = style_reports_visible_to(user=request.user, project=project)
        return Response({"project": project.slug, "annotators": annotators})


class ImageAgreementView(APIView):
    """One image's agreement: the summary, the annotator × annotator pq matrix (pooled and
    per class), every pair's metrics and the consensus instances (RLE, box, support).
    Leads, reviewers and admins."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT})
    def get(self, request: Request, slug: str, pk: int) -> Response:
        project, _ = project_for(user=request.user, slug=slug, action=Action.VIEW_AGREEMENT)
        image = get_object_or_404(
            Image.objects.filter(project=project).select_related("agreement"), pk=pk
        )
        found = image_agreement(image=image)
        return Response(image_agreement_data(image=image, found=found))
