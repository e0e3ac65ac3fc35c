"""The review queue page and its thumbnails: who sees what, worst agreement first, the
permissions, the cards, the thumbnails' pictures and caching, and a fixed number of queries
whatever a page holds (its filters, counts and pages: test_queue_filters.py)."""

import io
import re

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image as PILImage

from projects.models import TaskStatus
from projects.services import guideline_version_create
from qc import masks, render
from qc.models import ImageAgreement, ReviewAssignment
from qc.services import InstanceInput, submission_create
from tests.factories import ImageFactory, TaskFactory

HEIGHT, WIDTH = 48, 64


def disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def queue_url(project, **params) -> str:
    url = reverse("review-queue", args=[project.slug])
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


def thumbnail_url(project, image) -> str:
    return reverse("image-thumbnail", args=[project.slug, image.pk])


def _image_in_review(project, annotator, pq):
    """An image whose one task is submitted (no submission row), with agreement ``pq``."""
    image = ImageFactory(project=project)
    TaskFactory(image=image, annotator=annotator, status=TaskStatus.SUBMITTED)
    if pq is not None:
        ImageAgreement.objects.create(image=image, annotators=2, pq=pq, consensus_method="majority")
    return image


def submitted(
    project, annotators, label_class, *, pq=None, radius=(8, 10), name=None, check_gate=True
):
    """An image every one of ``annotators`` submitted one disc for (radii in turn), with
    agreement ``pq``."""
    image = ImageFactory(
        project=project, width=WIDTH, height=HEIGHT, **({"name": name} if name else {})
    )
    for n, annotator in enumerate(annotators):
        task = TaskFactory(image=image, annotator=annotator)
        rle = disc(30, 24, radius[n % len(radius)])
        submission_create(
            task=task,
            actor=annotator,
            instances=[InstanceInput(label_class=label_class, rle=rle)],
            check_gate=check_gate,
        )
    if pq is not None:
        ImageAgreement.objects.create(
            image=image, annotators=len(annotators), pq=pq, mean_iou=pq, consensus_method="staple"
        )
    return image


def card_names(response) -> list[str]:
    return [card.image.name for card in response.context["queue"].cards]


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


# --- who sees what, in which order (the queue's one definition) -----------------------------


@pytest.mark.parametrize("count", [1, 3])
def test_review_queue_fixed_query_count(
    client, project, lead, annotator, other_annotator, bubble, django_assert_num_queries, count
):
    for i in range(count):
        image = submitted(project, [annotator, other_annotator], bubble, pq=0.5 + i / 10)
        ReviewAssignment.objects.create(image=image, reviewer=lead)
    client.force_login(lead)

    # session, user, project, membership, count, the page's images, their live tasks with
    # annotators, their latest submissions, and the filters' classes, annotators and versions
    with django_assert_num_queries(11):
        response = client.get(queue_url(project))

    assert len(response.context["queue"].cards) == count
    assert response.content.count(b'class="queue-card"') == count


def test_review_queue_lowest_agreement_first_and_unscored_last(client, project, lead, annotator):
    high = _image_in_review(project, annotator, pq=0.9)
    none = _image_in_review(project, annotator, pq=None)
    low = _image_in_review(project, annotator, pq=0.2)
    client.force_login(lead)

    response = client.get(queue_url(project))

    assert [card.image.pk for card in response.context["queue"].cards] == [
        low.pk,
        high.pk,
        none.pk,
    ]
    assert [card.position for card in response.context["queue"].cards] == [1, 2, 3]


def test_review_queue_reviewer_sees_only_assigned_images(client, project, reviewer, annotator):
    assigned = _image_in_review(project, annotator, pq=0.4)
    other = _image_in_review(project, annotator, pq=0.3)
    ReviewAssignment.objects.create(image=assigned, reviewer=reviewer)
    client.force_login(reviewer)

    response = client.get(queue_url(project))

    assert [card.image.pk for card in response.context["queue"].cards] == [assigned.pk]
    assert other.name.encode() not in response.content
    assert response.context["queue"].waiting == 1


def _waiting_line(response) -> str:
    text = response.content.decode().split('id="queue-count">')[1].split("<span")[0]
    return re.sub(r"<[^>]+>|\s+", lambda m: " " if m.group().isspace() else "", text).strip()


def test_the_count_says_your_review_to_a_reviewer_only(
    client, project, lead, admin_user, reviewer, annotator
):
    """Leads and admins review any image: the queue's images wait for review; a reviewer's
    are assigned to them and wait for their review."""
    ReviewAssignment.objects.create(
        image=_image_in_review(project, annotator, pq=0.4), reviewer=reviewer
    )
    _image_in_review(project, annotator, pq=0.3)
    said = {}
    for user in (lead, admin_user, reviewer):
        client.force_login(user)
        said[user.username] = _waiting_line(client.get(queue_url(project)))

    assert said == {
        "lead": "2 images wait for review.",
        "admin": "2 images wait for review.",
        "reviewer": "1 image waits for your review.",
    }


