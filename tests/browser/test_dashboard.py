"""The agreement dashboard in Chromium, on the demo data: the admin reads the headline, the
annotator × annotator cells and the before/after-guideline figures, and they are the numbers
``compute_agreement --json`` prints for the same data (pooled as DESIGN §4.7 pools); the
worst image opens in the review viewer; the page at 1280 and 800 px."""

import io
import json
from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from qc.models import Submission
from qc.services.agreement import agreement_recompute_project
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _interface(demo) -> dict:
    out = io.StringIO()
    call_command("compute_agreement", demo.project.slug, "--json", stdout=out)
    return json.loads(out.getvalue())


def _pooled(pairs: list[dict]) -> float:
    """pq pooled over pair rows of the JSON: Σ matched IoU / (½ Σ (n_a + n_b)), the matched
    IoU sum of a pair being its pq times its half count."""
    halves = [p["matched"] + (p["unmatched_a"] + p["unmatched_b"]) / 2 for p in pairs]
    total = sum(halves)
    return sum(p["pq"] * h for p, h in zip(pairs, halves, strict=True)) / total if total else 1.0


def _version_of_pairs(demo, pairs: list[dict]) -> dict[str, list[dict]]:
    """The JSON's pairs by the guideline version both submissions were made under, from the
    latest submission of each annotator on each image."""
    versions: dict[tuple[str, str], str] = {}
    rows = Submission.objects.filter(task__image__project=demo.project).values_list(
        "task__image__name",
        "task__annotator__username",
        "revision",
        "guideline_versions__guideline__title",
        "guideline_versions__number",
    )
    newest: dict[tuple[str, str], tuple[int, str]] = {}
    for image, user, revision, title, number in rows:
        key = (image, user)
        if key not in newest or revision > newest[key][0]:
            newest[key] = (revision, f"{title} v{number}" if title else "no guideline")
    versions = {key: version for key, (_, version) in newest.items()}
    grouped: dict[str, list[dict]] = defaultdict(list)
    for pair in pairs:
        a = versions[(pair["image"], pair["annotator_a"])]
        b = versions[(pair["image"], pair["annotator_b"])]
        grouped[a if a == b else "mixed versions"].append(pair)
    return grouped


def test_admin_reads_the_dashboard_and_its_numbers_are_compute_agreements(demo, page):
    report = _interface(demo)
    by_pair: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for pair in report["pairs"]:
        by_pair[(pair["annotator_a"], pair["annotator_b"])].append(pair)
    by_version = _version_of_pairs(demo, report["pairs"])
    demo.log_in(page, "admin")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/"))

    assert page.locator("h1").inner_text() == "Agreement between annotators"
    assert page.locator("#headline-pq").inner_text() == f"{report['summary']['pq']:.2f}"
    lo, hi = report["summary"]["pq_ci95"]
    assert page.locator("#headline-interval").inner_text() == f"95 % interval {lo:.2f}–{hi:.2f}"
    assert page.locator("#headline-images").inner_text() == str(report["images"])
    page.locator("#pairs details.numbers summary").click()
    shown_cells = {
        tuple(row.locator("td").nth(0).inner_text().split(" and ")): row.locator("td")
        .nth(1)
        .inner_text()
        for row in page.locator("#pairs-table tbody tr").all()
    }
    assert shown_cells == {pair: f"{_pooled(rows):.2f}" for pair, rows in by_pair.items()}
    # The heatmap prints the same figure in both cells of a pair, and "—" on its diagonal.
    names = sorted({name for pair in by_pair for name in pair})
    printed = page.locator("#pair-heatmap g.cell text").all_text_contents()
    expected = [
        "—" if a == b else shown_cells[(a, b) if a < b else (b, a)] for a in names for b in names
    ]
    assert printed == expected
    words = page.locator("#version-words li").all_inner_texts()
    assert [w.split(":")[0] for w in words] == sorted(by_version)
    for said, key in zip(words, sorted(by_version), strict=True):
        assert said.startswith(f"{key}: pq {_pooled(by_version[key]):.2f} (")
    assert ", up " in words[1] and "from v1" in words[1]
    shot(page, "dashboard/agreement")

    worst = page.locator("#worst-table a.worst-image").first
    name = worst.inner_text()
    worst.click()
    page.wait_for_load_state()

    assert page.locator("h1").first.inner_text() == name
    assert "/review/" in page.url


