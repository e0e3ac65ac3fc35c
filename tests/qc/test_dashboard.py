"""The agreement dashboard and its CSV files: who may open them, what they show (the stored
report's figures, pooled as DESIGN §4.7 pools), that the page reads the report's dashboard
key only and a fixed number of queries, and the review queue's pq range behind the
histogram."""

import csv
import io
import math
import re
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from projects.models import Role
from projects.selectors import current_versions
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc.models import AgreementResult, AgreementSummary, ImageAgreement, Submission
from qc.selectors import agreement_report_stored
from qc.selectors.dashboards import version_words
from qc.selectors.reports import HISTOGRAM_EDGES, histogram_bin
from qc.services import (
    InstanceInput,
    image_label_set,
    review_assign,
    review_decide,
    submission_create,
)
from qc.services.agreement import agreement_summary_update, agreement_update_for_image
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory

H, W = 48, 64


def _disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:H, :W]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def _annotators(project, count: int) -> list:
    users = []
    for k in range(count):
        user = UserFactory(username=f"drawer{k}")
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
        users.append(user)
    return users


def _annotate(project, bubble, *, images: int, annotators: list, lead, start: int = 0) -> list:
    """``images`` images, each drawn by every annotator (discs shifted by who drew them and
    by the image, two on odd images for some) under the guideline versions of now, which
    they acknowledge, compared, and the report rebuilt."""
    for version in current_versions(project=project):
        for user in annotators:
            guideline_acknowledge(version=version, user=user)
    made = []
    for n in range(start, start + images):
        image = ImageFactory(project=project, name=f"f{n:03d}.png", width=W, height=H)
        for k, user in enumerate(annotators):
            task = TaskFactory(image=image, annotator=user)
            rles = [_disc(20 + k * (n % 3 + 1), 20, 9)]
            if n % 2 and k % 2:
                rles.append(_disc(50, 30, 5))
            submission_create(
                task=task,
                actor=user,
                instances=[InstanceInput(label_class=bubble, rle=rle) for rle in rles],
                check_gate=False,
            )
        agreement_update_for_image(image_id=image.pk)
        made.append(image)
    agreement_summary_update(project_id=project.pk)
    return made


def _publish(project, lead, body: str):
    return guideline_version_create(
        project=project,
        title="Bubbles",
        body=body,
        author=lead,
        change_summary=body,
        publish=True,
    )


@pytest.fixture
def compared(project, bubble, lead):
    """Six images by three annotators: three under guideline v1, three under v2."""
    users = _annotators(project, 3)
    _publish(project, lead, "Outline bubbles.")
    first = _annotate(project, bubble, images=3, annotators=users, lead=lead)
    _publish(project, lead, "Outline bubbles, holes too.")
    second = _annotate(project, bubble, images=3, annotators=users, lead=lead, start=3)
    return users, first + second


def _url(project) -> str:
    return reverse("project-dashboard", args=[project.slug])


def _csv(client, project, name: str, **params) -> list[list[str]]:
    response = client.get(reverse("dashboard-csv", args=[project.slug, name]), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- who may open it -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("lead", 200), ("reviewer", 200), ("annotator", 403), ("outsider", 404)],
)
def test_dashboard_opens_to_leads_and_reviewers_only(
    client, project, lead, reviewer, annotator, outsider, who, status
):
    client.force_login(
        {"lead": lead, "reviewer": reviewer, "annotator": annotator, "outsider": outsider}[who]
    )

    response = client.get(_url(project))

    assert response.status_code == status


@pytest.mark.parametrize(("who", "status"), [("annotator", 403), ("outsider", 404)])
def test_dashboard_csv_is_refused_as_the_page_is(
    client, compared, project, annotator, outsider, who, status
):
    client.force_login({"annotator": annotator, "outsider": outsider}[who])

    response = client.get(reverse("dashboard-csv", args=[project.slug, "pairs"]))

    assert response.status_code == status


def test_dashboard_refuses_post(client, project, lead):
    client.force_login(lead)

    assert client.post(_url(project)).status_code == 405


# --- what it shows ----------------------------------------------------------------------------


def test_dashboard_before_any_agreement_says_what_is_needed(client, project, lead):
    client.force_login(lead)

    response = client.get(_url(project))

    assert response.context["dashboard"].state == "none"
    assert "two or more annotators have submitted" in response.content.decode()


