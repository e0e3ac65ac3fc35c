"""The guideline editor (DESIGN §7, §10, §11), for leads and admins: the editor's home
(every guideline with its versions), a draft's editor with a live preview and its rules
as a form, publishing with a change summary, the history with the diff between any two
versions, and who acknowledged which version. Reviewers and annotators read guidelines
on the guideline page; here they get a 403, outsiders a 404."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from projects.errors import ApplicationError, ConflictError
from projects.models import GuidelineVersion, Project
from projects.pages import project_page, raise_refusal
from projects.permissions import Action, project_for
from projects.selectors.guidelines import (
    AckFilter,
    guideline_acknowledgements_page,
    guideline_draft_of,
    guideline_draft_page,
    guideline_editor_page,
    guideline_history_page,
    guideline_of,
)
from projects.services.guidelines import (
    SUMMARY_NEEDED,
    guideline_create,
    guideline_draft_discard,
    guideline_draft_start,
    guideline_version_publish,
    guideline_version_update,
)
from projects.views.guideline_forms import (
    AckFilterForm,
    DraftForm,
    GuidelineChoiceForm,
    HistoryForm,
    NewGuidelineForm,
    PublishForm,
    saved_preview,
)


def _writer(request: HttpRequest, slug: str) -> tuple[Project, str]:
    return project_for(user=request.user, slug=slug, action=Action.WRITE_GUIDELINES)


def _home(
    request: HttpRequest, project: Project, role: str, form: NewGuidelineForm | None = None
) -> HttpResponse:
    page = guideline_editor_page(project=project)
    return project_page(
        request,
        "projects/guideline_editor.html",
        project=project,
        role=role,
        status=200 if form is None else 400,
        new_form=form or NewGuidelineForm(titles=page["titles"]),
        **page,
    )


@login_required
@require_GET
def guideline_editor(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = _writer(request, slug)
    return _home(request, project, role)


@login_required
@require_POST
def guideline_version_new(request: HttpRequest, slug: str) -> HttpResponse:
    """A new version of a guideline (``guideline``: copied from its newest version, or its
    open draft when it has one) or a new guideline (``title``); then its draft's editor."""
    project, role = _writer(request, slug)
    if "guideline" in request.POST:
        chosen = GuidelineChoiceForm(request.POST)
        pk = chosen.cleaned_data["guideline"] if chosen.is_valid() else None
        guideline = guideline_of(project=project, pk=pk) if pk is not None else None
        if guideline is None:
            raise Http404("No such guideline.")
        try:
            version, created = guideline_draft_start(guideline=guideline, actor=request.user)
        except ApplicationError as error:
            raise_refusal(error)
            messages.error(request, error.message)
            return redirect("guideline-editor", slug=project.slug)
        if created:
            copied = f" copied from v{version.number - 1}" if version.number > 1 else ""
            messages.success(
                request,
                f"v{version.number} of {guideline} is a draft{copied}: change it, preview "
                "it and publish it when it is ready. Annotators see nothing until then.",
            )
        else:
            messages.info(request, f"v{version.number} of {guideline} is a draft already: go on.")
        return redirect("guideline-draft", slug=project.slug, pk=version.pk)
    form = NewGuidelineForm(request.POST, titles=guideline_editor_page(project=project)["titles"])
    if not form.is_valid():
        return _home(request, project, role, form)
    try:
        version = guideline_create(
            project=project, title=form.cleaned_data["title"], actor=request.user
        )
    except ApplicationError as error:
        raise_refusal(error)
        form.add_error("title", error.message)
        return _home(request, project, role, form)
    messages.success(request, f"{version.guideline} is new: write its first version.")
    return redirect("guideline-draft", slug=project.slug, pk=version.pk)


def _draft_or_404(project: Project, pk: int) -> GuidelineVersion:
    version = guideline_draft_of(project=project, pk=pk)
    if version is None:
        raise Http404("No such guideline version.")
    return version


def _published_elsewhere(request: HttpRequest, version: GuidelineVersion) -> HttpResponse:
    messages.info(
        request,
        f"{version} is published and never changes: start a new version to change it.",
    )
    return redirect("guideline-editor", slug=version.guideline.project.slug)


def _draft_form(version: GuidelineVersion, class_names: list[str], data=None) -> DraftForm:
    names = class_names + [
        name for name in DraftForm.class_names_of(version.rules) if name not in class_names
    ]
    if data is None:
        return DraftForm(initial=DraftForm.initial_of_version(version), class_names=names)
    return DraftForm(data, class_names=names)


