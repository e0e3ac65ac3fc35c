"""The lead's imports and exports pages (DESIGN §8, §9, §11): upload an annotation file and
follow its import, start an export and download it with its manifest and sha256.

Both run in the background (:mod:`qc.services.import_jobs`, :mod:`qc.services.exports`):
a job's page polls its own status partial with htmx every 2 s while the job is pending or
running, and the final partial carries no trigger, so the polling stops there. Without
JavaScript the page has a Refresh link. The partial shows the job's run
(``qc/_job_progress.html``: queued since when, its last sign of life, stuck, its error);
a failed job has a Retry button (a plain form posting to the job's ``retry`` route, which
queues it again and comes back to its page). Leads and admins only (an outsider gets a
404, any other member a 403), the same rule the services check.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from projects.errors import ApplicationError
from projects.files import private_field_response
from projects.models import Project
from projects.pages import project_page, project_page_or_partial, raise_refusal
from projects.permissions import Action, has_permission, project_for
from qc.formats import READERS
from qc.selectors import io as selectors
from qc.services.exports import EXPORT_FORMATS, export_create
from qc.services.import_jobs import import_job_create
from qc.services.jobs import job_retry

# One line on each importable format: what to upload and where the annotator comes from.
IMPORT_HINTS = {
    "supervisely": "a zip of the project (meta.json, <dataset>/ann/<image>.json); "
    "each object's labelerLogin names its annotator",
    "coco": "one instances .json (polygons or RLE); give the annotator below",
    "cvat": "CVAT for images 1.1: one annotations .xml; give the annotator below",
    "labelme": "one LabelMe .json, or a zip of them; give the annotator below",
    "label-studio": "one Label Studio JSON export; give the annotator below",
    "mask-png": "a zip of PNG masks laid out as the pattern below says",
}
EXPORT_HINTS = {
    "coco": "one COCO instances .json, masks as RLE (or polygons)",
    "supervisely": "a zip of a Supervisely project",
    "mask-png": "a zip of PNGs: per image, instance ids and classes",
}
PNG_FOREGROUND = [("nonzero", "non-zero pixels"), ("zero", "black pixels")]
PNG_INSTANCES = [
    ("single", "one per PNG"),
    ("ids", "one per pixel value"),
    ("components", "one per blob"),
]
# The upload form's fields that belong to one format, by format, with the reader option
# each one sets.
FORMAT_FIELDS = {
    "mask-png": {
        "png_pattern": "pattern",
        "png_foreground": "foreground",
        "png_instances": "instances",
        "png_label": "label",
        "png_image_name": "image_name",
    },
    "coco": {"coco_all_mapped_images": "all_mapped_images"},
    "cvat": {"cvat_subset": "subset"},
    "label-studio": {
        "ls_image_key": "image_key",
        "ls_image_name": "image_name",
        "ls_image_size": "image_size",
        "ls_include_predictions": "include_predictions",
    },
}


class ImportForm(forms.Form):
    """The file, its format and the import's options; each format's own options are read
    only for that format (:data:`FORMAT_FIELDS`)."""

    file = forms.FileField()
    format = forms.ChoiceField(choices=[(name, name) for name in READERS], initial="coco")
    annotator = forms.CharField(required=False, max_length=150)
    create_users = forms.BooleanField(required=False)
    create_labels = forms.BooleanField(required=False)
    labelers_saw_all_images = forms.BooleanField(required=False)
    png_pattern = forms.CharField(required=False, max_length=300, initial="{annotator}/{image}.png")
    png_foreground = forms.ChoiceField(choices=PNG_FOREGROUND, required=False, initial="nonzero")
    png_instances = forms.ChoiceField(choices=PNG_INSTANCES, required=False, initial="single")
    png_label = forms.CharField(required=False, max_length=100)
    png_image_name = forms.CharField(required=False, max_length=300)
    coco_all_mapped_images = forms.BooleanField(required=False)
    cvat_subset = forms.CharField(required=False, max_length=200)
    ls_image_key = forms.CharField(required=False, max_length=200)
    ls_image_name = forms.CharField(required=False, max_length=300)
    ls_image_size = forms.RegexField(
        regex=r"^\s*[1-9]\d{0,5}\s*[xX×]\s*[1-9]\d{0,5}\s*$",
        required=False,
        error_messages={"invalid": "Give the size as WIDTHxHEIGHT in pixels, e.g. 640x480."},
    )
    ls_include_predictions = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("format") == "mask-png" and not data.get("png_pattern"):
            self.add_error("png_pattern", "PNG masks need a pattern, e.g. {annotator}/{image}.png.")
        return data

    def options(self) -> dict[str, Any]:
        """The options ``import_job_create`` takes: the import's, then the chosen format's
        (blank fields and unticked boxes left out)."""
        data = self.cleaned_data
        options: dict[str, Any] = {"annotator": data.get("annotator") or None}
        for key in ("create_users", "create_labels", "labelers_saw_all_images"):
            if data.get(key):
                options[key] = True
        for field, option in FORMAT_FIELDS.get(data["format"], {}).items():
            value = data.get(field)
            if value in (None, "", False):
                continue
            if option == "image_size":
                value = [int(v) for v in value.strip().lower().replace("×", "x").split("x")]
            options[option] = value
        return options


class ExportForm(forms.Form):
    """What to export: the format, accepted labels only or with unreviewed images, and the
    service's filters (classes, gold only, images by name)."""

    format = forms.ChoiceField(choices=[(name, name) for name in EXPORT_FORMATS], initial="coco")
    include_unreviewed = forms.BooleanField(required=False)
    polygons = forms.BooleanField(required=False)
    classes = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    gold = forms.BooleanField(required=False)
    images = forms.CharField(required=False, widget=forms.Textarea, max_length=200_000)

    def __init__(self, *args: Any, class_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["classes"].choices = [(name, name) for name in class_names]

    def clean_images(self) -> list[str]:
        text = self.cleaned_data.get("images") or ""
        return sorted({line.strip() for line in text.splitlines() if line.strip()})

    def start(self) -> dict[str, Any]:
        """The keyword arguments of ``export_create``."""
        data = self.cleaned_data
        filters: dict[str, Any] = {}
        if data.get("classes"):
            filters["classes"] = list(data["classes"])
        if data.get("images"):
            filters["images"] = data["images"]
        if data.get("gold"):
            filters["gold"] = True
        return {
            "format": data["format"],
            "include_unreviewed": bool(data.get("include_unreviewed")),
            "polygons": bool(data.get("polygons")) and data["format"] == "coco",
            "filters": filters,
        }


def _may_retry(request: HttpRequest, project: Project) -> bool:
    """Whether the viewer may queue the project's failed jobs again (the rule
    ``job_retry`` checks): the page shows them Retry."""
    return has_permission(user=request.user, project=project, action=Action.MANAGE_PROJECT)


def job_retry_then_follow(
    request: HttpRequest, *, project: Project, job: Any, noun: str, detail: str
) -> HttpResponse:
    """Queue the failed ``job`` again (``job_retry``) and go back to its page (URL name
    ``detail``), where it shows queued; a job that is not failed (any more) is said in a
    message there, a refused role is the page error it is."""
    try:
        job_retry(job=job, actor=request.user)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
    else:
        messages.success(request, f"{noun} is queued again; this page follows it.")
    return redirect(detail, slug=project.slug, pk=job.pk)


def _again_initial(options: dict[str, Any], format: str) -> dict[str, Any]:
    """The upload form filled in as a failed import was asked, to try again."""
    initial: dict[str, Any] = {"format": format}
    for key in ("annotator", "create_users", "create_labels", "labelers_saw_all_images"):
        if key in options:
            initial[key] = options[key]
    for field, option in FORMAT_FIELDS.get(format, {}).items():
        if option in options:
            value = options[option]
            initial[field] = "x".join(map(str, value)) if option == "image_size" else value
    return initial


def _export_initial(filters: dict[str, Any], format: str) -> dict[str, Any]:
    """The export form filled in as an earlier export was asked."""
    return {
        "format": format,
        "include_unreviewed": bool(filters.get("include_unreviewed")),
        "polygons": bool(filters.get("polygons")),
        "classes": filters.get("classes", []),
        "gold": bool(filters.get("gold")),
        "images": "\n".join(filters.get("images", [])),
    }


def _fresh_initial(class_names: list[str]) -> dict[str, Any]:
    """A new upload form: a project of one class has its masks' class filled in."""
    return {"png_label": class_names[0]} if len(class_names) == 1 else {}


def _imports_page(
    request: HttpRequest, project: Project, role: str, form: ImportForm | None = None
) -> HttpResponse:
    page = selectors.imports_page(project=project, page=request.GET.get("page", 1))
    return project_page(
        request,
        "qc/imports.html",
        project=project,
        role=role,
        form=form or ImportForm(initial=_fresh_initial(page["class_names"])),
        hints=IMPORT_HINTS,
        png_foreground=PNG_FOREGROUND,
        png_instances=PNG_INSTANCES,
        **page,
    )


@login_required
@require_GET
def project_imports(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    return _imports_page(request, project, role)


@login_required
@require_POST
def import_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Store the upload and queue its import, then follow it on its page; a form that does
    not validate, or an upload the service refuses, shows the form again with the error."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_job_create(
                project=project,
                actor=request.user,
                upload=upload,
                format=form.cleaned_data["format"],
                options=form.options(),
            )
        except ApplicationError as error:
            raise_refusal(error)
            form.add_error("file", f"{upload.name}: {error.message}")
        else:
            messages.success(
                request, f"{job.source_name} is uploaded; this page follows its import."
            )
            return redirect("import-detail", slug=project.slug, pk=job.pk)
    return _imports_page(request, project, role, form)


@login_required
@require_GET
def import_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One import; asked by htmx, only its status partial (what the polling swaps in)."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    detail = selectors.import_detail(
        project=project, pk=pk, may_manage=_may_retry(request, project)
    )
    if detail is None:
        raise Http404("No such import.")
    job = detail["job"]
    context = {
        **detail,
        "hints": IMPORT_HINTS,
        "png_foreground": PNG_FOREGROUND,
        "png_instances": PNG_INSTANCES,
    }
    if job.status == job.Status.FAILED:
        context["form"] = ImportForm(initial=_again_initial(job.options or {}, job.format))
    return project_page_or_partial(
        request,
        "qc/import_detail.html",
        "qc/_import_status.html",
        project=project,
        role=role,
        **context,
    )


