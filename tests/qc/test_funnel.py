"""The work dashboard (the funnel): images by QC state and tasks by status, each count
linking to the list behind it; throughput per day with its CSV; the review backlog by
reviewer, oldest waiting first; overdue tasks; and a fixed number of queries."""

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from projects.models import TaskStatus
from qc.models import ImageLabel, ImageLabelHistory, Review, ReviewAssignment, Submission
from qc.selectors.funnel import funnel_page, throughput
from tests.factories import ImageFactory, TaskFactory, UserFactory


def funnel_url(project, query: str = "") -> str:
    return reverse("project-funnel", args=[project.slug]) + query


def csv_url(project, query: str = "") -> str:
    return reverse("project-funnel-csv", args=[project.slug]) + query


def at_day(days_ago: int, hour: int = 12) -> datetime:
    """Noon (or ``hour``) of the local day ``days_ago`` days before today."""
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime.combine(day, time(hour)))


@contextmanager
def clock(when: datetime | None) -> Iterator[None]:
    """Rows made inside are stamped ``when`` (now when None), as the demo replays time:
    submissions cannot be changed once made."""
    if when is None:
        yield
        return
    with mock.patch.object(timezone, "now", lambda: when):
        yield


def submit(task, *, when=None, revision=1) -> Submission:
    """A submission row of ``task`` (made ``when``), the task submitted."""
    with clock(when):
        submission = Submission.objects.create(task=task, revision=revision)
    task.status = TaskStatus.SUBMITTED
    task.save(update_fields=["status"])
    return submission


def in_review(project, annotators, *, when=None, reviewer=None, name=None):
    """An image every one of ``annotators`` submitted (``when``), open with ``reviewer``."""
    image = ImageFactory(project=project, **({"name": name} if name else {}))
    for annotator in annotators:
        submit(TaskFactory(image=image, annotator=annotator), when=when)
    if reviewer is not None:
        ReviewAssignment.objects.create(image=image, reviewer=reviewer)
    return image


def decide(submission, reviewer, decision, when=None) -> Review:
    with clock(when):
        return Review.objects.create(submission=submission, reviewer=reviewer, decision=decision)


@pytest.fixture
def one_of_each(project, annotator, other_annotator, lead):
    """One image in each QC state: unassigned, annotating (one task open, one submitted),
    in review, needs rework (a task rejected) and accepted (a label)."""
    ImageFactory(project=project, name="unassigned.png")
    annotating = ImageFactory(project=project, name="annotating.png")
    TaskFactory(image=annotating, annotator=annotator)
    submit(TaskFactory(image=annotating, annotator=other_annotator))
    in_review(project, [annotator, other_annotator], name="review.png")
    rework = ImageFactory(project=project, name="rework.png")
    TaskFactory(image=rework, annotator=annotator, status=TaskStatus.REJECTED)
    accepted = ImageFactory(project=project, name="accepted.png")
    TaskFactory(image=accepted, annotator=annotator, status=TaskStatus.ACCEPTED)
    ImageLabel.objects.create(image=accepted, accepted_by=lead, from_consensus=True)


def bars(response, chart: str) -> dict[str, tuple[int, str | None]]:
    """{key: (count, href)} of the bars of ``chart`` as the template got them."""
    return {
        bar["key"]: (bar["count"], bar["href"] or None) for bar in response.context[chart]["bars"]
    }


# --- the funnel's counts and their links ------------------------------------------------------


def test_funnel_counts_each_image_once_by_state_and_tasks_by_status(
    client, project, lead, one_of_each
):
    client.force_login(lead)

    response = client.get(funnel_url(project))

    assert response.status_code == 200
    images = bars(response, "image_chart")
    assert {key: n for key, (n, _) in images.items()} == {
        "unassigned": 1,
        "annotating": 1,
        "in_review": 1,
        "needs_rework": 1,
        "accepted": 1,
    }
    assert response.context["images_total"] == 5
    tasks = {key: n for key, (n, _) in bars(response, "task_chart").items()}
    assert tasks == {
        "assigned": 1,
        "in_progress": 0,
        "submitted": 3,
        "accepted": 1,
        "rejected": 1,
        "cancelled": 0,
    }
    assert response.context["tasks_total"] == 6


