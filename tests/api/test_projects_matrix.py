"""Every projects endpoint × admin, lead, reviewer, annotator, other annotator, outsider and
anonymous, with the status each gets (DESIGN §10); and every list endpoint under a fixed
number of queries with 1 and 3 items."""

import pytest
from django.urls import resolve

from projects.models import Acknowledgement, GuidelineVersion, Membership, Task
from tests.factories import (
    GuidelineFactory,
    GuidelineVersionFactory,
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    TaskFactory,
    UserFactory,
)

WHO = ["admin_user", "lead", "reviewer", "annotator", "other_annotator", "outsider", None]


@pytest.fixture
def world(project, bubble, admin_user, lead, reviewer, annotator, other_annotator, outsider):
    """One of everything the endpoints act on; the annotator's task is `task`."""
    newcomer = UserFactory(username="newcomer")
    MembershipFactory(project=project, user=UserFactory(username="leaver"), role="reviewer")
    guideline = GuidelineFactory(project=project, title="Bubbles")
    v1 = GuidelineVersionFactory(
        guideline=guideline, number=1, author=lead, published_at="2026-01-01T00:00Z"
    )
    GuidelineVersionFactory(guideline=guideline, number=2, author=lead, body="draft")
    image = ImageFactory(project=project, name="a.png")
    task = TaskFactory(image=image, annotator=annotator)
    return {
        "newcomer": newcomer,
        "guideline": guideline,
        "v1": v1,
        "image": image,
        "task": task,
        "bubble": bubble,
    }


def _routes(w):
    g = f"/api/v1/projects/bubbles/guidelines/{w['guideline'].pk}/"
    t = f"/api/v1/projects/bubbles/tasks/{w['task'].pk}/"
    return {
        "projects.list": ("get", "/api/v1/projects/", None),
        "projects.create": ("post", "/api/v1/projects/", {"slug": "fresh"}),
        "project.detail": ("get", "/api/v1/projects/bubbles/", None),
        "classes.list": ("get", "/api/v1/projects/bubbles/label-classes/", None),
        "classes.create": ("post", "/api/v1/projects/bubbles/label-classes/", {"name": "drop"}),
        "class.detail": ("get", f"/api/v1/projects/bubbles/label-classes/{w['bubble'].pk}/", None),
        "class.edit": (
            "patch",
            f"/api/v1/projects/bubbles/label-classes/{w['bubble'].pk}/",
            {"colour": "#000000"},
        ),
        "members.list": ("get", "/api/v1/projects/bubbles/members/", None),
        "members.add": (
            "post",
            "/api/v1/projects/bubbles/members/",
            {"username": "newcomer", "role": "annotator"},
        ),
        "member.detail": ("get", "/api/v1/projects/bubbles/members/leaver/", None),
        "member.role": ("patch", "/api/v1/projects/bubbles/members/leaver/", {"role": "lead"}),
        "member.remove": ("delete", "/api/v1/projects/bubbles/members/leaver/", None),
        "guidelines.list": ("get", "/api/v1/projects/bubbles/guidelines/", None),
        "guidelines.draft": (
            "post",
            "/api/v1/projects/bubbles/guidelines/",
            {"title": "New", "body": "x"},
        ),
        "versions.list": ("get", g + "versions/", None),
        "versions.draft": ("post", g + "versions/", {"body": "v3"}),
        "version.detail": ("get", g + "versions/1/", None),
        "version.edit": ("patch", g + "versions/2/", {"body": "edited"}),
        "version.publish": ("post", g + "versions/2/publish/", {"change_summary": "two"}),
        "version.acknowledge": ("post", g + "versions/1/acknowledge/", None),
        "version.acknowledgements": ("get", g + "versions/1/acknowledgements/", None),
        "guideline.diff": ("get", g + "diff/?from=1&to=1", None),
        "tasks.list": ("get", "/api/v1/projects/bubbles/tasks/", None),
        "tasks.mine": ("get", "/api/v1/projects/bubbles/tasks/mine/", None),
        "tasks.assign": (
            "post",
            "/api/v1/projects/bubbles/tasks/assign/",
            {"images": [w["image"].pk]},
        ),
        "tasks.claim": ("post", "/api/v1/projects/bubbles/tasks/claim-next/", None),
        "task.start": ("post", t + "start/", None),
        "task.cancel": ("post", t + "cancel/", None),
        "task.reassign": ("post", t + "reassign/", {"annotator": "other_annotator"}),
    }


