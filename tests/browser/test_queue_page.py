"""The review queue in Chromium, on the demo data: the cards in the order of the queue, every
thumbnail loaded, a filter that changes the count, pages that keep the filters, and no
console error or failed request anywhere (the page watch)."""

import pytest
from django.contrib.auth import get_user_model

from projects.models import Image, Task
from projects.selectors import review_queue
from qc.selectors.queue import QueueFilters, ReviewState, review_queue_page
from qc.selectors.viewer import latest_submissions_of
from qc.services import InstanceInput, submission_create
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

_THUMBNAILS_LOADED = """() => Array.from(document.querySelectorAll('.queue-card img')).map(
  (img) => [img.complete, img.naturalWidth, img.getAttribute('width')])"""


def _thumbnails(page) -> list:
    """[complete, naturalWidth, width attribute] of every thumbnail, once each was scrolled
    into view (they load lazily) and finished loading."""
    for img in page.locator(".queue-card img").all():
        img.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.queue-card img')).every((i) => i.complete)"
    )
    page.evaluate("() => window.scrollTo(0, 0)")
    return page.evaluate(_THUMBNAILS_LOADED)


def _queue_url(demo, query: str = "") -> str:
    return demo.page_url(f"/p/{demo.project.slug}/review/{query}")


def _copies_in_review(demo, user, count: int) -> None:
    """``count`` more images in ``user``'s queue: copies, without pixels, of the masks of
    the queue's first image, submitted again by the same annotators."""
    source = review_queue(user=user, project=demo.project).first()
    submissions = list(latest_submissions_of(image=source))
    for n in range(count):
        image = Image.objects.create(
            project=demo.project,
            name=f"copy_{n:02d}_{source.name}",
            width=source.width,
            height=source.height,
        )
        for submission in submissions:
            annotator = submission.task.annotator
            task = Task.objects.create(image=image, annotator=annotator)
            instances = [
                InstanceInput(
                    label_class=instance.label_class,
                    rle={"size": [image.height, image.width], "counts": instance.rle},
                )
                for instance in submission.instances.all()
            ]
            submission_create(task=task, actor=annotator, instances=instances, check_gate=False)


def test_queue_cards_thumbnails_filters_and_pages(demo, page):
    lead = get_user_model().objects.get(username="lead")
    expected = list(review_queue(user=lead, project=demo.project).values_list("name", flat=True))
    assert len(expected) >= 2
    demo.log_in(page, "lead")

    page.goto(_queue_url(demo))

    names = page.locator(".queue-card .image-link").all_inner_texts()
    assert names == expected
    assert page.locator("#waiting-count").inner_text() == str(len(expected))
    # A lead reviews any image: they wait for review, not for the lead's own.
    assert (
        page.locator("#queue-count")
        .inner_text()
        .startswith(f"{len(expected)} images wait for review.")
    )
    loaded = _thumbnails(page)
    assert loaded and all(done and width > 0 for done, width, _ in loaded), loaded
    assert all(width == int(attribute) for _, width, attribute in loaded), loaded
    first_card = page.locator(".queue-card").first
    assert first_card.locator(".pq").inner_text() != ""
    assert "anna" in first_card.locator(".annotators").inner_text()
    shot(page, "queue")

    # A filter: the review state that sets apart the most images, so the count changes.
    counts = {
        state: review_queue_page(
            user=lead, project=demo.project, filters=QueueFilters(state=state)
        ).matching
        for state, _ in ReviewState.CHOICES
    }
    state = max(counts, key=lambda s: (0 < counts[s] < len(expected), counts[s] < len(expected)))
    page.select_option("#filter-state", state)
    with page.expect_navigation():
        page.click("#apply-filters")
    assert f"state={state}" in page.url
    assert page.locator("#waiting-count").inner_text() == str(len(expected))
    if counts[state]:
        assert page.locator("#matching-count").inner_text() == str(counts[state])
        assert page.locator(".queue-card").count() == counts[state] != len(expected)
        shot(page, "queue-filtered")
    else:
        assert "No image matches these filters." in page.locator("#queue-empty").inner_text()
    with page.expect_navigation():
        page.click("#clear-filters, #clear-filters-empty")
    assert page.locator(".queue-card").count() == len(expected)

    # Pages of twelve that keep the filter.
    _copies_in_review(demo, lead, max(0, 13 - len(expected)))
    total = review_queue(user=lead, project=demo.project).count()
    page.goto(_queue_url(demo, "?annotator=&per=12"))
    assert page.locator(".queue-card").count() == 12
    assert page.locator("#page-place").inner_text().startswith("Page 1 of ")
    with page.expect_navigation():
        page.click("#next-page")
    assert "per=12" in page.url and "page=2" in page.url
    assert page.locator(".queue-card").count() == min(12, total - 12)
    first_here = page.locator(".queue-card .position").first.inner_text()
    assert first_here == "13"
    loaded = _thumbnails(page)
    assert all(done and width > 0 for done, width, _ in loaded), loaded
    shot(page, "queue-page2")


def test_queue_of_a_reviewer_opens_the_viewer(demo, page):
    demo.log_in(page, "rita")
    page.goto(_queue_url(demo))

    cards = page.locator(".queue-card")
    assert cards.count() >= 1
    assert set(page.locator(".queue-card .reviewer").all_inner_texts()) == {"rita"}
    name = cards.first.locator(".image-link").inner_text()
    with page.expect_navigation():
        cards.first.locator(".image-link").click()
    assert "/review/" in page.url
    assert name in page.locator("h1").first.inner_text()
