"""REST API for agreement (/api/v1/projects/<slug>/agreement/…)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.permissions import Action, has_permission, project_for
from qc.models import AgreementSummary
from qc.selectors import report_as_interface


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