@pytest.mark.parametrize("old", ["no dashboard key", "no format"])
@pytest.mark.parametrize(
    ("who", "said"),
    [("lead", "recompute the project</a> from its settings"), ("reviewer", "ask a lead")],
)
def test_dashboard_of_a_report_older_than_the_dashboard_says_how_to_rebuild(
    client, compared, project, lead, reviewer, old, who, said
):
    summary = AgreementSummary.objects.get(project=project)
    if old == "no dashboard key":
        summary.report = {k: v for k, v in summary.report.items() if k != "dashboard"}
    else:  # stored before version rows named their versions
        dashboard = summary.report["dashboard"]
        del dashboard["format"]
        for row in dashboard["versions"]:
            del row["versions"]
    summary.save()
    client.force_login({"lead": lead, "reviewer": reviewer}[who])

    response = client.get(_url(project))

    html = response.content.decode()
    assert response.context["dashboard"].state == "stale"
    assert said in html
    recompute = reverse("project-recompute", args=[project.slug])
    assert (f'href="{recompute}"' in html) == (who == "lead")
    assert "compute_agreement" not in html


def test_dashboard_headline_is_the_stored_summary(client, compared, project, lead):
    summary = AgreementSummary.objects.get(project=project).report["summary"]
    client.force_login(lead)

    dashboard = client.get(_url(project)).context["dashboard"]

    lo, hi = summary["pq_ci95"]
    assert (dashboard.headline["pq"], dashboard.headline["interval"]) == (
        f"{summary['pq']:.2f}",
        f"{lo:.2f}–{hi:.2f}",
    )
    assert (dashboard.headline["images"], dashboard.headline["pairs"]) == (6, 18)


def test_heatmap_cell_pools_the_pairs_shared_images(client, compared, project, lead):
    users, _ = compared
    a, b = users[0], users[2]
    rows = AgreementResult.objects.filter(annotator_a=a, annotator_b=b, label_class=None)
    expected = math.fsum(r.iou_sum for r in rows) / (0.5 * sum(r.n_a + r.n_b for r in rows))
    client.force_login(lead)

    dashboard = client.get(_url(project)).context["dashboard"]

    cell = next(
        r for r in dashboard.heatmap["rows"] if (r["a"], r["b"]) == (a.username, b.username)
    )
    assert (cell["pq"], cell["images"]) == (f"{expected:.2f}", 6)
    texts = [c["text"] for c in dashboard.heatmap["chart"]["cells"]]
    assert texts[2] == texts[6] == f"{expected:.2f}"  # (0, 2) and (2, 0) of the 3 × 3
    assert [texts[0], texts[4], texts[8]] == ["—", "—", "—"]


def test_versions_have_their_interval_and_say_the_change_in_words(client, compared, project, lead):
    client.force_login(lead)

    versions = client.get(_url(project)).context["dashboard"].versions

    assert [row["label"] for row in versions["rows"]] == ["Bubbles v1", "Bubbles v2"]
    assert all(row["interval"] != "—" for row in versions["rows"])
    assert versions["words"][0].startswith("Bubbles v1: pq ")
    assert " from v1 (" in versions["words"][1]
    assert versions["rows"][1]["href"].startswith(reverse("review-queue", args=[project.slug]))


def _version_row(title: str | None, number: int | None, pq, ci, images=9) -> dict:
    key = f"{title} v{number}" if title else "mixed versions"
    versions = [{"title": title, "number": number, "id": number}] if title else []
    return {"key": key, "versions": versions, "pq": pq, "pq_ci95": ci, "images": images}


def test_version_words_say_up_down_and_whether_intervals_overlap():
    rows = [
        _version_row("G", 1, 0.70, [0.66, 0.74]),
        _version_row("G", 2, 0.81, [0.78, 0.84]),
        _version_row("G", 3, 0.79, [0.75, 0.83]),
        _version_row(None, None, 0.75, None, images=3),
        _version_row("G", 4, 0.83, None, images=1),
    ]

    assert version_words(rows) == [
        "G v1: pq 0.70 (0.66–0.74).",
        "G v2: pq 0.81 (0.78–0.84), up 0.11 from v1 (0.70); the 95 % intervals do not overlap.",
        "G v3: pq 0.79 (0.75–0.83), down 0.02 from v2 (0.81); the 95 % intervals overlap, "
        "so the change may be chance.",
        "mixed versions: pq 0.75 (3 images, too few for an interval).",
        "G v4: pq 0.83 (1 image, too few for an interval), up 0.04 from v3 (0.79); with "
        "fewer than 5 images, chance cannot be told from change.",
    ]