@login_required
@require_POST
def import_retry(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Run a failed import again, with the same file and options."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    job = selectors.import_job_of(project=project, pk=pk)
    if job is None:
        raise Http404("No such import.")
    return job_retry_then_follow(
        request, project=project, job=job, noun=f"Import {job.pk}", detail="import-detail"
    )


def _exports_page(
    request: HttpRequest, project: Project, role: str, form: ExportForm | None = None
) -> HttpResponse:
    page = selectors.exports_page(project=project, page=request.GET.get("page", 1))
    return project_page(
        request,
        "qc/exports.html",
        project=project,
        role=role,
        form=form or ExportForm(class_names=page["class_names"]),
        hints=EXPORT_HINTS,
        **page,
    )


@login_required
@require_GET
def project_exports(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    return _exports_page(request, project, role)


@login_required
@require_POST
def export_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue an export and follow it on its page; refused filters show the form again."""
    project, role = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    class_names = selectors.export_choices(project=project)["class_names"]
    form = ExportForm(request.POST, class_names=class_names)
    if form.is_valid():
        try:
            export = export_create(project=project, actor=request.user, **form.start())
        except ApplicationError as error:
            raise_refusal(error)
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Export {export.pk} was started; this page follows it.")
            return redirect("export-detail", slug=project.slug, pk=export.pk)
    return _exports_page(request, project, role, form)


@login_required
@require_GET
def export_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One export; asked by htmx, only its status partial (what the polling swaps in)."""
    project, role = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    detail = selectors.export_detail(
        project=project, pk=pk, may_manage=_may_retry(request, project)
    )
    if detail is None:
        raise Http404("No such export.")
    export = detail["export"]
    context = {**detail, "hints": EXPORT_HINTS}
    if export.status == export.Status.FAILED:
        context["form"] = ExportForm(
            initial=_export_initial(export.filters or {}, export.format),
            class_names=detail["class_names"],
        )
    return project_page_or_partial(
        request,
        "qc/export_detail.html",
        "qc/_export_status.html",
        project=project,
        role=role,
        **context,
    )


@login_required
@require_POST
def export_retry(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Run a failed export again, as it was asked."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    export = selectors.export_of(project=project, pk=pk)
    if export is None:
        raise Http404("No such export.")
    return job_retry_then_follow(
        request, project=project, job=export, noun=f"Export {export.pk}", detail="export-detail"
    )


@login_required
@require_GET
def export_download(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The export's file as an attachment, with its sha256 in ``X-Checksum-SHA256``; an
    export not done yet sends the user back to its page with a word on why."""
    project, _ = project_for(user=request.user, slug=slug, action=Action.EXPORT)
    try:
        export = selectors.export_for_download(project=project, pk=pk)
    except ApplicationError as error:
        raise_refusal(error)
        messages.info(request, f"{error.message} Download it once it is done.")
        return redirect("export-detail", slug=project.slug, pk=pk)
    response = private_field_response(request, export.file)
    response["X-Checksum-SHA256"] = export.sha256
    return response