def _draft_response(
    request: HttpRequest,
    *,
    project: Project,
    role: str,
    version: GuidelineVersion,
    page: dict,
    form: DraftForm,
    status: int = 200,
) -> HttpResponse:
    return project_page(
        request,
        "projects/guideline_draft.html",
        project=project,
        role=role,
        status=status,
        version=version,
        form=form,
        preview=form.preview() if form.is_bound else saved_preview(version),
        unsaved=form.is_bound,
        **page,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def guideline_draft(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """A draft's editor: *Save draft* stores the text, the summary and the rules;
    *Preview* (the page without JavaScript) shows the posted text rendered, unsaved."""
    project, role = _writer(request, slug)
    version = _draft_or_404(project, pk)
    if version.published_at is not None:
        return _published_elsewhere(request, version)
    page = guideline_draft_page(project=project, version=version)
    shown = {"project": project, "role": role, "version": version, "page": page}
    if request.method != "POST":
        return _draft_response(request, **shown, form=_draft_form(version, page["class_names"]))
    form = _draft_form(version, page["class_names"], request.POST)
    if not form.is_valid():
        return _draft_response(request, **shown, form=form, status=400)
    if request.POST.get("action") == "preview":
        return _draft_response(request, **shown, form=form)
    try:
        guideline_version_update(
            version=version,
            actor=request.user,
            body=form.cleaned_data["body"],
            rules=form.rules(),
            change_summary=form.cleaned_data["change_summary"],
        )
    except ApplicationError as error:
        raise_refusal(error)
        if isinstance(error, ConflictError):
            return _published_elsewhere(request, version)
        form.add_error(None, error.message)
        return _draft_response(request, **shown, form=form, status=400)
    messages.success(request, f"Saved the draft {version}.")
    return redirect("guideline-draft", slug=project.slug, pk=version.pk)


@login_required
@require_POST
def guideline_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The preview of the posted text and rules (the draft editor's live preview): the
    markdown rendered as the guideline page shows it, and the rules in words."""
    _writer(request, slug)
    # Any class name posted is a choice here: the preview only says the rule in words.
    form = DraftForm(request.POST, class_names=request.POST.getlist("value_allowed_classes"))
    return render(request, "projects/_guideline_preview.html", {"preview": form.preview()})


@login_required
@require_POST
def guideline_publish(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Publish a draft with its change summary (required); from the editor, what the
    editor shows is published, saved or not. Then who has acknowledged it."""
    project, role = _writer(request, slug)
    version = _draft_or_404(project, pk)
    if version.published_at is not None:
        return _published_elsewhere(request, version)
    page = guideline_draft_page(project=project, version=version)
    editing = "body" in request.POST
    form = (
        _draft_form(version, page["class_names"], request.POST)
        if editing
        else PublishForm(request.POST)
    )
    form.is_valid()
    summary = (form.cleaned_data.get("change_summary") or "").strip()
    if not summary and "change_summary" not in form.errors:
        # Said with the form's other errors, so one round fixes them all.
        form.add_error("change_summary", SUMMARY_NEEDED)
    shown = {"project": project, "role": role, "version": version, "page": page}
    if not form.is_valid():
        if editing:
            return _draft_response(request, **shown, form=form, status=400)
        messages.error(request, SUMMARY_NEEDED)
        return redirect("guideline-draft", slug=project.slug, pk=version.pk)
    edits = {"body": form.cleaned_data["body"], "rules": form.rules()} if editing else {}
    try:
        guideline_version_publish(
            version=version, actor=request.user, change_summary=summary, **edits
        )
    except ApplicationError as error:
        raise_refusal(error)
        if isinstance(error, ConflictError) or not editing:
            messages.error(request, error.message)
            return redirect("guideline-editor", slug=project.slug)
        form.add_error(None, error.message)
        return _draft_response(request, **shown, form=form, status=400)
    messages.success(
        request,
        f"Published {version}. Annotators acknowledge it before their next submission; "
        "below is who has so far.",
    )
    query = urlencode({"version": version.pk})
    return redirect(f"{reverse('guideline-acknowledgements', args=[project.slug])}?{query}")


@login_required
@require_POST
def guideline_draft_discard_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Throw a draft away (confirmed in the page's box); back to the editor, which offers a
    new version again."""
    project, _ = _writer(request, slug)
    version = _draft_or_404(project, pk)
    try:
        removed = guideline_draft_discard(version=version, actor=request.user)
    except ApplicationError as error:
        raise_refusal(error)
        messages.error(request, error.message)
        return redirect("guideline-editor", slug=project.slug)
    if removed:
        messages.success(
            request,
            f"Discarded {version}: {version.guideline} had no other version, so it went too.",
        )
    else:
        messages.success(
            request,
            f"Discarded the draft {version}. A new version of {version.guideline} starts "
            "from its newest published one.",
        )
    return redirect("guideline-editor", slug=project.slug)


@login_required
@require_GET
def guideline_history(request: HttpRequest, slug: str) -> HttpResponse:
    """A guideline's versions and the diff between two of them (``a`` → ``b``)."""
    project, role = _writer(request, slug)
    form = HistoryForm(request.GET)
    choice = form.choice()
    page = guideline_history_page(
        project=project, guideline=choice["g"], a=choice["a"], b=choice["b"]
    )
    return project_page(
        request,
        "projects/guideline_history.html",
        project=project,
        role=role,
        form=form,
        **page,
    )


@login_required
@require_GET
def guideline_acknowledgements(request: HttpRequest, slug: str) -> HttpResponse:
    """Annotator × published version: who acknowledged what and when, and who is blocked
    from submitting now; filtered by ``version`` and ``state``, or ``blocked``."""
    project, role = _writer(request, slug)
    form = AckFilterForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    wanted = AckFilter(
        version=data.get("version"),
        state=data.get("state") or None,
        blocked=data.get("blocked") == "1",
    )
    return project_page(
        request,
        "projects/guideline_acknowledgements.html",
        project=project,
        role=role,
        form=form,
        **guideline_acknowledgements_page(project=project, wanted=wanted),
    )
