"""The lead's assignment pages (DESIGN §6, §10, §11): the images with their QC state and
tasks, assigning a batch with the overlap plan after a preview of each annotator's load,
and the project's tasks, each open one reassigned or cancelled.

Admins and leads only (``Action.ASSIGN_TASKS``): an outsider gets a 404, any other member a
403. The lists' filters are GET parameters; a value that does not parse is left out and
said so beside its field, never an error page. The preview and the assignment come from
one planner (:func:`projects.services.tasks.task_assign_plan` and ``task_assign``), and the
assignment carries the digest of the plan it was shown, so what is created is what the
lead saw, or nothing and a new preview.
"""

import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from projects.errors import ApplicationError, ConflictError
from projects.models import Image, Project, Role
from projects.pages import project_page, raise_refusal
from projects.permissions import Action, project_for
from projects.selectors import QCState
from projects.selectors import assignment as selectors
from projects.selectors.assignment import PER_PAGE, PER_PAGE_CHOICES, STATE_LABELS, Batch
from projects.selectors.people import NO_LOGIN, can_log_in_q
from projects.services.tasks import AssignmentPlan, task_assign, task_assign_plan, task_cancel
from projects.services.tasks import task_reassign as reassign_service
from projects.views import safe_next
from projects.views.image_upload import ImageUploadForm

_STATE_CHOICES = [(state, STATE_LABELS[state]) for state in QCState.ORDER]
_MAX_ID = 2**63 - 1


def _per_field() -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        required=False, coerce=int, choices=[(n, n) for n in PER_PAGE_CHOICES], empty_value=None
    )


class _ListFilterForm(forms.Form):
    def parsed(self, name: str) -> Any:
        """The field's value when it parsed and was given, else None (left out)."""
        self.is_valid()
        return self.cleaned_data.get(name) or None

    def per_page(self) -> int:
        return self.parsed("per") or PER_PAGE


class ImageFilterForm(_ListFilterForm):
    state = forms.ChoiceField(required=False, choices=_STATE_CHOICES)
    annotator = forms.CharField(required=False, max_length=150)
    q = forms.CharField(required=False, max_length=255)
    per = _per_field()

    def filters(self) -> selectors.ImageFilters:
        return selectors.ImageFilters(
            state=self.parsed("state"), annotator=self.parsed("annotator"), q=self.parsed("q")
        )


class TaskFilterForm(_ListFilterForm):
    status = forms.ChoiceField(required=False, choices=selectors.STATUS_CHOICES)
    annotator = forms.CharField(required=False, max_length=150)
    image = forms.CharField(required=False, max_length=255)
    overdue = forms.BooleanField(required=False)
    per = _per_field()

    def filters(self) -> selectors.TaskFilters:
        return selectors.TaskFilters(
            status=self.parsed("status"),
            annotator=self.parsed("annotator"),
            image=self.parsed("image"),
            overdue=bool(self.parsed("overdue")),
        )


class ReassignForm(forms.Form):
    """The annotator a task moves to, by username (a form field: text the database cannot
    hold, such as a NUL byte, is refused before any query)."""

    annotator = forms.CharField(max_length=150)


class _ImagesField(forms.ModelMultipleChoiceField):
    """Images by id; an id beyond the database's integers is an invalid choice like any
    other unknown id, never a query that overflows."""

    def _check_values(self, value: Any) -> Any:
        for pk in value:
            text = str(pk)
            if not (text.isascii() and text.isdigit() and int(text) <= _MAX_ID):
                raise forms.ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": pk},
                )
        return super()._check_values(value)