def test_funnel_links_every_count_of_a_lead_to_its_filtered_list(
    client, project, lead, one_of_each
):
    client.force_login(lead)

    response = client.get(funnel_url(project))

    images = bars(response, "image_chart")
    assert images["needs_rework"][1] == "/p/bubbles/images/?state=needs_rework"
    assert {href for _, href in images.values()} == {
        f"/p/bubbles/images/?state={state}"
        for state in ("unassigned", "annotating", "in_review", "needs_rework", "accepted")
    }
    tasks = bars(response, "task_chart")
    assert tasks["rejected"][1] == "/p/bubbles/assignment/tasks/?status=rejected"
    assert {href for _, href in tasks.values()} == {
        f"/p/bubbles/assignment/tasks/?status={status}" for status in TaskStatus.values
    }
    html = response.content.decode()
    assert 'href="/p/bubbles/images/?state=accepted"' in html
    assert 'id="stat-overdue" href="/p/bubbles/assignment/tasks/?overdue=1"' in html
    assert 'id="backlog-count" href="/p/bubbles/images/?state=in_review">1</a>' in html
    assert '<a id="backlog-queue" href="/p/bubbles/review/">1 in your review queue</a>' in html


def test_funnel_of_a_reviewer_links_only_to_the_review_queue(
    client, project, reviewer, one_of_each
):
    client.force_login(reviewer)

    response = client.get(funnel_url(project))

    assert response.status_code == 200
    images = bars(response, "image_chart")
    assert images["in_review"] == (1, None)  # every image in review, not the reviewer's
    assert {href for _, href in images.values()} == {None}
    assert {href for _, href in bars(response, "task_chart").values()} == {None}
    assert b'<a id="backlog-queue" href="/p/bubbles/review/">0 in your review queue</a>' in (
        response.content
    )
    assert b"/images/?state=" not in response.content
    assert b"/assignment/tasks/" not in response.content


def test_funnel_is_refused_to_annotators_and_hidden_from_outsiders(
    client, project, annotator, outsider
):
    client.force_login(annotator)
    assert client.get(funnel_url(project)).status_code == 403
    assert client.get(csv_url(project)).status_code == 403
    client.force_login(outsider)
    assert client.get(funnel_url(project)).status_code == 404
    assert client.get(csv_url(project)).status_code == 404


def test_funnel_refuses_writes(client, project, lead):
    client.force_login(lead)

    assert client.post(funnel_url(project)).status_code == 405
    assert client.post(csv_url(project)).status_code == 405


# --- throughput --------------------------------------------------------------------------------


def test_throughput_counts_submissions_reviews_and_labels_by_local_day(
    project, lead, reviewer, annotator, other_annotator
):
    image = ImageFactory(project=project)
    first = submit(TaskFactory(image=image, annotator=annotator), when=at_day(3))
    second = submit(TaskFactory(image=image, annotator=other_annotator), when=at_day(3, hour=1))
    submit(TaskFactory(annotator=annotator), when=at_day(1))  # another project: not counted
    submit(TaskFactory(image=ImageFactory(project=project), annotator=annotator), when=at_day(40))
    decide(first, reviewer, Review.Decision.ACCEPT, when=at_day(2))
    decide(second, reviewer, Review.Decision.REJECT, when=at_day(2, hour=23))
    label = ImageLabel.objects.create(image=image, accepted_by=reviewer, from_consensus=True)
    ImageLabel.objects.filter(pk=label.pk).update(accepted_at=at_day(0, hour=0))
    ImageLabelHistory.objects.create(
        image=image, label=label, from_consensus=True, accepted_at=at_day(2), replaced_by=lead
    )

    days = throughput(project=project, weeks=4)

    assert len(days) == 28
    assert days[-1].day == timezone.localdate()
    assert days[0].day == timezone.localdate() - timedelta(days=27)
    by_day = {(timezone.localdate() - d.day).days: d for d in days}
    assert (by_day[3].submissions, by_day[3].reviews) == (2, 0)
    assert (by_day[2].reviews, by_day[2].accepted, by_day[2].rejected) == (2, 1, 1)
    assert (by_day[2].labels, by_day[0].labels) == (1, 1)
    assert sum(d.submissions for d in days) == 2  # the one 40 days ago is out of the window
    assert by_day[1].submissions == 0


