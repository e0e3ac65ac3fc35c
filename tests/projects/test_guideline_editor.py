"""The guideline editor: starting drafts and guidelines, saving a draft's text and its rules
from the rules form, the live preview and publishing with a change summary (the history
and the acknowledgements are in test_guideline_history.py). Services are checked for who
may call them and for changing nothing when they refuse."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.errors import ApplicationError, ConflictError
from projects.models import AuditEvent, Guideline, GuidelineVersion, Role
from projects.selectors import unacknowledged_versions
from projects.services import guideline_acknowledge, guideline_version_create
from projects.services.guidelines import (
    guideline_create,
    guideline_draft_start,
    guideline_version_publish,
)
from tests.factories import LabelClassFactory, MembershipFactory, UserFactory
from tests.projects.guideline_support import draft_of, draft_post, page_url, published_v1


@pytest.fixture
def v1(project, lead, bubble):
    return published_v1(project, lead)


@pytest.fixture
def draft(v1, lead):
    return draft_of(v1, lead)


# Services.


def test_a_new_version_starts_as_a_copy_of_the_newest(v1, lead):
    version, created = guideline_draft_start(guideline=v1.guideline, actor=lead)

    assert created is True
    assert (version.number, version.published_at) == (2, None)
    assert (version.body, version.rules, version.author) == (v1.body, v1.rules, lead)
    event = AuditEvent.objects.get(verb="guideline_version.create", object_id=str(version.pk))
    assert event.after["copied_from"] == 1


def test_starting_again_finds_the_open_draft(draft, lead):
    again, created = guideline_draft_start(guideline=draft.guideline, actor=lead)

    assert (again.pk, created) == (draft.pk, False)
    assert GuidelineVersion.objects.filter(guideline=draft.guideline).count() == 2


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("annotator", 403), ("outsider", 404)]
)
def test_only_writers_start_drafts_and_guidelines(request, v1, project, who, status):
    actor = request.getfixturevalue(who)

    with pytest.raises(ApplicationError) as started:
        guideline_draft_start(guideline=v1.guideline, actor=actor)
    with pytest.raises(ApplicationError) as created:
        guideline_create(project=project, title="Drops", actor=actor)

    assert (started.value.status, created.value.status) == (status, status)
    assert list(GuidelineVersion.objects.values_list("number", flat=True)) == [1]
    assert list(Guideline.objects.values_list("title", flat=True)) == ["Bubbles"]


def test_a_new_guideline_has_a_first_draft(project, lead):
    version = guideline_create(project=project, title="  Drops ", actor=lead)

    assert (version.guideline.title, version.number, version.published_at) == ("Drops", 1, None)
    assert version.body == "# Drops\n"
    assert "<h1>Drops</h1>" in version.body_html


def test_a_title_the_project_has_is_refused(v1, project, lead):
    with pytest.raises(ConflictError, match="has a guideline 'bubbles' already"):
        guideline_create(project=project, title="bubbles", actor=lead)

    assert Guideline.objects.count() == 1
    assert GuidelineVersion.objects.count() == 1


def test_publishing_from_the_editor_stores_what_it_shows(draft, lead):
    rules = [{"rule": "min_area_px", "value": 30, "severity": "block"}]

    guideline_version_publish(
        version=draft, actor=lead, change_summary="Bigger.", body="# New\n", rules=rules
    )

    draft.refresh_from_db()
    assert draft.published_at is not None
    assert (draft.body, draft.rules, draft.change_summary) == ("# New\n", rules, "Bigger.")
    assert "<h1>New</h1>" in draft.body_html


def test_publishing_with_invalid_rules_changes_nothing(draft, lead):
    with pytest.raises(ApplicationError, match="wrong type"):
        guideline_version_publish(
            version=draft,
            actor=lead,
            change_summary="Oops.",
            body="# Changed\n",
            rules=[{"rule": "min_area_px", "value": "big", "severity": "warn"}],
        )

    draft.refresh_from_db()
    assert (draft.published_at, draft.body, draft.change_summary) == (None, draft.body, "")
    assert draft.body.startswith("# Bubbles")


# The editor's home.


def test_the_home_lists_versions_with_who_acknowledged(client, v1, draft, lead, annotator):
    MembershipFactory(project=v1.guideline.project, role=Role.ANNOTATOR)
    guideline_acknowledge(version=v1, user=annotator)
    client.force_login(lead)

    response = client.get(page_url("guideline-editor", v1.guideline.project))

    assert response.status_code == 200
    row = response.context["guidelines"][0]
    assert [v.number for v in row["versions"]] == [2, 1]
    assert (row["draft"], row["current"]) == (draft, v1)
    assert [v.acknowledged for v in row["versions"]] == [None, 1]
    assert response.context["annotators"] == 2
    ack_url = page_url("guideline-acknowledgements", v1.guideline.project)
    assert f'href="{ack_url}?version={v1.pk}&amp;state=acknowledged" class="ack-count">1</a>' in (
        response.content.decode()
    )
    assert "Edit draft v2" in response.content.decode()


def _versions(project, lead, count):
    for n in range(count):
        guideline_version_create(
            project=project,
            title="Bubbles",
            body=f"v{n}",
            author=lead,
            change_summary=f"Version {n}.",
            publish=True,
        )


@pytest.mark.parametrize(
    "name",
    ["guideline-editor", "guideline-history", "guideline-acknowledgements"],
)
def test_pages_issue_the_same_queries_for_one_or_three_versions(
    client, project, lead, annotator, other_annotator, name
):
    client.force_login(lead)
    url = page_url(name, project)
    _versions(project, lead, 1)
    guideline_acknowledge(version=GuidelineVersion.objects.get(), user=annotator)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    _versions(project, lead, 2)
    for version in GuidelineVersion.objects.all():
        guideline_acknowledge(version=version, user=other_annotator)
    for _ in range(2):
        MembershipFactory(project=project, role=Role.ANNOTATOR, user=UserFactory())

    with CaptureQueriesContext(connection) as three:
        assert client.get(url).status_code == 200

    assert len(three) == len(one), [q["sql"] for q in three.captured_queries]


def test_new_version_opens_the_copied_draft_and_a_second_click_the_same(client, v1, lead):
    client.force_login(lead)
    url = page_url("guideline-version-new", v1.guideline.project)

    first = client.post(url, {"guideline": v1.guideline.pk})
    second = client.post(url, {"guideline": v1.guideline.pk})

    draft = GuidelineVersion.objects.get(number=2)
    assert first.url == second.url == page_url("guideline-draft", v1.guideline.project, draft.pk)
    assert GuidelineVersion.objects.count() == 2


@pytest.mark.parametrize("value", ["", "x", "999999", "9" * 30, "-1"])
def test_new_version_of_no_guideline_is_a_404(client, v1, lead, value):
    client.force_login(lead)

    response = client.post(
        page_url("guideline-version-new", v1.guideline.project), {"guideline": value}
    )

    assert response.status_code == 404
    assert GuidelineVersion.objects.count() == 1


def test_a_new_guideline_with_a_title_in_use_rerenders_with_the_error(client, v1, lead):
    client.force_login(lead)

    response = client.post(
        page_url("guideline-version-new", v1.guideline.project), {"title": "BUBBLES"}
    )

    assert response.status_code == 400
    assert response.context["new_form"].errors["title"] == [
        "This project has a guideline 'BUBBLES' already: start a new version of it."
    ]
    assert Guideline.objects.count() == 1


# The draft's editor.


def test_the_draft_shows_its_text_and_rules_in_the_form(client, draft, lead):
    client.force_login(lead)

    response = client.get(page_url("guideline-draft", draft.guideline.project, draft.pk))

    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["body"] == draft.body
    assert form.initial["on_min_area_px"] is True
    assert form.initial["value_max_overlap"] == "5"
    assert form.initial["severity_allowed_classes"] == "block"
    assert "on_max_components" not in form.initial
    html = response.content.decode()
    assert 'hx-post="/p/bubbles/guideline/preview/"' in html
    assert "<h1>Bubbles</h1>" in html  # the preview of the saved text


def test_saving_a_draft_stores_the_rules_in_canonical_form(client, draft, lead):
    client.force_login(lead)
    data = draft_post(
        on_max_components="on",
        value_max_components="1",
        severity_max_components="block",
        on_min_instances="on",
        value_min_instances="1",
        on_max_overlap=None,
    )

    response = client.post(page_url("guideline-draft", draft.guideline.project, draft.pk), data)

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.body == data["body"].rstrip("\n")
    assert draft.rules == [
        {"rule": "min_area_px", "value": 20, "severity": "warn"},
        {"rule": "max_components", "value": 1, "severity": "block"},
        {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
        {"rule": "min_instances", "value": 1, "severity": "warn"},
    ]


def test_an_overlap_in_percent_is_stored_as_a_fraction(client, draft, lead):
    client.force_login(lead)

    client.post(
        page_url("guideline-draft", draft.guideline.project, draft.pk),
        draft_post(value_max_overlap="12.5", on_allow_holes="on", value_allow_holes="yes"),
    )

    draft.refresh_from_db()
    rules = {rule["rule"]: rule["value"] for rule in draft.rules}
    assert (rules["max_overlap"], rules["allow_holes"]) == (0.125, True)


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        (
            {"value_min_area_px": ""},
            "value_min_area_px",
            "Give the minimum area in px, or untick the rule to drop it.",
        ),
        (
            {"value_min_area_px": "-3"},
            "value_min_area_px",
            "Ensure this value is greater than or equal to 0.",
        ),
        ({"value_min_area_px": "lots"}, "value_min_area_px", "Enter a whole number."),
        (
            {"value_max_overlap": "150"},
            "value_max_overlap",
            "Ensure this value is less than or equal to 100.",
        ),
        (
            {"value_allowed_classes": ["ghost"]},
            "value_allowed_classes",
            "Select a valid choice. ghost is not one of the available choices.",
        ),
        (
            {"severity_min_area_px": "explode"},
            "severity_min_area_px",
            "Select a valid choice. explode is not one of the available choices.",
        ),
        (
            {
                "on_min_instances": "on",
                "value_min_instances": "5",
                "on_max_instances": "on",
                "value_max_instances": "2",
            },
            "value_max_instances",
            "At most 2 is fewer than at least 5.",
        ),
        (
            {"body": ""},
            "body",
            "Write the guideline's text: annotators read it first.",
        ),
    ],
)
def test_invalid_values_rerender_with_errors_and_change_nothing(
    client, draft, lead, changes, field, error
):
    client.force_login(lead)
    before = (draft.body, draft.rules)

    response = client.post(
        page_url("guideline-draft", draft.guideline.project, draft.pk), draft_post(**changes)
    )

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [error]
    assert "Nothing was saved or published" in response.content.decode()
    draft.refresh_from_db()
    assert (draft.body, draft.rules) == before


def test_the_preview_button_shows_the_text_unsaved(client, draft, lead):
    client.force_login(lead)

    response = client.post(
        page_url("guideline-draft", draft.guideline.project, draft.pk),
        draft_post(action="preview", body="# Drafted\n\n- **rim** in"),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Drafted</h1>" in html and "<strong>rim</strong>" in html
    assert "not saved yet" in html
    draft.refresh_from_db()
    assert draft.body.startswith("# Bubbles")


def test_a_published_version_is_not_edited(client, v1, lead):
    client.force_login(lead)
    url = page_url("guideline-draft", v1.guideline.project, v1.pk)

    shown = client.get(url)
    posted = client.post(url, draft_post(body="changed"))

    editor = page_url("guideline-editor", v1.guideline.project)
    assert (shown.status_code, shown.url) == (302, editor)
    assert (posted.status_code, posted.url) == (302, editor)
    v1.refresh_from_db()
    assert v1.body.startswith("# Bubbles")


def test_a_version_of_another_project_is_a_404(client, v1, lead, outsider):
    other = guideline_create(
        project=outsider.memberships.get().project, title="Theirs", actor=outsider
    )
    client.force_login(lead)

    response = client.get(page_url("guideline-draft", v1.guideline.project, other.pk))

    assert response.status_code == 404


# The live preview.


def test_the_preview_renders_markdown_safely_with_the_rules_in_words(client, v1, lead):
    client.force_login(lead)
    data = draft_post(
        body="# Rim\n\n<script>alert(1)</script> **bold**", severity_min_area_px="block"
    )

    response = client.post(
        page_url("guideline-preview", v1.guideline.project), data, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Rim</h1>" in html and "<strong>bold</strong>" in html
    assert "<script>" not in html
    assert "Every instance covers at least 20 px" in html
    assert "blocks submission</span> Every instance covers at least 20 px" in html
    assert "<html" not in html  # a partial, not a page


def test_the_preview_says_when_a_rule_needs_fixing(client, v1, lead):
    client.force_login(lead)

    response = client.post(
        page_url("guideline-preview", v1.guideline.project), draft_post(value_min_area_px="")
    )

    assert "A rule below needs fixing" in response.content.decode()


def test_the_preview_refuses_get(client, v1, lead):
    client.force_login(lead)

    assert client.get(page_url("guideline-preview", v1.guideline.project)).status_code == 405


# Publishing.


def test_publishing_needs_a_change_summary(client, draft, lead):
    client.force_login(lead)

    response = client.post(
        page_url("guideline-publish", draft.guideline.project, draft.pk),
        draft_post(change_summary="   "),
    )

    assert response.status_code == 400
    assert response.context["form"].errors["change_summary"] == [
        "Say what changed: annotators read this summary before they acknowledge the new version."
    ]
    draft.refresh_from_db()
    assert draft.published_at is None


def test_publishing_puts_the_edits_in_force_and_gates_annotators(client, draft, lead, annotator):
    guideline_acknowledge(version=GuidelineVersion.objects.get(number=1), user=annotator)
    client.force_login(lead)
    project = draft.guideline.project

    response = client.post(
        page_url("guideline-publish", project, draft.pk),
        draft_post(change_summary="Small ones too.", severity_min_area_px="block"),
    )

    assert response.status_code == 302
    assert response.url == f"{page_url('guideline-acknowledgements', project)}?version={draft.pk}"
    draft.refresh_from_db()
    assert draft.published_at is not None
    assert draft.change_summary == "Small ones too."
    assert draft.body.endswith("Small ones too.")
    assert draft.rules[0] == {"rule": "min_area_px", "value": 20, "severity": "block"}
    assert unacknowledged_versions(user=annotator, project=project) == [draft]


def test_publishing_twice_changes_nothing(client, v1, lead):
    client.force_login(lead)
    published_at = v1.published_at

    response = client.post(
        page_url("guideline-publish", v1.guideline.project, v1.pk), {"change_summary": "Again."}
    )

    assert response.status_code == 302
    v1.refresh_from_db()
    assert (v1.published_at, v1.change_summary) == (published_at, "First.")


# The reading page links to the editor for those who write.


@pytest.mark.parametrize(
    ("who", "shown"), [("lead", True), ("annotator", False), ("reviewer", False)]
)
def test_the_guideline_page_links_to_the_editor_for_writers(request, client, v1, who, shown):
    client.force_login(request.getfixturevalue(who))

    response = client.get(page_url("guideline", v1.guideline.project))

    assert ("Edit / new version" in response.content.decode()) is shown


def test_a_stale_class_name_stays_a_choice_of_the_draft(client, project, lead, bubble, draft):
    LabelClassFactory(project=project, name="drop")
    bubble.name = "vapour bubble"
    bubble.save()
    client.force_login(lead)

    response = client.get(page_url("guideline-draft", project, draft.pk))

    choices = [name for name, _ in response.context["form"].fields["value_allowed_classes"].choices]
    assert choices == ["drop", "vapour bubble", "bubble"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"body": "a\x00b"},
        {"body": "x" * 200_001},
        {"body": "# ok", "on_min_area_px": "on", "value_min_area_px": "9" * 40},
        {"body": "# ok", "on_max_overlap": "on", "value_max_overlap": "NaN"},
        {"body": "# ok", "on_max_overlap": "on", "value_max_overlap": "1e999"},
        {"body": "# ok", "on_allow_holes": "on", "value_allow_holes": "maybe"},
        {"body": "# ok", "change_summary": "s" * 501},
    ],
)
def test_no_input_gives_a_server_error(client, draft, lead, data):
    client.force_login(lead)
    project = draft.guideline.project
    before = (draft.body, draft.rules, draft.published_at)

    answers = [
        client.post(page_url("guideline-draft", project, draft.pk), data).status_code,
        client.post(page_url("guideline-preview", project), data).status_code,
        client.post(page_url("guideline-publish", project, draft.pk), data).status_code,
    ]

    assert all(status < 500 for status in answers), answers
    draft.refresh_from_db()
    assert (draft.body, draft.rules, draft.published_at) == before
