"""Every page of the site for every role of DESIGN §10: the status each role gets.

:data:`CASES` is the table: one row per page (URL name) and target, with the status of each
role. Admin is a site superuser who is no member; the outsider is the lead of another
project. An outsider gets 404 from every project page (never 403: it must not learn the
project exists); a member whose role does not allow the page gets 403, as
``projects.permissions.project_for`` answers; anonymous users are sent to the login page.
The blind rule (DESIGN §6) is the 404 an annotator gets for another annotator's task,
review, review picture or an image they have no task on, and no other annotator's name on
any page an annotator opens; leads and admins, who see every submission, open any review.
A reviewer may open only the viewer of an image whose review is theirs (403 otherwise).
The rows are in ``rows_*.py``, one module per area of the site; the URL names come from
the URL modules, so a page added without a row fails
:func:`test_every_page_has_a_row`.

The browser sweep (``tests/browser/test_page_sweep.py``) visits, for each role, the pages
this table gives that role a 200 for. Each row finds its target from a *subject* (the user
whose queue or work the page shows: here the user of the row's ``subject`` role; in the
sweep the visitor, or the demo's user of that role when the visitor has another), so one
table works on this module's small project and on the demo.
"""

from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse

from tests.pages import (
    rows_assignment,
    rows_core,
    rows_dashboards,
    rows_guidelines,
    rows_io,
    rows_recompute,
    rows_setup,
)
from tests.pages.matrix import LOGIN, ROLES, SITE_PAGES, Case, build_world, site_url_names, url_of

# Every row, in the order of the site's areas; the browser sweep reads this too.
CASES: list[Case] = [
    *rows_core.ROWS,
    *rows_setup.ROWS,
    *rows_guidelines.ROWS,
    *rows_assignment.ROWS,
    *rows_io.ROWS,
    *rows_dashboards.ROWS,
    *rows_recompute.ROWS,
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The project, built once for the module in a transaction rolled back at its end;
    each test's own transaction (a savepoint inside) undoes what the test did."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


def _request(client: Any, case: Case, url: str) -> Any:
    if case.method == "POST":
        return client.post(url, case.data)
    return client.get(url)


def _cells() -> list[Any]:
    return [pytest.param(case, role, id=f"{case.id}-{role}") for case in CASES for role in ROLES]


@pytest.mark.parametrize(("case", "role"), _cells())
def test_each_role_gets_its_status(db, client, world, case, role):
    subject = world.users[case.subject]
    if case.prepare is not None:
        case.prepare(subject)
    args = case.target(world.project, subject)
    assert args is not None, f"{case.id}: the test project has no target for it"
    url = url_of(case, world.project, subject)
    if role != "anonymous":
        client.force_login(world.users[role])

    response = _request(client, case, url)

    expected = case.expect[role]
    if expected == LOGIN:
        assert response.status_code == 302, f"{case.method} {url}: {response.status_code}"
        assert response["Location"].startswith(reverse("login")), response["Location"]
    else:
        assert response.status_code == expected, f"{case.method} {url} as {role}"
    if role == "annotator" and response.status_code == 200 and case.page:
        # Blind: nothing of another annotator's work reaches an annotator's page.
        assert b"other_annotator" not in response.content, f"{url} names another annotator"
    if case.changed is not None:
        did = expected == 302 and role != "anonymous"
        assert case.changed(args) == did, f"{case.method} {url} as {role}: changed is not {did}"


def test_every_page_has_a_row():
    assert site_url_names() - {case.url_name for case in CASES} == set()


def test_an_outsider_never_learns_a_project_exists():
    for case in CASES:
        if case.url_name not in SITE_PAGES:
            assert case.expect["outsider"] == 404, case.id


def test_post_only_routes_refuse_get(db, client, world):
    """Routes with POST rows and no GET row (a page that also takes a form's POST has
    both)."""
    pages = {case.url_name for case in CASES if case.method == "GET"}
    client.force_login(world.users["lead"])
    for case in CASES:
        if case.method == "POST" and case.url_name not in pages | {"logout"}:
            url = url_of(case, world.project, world.users[case.subject])
            assert client.get(url).status_code == 405, url
