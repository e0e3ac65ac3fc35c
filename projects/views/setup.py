"""The pages a lead sets a project up from (DESIGN §10: leads and admins; reviewers and
annotators get a 403, outsiders a 404): the settings, the label classes and the members, and
the site admins' page that creates a project.

Removing a member, or making an annotator a reviewer or a lead, first shows where each of
their open tasks will go (:func:`projects.services.members.membership_rebalance_plan`); the
confirmation carries that plan's digest, so the change is refused, changing nothing, when the
plan is no longer the one shown. What the change did is kept in the session for the members
page to show once (a receipt), so reloading that page never repeats the change.
"""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from projects import services
from projects.errors import ApplicationError, ConflictError
from projects.models import Membership, Project, Role
from projects.pages import project_page, raise_refusal
from projects.permissions import Action, project_for
from projects.selectors import setup as selectors
from projects.services.members import (
    MembershipRemoved,
    membership_rebalance_plan,
    plan_changed,
)
from projects.views.setup_forms import (
    AGREEMENT_SETTINGS,
    CONSENSUS_METHODS,
    POLICIES,
    LabelClassForm,
    MemberAddForm,
    ProjectCreateForm,
    SettingsForm,
)

GET_POST = ["GET", "HEAD", "POST"]


def refusal_on_form(form: Form, error: ApplicationError, *, field_of: Any = None) -> None:
    """A service's refusal on the form: beside each field it names, and above the form when
    it names none of the form's fields (or more than them)."""
    unplaced = not error.extra
    for name, errors in error.extra.items():
        field = field_of(name) if field_of else name
        if field not in form.fields:
            unplaced = True
            continue
        for text in errors if isinstance(errors, list) else [errors]:
            form.add_error(field, str(text))
    if unplaced:
        form.add_error(None, error.message)


@login_required
@require_http_methods(GET_POST)
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    form = SettingsForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        before = SettingsForm.initial_of(project)
        try:
            project = services.project_update(
                project=project, actor=request.user, **form.settings()
            )
        except ApplicationError as error:
            raise_refusal(error)
            refusal_on_form(form, error, field_of=form.field_of)
        else:
            _settings_saved(request, project, before=before)
            return redirect("project-settings", slug=project.slug)
    return project_page(
        request,
        "projects/settings.html",
        project=project,
        role=role,
        form=form,
        tab="settings",
        policies=POLICIES,
        consensus_methods=CONSENSUS_METHODS,
        **selectors.settings_page(project=project),
    )


def _settings_saved(request: HttpRequest, project: Project, *, before: dict[str, Any]) -> None:
    after = SettingsForm.initial_of(project)
    changed = [
        SettingsForm.base_fields[name].label or name.replace("_", " ").capitalize()
        for name in after
        if after[name] != before[name]
    ]
    if not changed:
        messages.info(request, "Nothing changed.")
        return
    messages.success(request, f"Saved: {', '.join(changed)}.")
    stale = [name for name in AGREEMENT_SETTINGS if after[name] != before[name]]
    compared = selectors.settings_page(project=project)["compared_count"]
    if stale and compared:
        messages.warning(
            request,
            f"The agreement stored for {compared} image{'s' if compared != 1 else ''} was "
            "computed under the old settings and is not recomputed: new figures come as images "
            "get new submissions, or when you recompute the project (the link below).",
        )


