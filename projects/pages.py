"""What every page of a project shares: the template gets the project, the user's role in it
and the navigation of that role (DESIGN §10, §11). Pages of both apps render through
:func:`project_page`, so the frame is the same everywhere."""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers

from projects.errors import ApplicationError
from projects.models import Project, Role
from projects.permissions import ADMIN


@dataclass(frozen=True)
class NavItem:
    """An entry of the project's navigation: it opens ``url_name`` and is the current entry
    on that page and on the pages of its section (``section``, URL names)."""

    label: str
    url_name: str
    roles: frozenset[str]
    section: frozenset[str] = frozenset()


_MANAGERS = frozenset({ADMIN, Role.LEAD})
_REVIEWERS = _MANAGERS | {Role.REVIEWER}
_EVERYONE = _REVIEWERS | {Role.ANNOTATOR}

# The project's navigation, in the order it is shown; each role sees the entries it may open.
# Managers' "Guideline" opens the editor, everyone else's the guideline to read.
NAVIGATION = (
    NavItem("Overview", "project-overview", _REVIEWERS),
    NavItem("Dashboard", "project-dashboard", _REVIEWERS, frozenset({"project-funnel"})),
    NavItem("Review queue", "review-queue", _REVIEWERS, frozenset({"review-viewer"})),
    NavItem(
        "Assignment",
        "project-assignment",
        _MANAGERS,
        frozenset({"project-images", "project-task-list"}),
    ),
    NavItem("My tasks", "my-tasks", frozenset({Role.ANNOTATOR}), frozenset({"task-submit"})),
    NavItem(
        "Guideline",
        "guideline-editor",
        _MANAGERS,
        frozenset(
            {
                "guideline",
                "guideline-draft",
                "guideline-history",
                "guideline-acknowledgements",
            }
        ),
    ),
    NavItem("Guideline", "guideline", _EVERYONE - _MANAGERS),
    NavItem("My reviews", "my-reviews", frozenset({Role.ANNOTATOR}), frozenset({"my-review"})),
    NavItem("My style", "my-style", frozenset({Role.ANNOTATOR})),
    NavItem("Imports", "project-imports", _MANAGERS, frozenset({"import-detail"})),
    NavItem("Exports", "project-exports", _MANAGERS, frozenset({"export-detail"})),
    NavItem(
        "Settings",
        "project-settings",
        _MANAGERS,
        frozenset(
            {
                "project-classes",
                "project-class-edit",
                "project-members",
                "project-member-remove",
                "project-member-role",
                "project-member-delete",
                "project-recompute",
                "recompute-detail",
            }
        ),
    ),
)

# Where each role's work starts.
ROLE_HOME = {
    ADMIN: "project-overview",
    Role.LEAD: "project-overview",
    Role.REVIEWER: "review-queue",
    Role.ANNOTATOR: "my-tasks",
}


def navigation(*, project: Project, role: str, current: str | None) -> list[dict[str, Any]]:
    """The entries ``role`` sees in ``project``, each with its URL and whether it is the
    page being shown (``current``, a URL name)."""
    return [
        {
            "label": item.label,
            "url": reverse(item.url_name, args=[project.slug]),
            "current": current == item.url_name or current in item.section,
        }
        for item in NAVIGATION
        if role in item.roles
    ]


def project_page(
    request: HttpRequest,
    template: str,
    *,
    project: Project,
    role: str,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    """Render a page of ``project``: the template gets ``project``, ``role``, ``nav`` (see
    :func:`navigation`), ``project_home`` (where the role's work starts, the project's
    breadcrumb) and ``context``. The page's own breadcrumbs go in the template's ``crumbs``
    block, as ``<li>`` items after the project's."""
    match = getattr(request, "resolver_match", None)
    nav = navigation(project=project, role=role, current=match.url_name if match else None)
    return render(
        request,
        template,
        {
            "project": project,
            "role": role,
            "nav": nav,
            "project_home": reverse(ROLE_HOME[role], args=[project.slug]),
            **context,
        },
        status=status,
    )


def project_page_or_partial(
    request: HttpRequest,
    template: str,
    partial: str,
    *,
    project: Project,
    role: str,
    **context: Any,
) -> HttpResponse:
    """A page of ``project`` (as :func:`project_page`), or to an htmx request only its
    ``partial``, the part that a poll or a swap replaces (the partial gets ``project``,
    ``role`` and ``context``). One URL gives both answers, so the response varies with the
    HX-Request header: no cache may give the partial to a page load, or the page to htmx."""
    if getattr(request, "htmx", False):
        response = render(request, partial, {"project": project, "role": role, **context})
    else:
        response = project_page(request, template, project=project, role=role, **context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def raise_refusal(error: ApplicationError) -> None:
    """Raise a service's refusal of an outsider (404) or of a member's role (403) as the
    page errors they are; anything else the caller shows as a message."""
    if error.status == 404:
        raise Http404(error.message)
    if error.status == 403:
        raise PermissionDenied(error.message)
