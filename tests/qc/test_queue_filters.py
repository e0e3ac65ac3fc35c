"""The review queue's filters: by annotator, class, guideline version and review state,
with the counts of what matches and of what waits; any parameter gives a page (a filter
that does not parse is left out and said); pages keep the filters; the empty states say
why; the filter form keeps the pq range the agreement dashboard opened it with."""

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from projects.models import Role, TaskStatus
from qc.models import Review, Submission
from qc.selectors.queue import ReviewState
from qc.services import InstanceInput, submission_create
from tests.factories import (
    GuidelineVersionFactory,
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    TaskFactory,
    UserFactory,
)
from tests.qc.test_queue_page import (
    HEIGHT,
    WIDTH,
    _image_in_review,
    card_names,
    disc,
    queue_url,
    submitted,
)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


# --- filters, counts and pages ----------------------------------------------------------------


@pytest.fixture
def three_annotators(project, annotator, other_annotator):
    third = UserFactory(username="third")
    MembershipFactory(project=project, user=third, role=Role.ANNOTATOR)
    return [annotator, other_annotator, third]


def test_filter_by_annotator_class_and_version_with_counts(
    client, project, lead, three_annotators, bubble
):
    anna, ben, third = three_annotators
    droplet = LabelClassFactory(project=project, name="droplet")
    both = submitted(project, [anna, ben], bubble, pq=0.1)
    with_third = submitted(project, [anna, third], droplet, pq=0.2)
    version = GuidelineVersionFactory(guideline__project=project, author=lead)
    Submission.objects.get(task__image=with_third, task__annotator=third).guideline_versions.add(
        version
    )
    client.force_login(lead)

    by_annotator = client.get(queue_url(project, annotator=ben.pk))
    by_class = client.get(queue_url(project, label_class=droplet.pk))
    by_version = client.get(queue_url(project, version=version.pk))
    together = client.get(queue_url(project, annotator=anna.pk, label_class=bubble.pk))

    assert card_names(by_annotator) == [both.name]
    assert card_names(by_class) == [with_third.name]
    assert card_names(by_version) == [with_third.name]
    assert card_names(together) == [both.name]
    queue = by_annotator.context["queue"]
    assert (queue.matching, queue.waiting) == (1, 2)
    text = by_annotator.content.decode()
    assert re.search(
        r'<strong id="matching-count">1</strong> of <strong id="waiting-count">2', text
    )
    assert f'<option value="{ben.pk}" selected>' in text
    assert "Clear filters" in text
    assert [u.username for u in queue.annotators] == ["annotator", "other_annotator", "third"]
    assert [c.name for c in queue.classes] == ["bubble", "droplet"]


def test_a_class_only_in_an_older_revision_does_not_match(
    client, project, lead, annotator, other_annotator, bubble
):
    droplet = LabelClassFactory(project=project, name="droplet")
    image = ImageFactory(project=project, width=WIDTH, height=HEIGHT)
    for person, label_class in ((annotator, droplet), (other_annotator, bubble)):
        task = TaskFactory(image=image, annotator=person)
        submission_create(
            task=task,
            actor=person,
            instances=[InstanceInput(label_class=label_class, rle=disc(30, 24, 8))],
        )
    task = image.tasks.get(annotator=annotator)
    task.status = TaskStatus.REJECTED
    task.save(update_fields=["status"])
    submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(30, 24, 8))],
    )
    client.force_login(lead)

    assert card_names(client.get(queue_url(project, label_class=droplet.pk))) == []
    assert card_names(client.get(queue_url(project, label_class=bubble.pk))) == [image.name]


