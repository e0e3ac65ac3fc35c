"""A reviewer's day in the review viewer, in Chromium on the demo: from the queue to the
worst image, overlays and the disagreement map toggled by keyboard (without a request),
an instance selected from its row and from the canvas, flagged, its submission rejected
with a reason; on to the next image, one submission accepted by keyboard and made the
label. Every page is watched for console errors and failed requests (tests/browser/
conftest.py) and shot at 1280 and 800 px without sideways scrolling."""

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from scipy.ndimage import distance_transform_edt

from qc import masks
from qc.models import ImageLabel, InstanceFlag, Review
from qc.selectors.queue import queue_place
from qc.selectors.viewer import latest_submissions_of
from qc.selectors.workflow import review_queue
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REVIEWER = "rita"


def visible_layers(page) -> str:
    return page.locator("#stage").get_attribute("data-visible-layers")


def press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def interior_point(instance, height: int, width: int) -> tuple[int, int]:
    """The (x, y) pixel of the instance farthest from its edge."""
    crop, (x0, y0) = masks.rle_to_crop(
        masks.rle_from_string(instance.rle, height=height, width=width)
    )
    depth = distance_transform_edt(np.pad(crop, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(depth.argmax()), depth.shape)
    return x0 + int(col), y0 + int(row)


def click_image_pixel(page, x: int, y: int) -> None:
    """Click the canvas where the image's pixel (x, y) is drawn now."""
    view = page.evaluate("() => MaskQC.viewer.view")
    box = page.locator("#viewer-canvas").bounding_box()
    page.mouse.click(
        box["x"] + view["x"] + (x + 0.5) * view["scale"],
        box["y"] + view["y"] + (y + 0.5) * view["scale"],
    )


def test_reviewer_rejects_with_a_flag_then_accepts_and_labels(page, demo):
    reviewer = get_user_model().objects.get(username=REVIEWER)
    project = demo.project
    queue = list(review_queue(user=reviewer, project=project))
    assert len(queue) >= 2
    worst = queue[0]
    submissions = {s.task.annotator.username: s for s in latest_submissions_of(image=worst)}
    assert sorted(submissions) == ["anna", "ben", "cleo"]

    demo.log_in(page, REVIEWER)
    assert page.url == demo.page_url(reverse("review-queue", args=[project.slug]))
    with page.expect_navigation():
        page.locator("a.image-link").first.click()

    assert page.url == demo.page_url(reverse("review-viewer", args=[project.slug, worst.pk]))
    assert page.locator("h1").inner_text() == worst.name
    assert page.locator("#queue-place").inner_text() == f"1 of {len(queue)} in your queue"
    assert visible_layers(page) == "annotator-1 annotator-2 annotator-3"
    rows = page.locator("tr.instance")
    instances = sum(s.instances.count() for s in submissions.values())
    assert rows.count() == instances
    assert page.evaluate("() => MaskQC.viewer.decoded()") == instances
    shot(page, "review_viewer")

    # Toggling overlays asks the server nothing.
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.locator("#viewer-canvas").focus()
    press(page, "c", "d")
    assert visible_layers(page) == "annotator-1 annotator-2 annotator-3 consensus disagreement"
    press(page, "1", "3")
    assert visible_layers(page) == "annotator-2 consensus disagreement"
    legend = " ".join(page.locator("#disagreement-legend").inner_text().split())
    assert legend.endswith("darker where more drew them: 1 of 3, 2 of 3.")
    assert requests == []
    shot(page, "review_viewer-disagreement")
    press(page, "c", "d")
    assert visible_layers(page) == "annotator-2"

    # Zoom by keyboard and back to the whole image; the list of keys on "?".
    fitted = page.locator("#zoom-level").inner_text()
    press(page, "+", "+")
    assert page.evaluate("() => MaskQC.viewer.view.fitted") is False
    assert page.locator("#zoom-level").inner_text() != fitted
    press(page, "0")
    assert page.evaluate("() => MaskQC.viewer.view.fitted") is True
    assert page.locator("#shortcuts").get_attribute("open") is None
    press(page, "?")
    assert page.locator("#shortcuts").get_attribute("open") == ""
    assert page.locator("#shortcuts dl").inner_text().count("\n") >= 8

    # ben (annotator 2) draws loosely: select one of his instances from its row, then
    # another from the canvas.
    ben = submissions["ben"]
    first, chosen = sorted(ben.instances.all(), key=lambda i: -i.area)[:2]
    page.locator(f"#instance-{first.pk} td.biou").click()
    assert page.locator(f"#instance-{first.pk}").get_attribute("aria-selected") == "true"
    assert page.locator("#stage").get_attribute("data-selected") == str(first.pk)
    click_image_pixel(page, *interior_point(chosen, worst.height, worst.width))
    assert page.locator("#stage").get_attribute("data-selected") == str(chosen.pk)
    assert page.locator(f"#instance-{chosen.pk}").get_attribute("aria-selected") == "true"
    assert page.locator(f"#instance-{first.pk}").get_attribute("aria-selected") == "false"

    # Flag it, and reject ben's submission (r opens the selected instance's reject form).
    row = page.locator(f"#instance-{chosen.pk}")
    row.locator("input[name=flag]").check()
    row.locator("select").select_option("boundary_too_loose")
    form = page.locator(f"#decide-{ben.pk}")
    assert form.locator("[data-flag-count]").inner_text() == "1 instance flagged"
    page.locator("#viewer-canvas").focus()
    press(page, "r")
    assert form.locator("details[data-reject]").get_attribute("open") == ""
    form.locator("input[name=reasons][value=boundary_too_loose]").check()
    # Typing in the comment is not a shortcut ("d" would show the disagreement map).
    form.locator("textarea[name=comment]").press_sequentially("Follow the outer edge")
    form.locator("textarea[name=comment]").press_sequentially(" of the rim.")
    assert visible_layers(page) == "annotator-2"
    with page.expect_navigation():
        form.locator("button[value=reject]").click()

    assert page.locator(".messages li").all_inner_texts() == [
        f"Rejected ben's revision {ben.revision}, 1 instance flagged."
    ]
    card = page.locator(f"#submission-{ben.pk}")
    assert card.locator(".decision").inner_text() == "Rejected"
    assert card.locator(".reasons").inner_text() == "Boundary too loose"
    assert page.locator(f"#instance-{chosen.pk} td.flag").inner_text() == "⚑ Boundary too loose"
    review = Review.objects.get(submission=ben)
    assert (review.decision, review.reasons, review.comment, review.reviewer) == (
        "reject",
        ["boundary_too_loose"],
        "Follow the outer edge of the rim.",
        reviewer,
    )
    assert list(InstanceFlag.objects.filter(review=review).values_list("instance", "reason")) == [
        (chosen.pk, "boundary_too_loose")
    ]
    shot(page, "review_viewer-rejected")

    # The image went back for rework and left the queue; "next" still leads on.
    worst.refresh_from_db()
    following = queue_place(user=reviewer, image=worst).next
    assert following == queue[1].pk
    assert page.locator("#queue-place").inner_text() == (
        f"not in your queue · {len(queue) - 1} waiting"
    )
    with page.expect_navigation():
        press(page, "j")
    assert page.url == demo.page_url(reverse("review-viewer", args=[project.slug, following]))

    # Accept the first undecided submission by keyboard, then make it the label.
    image = queue[1]
    first_undecided = latest_submissions_of(image=image).first()
    who = first_undecided.task.annotator.username
    with page.expect_navigation():
        press(page, "a")
    assert page.locator(".messages li").all_inner_texts() == [
        f"Accepted {who}'s revision {first_undecided.revision}."
    ]
    assert Review.objects.get(submission=first_undecided).decision == "accept"
    page.locator(f"#label-form input[name=source][value='{first_undecided.pk}']").check()
    with page.expect_navigation():
        page.locator("#label-form button[type=submit]").click()

    # rita's review of that image is done: she is on the next image of her queue, or on
    # the queue when none is left.
    assert page.locator(".messages li").all_inner_texts() == [
        f"The label of {image.name} is {who}'s submission."
    ]
    if len(queue) > 2:
        landing = reverse("review-viewer", args=[project.slug, queue[2].pk])
    else:
        landing = reverse("review-queue", args=[project.slug])
    assert page.url == demo.page_url(landing)
    label = ImageLabel.objects.get(image=image)
    assert (label.submission, label.from_consensus, label.accepted_by) == (
        first_undecided,
        False,
        reviewer,
    )


def test_a_started_decision_is_not_lost_to_a_key_and_a_form_is_sent_once(page, demo):
    reviewer = get_user_model().objects.get(username=REVIEWER)
    queue = list(review_queue(user=reviewer, project=demo.project))
    worst, following = queue[0], queue[1]
    demo.log_in(page, REVIEWER)
    viewer = demo.page_url(reverse("review-viewer", args=[demo.project.slug, worst.pk]))
    page.goto(viewer)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.locator("tr.instance input[name=flag]").first.check()
    page.locator("#stage").click(position={"x": 5, "y": 5})
    press(page, "j")

    assert dialogs == ["Leave this image? The decision you started is not sent."]
    assert page.url == viewer
    # Arrows on a focused radio move the radio, they do not leave the image.
    page.locator("#label-form input[type=radio]").first.focus()
    press(page, "ArrowRight")
    assert page.url == viewer

    page.goto(demo.page_url(reverse("review-viewer", args=[demo.project.slug, following.pk])))
    with page.expect_navigation():
        sent = page.evaluate(
            """() => {
            const form = document.querySelector("form.decide");
            let count = 0;
            form.addEventListener("submit", (event) => { if (!event.defaultPrevented) count++; });
            form.requestSubmit(form.querySelector("[data-accept]"));
            form.requestSubmit(form.querySelector("[data-accept]"));
            return count;
        }"""
        )

    assert sent == 1
    assert Review.objects.filter(submission__task__image=following).count() == 1
