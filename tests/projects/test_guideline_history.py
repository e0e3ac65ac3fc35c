"""The guideline editor's history and acknowledgements: the line diff of the text and the
rule-by-rule diff between any two versions, and the table of who acknowledged which
version, filtered by each of its counts."""

import pytest

from projects.selectors.guidelines import body_diff, rules_diff
from projects.services import guideline_acknowledge
from projects.services.guidelines import guideline_version_publish
from tests.projects.guideline_support import draft_of, draft_post, page_url, published_v1


@pytest.fixture
def v1(project, lead, bubble):
    return published_v1(project, lead)


@pytest.fixture
def draft(v1, lead):
    return draft_of(v1, lead)


@pytest.fixture
def acknowledged(v1, draft, lead, annotator, other_annotator):
    """v1 acknowledged by both annotators, v2 published and acknowledged by the annotator."""
    for user in (annotator, other_annotator):
        guideline_acknowledge(version=v1, user=user)
    guideline_version_publish(version=draft, actor=lead, change_summary="Two.")
    guideline_acknowledge(version=draft, user=annotator)
    return draft


# History and diff.


def test_body_diff_marks_added_and_removed_lines_with_their_numbers():
    diff = body_diff("a\nb\nc\n", "a\nB\nc\nd\n")

    lines = [(line.marker, line.old, line.new, line.text) for line in diff.hunks[0]]
    assert lines == [
        (" ", 1, 1, "a"),
        ("−", 2, None, "b"),
        ("+", None, 2, "B"),
        (" ", 3, 3, "c"),
        ("+", None, 4, "d"),
    ]
    assert (diff.added, diff.removed) == (2, 1)


def test_body_diff_leaves_out_long_unchanged_runs():
    old = "\n".join(f"line {n}" for n in range(20))
    new = old.replace("line 2", "line two").replace("line 17", "line seventeen")

    diff = body_diff(old, new, context=1)

    assert [[line.text for line in hunk] for hunk in diff.hunks] == [
        ["line 1", "line 2", "line two", "line 3"],
        ["line 16", "line 17", "line seventeen", "line 18"],
    ]


def test_rules_diff_goes_rule_by_rule():
    old = [
        {"rule": "min_area_px", "value": 20, "severity": "warn"},
        {"rule": "allow_holes", "value": True, "severity": "warn"},
        {"rule": "max_instances", "value": 50, "severity": "warn"},
    ]
    new = [
        {"rule": "min_area_px", "value": 20, "severity": "block"},
        {"rule": "allow_holes", "value": True, "severity": "warn"},
        {"rule": "max_components", "value": 1, "severity": "warn"},
    ]

    rows = rules_diff(old, new)

    assert [(row["rule"], row["status"], row["old"], row["new"]) for row in rows] == [
        (
            "min_area_px",
            "changed",
            "Every instance covers at least 20 px (warning)",
            "Every instance covers at least 20 px (blocks submission)",
        ),
        (
            "allow_holes",
            "same",
            "Instances may have holes (warning)",
            "Instances may have holes (warning)",
        ),
        ("max_components", "added", None, "Every instance is one connected piece (warning)"),
        ("max_instances", "removed", "At most 50 instances per image (warning)", None),
    ]


def test_the_history_compares_any_two_versions(client, v1, draft, lead):
    client.force_login(lead)
    project = v1.guideline.project
    client.post(
        page_url("guideline-draft", project, draft.pk),
        draft_post(severity_min_area_px="block"),
    )

    response = client.get(page_url("guideline-history", project), {"a": v1.pk, "b": draft.pk})

    assert response.status_code == 200
    html = response.content.decode()
    assert '<ins><span class="visually-hidden">added: </span>Small ones too.</ins>' in html
    assert '<td class="marker" aria-hidden="true">+</td>' in html
    changed = [r for r in response.context["compared"]["rules"] if r["status"] == "changed"]
    assert [(r["rule"], r["old"], r["new"]) for r in changed] == [
        (
            "min_area_px",
            "Every instance covers at least 20 px (warning)",
            "Every instance covers at least 20 px (blocks submission)",
        )
    ]


def test_the_history_compares_the_newest_two_by_default(client, v1, draft, lead):
    client.force_login(lead)

    response = client.get(page_url("guideline-history", v1.guideline.project))

    assert (response.context["a"], response.context["b"]) == (v1, draft)
    assert response.context["compared"]["body"].changed is False


@pytest.mark.parametrize("query", [{"a": "x", "b": "-1"}, {"a": "99999", "b": "1"}, {"g": "7e"}])
def test_the_history_leaves_out_what_it_cannot_use(client, v1, draft, lead, query):
    client.force_login(lead)

    response = client.get(page_url("guideline-history", v1.guideline.project), query)

    assert response.status_code == 200
    assert response.context["guideline"] == v1.guideline


def test_the_history_of_one_version_says_there_is_nothing_to_compare(client, v1, lead):
    client.force_login(lead)

    response = client.get(page_url("guideline-history", v1.guideline.project))

    assert response.context["compared"] is None
    assert "nothing to compare it with" in response.content.decode()


# Acknowledgements.


def test_the_table_shows_who_acknowledged_which_version_and_who_is_blocked(
    client, acknowledged, lead, annotator, other_annotator
):
    client.force_login(lead)

    response = client.get(page_url("guideline-acknowledgements", acknowledged.guideline.project))

    assert response.status_code == 200
    rows = {row.membership.user.username: row for row in response.context["rows"]}
    assert [v.number for v in response.context["versions"]] == [2, 1]
    assert [at is not None for _, at in rows["annotator"].cells] == [True, True]
    assert [at is not None for _, at in rows["other_annotator"].cells] == [False, True]
    assert (rows["annotator"].blocked, rows["other_annotator"].blocked) == ([], [acknowledged])
    assert response.context["blocked"] == 1
    html = response.content.decode()
    assert "✗ not yet" in html and "may submit" in html


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"state": "acknowledged"}, ["annotator"]),
        ({"state": "pending"}, ["other_annotator"]),
        ({}, ["annotator", "other_annotator"]),
        ({"blocked": "1"}, ["other_annotator"]),
    ],
)
def test_each_count_opens_the_table_filtered(client, acknowledged, lead, query, shown):
    client.force_login(lead)
    if "state" in query:
        query["version"] = acknowledged.pk

    response = client.get(
        page_url("guideline-acknowledgements", acknowledged.guideline.project), query
    )

    assert [row.membership.user.username for row in response.context["rows"]] == shown


def test_a_filter_on_no_published_version_is_dropped(client, acknowledged, lead, outsider):
    client.force_login(lead)

    response = client.get(
        page_url("guideline-acknowledgements", acknowledged.guideline.project),
        {"version": "123456", "state": "pending"},
    )

    assert response.context["dropped"] is True
    assert len(response.context["rows"]) == 2


def test_the_acknowledgements_page_of_a_project_without_guidelines_says_so(client, project, lead):
    client.force_login(lead)

    response = client.get(page_url("guideline-acknowledgements", project))

    assert "Nothing is published yet" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"a": "9" * 40, "b": "1"},
        {"g": "-5", "a": "", "b": "\x00"},
        {"version": "9" * 40, "state": "nope", "blocked": "yes"},
    ],
)
def test_odd_queries_are_left_out(client, acknowledged, lead, query):
    client.force_login(lead)
    project = acknowledged.guideline.project

    for name in ("guideline-history", "guideline-acknowledgements"):
        assert client.get(page_url(name, project), query).status_code == 200
