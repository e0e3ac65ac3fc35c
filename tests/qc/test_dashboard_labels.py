"""The agreement dashboard's names and words: the heatmap gives its label column room for
the longest username and turns column labels that are wider than a cell, its view box
holding every label whole, with the whole name in each label's title; the annotator
table lets a long name wrap after its separators; the heatmap's caption says what pq is."""

import html
import re

from projects.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.qc.test_dashboard import _annotate, _url

CHAR = 7.5  # the width a label's character is given, in the heatmap's units
SIN45 = 0.7071


def _team(project, names: list[str]) -> list:
    users = [UserFactory(username=name) for name in names]
    for user in users:
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return users


def _page(client, project, lead, bubble, names: list[str]):
    _annotate(project, bubble, images=2, annotators=_team(project, names), lead=lead)
    client.force_login(lead)
    return client.get(_url(project))


def test_long_names_get_room_and_turned_column_labels_inside_the_view_box(
    client, project, bubble, lead
):
    names = ["Person1_Amira_Rahman", "Person2_Benedikt", "cleo"]

    chart = _page(client, project, lead, bubble, names).context["dashboard"].heatmap["chart"]

    assert [row["label"] for row in chart["rows"]] == sorted(names)
    assert chart["label_x"] >= len(names[0]) * CHAR  # the row labels end there
    assert chart["turned"] is True
    for row in chart["rows"]:
        reach = len(row["label"]) * CHAR * SIN45
        assert chart["label_y"] - reach - 9 >= chart["min_y"], row["name"]
        assert row["x"] + reach + 9 <= chart["width"], row["name"]
    assert chart["min_y"] + chart["view_height"] == chart["height"]


def test_short_names_keep_their_labels_level_and_the_view_box_as_drawn(
    client, project, bubble, lead
):
    chart = (
        _page(client, project, lead, bubble, ["anna", "ben", "drawer7"])
        .context["dashboard"]
        .heatmap["chart"]
    )

    assert [row["label"] for row in chart["rows"]] == ["anna", "ben", "drawer7"]
    assert (chart["turned"], chart["min_y"], chart["view_height"]) == (False, 0, chart["height"])
    assert chart["label_x"] == 96 - 8


def test_a_name_longer_than_a_label_is_cut_and_kept_whole_in_its_title(
    client, project, bubble, lead
):
    long = "a_very_long_username_of_thirty_two"
    response = _page(client, project, lead, bubble, [long, "ben"])

    page = response.content.decode()
    chart = response.context["dashboard"].heatmap["chart"]
    label = next(row["label"] for row in chart["rows"] if row["name"] == long)
    assert (len(label), label) == (24, long[:23] + "…")
    svg = page.split('id="pair-heatmap"')[1].split("</svg>")[0]
    assert svg.count(f"<title>{long}</title>{label}</text>") == 2  # its row and its column
    assert 'transform="rotate(-45 ' in svg


def test_the_annotator_table_wraps_a_long_name_after_its_separators(client, project, bubble, lead):
    page = _page(client, project, lead, bubble, ["Person1_Amira_Rahman", "ben"]).content.decode()

    table = page.split('id="annotator-table"')[1].split("</table>")[0]
    assert ">Person1_<wbr>Amira_<wbr>Rahman</a></th>" in table
    assert ">ben</a></th>" in table


def test_the_heatmap_caption_says_what_pq_is(client, project, bubble, lead):
    page = _page(client, project, lead, bubble, ["anna", "ben"]).content.decode()

    caption = html.unescape(page.split('id="pairs-title"')[1].split("</p>")[0])
    said = re.sub(r"\s+", " ", caption)
    assert (
        "their matched instances' IoU summed, divided by half of all the pair's instances, "
        "so 1 when both drew the same instances exactly" in said
    )
    assert "over half their instances" not in said