#              admin lead  rev  ann  other out  anon
EXPECTED = {
    "projects.list": (200, 200, 200, 200, 200, 200, 401),
    # Site admins create projects; anyone else is refused without the slug being looked at.
    "projects.create": (201, 403, 403, 403, 403, 403, 401),
    "project.detail": (200, 200, 200, 200, 200, 404, 401),
    "classes.list": (200, 200, 200, 200, 200, 404, 401),
    "classes.create": (201, 201, 403, 403, 403, 404, 401),
    "class.detail": (200, 200, 200, 200, 200, 404, 401),
    "class.edit": (200, 200, 403, 403, 403, 404, 401),
    "members.list": (200, 200, 403, 403, 403, 404, 401),
    "members.add": (201, 201, 403, 403, 403, 404, 401),
    "member.detail": (200, 200, 403, 403, 403, 404, 401),
    "member.role": (200, 200, 403, 403, 403, 404, 401),
    "member.remove": (200, 200, 403, 403, 403, 404, 401),
    "guidelines.list": (200, 200, 200, 200, 200, 404, 401),
    "guidelines.draft": (201, 201, 403, 403, 403, 404, 401),
    "versions.list": (200, 200, 200, 200, 200, 404, 401),
    "versions.draft": (201, 201, 403, 403, 403, 404, 401),
    "version.detail": (200, 200, 200, 200, 200, 404, 401),
    "version.edit": (200, 200, 403, 403, 403, 404, 401),
    "version.publish": (200, 200, 403, 403, 403, 404, 401),
    "version.acknowledge": (403, 403, 403, 200, 200, 404, 401),
    "version.acknowledgements": (200, 200, 403, 403, 403, 404, 401),
    "guideline.diff": (200, 200, 200, 200, 200, 404, 401),
    "tasks.list": (200, 200, 403, 403, 403, 404, 401),
    "tasks.mine": (200, 200, 200, 200, 200, 404, 401),
    "tasks.assign": (201, 201, 403, 403, 403, 404, 401),
    "tasks.claim": (403, 403, 403, 200, 409, 404, 401),
    "task.start": (403, 403, 403, 200, 403, 404, 401),
    "task.cancel": (200, 200, 403, 403, 403, 404, 401),
    "task.reassign": (201, 201, 403, 403, 403, 404, 401),
}


@pytest.mark.parametrize("who", range(len(WHO)), ids=[w or "anonymous" for w in WHO])
@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_permission_matrix(api, request, world, endpoint, who):
    method, url, body = _routes(world)[endpoint]
    fixture = WHO[who]
    if fixture is not None:
        api.force_authenticate(request.getfixturevalue(fixture))

    response = getattr(api, method)(url, body, format="json")

    assert response.status_code == EXPECTED[endpoint][who], response.content
    assert response["Content-Type"] == "application/json"


def test_matrix_covers_every_projects_route(world):
    from projects.api_urls import urlpatterns

    reached = {resolve(url.split("?")[0]).url_name for _, url, _ in _routes(world).values()}

    assert reached == {pattern.name for pattern in urlpatterns}
    assert set(_routes(world)) == set(EXPECTED)