def test_each_histogram_count_opens_a_list_of_as_many_images(demo, page, page_watch):
    """A bin's count is the number of rows of the CSV it downloads (every compared image of
    that pq), and its queue count the number of images the queue it opens matches."""
    demo.log_in(page, "admin")
    page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/"))
    rows = page.locator("#histogram-table tbody tr")
    queued = []
    for row in rows.all():
        count = row.locator("td").nth(1).locator("a")
        with page.expect_download() as download:
            count.click()
        lines = download.value.path().read_text(encoding="utf-8").splitlines()
        assert len(lines) - 1 == int(count.inner_text()), row.inner_text()
        link = row.locator("td").nth(2).locator("a")
        if link.count():
            queued.append((link.get_attribute("href"), link.inner_text()))
    assert queued, "the demo has images in review"
    for href, number in queued:
        page.goto(demo.page_url(href))
        assert page.locator("#matching-count").inner_text() == number, href


def test_reviewer_sees_the_dashboard_and_annotator_is_refused(demo, page, page_watch):
    page_watch.expect_status(403, "/dashboard/")
    reviewer = demo.usernames("reviewer")[0]
    demo.log_in(page, reviewer)

    page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/"))

    assert page.locator("#headline-pq").is_visible()
    assert page.locator("#pair-heatmap").is_visible()

    page.context.clear_cookies()
    demo.log_in(page, demo.usernames("annotator")[0])
    response = page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/"))

    assert response.status == 403


def _inside(page, selector: str) -> list[str]:
    """The labels among ``selector`` whose drawn box leaves their SVG's box (cut off)."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)].filter((label) => {
          const box = label.getBoundingClientRect();
          const svg = label.ownerSVGElement.getBoundingClientRect();
          return box.left < svg.left - 0.5 || box.right > svg.right + 0.5
            || box.top < svg.top - 0.5 || box.bottom > svg.bottom + 0.5;
        }).map((label) => label.textContent)""",
        selector,
    )


def test_long_names_show_whole_and_every_column_fits_at_800_px(demo, page, page_watch):
    """A lead's team with long usernames: the heatmap prints each name whole (turning the
    column labels) inside its picture, with the name in its hover title too; the table of
    each annotator fits its card at 1280 and 800 px without scrolling sideways."""
    renamed = {"anna": "Person1_Amira_Rahman", "ben": "Person2_Benedikt"}
    for old, new in renamed.items():
        get_user_model().objects.filter(username=old).update(username=new)
    agreement_recompute_project(project=demo.project)
    demo.log_in(page, "admin")

    page.goto(demo.page_url(f"/p/{demo.project.slug}/dashboard/"))

    names = sorted([*renamed.values(), "cleo"])
    heatmap = page.locator("#pair-heatmap")
    for kind in ("row-label", "column-label"):
        labels = heatmap.locator(f"text.{kind}")
        printed = [label.evaluate("e => e.lastChild.textContent") for label in labels.all()]
        assert printed == names, kind
        assert labels.locator("title").all_text_contents() == names, kind
    assert heatmap.locator("text.column-label[transform]").count() == len(names)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        assert _inside(page, "#pair-heatmap text.row-label, #pair-heatmap text.column-label") == []
        scroll, client = page.locator("#annotators .scroll-x").evaluate(
            "e => [e.scrollWidth, e.clientWidth]"
        )
        assert scroll <= client, (
            f"the annotator table is {scroll} px wide in {client} px at {width}"
        )
    assert page.locator("#annotator-table tbody th").first.inner_text() == names[0]
    shot(page, "dashboard/long-names")
