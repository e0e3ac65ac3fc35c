"""The projects API's behaviour: projects, label classes, members, guidelines, tasks."""

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from projects.models import AuditEvent, Membership, Project, Task, TaskStatus
from tests.factories import (
    GuidelineFactory,
    GuidelineVersionFactory,
    ImageFactory,
    MembershipFactory,
    TaskFactory,
    UserFactory,
)

BASE = "/api/v1/projects/bubbles/"


@pytest.fixture
def as_lead(api, lead):
    api.force_authenticate(lead)
    return api


# ------------------------------------------------------------------------ projects


def test_project_create_by_an_admin_and_duplicate_conflicts_in_any_case(api, admin_user):
    api.force_authenticate(admin_user)

    first = api.post("/api/v1/projects/", {"slug": "cells", "labels": ["cell"]}, format="json")
    again = api.post("/api/v1/projects/", {"slug": "cells"}, format="json")
    shouting = api.post("/api/v1/projects/", {"slug": "Cells"}, format="json")

    assert (first.status_code, first.data["role"], first.data["name"]) == (201, "admin", "cells")
    assert not Membership.objects.filter(project__slug="cells").exists()
    assert again.status_code == 409
    assert again.json() == {"message": "A project with slug 'cells' already exists.", "details": {}}
    assert shouting.status_code == 409
    assert Project.objects.filter(slug__iexact="cells").count() == 1


def test_project_create_by_anyone_else_is_403_whether_the_slug_exists_or_not(api, project, lead):
    api.force_authenticate(lead)

    taken = api.post("/api/v1/projects/", {"slug": project.slug}, format="json")
    free = api.post("/api/v1/projects/", {"slug": "cells"}, format="json")

    assert (taken.status_code, free.status_code) == (403, 403)
    assert (
        taken.json()
        == free.json()
        == {
            "message": "Only a site admin creates projects.",
            "details": {},
        }
    )
    assert list(Project.objects.values_list("slug", flat=True)) == [project.slug]


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "bad slug"},
        {"slug": "ok", "overlap_fraction": 2},
        {"slug": "ok", "labels": "bubble"},
        {"slug": "ok", "labels": ["cell", "cell"]},
        {"slug": ["x"]},
        [1, 2],
        "text",
    ],
)
def test_project_create_bad_input_is_400(api, admin_user, body):
    api.force_authenticate(admin_user)

    response = api.post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert not Project.objects.filter(slug="ok").exists()


# ------------------------------------------------------------------- label classes


def test_label_class_create_edit_and_conflict(as_lead, bubble):
    created = as_lead.post(BASE + "label-classes/", {"name": "drop", "colour": "#00ff00"})
    clash = as_lead.post(BASE + "label-classes/", {"name": "drop"})
    renamed = as_lead.patch(
        BASE + f"label-classes/{created.data['id']}/", {"name": "droplet", "match_iou": 0.7}
    )
    taken = as_lead.patch(BASE + f"label-classes/{created.data['id']}/", {"name": "bubble"})

    assert (created.status_code, created.data["colour"]) == (201, "#00ff00")
    assert clash.status_code == 409
    assert (renamed.status_code, renamed.data["name"], renamed.data["match_iou"]) == (
        200,
        "droplet",
        0.7,
    )
    assert taken.status_code == 409
    event = AuditEvent.objects.get(verb="label_class.update")
    assert (event.before, event.after) == (
        {"name": "drop", "match_iou": None},
        {"name": "droplet", "match_iou": 0.7},
    )


@pytest.mark.parametrize(
    "body", [{"name": "x", "colour": "red"}, {"name": "x", "match_iou": 0}, {"name": ""}]
)
def test_label_class_bad_input_is_400(as_lead, body):
    assert as_lead.post(BASE + "label-classes/", body, format="json").status_code == 400


# ------------------------------------------------------------------------- members


def test_members_add_change_role_and_duplicate(as_lead, lead):
    UserFactory(username="newbie")

    added = as_lead.post(BASE + "members/", {"username": "newbie", "role": "annotator"})
    twice = as_lead.post(BASE + "members/", {"username": "newbie", "role": "reviewer"})
    changed = as_lead.patch(BASE + "members/newbie/", {"role": "reviewer"})
    own = as_lead.patch(BASE + "members/lead/", {"role": "annotator"})
    listed = as_lead.get(BASE + "members/")

    assert (added.status_code, added.data["role"]) == (201, "annotator")
    assert twice.status_code == 409
    assert (changed.status_code, changed.data["role"]) == (200, "reviewer")
    assert own.status_code == 403
    assert [(m["username"], m["role"]) for m in listed.data["results"]] == [
        ("lead", "lead"),
        ("newbie", "reviewer"),
    ]


