"""The rows of the role matrix for the pages of reviewers and annotators, and the site's own
(home, login, logout)."""

from typing import Any

from projects.models import GuidelineVersion, Task, TaskStatus
from projects.services import guideline_acknowledge
from qc.models import ImageLabel, Review
from tests.pages.matrix import (
    ANNOTATORS_ONLY,
    EVERY_MEMBER,
    FEEDBACK,
    REVIEWERS_ONLY,
    STAFF,
    Args,
    Case,
    guideline_example,
    guideline_version,
    image_of_others,
    image_reviewed_elsewhere,
    label_image,
    others_reviewed,
    others_task,
    own_reviewed,
    own_task,
    review_image,
    review_submission,
    statuses,
    visible_image,
)


def _acknowledge_all(user: Any) -> None:
    for version in GuidelineVersion.objects.filter(published_at__isnull=False):
        guideline_acknowledge(version=version, user=user)


def _claimed(args: Args) -> bool:
    return Task.objects.filter(status=TaskStatus.IN_PROGRESS).exists()


def _acknowledged(args: Args) -> bool:
    return GuidelineVersion.objects.get(pk=args[0]).acknowledgements.exists()


def _decided(args: Args) -> bool:
    return Review.objects.filter(submission_id=args[1]).exists()


def _labelled(args: Args) -> bool:
    return ImageLabel.objects.filter(image_id=args[0]).exists()


ROWS = [
    Case(
        "home",
        statuses(admin=200, lead=302, reviewer=302, annotator=302, outsider=302),
    ),
    Case("login", statuses(**STAFF, reviewer=200, annotator=200, outsider=200, anonymous=200)),
    Case(
        "logout",
        statuses(admin=302, lead=302, reviewer=302, annotator=302, outsider=302, anonymous=302),
        method="POST",
        page=False,
    ),
    Case("project-overview", REVIEWERS_ONLY),
    Case("my-tasks", ANNOTATORS_ONLY),
    Case(
        "task-claim-next",
        statuses(admin=403, lead=403, reviewer=403, annotator=302),
        method="POST",
        changed=_claimed,
        page=False,
    ),
    Case("guideline", EVERY_MEMBER),
    Case(
        "guideline-acknowledge",
        statuses(admin=403, lead=403, reviewer=403, annotator=302),
        target=guideline_version,
        method="POST",
        changed=_acknowledged,
        page=False,
    ),
    Case("guideline-example", EVERY_MEMBER, target=guideline_example, page=False),
    Case("review-queue", REVIEWERS_ONLY),
    Case("image-thumbnail", REVIEWERS_ONLY, target=review_image, subject="reviewer", page=False),
    Case(
        "image-thumbnail",
        statuses(**STAFF, reviewer=403, annotator=403),
        target=image_reviewed_elsewhere,
        subject="reviewer",
        page=False,
        variant="another reviewer's",
    ),
    Case("review-viewer", REVIEWERS_ONLY, target=review_image, subject="reviewer"),
    Case(
        "review-viewer",
        statuses(**STAFF, reviewer=403, annotator=403),
        target=image_reviewed_elsewhere,
        subject="reviewer",
        variant="another reviewer's",
    ),
    Case("image-pixels", EVERY_MEMBER, target=visible_image, page=False),
    Case(
        "image-pixels",
        statuses(**STAFF, reviewer=200, annotator=404),
        target=image_of_others,
        page=False,
        variant="no task on it",
    ),
    Case(
        "review-decide",
        statuses(admin=302, lead=302, reviewer=302, annotator=403),
        target=review_submission,
        subject="reviewer",
        method="POST",
        data={"decision": "accept"},
        changed=_decided,
        page=False,
    ),
    Case(
        "review-label",
        statuses(admin=302, lead=302, reviewer=302, annotator=403),
        target=label_image,
        subject="reviewer",
        method="POST",
        data={"source": "consensus"},
        changed=_labelled,
        page=False,
    ),
    Case("task-submit", ANNOTATORS_ONLY, target=own_task, prepare=_acknowledge_all),
    Case(
        "task-submit",
        statuses(admin=403, lead=403, reviewer=403, annotator=302),
        target=own_task,
        variant="guideline not acknowledged",
    ),
    Case(
        "task-submit",
        statuses(admin=403, lead=403, reviewer=403, annotator=404),
        target=others_task,
        variant="another annotator's",
    ),
    Case("my-reviews", ANNOTATORS_ONLY),
    Case("my-review", FEEDBACK, target=own_reviewed),
    Case(
        "my-review",
        statuses(**STAFF, reviewer=404, annotator=404),
        target=others_reviewed,
        variant="another annotator's",
    ),
    Case("my-review-picture", FEEDBACK, target=own_reviewed, page=False),
    Case(
        "my-review-picture",
        statuses(**STAFF, reviewer=404, annotator=404),
        target=others_reviewed,
        page=False,
        variant="another annotator's",
    ),
    Case("my-style", ANNOTATORS_ONLY),
]
