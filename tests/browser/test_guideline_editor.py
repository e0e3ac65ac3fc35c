"""The guideline editor in Chromium, on the demo: the lead starts v4 from v3, types into
the text and sees the live preview render it, makes a rule block submission, publishes
with a summary and sees that nobody has acknowledged v4 yet; an annotator acknowledges it
and the lead sees that; the diff from v3 to v4 shows the added line and the changed
rule. The page without JavaScript previews through its Preview button."""

import re

import pytest
from playwright.sync_api import expect

from projects.models import GuidelineVersion
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADDED = "- Bubbles cut by the frame count from 20 px inside the frame."


def _path(demo, tail: str) -> str:
    return demo.page_url(f"/p/{demo.project.slug}/guideline/{tail}")


def _log_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Log out").click()


def _write_v4(demo, page) -> GuidelineVersion:
    """From the guideline page to v4's editor, the text typed and a rule made blocking."""
    page.goto(_path(demo, ""))
    page.get_by_role("link", name="Edit / new version").click()
    expect(page.locator("h1")).to_have_text("Guideline editor")
    expect(page.locator("table.versions tbody tr")).to_have_count(3)
    shot(page, "guidelines/home")
    page.get_by_role("button", name="New version from v3").click()
    expect(page.locator(".editor-head h1")).to_contain_text("v4 draft")
    version = GuidelineVersion.objects.get(guideline__project=demo.project, number=4)

    body = page.locator("#id_body")
    expect(body).to_have_value(re.compile(r"^# Bubble outlines"))
    body.press("Control+End")
    body.press_sequentially(f"\n## Added in v4\n\n{ADDED}")
    # The live preview renders what was typed, without a page load.
    expect(page.locator("#preview h2", has_text="Added in v4")).to_be_visible()
    expect(page.locator("#preview li", has_text="cut by the frame count")).to_be_visible()
    assert page.locator("#unsaved-note").count() == 0

    row = page.locator("#rule-min_area_px")
    expect(row.locator("input[type=checkbox]")).to_be_checked()
    row.get_by_label("blocks submission").check()
    blocking = page.locator("#preview-rules li.rule-block")
    expect(blocking.filter(has_text="Every instance covers at least 20 px")).to_be_visible()
    return version


def test_lead_writes_previews_publishes_and_follows_acknowledgements(demo, page):
    demo.log_in(page, "lead")
    version = _write_v4(demo, page)
    page.locator("#id_change_summary").fill("Small bubbles now block submission.")
    page.evaluate("() => window.scrollTo(0, 0)")
    shot(page, "guidelines/editor")

    page.get_by_role("button", name="Publish v4").click()

    expect(page.locator("h1")).to_have_text("Acknowledgements")
    expect(page.locator("ul.messages")).to_contain_text("Published Bubble outlines v4")
    current = page.locator(f"#current-{version.pk}")
    expect(current.locator(".acknowledged-link")).to_have_text("0 acknowledged")
    expect(current.locator(".pending-link")).to_have_text("3 not yet")
    expect(page.locator("#blocked-link")).to_contain_text("3 of 3 annotators")
    anna = page.locator("#ack-anna td.ack-cell").first
    expect(anna).to_have_text("✗ not yet")
    shot(page, "guidelines/acknowledgements-published")
    version.refresh_from_db()
    assert version.change_summary == "Small bubbles now block submission."
    assert {"rule": "min_area_px", "value": 20, "severity": "block"} in version.rules
    assert ADDED in version.body

    _log_out(page)
    demo.log_in(page, "anna")
    page.goto(_path(demo, ""))
    expect(page.locator(".change-summary")).to_contain_text("Small bubbles now block")
    page.get_by_role("button", name="I have read v4: acknowledge").click()
    expect(page.locator("ul.messages")).to_contain_text("You acknowledged Bubble outlines v4")

    _log_out(page)
    demo.log_in(page, "lead")
    page.goto(_path(demo, "acknowledgements/"))
    expect(current.locator(".acknowledged-link")).to_have_text("1 acknowledged")
    expect(page.locator("#ack-anna td.ack-cell").first).to_contain_text("✓")
    expect(page.locator("#ack-anna .submitting")).to_contain_text("may submit")
    expect(page.locator("#ack-ben .submitting")).to_contain_text("blocked")
    current.locator(".acknowledged-link").click()
    expect(page.locator("#ack-table tbody th[scope=row]")).to_have_text(["anna"])
    page.get_by_role("link", name="Show every annotator").click()
    expect(page.locator("#ack-table tbody th[scope=row]")).to_have_text(["anna", "ben", "cleo"])
    shot(page, "guidelines/acknowledgements")

    page.goto(_path(demo, "edit/"))
    page.get_by_role("link", name="Diff with v3").click()
    expect(page.locator("#diff-heading")).to_have_text("From v3 to v4")
    added = page.locator("#body-diff tr.added")
    expect(added.filter(has_text="cut by the frame count")).to_have_count(1)
    expect(added.filter(has_text="cut by the frame count").locator("td.marker")).to_have_text("+")
    rule = page.locator("#rule-diff-min_area_px")
    expect(rule.locator("td").first).to_have_text("changed")
    expect(rule.locator("del")).to_have_text("Every instance covers at least 20 px (warning)")
    expect(rule.locator("ins")).to_have_text(
        "Every instance covers at least 20 px (blocks submission)"
    )
    shot(page, "guidelines/history")


