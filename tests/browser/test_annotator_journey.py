"""The annotator's journey in Chromium, on the demo: the rejected work on My tasks, the gate
to the guideline's new version, acknowledging it, checking a fix and submitting it; then
the image is in its reviewer's queue again."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.urls import reverse
from scipy import ndimage

from projects.models import OPEN_TASK_STATUSES, Task
from projects.selectors import review_queue, unacknowledged_versions
from qc import masks
from qc.models import Review, Submission
from tests.browser.support import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANNOTATOR = "ben"  # the demo's strict reviewer rejects ben's loose outlines


def _fix(submission: Submission, path) -> int:
    """A COCO file of ``submission``'s instances drawn 1 px tighter (ben's outlines sit
    outside the rim); the number of instances."""
    image = submission.task.image
    annotations = []
    for number, instance in enumerate(submission.instances.order_by("pk"), start=1):
        rle = masks.rle_from_string(instance.rle, height=image.height, width=image.width)
        tighter = ndimage.binary_erosion(masks.rle_to_mask(rle))
        if not tighter.any():
            continue
        counts = masks.rle_from_mask(tighter)["counts"]
        annotations.append(
            {
                "id": number,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "segmentation": {
                    "size": [image.height, image.width],
                    "counts": counts.decode() if isinstance(counts, bytes) else counts,
                },
            }
        )
    path.write_text(
        json.dumps(
            {
                "images": [
                    {"id": 1, "file_name": image.name, "width": image.width, "height": image.height}
                ],
                "categories": [{"id": 1, "name": "bubble"}],
                "annotations": annotations,
            }
        )
    )
    return len(annotations)


def _message(page) -> str:
    return page.locator("ul.messages").inner_text().strip()


def test_annotator_acknowledges_the_guideline_and_a_fix_reaches_the_queue(demo, page, tmp_path):
    project = demo.project
    ben = get_user_model().objects.get(username=ANNOTATOR)
    # The precondition: the demo's v3 is out and ben has not read it (only anna has).
    assert [str(v) for v in unacknowledged_versions(user=ben, project=project)] == [
        "Bubble outlines v3"
    ]
    # A rejection of ben's where nobody else owes work on the image: his fix completes it.
    others_open = Task.objects.filter(
        image=OuterRef("submission__task__image"), status__in=OPEN_TASK_STATUSES
    ).exclude(annotator=ben)
    review = (
        Review.objects.filter(
            decision=Review.Decision.REJECT,
            submission__task__annotator=ben,
            submission__task__image__project=project,
            submission__task__status="rejected",
        )
        .exclude(Exists(others_open))
        .select_related("submission__task__image", "reviewer")
        .order_by("submission__task__image__name")
        .first()
    )
    assert review is not None, "the demo rejects some of ben's work on images others finished"
    task, image = review.submission.task, review.submission.task.image
    assert image not in review_queue(user=review.reviewer, project=project)
    instances = _fix(review.submission, tmp_path / "fix.json")

    demo.log_in(page, ANNOTATOR)

    page.wait_for_url(f"**{reverse('my-tasks', args=[project.slug])}")
    assert "Bubble outlines v3" in page.locator("#guideline-notice").inner_text()
    row = page.locator(f"#tasks tr[data-task='{task.pk}']")
    assert row.locator("td").nth(1).inner_text() == "Rejected"
    assert "Boundary too loose" in row.locator(".feedback").inner_text()
    assert row.get_by_role("link", name="Read the review").get_attribute("href") == reverse(
        "my-review", args=[project.slug, review.submission.pk]
    )
    rejected = page.locator("#status-counts a[data-status='rejected'] .n").inner_text()
    assert int(rejected) == page.locator("#tasks tr.status-rejected").count() >= 1
    shot(page, "annotator_tasks")

    row.get_by_role("link", name="Upload a fix").click()
    page.wait_for_url(re.compile(r".*/guideline/\?next=.*"))
    assert _message(page) == (
        "Read and acknowledge Bubble outlines v3 first: you submit only under the current "
        "guideline."
    )
    current = page.locator("article.guideline")
    assert current.locator(".guideline-head .badge").first.inner_text() == "v3"
    rules = current.locator(".rules .rule-list > li").all_inner_texts()
    assert "blocks submission Only these classes: bubble" in [" ".join(r.split()) for r in rules]
    assert current.locator("details.old-version").count() == 2
    shot(page, "annotator_guideline")

    current.get_by_role("button", name="I have read v3: acknowledge").click()
    page.wait_for_url(f"**{reverse('task-submit', args=[project.slug, task.pk])}")
    assert _message(page) == "You acknowledged Bubble outlines v3."
    assert unacknowledged_versions(user=ben, project=project) == []
    assert "Boundary too loose" in page.locator("#feedback").inner_text()
    assert page.locator("#feedback .comment").inner_text() == review.comment

    # A file with a class the project does not have is refused, naming file, image, object.
    wrong = json.loads((tmp_path / "fix.json").read_text())
    wrong["categories"][0]["name"] = "droplet"
    (tmp_path / "droplets.json").write_text(json.dumps(wrong))
    page.set_input_files("#id_file", str(tmp_path / "droplets.json"))
    page.get_by_role("button", name="Check").click()
    page.locator("#check-result").wait_for()
    assert page.locator("#check-result h2").inner_text() == "Cannot submit this file"
    assert page.locator("#check-error").inner_text() == (
        f"droplets.json: image {image.name}: object annotations[0] (id 1): class 'droplet' "
        "is not in project pool-boiling; its classes: bubble"
    )
    assert page.locator("#submit-form").count() == 0
    shot(page, "annotator_check_refused")

    page.set_input_files("#id_file", str(tmp_path / "fix.json"))
    assert page.locator("input[name=format][value=coco]").is_checked()
    page.get_by_role("button", name="Check").click()
    result = page.locator("#check-result")
    result.wait_for()
    assert result.locator("#instance-total").inner_text() == str(instances)
    assert result.locator("#by-class tbody tr").all_inner_texts() == [f"bubble\t{instances}"]
    assert result.locator("tr.violation-block").count() == 0
    assert Submission.objects.filter(task=task).count() == 1  # the check stored nothing
    shot(page, "annotator_check")

    page.get_by_role("button", name="Submit fix.json").click()
    page.wait_for_url(f"**{reverse('my-tasks', args=[project.slug])}")
    assert _message(page).startswith(f"Submitted revision 2 of {image.name}, {instances} instances")
    row = page.locator(f"#tasks tr[data-task='{task.pk}']")
    assert row.locator("td").nth(1).inner_text() == "Submitted"
    assert row.locator("td.num").inner_text() == "2"
    shot(page, "annotator_submitted")

    latest = Submission.objects.filter(task=task).order_by("-revision").first()
    assert (latest.revision, latest.instances.count()) == (2, instances)
    assert image in review_queue(user=review.reviewer, project=project)

    page.locator("header form button").click()  # log out
    page.wait_for_url("**/login/")
    demo.log_in(page, review.reviewer.username)
    page.goto(demo.page_url(reverse("review-queue", args=[project.slug])))
    card = page.locator(f".queue-card[data-image='{image.pk}']")
    assert card.locator(".image-link").inner_text() == image.name
    assert ANNOTATOR in card.locator(".annotators").inner_text()