def test_review_queue_never_shows_own_work(client, project, lead, annotator):
    _image_in_review(project, lead, pq=0.1)
    client.force_login(lead)

    response = client.get(queue_url(project))

    assert response.context["queue"].cards == []
    assert b"Nothing waits for review." in response.content


# --- permissions ------------------------------------------------------------------------------


def test_outsider_gets_404_for_the_queue_and_a_thumbnail(client, project, outsider, annotator):
    image = _image_in_review(project, annotator, pq=0.5)
    client.force_login(outsider)

    for url in (queue_url(project), thumbnail_url(project, image)):
        response = client.get(url)
        assert response.status_code == 404
        assert project.name.encode() not in response.content


def test_anonymous_is_sent_to_log_in(client, project, annotator):
    image = _image_in_review(project, annotator, pq=0.5)

    for url in (queue_url(project), thumbnail_url(project, image)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_annotator_of_the_image_gets_403(client, project, annotator):
    image = _image_in_review(project, annotator, pq=0.5)
    client.force_login(annotator)

    assert client.get(queue_url(project)).status_code == 403
    assert client.get(thumbnail_url(project, image)).status_code == 403


def test_reviewer_not_assigned_gets_403_for_the_thumbnail(client, project, reviewer, annotator):
    image = _image_in_review(project, annotator, pq=0.5)
    client.force_login(reviewer)

    assert client.get(queue_url(project)).status_code == 200
    assert client.get(thumbnail_url(project, image)).status_code == 403
    ReviewAssignment.objects.create(image=image, reviewer=reviewer)
    assert client.get(thumbnail_url(project, image)).status_code == 200


def test_lead_who_annotated_the_image_gets_403_for_its_thumbnail(client, project, lead):
    image = _image_in_review(project, lead, pq=0.5)
    client.force_login(lead)

    assert client.get(thumbnail_url(project, image)).status_code == 403


def test_thumbnail_of_another_projects_image_is_404(client, project, lead, outsider):
    elsewhere = ImageFactory()
    client.force_login(lead)

    assert client.get(thumbnail_url(project, elsewhere)).status_code == 404
    url = reverse("image-thumbnail", args=[project.slug, 2**40])
    assert client.get(url).status_code == 404


def test_queue_and_thumbnail_answer_only_get(client, project, lead, annotator):
    image = _image_in_review(project, annotator, pq=0.5)
    client.force_login(lead)

    assert client.post(queue_url(project)).status_code == 405
    assert client.post(thumbnail_url(project, image)).status_code == 405


# --- the cards --------------------------------------------------------------------------------


def test_card_shows_scores_annotators_reviewer_violations_and_links(
    client, project, lead, reviewer, annotator, other_annotator, bubble
):
    guideline_version_create(
        project=project,
        title="Bubbles",
        body="x",
        author=lead,
        change_summary="Bubbles of at least 1000 px.",
        publish=True,
        rules=[
            {"rule": "min_area_px", "value": 1000, "severity": "block"},
            {"rule": "max_instances", "value": 0, "severity": "warn"},
        ],
    )
    image = submitted(
        project, [annotator, other_annotator], bubble, pq=0.4321, name="hot.png", check_gate=False
    )
    ReviewAssignment.objects.create(image=image, reviewer=reviewer)
    client.force_login(lead)

    response = client.get(queue_url(project))

    (card,) = response.context["queue"].cards
    assert (card.pq, card.mean_iou) == (0.4321, 0.4321)
    assert card.annotators == ["annotator", "other_annotator"]
    assert card.reviewer == "reviewer"
    assert (card.violations, card.blocking) == (4, 2)
    page = response.content.decode()
    assert ">0.43<" in page
    assert "annotator, other_annotator" in page
    assert "4 rule flags, 2 blocking" in page
    viewer = reverse("review-viewer", args=[project.slug, image.pk])
    assert f'href="{viewer}"' in page
    img = re.search(
        r"<img src=\"([^\"]+)\" width=\"(\d+)\" height=\"(\d+)\" loading=\"lazy\"", page
    )
    assert img is not None
    assert img.group(1) == f"{thumbnail_url(project, image)}?v={card.thumbnail_key}"
    assert (int(img.group(2)), int(img.group(3))) == (WIDTH, HEIGHT)


def test_card_without_agreement_or_reviewer_says_so(client, project, lead, annotator):
    _image_in_review(project, annotator, pq=None)
    client.force_login(lead)

    page = client.get(queue_url(project)).content.decode()

    assert "not assigned" in page
    assert "no rule flags" in page
    assert '<dd class="num pq">—</dd>' in page


# --- thumbnails -------------------------------------------------------------------------------


def _png(response) -> np.ndarray:
    assert response["Content-Type"] == "image/png"
    with PILImage.open(io.BytesIO(response.content)) as picture:
        return np.asarray(picture.convert("RGB"))


def test_thumbnail_draws_the_disagreement_on_a_grey_canvas(
    client, project, lead, annotator, other_annotator, bubble
):
    image = submitted(project, [annotator, other_annotator], bubble, pq=0.5, radius=(8, 12))
    client.force_login(lead)

    response = client.get(thumbnail_url(project, image))

    assert response.status_code == 200
    pixels = _png(response)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    expected = render.thumbnail_png(
        None,
        [[masks.rle_to_string(disc(30, 24, 8))], [masks.rle_to_string(disc(30, 24, 12))]],
        HEIGHT,
        WIDTH,
    )
    with PILImage.open(io.BytesIO(expected)) as picture:
        assert np.array_equal(pixels, np.asarray(picture))
    assert tuple(pixels[0, 0]) == (render.NEUTRAL_GREY,) * 3
    assert tuple(pixels[24, 30]) != tuple(pixels[24, 30 + 10])  # agreed inside, not in the ring


def test_thumbnail_of_a_large_image_is_at_most_240_px(
    client, project, lead, annotator, other_annotator, bubble
):
    image = ImageFactory(project=project, width=1000, height=500)
    for person in (annotator, other_annotator):
        TaskFactory(image=image, annotator=person, status=TaskStatus.SUBMITTED)
    client.force_login(lead)

    pixels = _png(client.get(thumbnail_url(project, image)))

    assert pixels.shape == (-(-500 // 5), 200, 3)


def test_thumbnail_uses_the_images_pixels(
    client, project, lead, annotator, other_annotator, bubble
):
    image = submitted(project, [annotator, other_annotator], bubble, pq=0.5)
    picture = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    picture[:, : WIDTH // 2] = 200
    buffer = io.BytesIO()
    PILImage.fromarray(picture).save(buffer, format="PNG")
    image.file.save("frame.png", ContentFile(buffer.getvalue()))
    client.force_login(lead)

    pixels = _png(client.get(thumbnail_url(project, image)))

    assert tuple(pixels[0, 0]) == (200, 200, 200)
    assert tuple(pixels[0, WIDTH - 1]) == (0, 0, 0)


def test_thumbnail_of_unreadable_pixels_is_drawn_on_grey(client, project, lead, annotator):
    image = _image_in_review(project, annotator, pq=0.5)
    image.file.save("broken.png", ContentFile(b"not an image"))
    client.force_login(lead)

    response = client.get(thumbnail_url(project, image))

    assert response.status_code == 200
    assert (_png(response) == render.NEUTRAL_GREY).all()


def test_thumbnail_is_private_with_an_etag_and_answers_304(
    client, project, lead, annotator, other_annotator, bubble
):
    image = submitted(project, [annotator, other_annotator], bubble, pq=0.5)
    client.force_login(lead)
    key = client.get(queue_url(project)).context["queue"].cards[0].thumbnail_key

    keyed = client.get(thumbnail_url(project, image) + f"?v={key}")
    plain = client.get(thumbnail_url(project, image))
    again = client.get(thumbnail_url(project, image), headers={"if-none-match": keyed["ETag"]})

    assert keyed["ETag"] == f'"{key}"' == plain["ETag"]
    assert keyed["Cache-Control"].startswith("private, max-age=")
    assert "immutable" in keyed["Cache-Control"]
    assert plain["Cache-Control"] == "private, no-cache"
    assert again.status_code == 304
    assert again.content == b""


def test_thumbnail_key_changes_with_a_new_submission_and_the_agreement(
    client, project, lead, annotator, other_annotator, bubble
):
    image = submitted(project, [annotator, other_annotator], bubble, pq=0.5)
    client.force_login(lead)

    def key() -> str:
        return client.get(thumbnail_url(project, image))["ETag"]

    first = key()
    assert key() == first
    ImageAgreement.objects.filter(image=image).get().save()  # recomputed: computed_at moves
    second = key()
    task = image.tasks.get(annotator=annotator)
    task.status = TaskStatus.REJECTED
    task.save(update_fields=["status"])
    submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(20, 20, 5))],
    )
    third = key()
    assert len({first, second, third}) == 3


def test_thumbnail_is_drawn_once_per_key(
    client, project, lead, annotator, other_annotator, bubble, django_assert_num_queries
):
    image = submitted(project, [annotator, other_annotator], bubble, pq=0.5)
    client.force_login(lead)
    client.get(thumbnail_url(project, image))

    # session, user, project, membership, image, latest submissions, whether the lead
    # annotated it: the masks are not read again
    with django_assert_num_queries(7):
        response = client.get(thumbnail_url(project, image))

    assert response.status_code == 200