def test_schema_documents_each_write_with_its_conflict(client, db):
    schema = client.get("/api/schema/?format=json").json()
    writes = {
        f"{method.upper()} {path}": sorted(operation["responses"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"post", "patch", "delete"} and path.startswith("/api/v1/projects/")
    }

    assert writes["POST /api/v1/projects/{slug}/tasks/claim-next/"] == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "429",
    ]
    assert writes["POST /api/v1/projects/{slug}/members/"] == [
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "429",
    ]
    assert writes["DELETE /api/v1/projects/{slug}/members/{username}/"] == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "429",
    ]
    params = schema["paths"]["/api/v1/projects/{slug}/tasks/"]["get"]["parameters"]
    assert {p["name"] for p in params} >= {
        "status",
        "annotator",
        "image",
        "due_before",
        "due_after",
        "page",
    }


# ---------------------------------------------------------------- fixed query counts


def _many(count, make):
    for n in range(count):
        make(n)


@pytest.mark.parametrize("count", [1, 3])
def test_members_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    _many(count - 1, lambda n: MembershipFactory(project=project, role="annotator"))
    api.force_authenticate(lead)

    # project, role, count, page
    with django_assert_num_queries(4):
        response = api.get("/api/v1/projects/bubbles/members/")

    assert response.data["count"] == Membership.objects.filter(project=project).count() == count


@pytest.mark.parametrize("count", [1, 3])
def test_label_classes_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    _many(count, lambda n: LabelClassFactory(project=project))
    api.force_authenticate(lead)

    with django_assert_num_queries(4):
        response = api.get("/api/v1/projects/bubbles/label-classes/")

    assert response.data["count"] == count


@pytest.mark.parametrize("count", [1, 3])
def test_tasks_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    _many(
        count,
        lambda n: TaskFactory(
            image=ImageFactory(project=project),
            annotator=MembershipFactory(project=project).user,
        ),
    )
    api.force_authenticate(lead)

    with django_assert_num_queries(4):
        response = api.get("/api/v1/projects/bubbles/tasks/?status=assigned")

    assert response.data["count"] == count


@pytest.mark.parametrize("count", [1, 3])
def test_my_tasks_fixed_queries(api, project, annotator, django_assert_num_queries, count):
    _many(count, lambda n: TaskFactory(image=ImageFactory(project=project), annotator=annotator))
    api.force_authenticate(annotator)

    with django_assert_num_queries(4):
        response = api.get("/api/v1/projects/bubbles/tasks/mine/")

    assert response.data["count"] == count


@pytest.mark.parametrize("count", [1, 3])
def test_guidelines_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    _many(
        count,
        lambda n: GuidelineVersionFactory(
            guideline__project=project, guideline__title=f"G{n}", author=lead
        ),
    )
    api.force_authenticate(lead)

    # project, role, count, page (the role is asked once and remembered)
    with django_assert_num_queries(4):
        response = api.get("/api/v1/projects/bubbles/guidelines/")

    assert [g["version_count"] for g in response.data["results"]] == [1] * count


@pytest.mark.parametrize("count", [1, 3])
def test_versions_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    guideline = GuidelineFactory(project=project)
    _many(count, lambda n: GuidelineVersionFactory(guideline=guideline, number=n + 1, author=lead))
    api.force_authenticate(lead)

    # project, role, guideline, count, page
    with django_assert_num_queries(5):
        response = api.get(f"/api/v1/projects/bubbles/guidelines/{guideline.pk}/versions/")

    assert [v["number"] for v in response.data["results"]] == list(range(count, 0, -1))


@pytest.mark.parametrize("count", [1, 3])
def test_acknowledgements_list_fixed_queries(api, project, lead, django_assert_num_queries, count):
    version = GuidelineVersionFactory(
        guideline__project=project, number=1, author=lead, published_at="2026-01-01T00:00Z"
    )
    _many(count, lambda n: Acknowledgement.objects.create(version=version, user=UserFactory()))
    api.force_authenticate(lead)
    url = f"/api/v1/projects/bubbles/guidelines/{version.guideline_id}/versions/1/"

    # project, role, guideline, version, count, page
    with django_assert_num_queries(6):
        response = api.get(url + "acknowledgements/")

    assert response.data["count"] == count
    assert GuidelineVersion.objects.count() == 1
    assert Task.objects.count() == 0