def test_members_add_unknown_user_or_role_is_400(as_lead):
    response = as_lead.post(BASE + "members/", {"username": "ghost", "role": "owner"})

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"username", "role"}


def test_member_remove_reports_moved_and_cancelled(as_lead, project, annotator, other_annotator):
    a, b = ImageFactory(project=project, name="a.png"), ImageFactory(project=project, name="b.png")
    TaskFactory(image=a, annotator=annotator)
    TaskFactory(image=b, annotator=annotator)
    TaskFactory(image=b, annotator=other_annotator)

    response = as_lead.delete(BASE + "members/annotator/")

    assert response.status_code == 200
    assert [
        (m["cancelled"]["image_name"], m["new"]["annotator"]) for m in response.data["moved"]
    ] == [("a.png", "other_annotator")]
    assert [t["image_name"] for t in response.data["cancelled"]] == ["b.png"]
    assert as_lead.get(BASE + "members/annotator/").status_code == 404


# ---------------------------------------------------------------------- guidelines


def test_guideline_draft_edit_publish_acknowledge(api, lead, annotator):
    api.force_authenticate(lead)
    draft = api.post(
        BASE + "guidelines/",
        {"title": "Bubbles", "body": "Hug the rim.", "rules": []},
        format="json",
    )
    gid = draft.data["guideline"]
    url = BASE + f"guidelines/{gid}/versions/1/"
    edited = api.patch(
        url,
        {"rules": [{"rule": "min_area_px", "value": 4, "severity": "block"}]},
        format="json",
    )
    published = api.post(url + "publish/", {"change_summary": "First."})
    republished = api.post(url + "publish/", {})
    frozen = api.patch(url, {"body": "changed"}, format="json")
    api.force_authenticate(annotator)
    ack = api.post(url + "acknowledge/")
    api.force_authenticate(lead)
    acks = api.get(url + "acknowledgements/")

    assert (draft.status_code, draft.data["number"], draft.data["published_at"]) == (201, 1, None)
    assert edited.data["rules"] == [{"rule": "min_area_px", "value": 4, "severity": "block"}]
    assert (published.status_code, published.data["change_summary"]) == (200, "First.")
    assert (republished.status_code, frozen.status_code) == (409, 409)
    assert (ack.status_code, ack.data["username"]) == (200, "annotator")
    assert [a["username"] for a in acks.data["results"]] == ["annotator"]


def test_guideline_drafts_hidden_from_annotators(api, project, lead, annotator):
    guideline = GuidelineFactory(project=project)
    GuidelineVersionFactory(
        guideline=guideline, number=1, author=lead, published_at="2026-01-01T00:00Z"
    )
    GuidelineVersionFactory(guideline=guideline, number=2, author=lead)
    api.force_authenticate(annotator)

    versions = api.get(BASE + f"guidelines/{guideline.pk}/versions/")
    draft = api.get(BASE + f"guidelines/{guideline.pk}/versions/2/")
    listed = api.get(BASE + "guidelines/")

    assert [v["number"] for v in versions.data["results"]] == [1]
    assert draft.status_code == 404
    assert [(g["published_number"], g["version_count"]) for g in listed.data["results"]] == [(1, 1)]


def test_guideline_bad_rules_are_400(as_lead):
    response = as_lead.post(
        BASE + "guidelines/",
        {"title": "G", "body": "b", "rules": [{"rule": "nope", "value": 1}]},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["details"]) == ["rules"]


def test_guideline_diff_of_body_and_rules(as_lead, project, lead):
    guideline = GuidelineFactory(project=project)
    GuidelineVersionFactory(guideline=guideline, number=1, author=lead, body="a\nb\n", rules=[])
    GuidelineVersionFactory(
        guideline=guideline,
        number=2,
        author=lead,
        body="a\nc\n",
        rules=[{"rule": "allow_holes", "value": False, "severity": "warn"}],
    )

    response = as_lead.get(BASE + f"guidelines/{guideline.pk}/diff/?from=1&to=2")

    assert response.data == {
        "body": "--- v1/body\n+++ v2/body\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n",
        "rules": "--- v1/rules\n+++ v2/rules\n@@ -0,0 +1 @@\n"
        '+{"rule": "allow_holes", "severity": "warn", "value": false}\n',
    }