class AssignmentForm(forms.Form):
    """A batch, the annotators, a due date and the overlap plan (blank: the project's)."""

    batch = forms.ChoiceField(choices=Batch.CHOICES, widget=forms.RadioSelect)
    image = _ImagesField(queryset=Image.objects.none(), required=False)
    count = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    state = forms.ChoiceField(required=False, choices=_STATE_CHOICES)
    annotator = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        to_field_name="username",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one annotator."},
    )
    due_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    overlap = forms.IntegerField(required=False, min_value=1, max_value=20)
    share = forms.FloatField(required=False, min_value=0, max_value=100)
    seed = forms.CharField(required=False, max_length=20)

    def __init__(self, *args: Any, project: Project, today: datetime.date, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.project = project
        self.today = today
        self.fields["image"].queryset = Image.objects.filter(project=project)
        self.fields["annotator"].queryset = (
            get_user_model()
            .objects.filter(memberships__project=project, memberships__role=Role.ANNOTATOR)
            .order_by("username")
        )
        self.images: list[Image] = []

    def clean_seed(self) -> int:
        """The preview's shuffle, carried to the assignment in a hidden field: anything
        but a small whole number is the default 0 rather than an error nobody can see."""
        seed = self.cleaned_data.get("seed") or ""
        return int(seed) if seed.isascii() and seed.isdigit() and len(seed) < 10 else 0

    def clean_due_date(self) -> datetime.date | None:
        due = self.cleaned_data.get("due_date")
        if due is not None and due < self.today:
            raise forms.ValidationError("A due date in the past makes every task overdue.")
        return due

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        batch = data.get("batch")
        missing = {
            Batch.SELECTED: ("image", "No image is selected: pick them on the images page."),
            Batch.UNASSIGNED: ("count", "Say how many unassigned images to take."),
            Batch.STATE: ("state", "Choose a QC state."),
        }.get(batch)
        if missing and not data.get(missing[0]) and missing[0] not in self.errors:
            self.add_error(missing[0], missing[1])
        if batch and not self.errors:
            self.images = selectors.batch_images(
                project=self.project,
                batch=batch,
                selected=list(data.get("image") or []),
                count=data.get("count"),
                state=data.get("state"),
            )
            if not self.images:
                self.add_error(None, self._empty_message(batch, data.get("state")))
        return data

    @staticmethod
    def _empty_message(batch: str, state: str | None) -> str:
        if batch == Batch.UNASSIGNED:
            return "No image is unassigned: every image has tasks. Import images first."
        return f"No image is {STATE_LABELS.get(state or '', '').lower()}."

    def fraction(self) -> float | None:
        """The share of overlapped images asked for, or None for the project's (also when
        the percentage shown, the project's rounded, was left as it was)."""
        share = self.cleaned_data.get("share")
        if share is None or share == round(self.project.overlap_fraction * 100, 2):
            return None
        return share / 100

    def plan_arguments(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "annotators": list(self.cleaned_data["annotator"]),
            "overlap": self.cleaned_data.get("overlap"),
            "overlap_fraction": self.fraction(),
            "seed": self.cleaned_data.get("seed") or 0,
        }


def _today() -> datetime.date:
    return timezone.localdate()


def _ids(values: list[str]) -> list[int]:
    """The values that are ids (the rest cannot name an image)."""
    return [int(v) for v in values if v.isascii() and v.isdigit() and int(v) <= _MAX_ID]


@login_required
@require_GET
def project_images(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.ASSIGN_TASKS)
    form = ImageFilterForm(request.GET)
    listing = selectors.images_page(
        project=project,
        filters=form.filters(),
        page=request.GET.get("page", 1),
        per_page=form.per_page(),
    )
    return project_page(
        request,
        "projects/images.html",
        project=project,
        role=role,
        listing=listing,
        form=form,
        upload_form=ImageUploadForm(),
    )


def _initial(request: HttpRequest, project: Project, selected: list[int]) -> dict[str, Any]:
    """The form as a link opens it: the batch, count and state it names (the images page's
    links), else the selected images or the first unassigned ones; every annotator who can
    log in (an account an import created is listed but not ticked); the project's overlap
    plan."""
    asked = request.GET.get("batch")
    batch = asked if asked in dict(Batch.CHOICES) else None
    if batch is None or (batch == Batch.SELECTED and not selected):
        batch = Batch.SELECTED if selected else Batch.UNASSIGNED
    count = request.GET.get("count", "")
    state = request.GET.get("state")
    return {
        "batch": batch,
        "count": int(count) if count.isascii() and count.isdigit() and len(count) < 6 else 20,
        "state": state if state in STATE_LABELS else QCState.UNASSIGNED,
        "annotator": list(
            get_user_model()
            .objects.filter(
                can_log_in_q(), memberships__project=project, memberships__role=Role.ANNOTATOR
            )
            .values_list("username", flat=True)
        ),
        "overlap": project.overlap,
        "share": round(project.overlap_fraction * 100, 2),
        "seed": 0,
    }


def _carried(data: QueryDict, form: AssignmentForm) -> list[tuple[str, str]]:
    """The form's parameters, to send again with the assignment (hidden fields)."""
    return [(name, value) for name in form.fields for value in data.getlist(name)]


def _assignment_page(
    request: HttpRequest,
    project: Project,
    role: str,
    form: AssignmentForm,
    plan: AssignmentPlan | None,
    *,
    data: QueryDict,
    status: int = 200,
) -> HttpResponse:
    page = selectors.assignment_page(
        project=project, today=form.today, selected=_ids(data.getlist("image"))
    )
    owing = page.owing
    return project_page(
        request,
        "projects/assignment.html",
        project=project,
        role=role,
        status=status,
        page=page,
        form=form,
        plan=plan,
        carried=_carried(data, form) if plan is not None else [],
        no_login=NO_LOGIN,
        owing_chosen=[
            (load.annotator.username, owing[load.annotator.username])
            for load in (plan.loads if plan is not None else [])
            if load.annotator.username in owing
        ],
    )


def _plan_or_error(request: HttpRequest, project: Project, form: AssignmentForm) -> Any:
    try:
        return task_assign_plan(project=project, actor=request.user, **form.plan_arguments())
    except ApplicationError as error:
        raise_refusal(error)
        form.add_error(None, error.message)
        return None


@login_required
@require_GET
def project_assignment(request: HttpRequest, slug: str) -> HttpResponse:
    """The assignment form; with ``preview``, the plan of its batch, created by nothing."""
    project, role = project_for(user=request.user, slug=slug, action=Action.ASSIGN_TASKS)
    today = _today()
    if "preview" not in request.GET:
        selected = _ids(request.GET.getlist("image"))
        form = AssignmentForm(
            initial=_initial(request, project, selected), project=project, today=today
        )
        return _assignment_page(request, project, role, form, None, data=request.GET)
    form = AssignmentForm(request.GET, project=project, today=today)
    plan = _plan_or_error(request, project, form) if form.is_valid() else None
    return _assignment_page(request, project, role, form, plan, data=request.GET)


@login_required
@require_POST
def assign(request: HttpRequest, slug: str) -> HttpResponse:
    """Create the tasks of the previewed plan (``plan``, its digest; without it, of the plan
    as it is now). A plan that changed meanwhile creates nothing: the page shows the new
    one to confirm."""
    project, role = project_for(user=request.user, slug=slug, action=Action.ASSIGN_TASKS)
    form = AssignmentForm(request.POST, project=project, today=_today())
    if not form.is_valid():
        return _assignment_page(request, project, role, form, None, data=request.POST, status=400)
    arguments = form.plan_arguments()
    try:
        created = task_assign(
            project=project,
            actor=request.user,
            due_date=form.cleaned_data.get("due_date"),
            expect=request.POST.get("plan") or None,
            **arguments,
        )
    except ApplicationError as error:
        raise_refusal(error)
        form.add_error(None, error.message)
        conflict = isinstance(error, ConflictError)
        plan = _plan_or_error(request, project, form) if conflict else None
        return _assignment_page(
            request, project, role, form, plan, data=request.POST, status=409 if conflict else 400
        )
    messages.success(request, _assigned_message(created, len(arguments["images"])))
    return redirect("project-task-list", slug=project.slug)


def _assigned_message(created: list[Any], images: int) -> str:
    if not created:
        return (
            f"Nothing to assign: the {images} image{'s' if images != 1 else ''} of the batch "
            "already have their planned annotators."
        )
    per: dict[str, int] = {}
    for task in created:
        per[task.annotator.username] = per.get(task.annotator.username, 0) + 1
    who = ", ".join(f"{name} {n}" for name, n in sorted(per.items()))
    on = len({task.image_id for task in created})
    return (
        f"Assigned {len(created)} new task{'s' if len(created) != 1 else ''} on {on} "
        f"image{'s' if on != 1 else ''}: {who}. They are at the top of the list."
    )


@login_required
@require_GET
def project_task_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.ASSIGN_TASKS)
    form = TaskFilterForm(request.GET)
    listing = selectors.tasks_page(
        project=project,
        filters=form.filters(),
        today=_today(),
        page=request.GET.get("page", 1),
        per_page=form.per_page(),
    )
    return project_page(
        request,
        "projects/tasks.html",
        project=project,
        role=role,
        listing=listing,
        form=form,
        here=request.get_full_path(),
    )