def test_filter_by_review_state(client, project, lead, annotator, other_annotator, bubble):
    new = submitted(project, [annotator, other_annotator], bubble, pq=0.1)
    partly = submitted(project, [annotator, other_annotator], bubble, pq=0.2)
    done = submitted(project, [annotator, other_annotator], bubble, pq=0.3)
    for submission in Submission.objects.filter(task__image__in=[partly, done]):
        if submission.task.image_id == done.pk or submission.task.annotator_id == annotator.pk:
            Review.objects.create(submission=submission, reviewer=lead, decision="accept")
    reworked = submitted(project, [annotator, other_annotator], bubble, pq=0.4)
    first = Submission.objects.get(task__image=reworked, task__annotator=annotator)
    Review.objects.create(submission=first, reviewer=lead, decision="reject")
    Review.objects.create(
        submission=Submission.objects.get(task__image=reworked, task__annotator=other_annotator),
        reviewer=lead,
        decision="accept",
    )
    first.task.status = TaskStatus.REJECTED
    first.task.save(update_fields=["status"])
    submission_create(
        task=first.task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(30, 24, 9))],
    )
    client.force_login(lead)

    everything = client.get(queue_url(project))
    states = {card.image.pk: card.state for card in everything.context["queue"].cards}
    assert states == {
        new.pk: ReviewState.NEW,
        partly.pk: ReviewState.PARTLY,
        done.pk: ReviewState.LABEL,
        reworked.pk: ReviewState.RESUBMITTED,
    }
    for image, state in [(new, "new"), (partly, "partly_reviewed"), (done, "label_to_choose")]:
        assert card_names(client.get(queue_url(project, state=state))) == [image.name]
    resubmitted = client.get(queue_url(project, state="resubmitted"))
    assert card_names(resubmitted) == [reworked.name]
    assert "Resubmitted after rework" in resubmitted.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "label_class=abc",
        "annotator=-1",
        "version=99999999999999999999999",
        "state=bogus",
        "per=7",
        "page=abc",
        "page=99999999999999999999",
        "page=-3",
        "label_class=1&label_class=x",
        "annotator=%00",
    ],
)
def test_any_parameter_gives_a_page(client, project, lead, annotator, query):
    _image_in_review(project, annotator, pq=0.5)
    client.force_login(lead)

    response = client.get(queue_url(project) + "?" + query)

    assert response.status_code == 200
    assert response.context["queue"].waiting == 1


def test_a_filter_that_does_not_parse_is_left_out_and_said(client, project, lead, annotator):
    _image_in_review(project, annotator, pq=0.5)
    client.force_login(lead)

    response = client.get(queue_url(project, label_class="abc"))

    assert len(response.context["queue"].cards) == 1
    assert "Not a class; left out." in response.content.decode()


def test_pages_of_twelve_keep_the_filters(
    client, project, lead, annotator, other_annotator, bubble
):
    for i in range(14):
        submitted(project, [annotator, other_annotator], bubble, pq=i / 100)
    client.force_login(lead)

    first = client.get(queue_url(project, annotator=annotator.pk, per=12))
    queue = first.context["queue"]
    assert (len(queue.cards), queue.matching, queue.page.paginator.num_pages) == (12, 14, 2)
    next_link = re.search(r'id="next-page" href="([^"]+)"', first.content.decode()).group(1)
    next_link = next_link.replace("&amp;", "&")
    assert f"annotator={annotator.pk}" in next_link and "per=12" in next_link
    assert "page=2" in next_link

    second = client.get(reverse("review-queue", args=[project.slug]) + next_link)
    assert [card.position for card in second.context["queue"].cards] == [13, 14]
    assert "Page 2 of 2" in second.content.decode()
    assert len(client.get(queue_url(project)).context["queue"].cards) == 14


def test_empty_because_of_filters_offers_to_clear_them(
    client, project, lead, annotator, other_annotator, bubble
):
    submitted(project, [annotator, other_annotator], bubble, pq=0.3)
    client.force_login(lead)

    response = client.get(queue_url(project, state="label_to_choose"))

    page = response.content.decode()
    assert "No image matches these filters." in page
    assert "1 image waits without them." in page
    assert f'id="clear-filters-empty" href="{queue_url(project)}"' in page


def test_empty_queue_says_why_for_a_reviewer(client, project, reviewer):
    client.force_login(reviewer)

    page = client.get(queue_url(project)).content.decode()

    assert "Nothing waits for your review." in page
    assert "a lead has assigned its review to you" in page


# --- the filter form ----------------------------------------------------------------------------


def test_the_filter_form_keeps_a_pq_range(client, project, lead):
    client.force_login(lead)

    page = client.get(
        reverse("review-queue", args=[project.slug]), {"pq_min": "0.7", "pq_max": "0.75"}
    ).content.decode()

    form = page.split('id="queue-filters"')[1].split("</form>")[0]
    assert '<input type="hidden" name="pq_min" value="0.7">' in form
    assert '<input type="hidden" name="pq_max" value="0.75">' in form
    assert "from 0.70 below 0.75" in form
