"""/api/v1/projects/…: listing, detail, errors as JSON, auth, the OpenAPI schema."""

import pytest
from rest_framework.authtoken.models import Token

from qc.models import AgreementSummary
from tests.factories import MembershipFactory, ProjectFactory


@pytest.mark.parametrize("count", [1, 3])
def test_project_list_fixed_query_count(api, annotator, project, django_assert_num_queries, count):
    for _ in range(count - 1):
        MembershipFactory(user=annotator, role="reviewer")
    ProjectFactory()  # not a member: must not be listed
    api.force_authenticate(annotator)

    # count, projects with the user's role
    with django_assert_num_queries(2):
        response = api.get("/api/v1/projects/")

    assert response.status_code == 200
    assert response.data["count"] == count
    assert {p["role"] for p in response.data["results"]} == (
        {"annotator"} if count == 1 else {"annotator", "reviewer"}
    )


def test_project_list_admin_sees_all_as_admin(api, admin_user, project):
    ProjectFactory(slug="other", name="Zebrafish")
    api.force_authenticate(admin_user)

    response = api.get("/api/v1/projects/")

    assert [(p["slug"], p["role"]) for p in response.data["results"]] == [
        ("bubbles", "admin"),
        ("other", "admin"),
    ]


def test_project_detail_outsider_gets_json_404(api, project, outsider):
    api.force_authenticate(outsider)

    response = api.get(f"/api/v1/projects/{project.slug}/")

    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "details": {}}


def test_project_detail_member_sees_role(api, project, reviewer):
    api.force_authenticate(reviewer)

    response = api.get(f"/api/v1/projects/{project.slug}/")

    assert (response.data["slug"], response.data["role"], response.data["match_iou"]) == (
        "bubbles",
        "reviewer",
        0.5,
    )


def test_anonymous_gets_json_401_or_403(api, project):
    response = api.get("/api/v1/projects/")

    assert response.status_code in (401, 403)
    assert response.json()["message"] == "Authentication credentials were not provided."


def test_token_auth(api, project, annotator):
    token = Token.objects.create(user=annotator)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = api.get("/api/v1/projects/")

    assert [p["slug"] for p in response.data["results"]] == ["bubbles"]


def test_obtain_token_with_password(api, annotator):
    response = api.post("/api/v1/auth/token/", {"username": "annotator", "password": "password"})

    assert response.status_code == 200
    assert response.data["token"] == Token.objects.get(user=annotator).key


def test_label_classes_listed_for_members_only(api, project, bubble, annotator, outsider):
    api.force_authenticate(annotator)
    member = api.get(f"/api/v1/projects/{project.slug}/label-classes/")
    api.force_authenticate(outsider)
    other = api.get(f"/api/v1/projects/{project.slug}/label-classes/")

    assert [c["name"] for c in member.data["results"]] == ["bubble"]
    assert other.status_code == 404


@pytest.fixture
def stored_report(project):
    report = {
        "project": project.slug,
        "images": 1,
        "summary": {
            "pq": 0.8,
            "pq_ci95": [0.7, 0.9],
            "mean_iou": 0.9,
            "f1": 0.9,
            "boundary_iou": 0.7,
        },
        "pairs": [],
        "annotators": [
            {
                "username": name,
                "images": 1,
                "pq_vs_peers": 0.8,
                "pq_vs_consensus": None,
                "area_ratio": 1.0,
                "boundary_offset_px": 0.0,
                "boundary_offset_vs_consensus_px": 0.1,
                "recall_small": None,
                "recall_medium": 1.0,
                "recall_large": None,
                "merges": 0,
                "splits": 0,
                "description": "draws on the other annotator's edge",
                "pooled": {},
            }
            for name in ("annotator", "other_annotator")
        ],
        "by_class": {},
        "by_week": {},
        "by_guideline_version": {},
    }
    return AgreementSummary.objects.create(project=project, report=report)


@pytest.mark.parametrize(
    "who,status",
    [("lead", 200), ("reviewer", 200), ("admin_user", 200), ("annotator", 403), ("outsider", 404)],
)
def test_agreement_report_permissions(api, request, stored_report, who, status):
    api.force_authenticate(request.getfixturevalue(who))

    response = api.get("/api/v1/projects/bubbles/agreement/")

    assert response.status_code == status
    if status == 200:
        assert response.data["summary"]["pq"] == 0.8
        assert "description" not in response.data["annotators"][0]


def test_style_reports_annotator_sees_only_own(api, stored_report, annotator, other_annotator):
    api.force_authenticate(annotator)

    response = api.get("/api/v1/projects/bubbles/agreement/annotators/")

    assert [a["username"] for a in response.data["annotators"]] == ["annotator"]


def test_style_reports_lead_sees_everyone(api, stored_report, lead):
    api.force_authenticate(lead)

    response = api.get("/api/v1/projects/bubbles/agreement/annotators/")

    assert [a["username"] for a in response.data["annotators"]] == ["annotator", "other_annotator"]


def test_openapi_schema_and_offline_docs(client, db):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/v1/projects/" in schema.content
    assert docs.status_code == 200
    assert b"//cdn" not in docs.content and b"https://" not in docs.content


def test_project_settings_change_by_a_lead_is_stored_and_audited(api, project, lead):
    from projects.models import AuditEvent, Project

    api.force_authenticate(lead)

    response = api.patch(
        "/api/v1/projects/bubbles/",
        {"review_policy": "below_threshold", "auto_accept_pq": 0.9, "name": "Bubbles in a pool"},
        format="json",
    )

    assert response.status_code == 200
    assert (response.data["review_policy"], response.data["auto_accept_pq"]) == (
        "below_threshold",
        0.9,
    )
    assert response.data["role"] == "lead"
    stored = Project.objects.get(pk=project.pk)
    assert (stored.review_policy, stored.auto_accept_pq, stored.name) == (
        "below_threshold",
        0.9,
        "Bubbles in a pool",
    )
    event = AuditEvent.objects.get(verb="project.update")
    assert event.actor == lead
    assert event.after == {
        "review_policy": "below_threshold",
        "auto_accept_pq": 0.9,
        "name": "Bubbles in a pool",
    }


@pytest.mark.parametrize(
    ("who", "code"),
    [("annotator", 403), ("reviewer", 403), ("outsider", 404), (None, 401)],
)
def test_project_settings_change_by_others_is_refused(request, api, project, who, code):
    from projects.models import Project

    if who is not None:
        api.force_authenticate(request.getfixturevalue(who))

    response = api.patch("/api/v1/projects/bubbles/", {"overlap": 3}, format="json")

    assert response.status_code == code
    assert Project.objects.get(pk=project.pk).overlap == project.overlap


@pytest.mark.parametrize(
    "body",
    [{"auto_accept_pq": 2}, {"review_policy": "never"}, {"overlap": 0}, {"quorum": "x"}],
)
def test_project_settings_change_out_of_range_is_a_400(api, project, lead, body):
    from projects.models import Project

    api.force_authenticate(lead)

    response = api.patch("/api/v1/projects/bubbles/", body, format="json")

    assert response.status_code == 400
    assert list(response.data["details"]) == list(body)
    assert Project.objects.get(pk=project.pk).overlap == project.overlap
