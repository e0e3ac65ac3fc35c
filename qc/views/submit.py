"""An annotator submits for a task by uploading a file: *Check* runs the import as a dry run
and shows what would be stored and the rule violations; *Submit* stores the checked file
(:mod:`qc.services.staging`). An annotator who has not acknowledged the current guideline is
sent to read it first, and comes back here after acknowledging."""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from projects.errors import ApplicationError
from projects.models import LabelClass, Task
from projects.pages import project_page, raise_refusal
from projects.permissions import Action, project_for
from qc.formats import READERS
from qc.selectors.tasks import submit_page
from qc.services.staging import (
    staged_upload_create,
    submission_check,
    submission_submit,
)
from qc.services.workflow import UploadOutcome
from qc.text import counted

# One line on each importable format: what to upload.
FORMAT_HINTS = {
    "coco": "COCO instances JSON (polygons or RLE): one .json file",
    "supervisely": "Supervisely project: a zip of meta.json and <dataset>/ann/<image>.json",
    "cvat": "CVAT for images 1.1: one annotations .xml file",
    "labelme": "LabelMe: the image's .json file (or a zip of them)",
    "label-studio": "Label Studio JSON export: one .json file",
    "mask-png": "PNG masks: one PNG, or a zip of PNGs (at the zip's top level)",
}
FORMATS = [(name, FORMAT_HINTS.get(name, name)) for name in READERS]
PNG_INSTANCES = [
    ("single", "each PNG is one instance"),
    ("ids", "one PNG, each pixel value an instance"),
    ("components", "each separate blob is an instance"),
]


class SubmitForm(forms.Form):
    """The file and how to read it; the mask format also needs how a PNG holds instances
    and, in a project of several classes, the class of its instances."""

    file = forms.FileField()
    format = forms.ChoiceField(choices=[(name, name) for name, _ in FORMATS], initial="coco")
    instances = forms.ChoiceField(
        choices=[(key, key) for key, _ in PNG_INSTANCES], required=False, initial="single"
    )
    label = forms.CharField(required=False, max_length=100)

    def __init__(self, *args: Any, label_classes: list[LabelClass], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label_classes = [c.name for c in label_classes]

    def clean_label(self) -> str:
        label = self.cleaned_data.get("label") or ""
        if self.cleaned_data.get("format") != "mask-png":
            return label
        if not label and len(self.label_classes) == 1:
            return self.label_classes[0]
        if label not in self.label_classes:
            raise forms.ValidationError("Choose the class of the masks' instances.")
        return label

    def reader_options(self, task: Task) -> dict[str, Any]:
        """The reader's options: for PNG masks every file is this task's image (braces in
        the image's name escaped for the reader's name template)."""
        if self.cleaned_data["format"] != "mask-png":
            return {}
        return {
            "pattern": "{image}.png",
            "image_name": task.image.name.replace("{", "{{").replace("}", "}}"),
            "instances": self.cleaned_data.get("instances") or "single",
            "label": self.cleaned_data["label"],
        }


def _submitted_message(outcome: UploadOutcome) -> str:
    parts = []
    for stored in outcome.submissions:
        warnings = len(stored.violations)
        parts.append(
            f"revision {stored.revision} of {stored.image}, "
            f"{counted(stored.instances, 'instance')}"
            + (f", {counted(warnings, 'warning')} for the reviewer" if warnings else "")
        )
    return (
        "Submitted " + "; ".join(parts) + ". It goes to review once every annotator of the "
        "image has submitted."
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def task_submit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.SUBMIT)
    page = submit_page(user=request.user, project=project, pk=pk)
    if page is None:
        raise Http404("No such task of yours.")
    task = page["task"]
    if page["unacknowledged"]:
        names = ", ".join(str(version) for version in page["unacknowledged"])
        messages.warning(
            request,
            f"Read and acknowledge {names} first: you submit only under the current guideline.",
        )
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('guideline', args=[project.slug])}?{query}")
    form = SubmitForm(label_classes=page["label_classes"])
    check = None
    if request.method == "POST":
        if not task.is_open:
            messages.info(request, f"This task is {task.get_status_display().lower()}.")
            return redirect("task-submit", slug=project.slug, pk=task.pk)
        if request.POST.get("action") == "submit":
            try:
                outcome = submission_submit(
                    task=task, user=request.user, signed=request.POST.get("staged", "")
                )
            except ApplicationError as error:
                raise_refusal(error)
                messages.error(request, error.message)
                return redirect("task-submit", slug=project.slug, pk=task.pk)
            if not outcome.submissions:
                # The same checked file sent twice (a doubled click): the first stored it.
                messages.info(request, "This file is already submitted; nothing changed.")
            else:
                messages.success(request, _submitted_message(outcome))
            return redirect("my-tasks", slug=project.slug)
        form = SubmitForm(request.POST, request.FILES, label_classes=page["label_classes"])
        if form.is_valid():
            try:
                staged = staged_upload_create(
                    task=task,
                    user=request.user,
                    upload=form.cleaned_data["file"],
                    format=form.cleaned_data["format"],
                    options=form.reader_options(task),
                )
            except ApplicationError as error:
                raise_refusal(error)
                form.add_error("file", error.message)
            else:
                check = submission_check(task=task, user=request.user, staged=staged)
    return project_page(
        request,
        "qc/task_submit.html",
        project=project,
        role=role,
        form=form,
        check=check,
        formats=FORMATS,
        png_instances=PNG_INSTANCES,
        **page,
    )
