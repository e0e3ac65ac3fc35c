"""The annotator reads the feedback on their work in Chromium, on the demo: a rejection's
reasons and flagged instances drawn on the image, and their own style with its trend."""

import re

import pytest
from django.urls import reverse

from qc.models import InstanceFlag, Review, Submission
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANNOTATOR = "ben"  # the demo's strict reviewer rejects ben's loose outlines, with flags


def test_annotator_reads_a_rejection_on_the_image_and_their_style(demo, page, page_watch):
    project = demo.project
    rejections = Review.objects.filter(
        submission__task__annotator__username=ANNOTATOR,
        submission__task__image__project=project,
        decision=Review.Decision.REJECT,
    )
    theirs = (
        Submission.objects.filter(task__image__project=project)
        .exclude(task__annotator__username=ANNOTATOR)
        .order_by("pk")
        .first()
    )
    demo.log_in(page, ANNOTATOR)

    page.get_by_role("navigation", name=project.name).get_by_role("link", name="My reviews").click()
    page.wait_for_url("**/my/reviews/")
    cards = page.locator("#feedback > li")
    fixes = page.locator("#feedback > li.needs-fix")
    first = cards.first
    assert page.locator("#to-fix").is_visible()
    assert fixes.count() >= 1
    assert first.locator(".needs-fix-badge").inner_text() == "Needs your fix"
    assert first.locator(".badge.bad").first.inner_text() == "Rejected"
    assert first.locator(".reasons").inner_text() == "Reasons: Boundary too loose"
    assert re.search(r"\b2 flagged instances\b", first.locator(".meta").inner_text())
    assert first.get_by_role("link", name="Resubmit").count() == 1
    # What needs a fix comes first: no card after the first without a fix has one.
    kinds = cards.evaluate_all("cards => cards.map(c => c.classList.contains('needs-fix'))")
    assert kinds == sorted(kinds, reverse=True)
    shot(page, "feedback_my_reviews")

    first.get_by_role("link", name="See it on the image").click()
    page.wait_for_url(re.compile(r".*/my/reviews/\d+/$"))
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    review = rejections.get(submission_id=pk)
    assert page.locator("#reasons").inner_text() == "Reasons: Boundary too loose"
    assert page.locator("#comment").inner_text() == review.comment
    flagged = page.locator("#flagged > li")
    flags = InstanceFlag.objects.filter(review=review).order_by("pk")
    assert flagged.count() == flags.count() == 2
    for number, flag in enumerate(flags, start=1):
        item = flagged.nth(number - 1)
        assert item.locator(".number").inner_text() == str(number)
        assert "Boundary too loose" in item.inner_text()
        assert f"{flag.instance.area} px" in item.inner_text()
    picture = page.locator("#review-picture")
    picture.scroll_into_view_if_needed()
    page.wait_for_function("() => document.getElementById('review-picture').complete")
    assert picture.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [640, 480]
    assert page.get_by_role("link", name="Resubmit").get_attribute("href") == reverse(
        "task-submit", args=[project.slug, review.submission.task_id]
    )
    shot(page, "feedback_review")

    page.get_by_role("navigation", name=project.name).get_by_role("link", name="My style").click()
    page.wait_for_url("**/my/style/")
    sentence = page.locator("#style-sentence").inner_text()
    assert re.match(
        r"You draw \d+\.\d px outside the consensus edge \(median of \d+ bubbles\)", sentence
    )
    weeks = page.locator("#trend-table tbody tr")
    assert weeks.count() >= 2  # the demo replays several weeks of work
    assert page.locator("#offset-chart .marker").count() == weeks.count()
    assert page.locator("#recall-chart .marker").count() >= weeks.count()
    for name in ("anna", "cleo"):
        assert name not in page.locator("main").inner_text()
    shot(page, "feedback_style")

    # Blind: another annotator's submission is not there, nor its picture.
    for name in ("my-review", "my-review-picture"):
        url = reverse(name, args=[project.slug, theirs.pk])
        page_watch.expect_status(404, url)
        assert page.goto(demo.page_url(url)).status == 404