def test_versions_from_v10_on_follow_v9_and_a_title_may_hold_a_comma(client, project, bubble, lead):
    users = _annotators(project, 2)
    title = "Bubbles, holes too"
    for number in range(1, 11):
        guideline_version_create(
            project=project,
            title=title,
            body=f"Version {number}.",
            author=lead,
            change_summary=f"Version {number}.",
            publish=True,
        )
        if number in (1, 2, 9, 10):
            _annotate(project, bubble, images=1, annotators=users, lead=lead, start=number)
    client.force_login(lead)

    versions = client.get(_url(project)).context["dashboard"].versions

    labels = [f"{title} v{n}" for n in (1, 2, 9, 10)]
    assert [row["label"] for row in versions["rows"]] == labels
    assert [w.split(": pq")[0] for w in versions["words"]] == labels
    before = [re.search(r", (?:up|down|no change).* from (v\d+) \(", w) for w in versions["words"]]
    assert [m and m[1] for m in before] == [None, "v1", "v2", "v9"]
    assert all(row["href"] for row in versions["rows"])  # one version each: a queue link
    assert versions["waiting"] == [f"{title} v{n}" for n in range(3, 9)]


def test_published_version_without_compared_work_is_named(client, compared, project, lead):
    _publish(project, lead, "Third version.")
    client.force_login(lead)

    versions = client.get(_url(project)).context["dashboard"].versions

    assert versions["waiting"] == ["Bubbles v3"]


def test_histogram_counts_every_compared_image_in_its_bin(client, compared, project, lead):
    client.force_login(lead)

    histogram = client.get(_url(project)).context["dashboard"].histogram

    pqs = ImageAgreement.objects.filter(image__project=project).values_list("pq", flat=True)
    expected = [0] * (len(HISTOGRAM_EDGES) - 1)
    for pq in pqs:
        expected[histogram_bin(pq)] += 1
    assert [row["count"] for row in histogram["rows"]] == expected
    assert histogram["images"] == 6


@pytest.mark.parametrize(
    ("pq", "expected"), [(0.0, 0), (0.05, 1), (0.0499999, 0), (0.95, 19), (1.0, 19)]
)
def test_histogram_bin_is_the_last_edge_at_or_below(pq, expected):
    assert histogram_bin(pq) == expected


def test_histogram_bin_opens_exactly_its_images_and_its_queue_count_the_queue(
    client, compared, project, lead
):
    _, images = compared
    for image in images:
        review_assign(image=image, actor=lead, reviewer=lead)
    # One image of the fullest bin leaves review: the bin still counts it, the queue not.
    counts = {}
    for image in images:
        counts.setdefault(histogram_bin(image.agreement.pq), []).append(image)
    accepted = max(counts.values(), key=len)[0]
    submission = Submission.objects.filter(task__image=accepted).first()
    review_decide(submission=submission, reviewer=lead, decision="accept")
    image_label_set(image=accepted, actor=lead, submission=submission)
    client.force_login(lead)
    histogram = client.get(_url(project)).context["dashboard"].histogram

    assert histogram["queued"] == 5
    for row in histogram["rows"]:
        listed = _csv(client, project, "image-pq", **_query(row["href"]))[1:]
        assert len(listed) == row["count"], row["range"]
        queue = client.get(row["queue_href"]).context["queue"] if row["queued"] else None
        assert (queue.matching if queue else 0) == row["queued"], row["range"]
        inside = accepted.name in {line[0] for line in listed}
        assert row["queued"] == row["count"] - inside, row["range"]


def _query(href: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(href).query))


def test_worst_images_link_to_the_viewer_only_where_the_user_may_review(
    client, compared, project, lead, reviewer
):
    _, images = compared
    review_assign(image=images[0], actor=lead, reviewer=reviewer)
    client.force_login(reviewer)

    worst = client.get(_url(project)).context["dashboard"].worst

    linked = {row["name"] for row in worst if row["href"]}
    assert linked == {images[0].name}
    assert len(worst) == 6
    assert [row["pq"] for row in worst] == sorted(row["pq"] for row in worst)


def test_annotator_rows_carry_the_style_in_words(client, compared, project, lead):
    client.force_login(lead)

    annotators = client.get(_url(project)).context["dashboard"].annotators

    assert [row["username"] for row in annotators] == ["drawer0", "drawer1", "drawer2"]
    assert all("consensus edge" in row["description"] for row in annotators)
    assert all(
        row["href"].startswith(reverse("review-queue", args=[project.slug])) for row in annotators
    )


# --- what it reads ----------------------------------------------------------------------------


def test_dashboard_reads_the_dashboard_key_and_no_pair_row(client, compared, project, lead):
    client.force_login(lead)

    with CaptureQueriesContext(connection) as queries:
        client.get(_url(project))

    summary_sql = [q["sql"] for q in queries if "qc_agreementsummary" in q["sql"]]
    assert len(summary_sql) == 1
    assert "dashboard" in summary_sql[0]
    assert not any("qc_agreementresult" in q["sql"] for q in queries)
    assert not any("qc_instance" in q["sql"] for q in queries)