def test_the_diff_between_any_two_versions_is_chosen_on_the_page(demo, page):
    demo.log_in(page, "lead")
    page.goto(_path(demo, "history/"))
    expect(page.locator("#diff-heading")).to_have_text("From v2 to v3")

    v1 = GuidelineVersion.objects.get(guideline__project=demo.project, number=1)
    page.locator(f"#a-{v1.pk}").check()
    page.get_by_role("button", name="Compare").click()

    expect(page.locator("#diff-heading")).to_have_text("From v1 to v3")
    expect(page.locator("#body-diff tr.added", has_text="Added in v3")).to_have_count(1)
    expect(page.locator("#rule-diff-min_area_px td").first).to_have_text("added")


def test_without_javascript_the_preview_button_previews(demo, browser):
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        demo.log_in(page, "lead")
        page.goto(_path(demo, "edit/"))
        page.get_by_role("button", name="New version from v3").click()
        page.locator("#id_body").fill("# Plain\n\nNo script needed.")
        page.get_by_role("button", name="Preview").click()

        expect(page.locator("#preview h1")).to_have_text("Plain")
        expect(page.locator("#unsaved-note")).to_be_visible()
        draft = GuidelineVersion.objects.get(guideline__project=demo.project, number=4)
        assert draft.body.startswith("# Bubble outlines")
    finally:
        context.close()


def test_leaving_with_unsaved_changes_asks_first(demo, page):
    demo.log_in(page, "lead")
    page.goto(_path(demo, "edit/"))
    page.get_by_role("button", name="New version from v3").click()
    asked = []

    def answer(dialog):
        asked.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("#id_body").press_sequentially("x")
    with page.expect_navigation():
        page.locator("nav.crumbs").get_by_role("link", name="Editor").click()

    assert asked == ["beforeunload"]
    expect(page.locator("h1")).to_have_text("Guideline editor")


def test_publishing_with_errors_says_all_of_them_and_publishes_nothing(demo, page, page_watch):
    page_watch.expect_status(400, "/publish/")
    demo.log_in(page, "lead")
    page.goto(_path(demo, "edit/"))
    page.get_by_role("button", name="New version from v3").click()

    page.locator("#rule-max_components input[type=number]").fill("")
    page.get_by_role("button", name="Publish v4").click()

    errors = page.locator("#form-errors")
    expect(errors).to_have_text("Nothing was saved or published: fix what is marked below.")
    expect(page.locator("#summary-error")).to_contain_text("Say what changed")
    expect(page.locator("#rule-max_components .field-error")).to_have_text(
        "Give the most pieces, or untick the rule to drop it."
    )
    expect(page.locator("#preview-rules")).to_contain_text("A rule below needs fixing")
    shot(page, "guidelines/editor-errors")
    draft = GuidelineVersion.objects.get(guideline__project=demo.project, number=4)
    assert draft.published_at is None


def test_a_draft_is_discarded_after_confirming_and_its_number_comes_back(demo, page, page_watch):
    demo.log_in(page, "lead")
    page.goto(_path(demo, "edit/"))
    page.get_by_role("button", name="New version from v3").click()
    expect(page.locator(".editor-head h1")).to_contain_text("v4 draft")

    discard = page.get_by_role("button", name="Discard draft v4")
    expect(discard).to_be_hidden()
    page.locator("#discard-draft summary").click()
    expect(page.locator("#discard-draft")).to_contain_text("v3 stays in force")
    shot(page, "guidelines/draft-discard")
    with page.expect_navigation():
        discard.click()

    expect(page.locator("h1")).to_have_text("Guideline editor")
    expect(page.locator(".messages li.success")).to_contain_text("Discarded the draft")
    expect(page.locator("table.versions tbody tr")).to_have_count(3)
    assert not GuidelineVersion.objects.filter(guideline__project=demo.project, number=4).exists()
    page.get_by_role("button", name="New version from v3").click()
    expect(page.locator(".editor-head h1")).to_contain_text("v4 draft")
