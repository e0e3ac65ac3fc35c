"""A project's background jobs (annotation imports, exports) as the API lists them."""

from django.db.models import QuerySet

from projects.models import Project
from qc.models import Export, ImportJob


def import_jobs_of(*, project: Project) -> QuerySet[ImportJob]:
    """The project's import jobs, newest first, with who started each."""
    return (
        ImportJob.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def exports_of(*, project: Project) -> QuerySet[Export]:
    """The project's exports, newest first, with who started each (and the project, which
    their download link names)."""
    return (
        Export.objects.filter(project=project)
        .select_related("created_by", "project")
        .order_by("-created_at", "-id")
    )