@pytest.mark.parametrize("count", [1, 3])
def test_dashboard_queries_do_not_grow_with_images(
    client, project, bubble, lead, django_assert_num_queries, count
):
    users = _annotators(project, 2)
    _annotate(project, bubble, images=count, annotators=users, lead=lead)
    client.force_login(lead)

    # session, user, project, membership, the stored dashboard key, published versions,
    # the images of each pq bin in the user's queue, the worst images the user may review
    with django_assert_num_queries(8):
        response = client.get(_url(project))

    assert response.context["dashboard"].headline["images"] == count


@pytest.mark.parametrize("count", [1, 3])
def test_dashboard_queries_do_not_grow_with_annotators(
    client, project, bubble, lead, django_assert_num_queries, count
):
    users = _annotators(project, count + 1)  # one pair, or six
    _annotate(project, bubble, images=2, annotators=users, lead=lead)
    client.force_login(lead)

    with django_assert_num_queries(8):
        response = client.get(_url(project))

    assert len(response.context["dashboard"].annotators) == count + 1


def test_report_for_the_api_leaves_the_dashboard_key_out(compared, project):
    report = agreement_report_stored(project=project)

    assert "dashboard" not in report
    assert len(report["pairs"]) == 18


# --- CSV --------------------------------------------------------------------------------------


def test_pairs_csv_narrows_to_one_pair_in_either_order(client, compared, project, lead):
    users, _ = compared
    client.force_login(lead)

    rows = _csv(client, project, "pairs", a=users[2].username, b=users[0].username)

    assert rows[0][:3] == ["image", "annotator_a", "annotator_b"]
    assert {(r[1], r[2]) for r in rows[1:]} == {(users[0].username, users[2].username)}
    assert len(rows) == 1 + 6


def test_heatmap_csv_has_a_row_per_pair(client, compared, project, lead):
    client.force_login(lead)

    rows = _csv(client, project, "heatmap")

    assert [r[:3] for r in rows[1:]] == [
        ["drawer0", "drawer1", "6"],
        ["drawer0", "drawer2", "6"],
        ["drawer1", "drawer2", "6"],
    ]


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("week", None),
        ("class", 1),
        ("version", 2),
        ("annotators", 3),
        ("histogram", 20),
        ("image-pq", 6),
    ],
)
def test_every_csv_of_the_page_downloads(client, compared, project, lead, name, rows):
    client.force_login(lead)

    table = _csv(client, project, name)

    assert len(table[0]) >= 3
    if rows is not None:
        assert len(table) == 1 + rows


def test_unknown_csv_is_not_found(client, compared, project, lead):
    client.force_login(lead)

    response = client.get(reverse("dashboard-csv", args=[project.slug, "everything"]))

    assert response.status_code == 404


def test_csv_before_any_agreement_is_a_header(client, project, lead):
    client.force_login(lead)

    assert _csv(client, project, "heatmap") == [
        [
            "annotator_a",
            "annotator_b",
            "images",
            "pairs",
            "matched",
            "pq",
            "mean_iou",
            "f1",
            "boundary_iou",
        ]
    ]


@pytest.mark.parametrize(
    ("name", "query", "field"),
    [
        ("pairs", {"a": "drawer0\x00", "b": "drawer1"}, "a: Null characters are not allowed."),
        ("pairs", {"a": "x" * 151, "b": "drawer1"}, "a: Ensure this value has at most 150"),
        ("image-pq", {"pq_min": "\x00"}, "pq_min: Enter a number."),
        ("image-pq", {"pq_max": "nan"}, "pq_max: Enter a number."),
        ("image-pq", {"pq_min": "2"}, "pq_min: Ensure this value is less than or equal to 1"),
    ],
)
def test_a_csv_query_that_does_not_parse_is_a_400_naming_the_value(
    client, compared, project, lead, name, query, field
):
    client.force_login(lead)

    response = client.get(reverse("dashboard-csv", args=[project.slug, name]), query)

    assert response.status_code == 400
    assert field in response.content.decode()


def test_image_pq_csv_narrows_to_a_range_and_names_it(client, compared, project, lead):
    pqs = sorted(ImageAgreement.objects.filter(image__project=project).values_list("pq", flat=True))
    lo, hi = pqs[1], pqs[4]
    client.force_login(lead)

    response = client.get(
        reverse("dashboard-csv", args=[project.slug, "image-pq"]), {"pq_min": lo, "pq_max": hi}
    )

    rows = list(csv.reader(io.StringIO(response.content.decode())))[1:]
    assert [float(r[2]) for r in rows] == [pq for pq in pqs if lo <= pq < hi]
    assert f"-pq-{lo:.2f}-{hi:.2f}.csv" in response["Content-Disposition"]
