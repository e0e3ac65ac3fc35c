"""The rows of the role matrix for images, tasks and assignment: leads and admins only."""

import io
from typing import Any

from PIL import Image as PILImage

from projects.models import Image, Project, Task, TaskStatus
from tests.pages.matrix import OPEN, Args, Case, others_task, statuses

LEADS_ONLY = statuses(admin=200, lead=200, reviewer=403, annotator=403)
LEADS_POST = statuses(admin=302, lead=302, reviewer=403, annotator=403)
FRESH = "fresh-from-the-matrix.png"


def _fresh_image(subject: Any) -> None:
    """An unassigned image in the subject's project, for the assignment to take."""
    project = Project.objects.filter(memberships__user=subject).order_by("pk").first()
    Image.objects.get_or_create(project=project, name=FRESH, defaults={"width": 8, "height": 8})


def _assigned(args: Args) -> bool:
    return Task.objects.filter(image__name=FRESH).exists()


def movable_task(project: Project, subject: Any) -> Args:
    """An open task of someone else on an image the subject has no task on."""
    task = (
        Task.objects.filter(image__project=project, status__in=OPEN)
        .exclude(annotator=subject)
        .exclude(image__tasks__annotator=subject)
        .order_by("pk")
        .first()
    )
    return None if task is None else (task.pk,)


UPLOADED = "uploaded-by-the-matrix.png"


class _Upload:
    """A small PNG the matrix posts once for every role: each read gives all of it (the
    test client reads a file once per request)."""

    name = UPLOADED
    content_type = "image/png"

    def read(self) -> bytes:
        buffer = io.BytesIO()
        PILImage.new("L", (8, 6), 90).save(buffer, format="PNG")
        return buffer.getvalue()


def _uploaded(args: Args) -> bool:
    return Image.objects.filter(name=UPLOADED).exists()


def _cancelled(args: Args) -> bool:
    return Task.objects.get(pk=args[0]).status == TaskStatus.CANCELLED


ROWS = [
    Case("project-images", LEADS_ONLY),
    Case(
        "image-upload",
        LEADS_POST,
        method="POST",
        data={"files": _Upload()},
        changed=_uploaded,
        page=False,
    ),
    Case("project-assignment", LEADS_ONLY),
    Case(
        "task-assign",
        LEADS_POST,
        subject="lead",
        method="POST",
        data={
            "batch": "unassigned",
            "count": "5",
            "annotator": ["annotator", "other_annotator"],
            "overlap": "2",
            "share": "100",
        },
        prepare=_fresh_image,
        changed=_assigned,
        page=False,
    ),
    Case("project-task-list", LEADS_ONLY),
    Case(
        "task-reassign",
        LEADS_POST,
        target=movable_task,
        method="POST",
        data={"annotator": "annotator"},
        changed=_cancelled,
        page=False,
    ),
    Case(
        "task-cancel",
        LEADS_POST,
        target=others_task,
        method="POST",
        changed=_cancelled,
        page=False,
    ),
]