def _task(request: HttpRequest, slug: str, pk: int) -> tuple[Project, Any]:
    project, _ = project_for(user=request.user, slug=slug, action=Action.ASSIGN_TASKS)
    task = selectors.task_of_project(project=project, pk=pk) if pk <= _MAX_ID else None
    if task is None:
        raise Http404("No such task.")
    return project, task


def _back(request: HttpRequest, project: Project) -> HttpResponse:
    return redirect(safe_next(request) or reverse("project-task-list", args=[project.slug]))


@login_required
@require_POST
def task_reassign(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Move an open task to the annotator named ``annotator``; the service's refusal (one
    who has the image, a task no longer open) is the message."""
    project, task = _task(request, slug, pk)
    form = ReassignForm(request.POST)
    annotator = None
    if form.is_valid():
        annotator = get_user_model().objects.filter(username=form.cleaned_data["annotator"]).first()
    if annotator is None:
        messages.error(request, f"Choose the annotator to give {task.image.name} to.")
        return _back(request, project)
    try:
        new = reassign_service(task=task, annotator=annotator, actor=request.user)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
        return _back(request, project)
    messages.success(request, f"{task.image.name} moved from {task.annotator} to {new.annotator}.")
    return _back(request, project)


@login_required
@require_POST
def task_cancel_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Cancel an open task; its submissions stay, and the image can be assigned again."""
    project, task = _task(request, slug, pk)
    try:
        task_cancel(task=task, actor=request.user)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
        return _back(request, project)
    messages.success(
        request,
        f"Cancelled {task.annotator}'s task on {task.image.name}. To give the image to "
        "someone else, assign it again from the images page.",
    )
    return _back(request, project)