def test_throughput_csv_has_one_row_a_day_as_the_table(client, project, lead, annotator):
    submit(TaskFactory(image=ImageFactory(project=project), annotator=annotator), when=at_day(5))
    client.force_login(lead)

    response = client.get(csv_url(project, "?weeks=8"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="bubbles-throughput-8w.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "day",
        "submissions",
        "reviews_decided",
        "reviews_accepted",
        "reviews_rejected",
        "labels_accepted",
    ]
    assert len(rows) == 1 + 56
    five_days_ago = (timezone.localdate() - timedelta(days=5)).isoformat()
    assert [row for row in rows[1:] if row[1] != "0"] == [[five_days_ago, "1", "0", "0", "0", "0"]]


@pytest.mark.parametrize("weeks", ["", "3", "x", "99999999999999999999"])
def test_funnel_weeks_not_offered_show_four(client, project, lead, weeks):
    client.force_login(lead)

    page = client.get(funnel_url(project, f"?weeks={weeks}"))
    table = client.get(csv_url(project, f"?weeks={weeks}"))

    assert page.status_code == 200
    assert len(page.context["days"]) == 28
    assert table.status_code == 200
    assert len(table.content.decode().strip().splitlines()) == 1 + 28


# --- the review backlog and overdue tasks ------------------------------------------------------


def test_backlog_by_reviewer_oldest_waiting_first(
    project, lead, reviewer, annotator, other_annotator
):
    second = UserFactory(username="second_reviewer")
    in_review(project, [annotator], when=at_day(2), reviewer=reviewer, name="r-new.png")
    in_review(project, [annotator], when=at_day(9), reviewer=second, name="s-old.png")
    in_review(project, [annotator], when=at_day(4), reviewer=second, name="s-mid.png")
    unassigned = in_review(project, [annotator], when=at_day(6), name="nobody.png")
    # Waiting since its newest submission: the second annotator's, a day later.
    submit(TaskFactory(image=unassigned, annotator=other_annotator), when=at_day(5))
    decided = in_review(project, [annotator], when=at_day(20), reviewer=reviewer, name="done.png")
    ImageLabel.objects.create(image=decided, accepted_by=reviewer, from_consensus=True)

    backlog = funnel_page(user=reviewer, project=project)["backlog"]

    assert [(row.reviewer, row.waiting, row.oldest) for row in backlog["by_reviewer"]] == [
        ("second_reviewer", 2, at_day(9)),
        (None, 1, at_day(5)),
        ("reviewer", 1, at_day(2)),
    ]
    assert backlog["total"] == 4
    assert backlog["oldest_since"] == at_day(9)
    assert [(image.name, image.may_open) for image in backlog["oldest"]] == [
        ("s-old.png", False),
        ("nobody.png", False),
        ("s-mid.png", False),
        ("r-new.png", True),
    ]
    assert all(
        image.may_open
        for image in funnel_page(user=lead, project=project, may_open_all=True)["backlog"]["oldest"]
    )


def test_backlog_of_a_reviewer_counts_every_image_and_links_only_their_queue(
    client, project, reviewer, annotator, other_annotator
):
    """Two images wait for review, one assigned to the reviewer: the page says 2, links
    "1 in your review queue" to the queue, which shows that one; no number of all the
    images in review links to the queue."""
    mine = in_review(project, [annotator], when=at_day(1), reviewer=reviewer, name="mine.png")
    in_review(project, [other_annotator], when=at_day(2), reviewer=UserFactory(), name="b.png")
    client.force_login(reviewer)

    response = client.get(funnel_url(project))
    queue = client.get(reverse("review-queue", args=[project.slug])).context["queue"]

    html = response.content.decode()
    assert response.context["backlog"]["total"] == 2
    assert '<span class="number" id="backlog-count">2</span>' in html
    assert '<a id="backlog-queue" href="/p/bubbles/review/">1 in your review queue</a>' in html
    assert '<a href="/p/bubbles/review/" id="backlog-in-queue">1 of them in your' in html
    assert '<span id="backlog-total">2</span>' in html
    assert queue.waiting == 1
    assert [card.image for card in queue.cards] == [mine]
    assert bars(response, "image_chart")["in_review"] == (2, None)
    assert ">2</a>" not in html


def test_backlog_of_a_lead_links_every_image_in_review_and_their_own_queue(
    client, project, lead, annotator
):
    """The lead's queue leaves out the image the lead annotated; the count of all opens the
    images list of that state, which holds both."""
    in_review(project, [annotator], when=at_day(1), name="theirs.png")
    in_review(project, [lead], when=at_day(2), name="lead-drew.png")
    client.force_login(lead)

    html = client.get(funnel_url(project)).content.decode()
    listed = client.get("/p/bubbles/images/?state=in_review").context["listing"].matching
    queued = client.get(reverse("review-queue", args=[project.slug])).context["queue"].waiting

    assert 'id="backlog-count" href="/p/bubbles/images/?state=in_review">2</a>' in html
    assert '<a href="/p/bubbles/images/?state=in_review" id="backlog-total">2</a>' in html
    assert '<a id="backlog-queue" href="/p/bubbles/review/">1 in your review queue</a>' in html
    assert (listed, queued) == (2, 1)


def test_backlog_links_images_to_the_viewer_only_where_the_user_may_review(
    client, project, reviewer, annotator
):
    mine = in_review(project, [annotator], when=at_day(1), reviewer=reviewer, name="mine.png")
    other = in_review(
        project, [annotator], when=at_day(2), reviewer=UserFactory(), name="theirs.png"
    )
    client.force_login(reviewer)

    response = client.get(funnel_url(project))

    html = response.content.decode()
    assert f'href="/p/bubbles/review/{mine.pk}/"' in html
    assert f"/p/bubbles/review/{other.pk}/" not in html
    assert "theirs.png" in html


def test_overdue_counts_open_tasks_past_their_due_date(client, project, lead, annotator):
    today = timezone.localdate()
    late = TaskFactory(
        image=ImageFactory(project=project, name="late.png"),
        annotator=annotator,
        due_date=today - timedelta(days=3),
    )
    TaskFactory(
        image=ImageFactory(project=project, name="rework.png"),
        annotator=annotator,
        status=TaskStatus.REJECTED,
        due_date=today - timedelta(days=1),
    )
    for status, due in [
        (TaskStatus.SUBMITTED, today - timedelta(days=5)),
        (TaskStatus.CANCELLED, today - timedelta(days=5)),
        (TaskStatus.ASSIGNED, today),
        (TaskStatus.ASSIGNED, None),
    ]:
        TaskFactory(
            image=ImageFactory(project=project), annotator=annotator, status=status, due_date=due
        )
    client.force_login(lead)

    response = client.get(funnel_url(project))

    overdue = response.context["overdue"]
    assert overdue["total"] == 2
    assert [(t.image, t.days_late, t.status) for t in overdue["shown"]] == [
        ("late.png", 3, "Assigned"),
        ("rework.png", 1, "Rejected"),
    ]
    assert late.pk == overdue["shown"][0].pk
    assert (
        b'<a href="/p/bubbles/assignment/tasks/?overdue=1" id="overdue-count">2</a>'
        in response.content
    )


def test_funnel_of_an_empty_project_says_why_it_is_empty(client, project, lead):
    client.force_login(lead)

    response = client.get(funnel_url(project))

    assert response.status_code == 200
    assert b'id="backlog-empty"' in response.content
    assert b'id="overdue-empty"' in response.content
    assert response.context["backlog"]["total"] == 0


# --- queries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 3])
def test_funnel_fixed_query_count(client, project, lead, reviewer, annotator, count):
    # session, user, project, role; images by state, tasks by status; submissions, accepted
    # and rejected reviews, labels and replaced labels by day; backlog by reviewer, the
    # oldest waiting, the user's queue; overdue count and shown
    expected = 16
    for n in range(count):
        image = in_review(project, [annotator], when=at_day(n), reviewer=reviewer)
        decide(image.tasks.get().submissions.get(), reviewer, Review.Decision.REJECT)
        TaskFactory(
            image=ImageFactory(project=project),
            annotator=annotator,
            due_date=timezone.localdate() - timedelta(days=n + 1),
        )
    client.force_login(lead)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(funnel_url(project))

    assert response.status_code == 200
    assert response.context["overdue"]["total"] == count
    assert len(queries.captured_queries) == expected, [q["sql"] for q in queries.captured_queries]