@login_required
@require_http_methods(GET_POST)
def project_classes(request: HttpRequest, slug: str) -> HttpResponse:
    """The label classes with what uses each, and the form that adds one."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    page = selectors.classes_page(project=project)
    form = LabelClassForm(request.POST or None, initial={"colour": page["next_colour"]})
    if request.method == "POST" and form.is_valid():
        try:
            label_class = services.label_class_create(
                project=project, actor=request.user, **form.changes()
            )
        except ApplicationError as error:
            raise_refusal(error)
            refusal_on_form(form, error)
        else:
            messages.success(request, f"Added the class {label_class.name}.")
            return redirect("project-classes", slug=project.slug)
    return project_page(
        request,
        "projects/classes.html",
        project=project,
        role=role,
        form=form,
        tab="classes",
        **page,
    )


@login_required
@require_http_methods(GET_POST)
def project_class_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    label_class = selectors.label_class_of(project=project, pk=pk)
    if label_class is None:
        raise Http404("No such label class.")
    form = LabelClassForm(request.POST or None, label_class=label_class)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        try:
            services.label_class_update(label_class=label_class, actor=request.user, **changes)
        except ApplicationError as error:
            raise_refusal(error)
            refusal_on_form(form, error)
        else:
            if changes:
                messages.success(request, f"Saved the class {form.cleaned_data['name']}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("project-classes", slug=project.slug)
    return project_page(
        request,
        "projects/classes_edit.html",
        project=project,
        role=role,
        form=form,
        label_class=label_class,
        tab="classes",
    )


def task_list_url(project: Project, username: str) -> str:
    """The assignment page's list of ``username``'s open tasks (what the counts count)."""
    base = reverse("project-task-list", args=[project.slug])
    return f"{base}?{urlencode({'annotator': username, 'status': 'open'})}"


_RECEIPT = "maskqc:members:receipt:{}"


@login_required
@require_http_methods(GET_POST)
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    """The members with their role, open tasks and acknowledgements; the form that adds one;
    the receipt of the last removal or role change, once."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    form = MemberAddForm(request.POST or None)
    unknown_user = None
    if request.method == "POST" and form.is_valid():
        username, new_role = form.cleaned_data["username"], form.cleaned_data["role"]
        user = selectors.user_named(username)
        if user is None:
            # The page links a site admin to the account form (members.html).
            unknown_user = username
            form.add_error(
                "username", f"No user named {username!r}. Users are created by a site admin."
            )
        else:
            try:
                services.membership_add(
                    project=project, user=user, role=new_role, actor=request.user
                )
            except ApplicationError as error:
                raise_refusal(error)
                form.add_error("username", error.message)
            else:
                messages.success(request, f"{user} is now {_a_role(new_role)}.")
                return redirect("project-members", slug=project.slug)
    page = selectors.members_page(project=project, role=request.GET.get("role"))
    for row in page["members"]:
        row.tasks_url = task_list_url(project, row.membership.user.username)
    receipt = request.session.pop(_RECEIPT.format(project.pk), None)
    if receipt:
        for move in receipt["moved"]:
            move["url"] = task_list_url(project, move["to"])
    return project_page(
        request,
        "projects/members.html",
        project=project,
        role=role,
        form=form,
        tab="members",
        roles=Role.choices,
        receipt=receipt,
        unknown_user=unknown_user,
        **page,
    )


def _membership(project: Project, pk: int) -> Membership:
    membership = selectors.membership_of(project=project, pk=pk)
    if membership is None:
        raise Http404("No such member.")
    return membership


def _refused(request: HttpRequest, project: Project, error: ApplicationError) -> HttpResponse:
    """A refusal of a change to a member, shown on the members page. The view checked the
    right to manage the project, so a 403 here is the refusal to act on oneself: a message."""
    if error.status == 404:
        raise_refusal(error)
    messages.error(request, error.message)
    return redirect("project-members", slug=project.slug)


def _keep_receipt(
    request: HttpRequest, project: Project, *, username: str, done: str, result: MembershipRemoved
) -> None:
    request.session[_RECEIPT.format(project.pk)] = {
        "username": username,
        "done": done,
        "moved": [
            {"image": old.image.name, "to": new.annotator.username} for old, new in result.moved
        ],
        "cancelled": [task.image.name for task in result.cancelled],
    }


def _moved_words(result: MembershipRemoved) -> str:
    if not result.tasks:
        return "They had no open task."
    return (
        f"Of their {result.tasks} open task{'s' if result.tasks != 1 else ''}, "
        f"{len(result.moved)} moved to other annotators and {len(result.cancelled)} "
        "were cancelled."
    )


def _preview(
    request: HttpRequest,
    project: Project,
    role: str,
    *,
    membership: Membership,
    plan: MembershipRemoved,
    new_role: str | None,
) -> HttpResponse:
    """The confirmation page: each open task and where it goes, by annotator."""
    receiving: dict[str, int] = {}
    for _, new in plan.moved:
        receiving[new.annotator.username] = receiving.get(new.annotator.username, 0) + 1
    return project_page(
        request,
        "projects/members_confirm.html",
        project=project,
        role=role,
        membership=membership,
        plan=plan,
        new_role=new_role,
        new_role_label=_role_words(new_role) if new_role else "",
        receiving=sorted(receiving.items()),
        tasks_url=task_list_url(project, membership.user.username),
        tab="members",
    )