@pytest.mark.parametrize("query", ["", "?from=1", "?from=x&to=1", "?from=0&to=1", "?from=1&to=9"])
def test_guideline_diff_bad_query(as_lead, project, lead, query):
    guideline = GuidelineFactory(project=project)
    GuidelineVersionFactory(guideline=guideline, number=1, author=lead)

    response = as_lead.get(BASE + f"guidelines/{guideline.pk}/diff/{query}")

    assert response.status_code == (404 if query.endswith("to=9") else 400)


# --------------------------------------------------------------------------- tasks


def test_assign_returns_the_plan(as_lead, project, annotator, other_annotator):
    project.overlap = 2
    project.save()
    images = [ImageFactory(project=project, name=f"{n}.png") for n in "ab"]

    response = as_lead.post(
        BASE + "tasks/assign/",
        {"images": [i.pk for i in images], "due_date": "2030-01-31"},
        format="json",
    )

    assert response.status_code == 201
    assert len(response.data["created"]) == 4
    assert response.data["images"] == [
        {
            "image": images[0].pk,
            "image_name": "a.png",
            "annotators": ["annotator", "other_annotator"],
        },
        {
            "image": images[1].pk,
            "image_name": "b.png",
            "annotators": ["annotator", "other_annotator"],
        },
    ]
    assert {t["due_date"] for t in response.data["created"]} == {"2030-01-31"}


@pytest.mark.parametrize(
    "body",
    [{"images": []}, {"images": "1"}, {"images": [0]}, {"images": ["x"]}, {"annotators": 3}],
)
def test_assign_bad_input_is_400(as_lead, project, annotator, body):
    assert as_lead.post(BASE + "tasks/assign/", body, format="json").status_code == 400
    assert Task.objects.count() == 0


def test_assign_foreign_image_is_400(as_lead, project, annotator):
    foreign = ImageFactory()

    response = as_lead.post(BASE + "tasks/assign/", {"images": [foreign.pk]}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == {"images": [f"Not images of this project: {foreign.pk}."]}


def test_task_list_filters(as_lead, project, annotator, other_annotator):
    a = TaskFactory(
        image=ImageFactory(project=project, name="a.png"),
        annotator=annotator,
        due_date="2030-01-01",
    )
    TaskFactory(image=a.image, annotator=other_annotator, status=TaskStatus.SUBMITTED)
    TaskFactory(image=ImageFactory(project=project, name="b.png"), annotator=annotator)

    def names(query):
        response = as_lead.get(BASE + "tasks/" + query)
        assert response.status_code == 200
        return [(t["image_name"], t["annotator"]) for t in response.data["results"]]

    assert names("?status=submitted") == [("a.png", "other_annotator")]
    assert names("?annotator=annotator") == [("a.png", "annotator"), ("b.png", "annotator")]
    assert names(f"?image={a.image_id}&status=assigned") == [("a.png", "annotator")]
    assert names("?due_before=2030-06-01") == [("a.png", "annotator")]
    assert as_lead.get(BASE + "tasks/?status=nope").status_code == 400
    assert as_lead.get(BASE + "tasks/?due_before=soon").status_code == 400


def test_claim_start_cancel_reassign_through_the_api(
    api, project, lead, annotator, other_annotator
):
    first = TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, due_date="2030-01-01"
    )
    second = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    api.force_authenticate(annotator)

    claimed = api.post(BASE + "tasks/claim-next/")
    started = api.post(BASE + f"tasks/{second.pk}/start/")
    nothing = api.post(BASE + "tasks/claim-next/")
    mine = api.get(BASE + "tasks/mine/")
    api.force_authenticate(lead)
    moved = api.post(BASE + f"tasks/{second.pk}/reassign/", {"annotator": "other_annotator"})
    cancelled = api.post(BASE + f"tasks/{first.pk}/cancel/")
    cancel_again = api.post(BASE + f"tasks/{first.pk}/cancel/")

    assert (claimed.data["id"], claimed.data["status"]) == (first.pk, "in_progress")
    assert started.data["status"] == "in_progress"
    assert nothing.status_code == 409
    assert [t["status"] for t in mine.data["results"]] == ["in_progress", "in_progress"]
    assert (moved.status_code, moved.data["annotator"], moved.data["status"]) == (
        201,
        "other_annotator",
        "assigned",
    )
    assert (cancelled.data["status"], cancel_again.status_code) == ("cancelled", 409)


def test_task_of_another_project_is_404(as_lead, project):
    foreign = TaskFactory()

    assert as_lead.post(BASE + f"tasks/{foreign.pk}/cancel/").status_code == 404
    assert as_lead.post(BASE + "tasks/999999999/cancel/").status_code == 404


# ----------------------------------------------------------------- no input is a 5xx

BIG = 10**30


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("post", f"tasks/{BIG}/cancel/", None),
        ("post", f"tasks/{BIG}/reassign/", {"annotator": "x"}),
        ("get", f"label-classes/{BIG}/", None),
        ("patch", f"label-classes/{BIG}/", {"name": "a"}),
        ("get", f"guidelines/{BIG}/versions/{BIG}/", None),
        ("get", f"guidelines/{BIG}/diff/?from={BIG}&to=1", None),
        ("get", f"tasks/?image={BIG}", None),
        ("get", "tasks/?image=nan", None),
        ("post", "tasks/assign/", {"images": [BIG]}),
        ("post", "tasks/assign/", {"images": [1], "annotators": ["\x00"]}),
        ("post", "members/", {"username": "\x00", "role": "lead"}),
        ("get", "members/%00/", None),
        ("delete", "members/%00/", None),
        ("patch", "members/lead/", {"role": ["lead"]}),
        ("post", "guidelines/", {"title": "\x00", "body": "\x00"}),
        ("post", "guidelines/", {"title": "t", "body": "b", "rules": [{"rule": "max_overlap"}]}),
        ("post", "guidelines/", {"title": "t", "body": "b", "rules": [[1]]}),
        ("post", "label-classes/", {"name": "\x00"}),
    ],
)
def test_hostile_input_is_a_4xx(as_lead, bubble, method, path, body):
    response = getattr(as_lead, method)(BASE + path, body, format="json")

    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "a", "name": "\x00"},
        {"slug": "b", "overlap": 10**10},
        {"slug": "c", "boundary_px": 10**6},
        {"slug": "d", "quorum": 0},
    ],
)
def test_hostile_project_settings_are_400(api, admin_user, body):
    api.force_authenticate(admin_user)

    assert api.post("/api/v1/projects/", body, format="json").status_code == 400


# --------------------------------------------------------- concurrency, PostgreSQL


def _post_at_once(users, url, body):
    barrier = threading.Barrier(len(users))
    codes = []

    def post(user):
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        try:
            codes.append(client.post(url, body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(codes)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "url,body",
    [
        ("/api/v1/projects/", {"slug": "race"}),
        (BASE + "label-classes/", {"name": "race"}),
        (BASE + "members/", {"username": "racer", "role": "annotator"}),
    ],
)
def test_twenty_identical_creates_one_201_nineteen_409(url, body):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer)")
    project = Project.objects.create(slug="bubbles", name="Pool boiling")
    UserFactory(username="racer")
    # Creating a project is for site admins; the project's writes are for its leads.
    staff = url == "/api/v1/projects/"
    leads = [UserFactory(username=f"lead{n}", is_staff=staff) for n in range(20)]
    for user in leads:
        MembershipFactory(project=project, user=user, role="lead")

    codes = _post_at_once(leads, url, body)

    assert codes == Counter({201: 1, 409: 19})


@pytest.mark.django_db(transaction=True)
def test_twenty_claims_through_the_api_on_ten_tasks_ten_200_ten_409():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer)")
    project = Project.objects.create(slug="bubbles", name="Pool boiling")
    annotator = UserFactory(username="puller")
    MembershipFactory(project=project, user=annotator, role="annotator")
    for _ in range(10):
        TaskFactory(image=ImageFactory(project=project), annotator=annotator)

    codes = _post_at_once([annotator] * 20, BASE + "tasks/claim-next/", None)

    assert codes == Counter({200: 10, 409: 10})
    assert Task.objects.filter(status=TaskStatus.IN_PROGRESS).count() == 10