@login_required
@require_POST
def project_member_role(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Change a member's role. When an annotator stops annotating and has open tasks, the
    first request shows where they go; the confirmation (with the plan's digest) changes it,
    unless the plan changed since (then the new plan is shown)."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    membership = selectors.membership_of(project=project, pk=pk)
    if membership is None:
        messages.info(request, "That member is no longer in the project.")
        return redirect("project-members", slug=project.slug)
    new_role = request.POST.get("role", "")
    if new_role not in Role.values:
        messages.error(request, "Choose a role: lead, reviewer or annotator.")
        return redirect("project-members", slug=project.slug)
    if new_role == membership.role:
        messages.info(request, f"{membership.user} is {_a_role(new_role)} already.")
        return redirect("project-members", slug=project.slug)
    confirmed = request.POST.get("plan")
    try:
        plan = membership_rebalance_plan(membership=membership, actor=request.user, role=new_role)
        if confirmed is None and plan.tasks:
            return _preview(
                request, project, role, membership=membership, plan=plan, new_role=new_role
            )
        if confirmed is not None and confirmed != plan.digest:
            raise ConflictError(plan_changed(membership))
        # The digest makes the change carry out exactly this plan, or refuse.
        services.membership_role_change(
            membership=membership, role=new_role, actor=request.user, expected=plan.digest
        )
    except ConflictError as error:
        return _replanned(
            request, project, role, membership=membership, error=error, new_role=new_role
        )
    except ApplicationError as error:
        return _refused(request, project, error)
    words = _a_role(new_role)
    messages.success(request, f"{membership.user} is now {words}. {_moved_words(plan)}")
    if plan.tasks:
        _keep_receipt(
            request,
            project,
            username=membership.user.username,
            done=f"became {words}",
            result=plan,
        )
    return redirect("project-members", slug=project.slug)


def _role_words(role: str) -> str:
    return Role(role).label.lower()


def _a_role(role: str) -> str:
    words = _role_words(role)
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def _replanned(
    request: HttpRequest,
    project: Project,
    role: str,
    *,
    membership: Membership,
    error: ConflictError,
    new_role: str | None,
) -> HttpResponse:
    """The plan changed under the lead: say so and show the new one. When there is no plan
    to show any more (the member was removed meanwhile), that refusal alone is said, on the
    members page."""
    try:
        plan = membership_rebalance_plan(membership=membership, actor=request.user, role=new_role)
    except ApplicationError as refusal:
        return _refused(request, project, refusal)
    messages.warning(request, error.message)
    return _preview(request, project, role, membership=membership, plan=plan, new_role=new_role)


@login_required
@require_http_methods(["GET", "HEAD"])
def project_member_remove(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The confirmation of a removal: each of the member's open tasks and where it goes."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    membership = _membership(project, pk)
    try:
        plan = membership_rebalance_plan(membership=membership, actor=request.user)
    except ApplicationError as error:
        return _refused(request, project, error)
    return _preview(request, project, role, membership=membership, plan=plan, new_role=None)


@login_required
@require_POST
def project_member_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Remove a member as confirmed (the plan's digest in ``plan``); a plan that changed
    since shows the new one instead."""
    project, role = project_for(user=request.user, slug=slug, action=Action.MANAGE_PROJECT)
    membership = selectors.membership_of(project=project, pk=pk)
    if membership is None:
        messages.info(request, "That member is no longer in the project.")
        return redirect("project-members", slug=project.slug)
    try:
        result = services.membership_remove(
            membership=membership, actor=request.user, expected=request.POST.get("plan") or None
        )
    except ConflictError as error:
        return _replanned(request, project, role, membership=membership, error=error, new_role=None)
    except ApplicationError as error:
        return _refused(request, project, error)
    messages.success(
        request, f"{membership.user} was removed from {project.name}. {_moved_words(result)}"
    )
    if result.tasks:
        _keep_receipt(
            request,
            project,
            username=membership.user.username,
            done="left the project",
            result=result,
        )
    return redirect("project-members", slug=project.slug)


@login_required
@require_http_methods(GET_POST)
def project_create(request: HttpRequest) -> HttpResponse:
    """A new project, then its settings. Site admins only, as through the API and the
    service (:func:`projects.services.project_create`): anyone else gets a 403, before a
    slug is looked at, so nobody learns from this page which projects exist."""
    if not request.user.is_staff:
        raise PermissionDenied("Only a site admin creates projects.")
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            project = services.project_create(
                slug=data["slug"],
                name=data["name"] or None,
                description=data["description"],
                labels=data["labels"],
                actor=request.user,
            )
        except ConflictError as error:
            form.add_error("slug", error.message)
        except ApplicationError as error:
            raise_refusal(error)
            refusal_on_form(form, error)
        else:
            messages.success(
                request,
                f"Created {project.name}. Check its settings, then add its members.",
            )
            return redirect("project-settings", slug=project.slug)
    return render(request, "projects/project_create.html", {"form": form})
