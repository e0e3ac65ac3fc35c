"""The annotator's pages of projects: my tasks with their feedback, claim next, the
guideline with its rules in words, examples and the acknowledgement."""

import datetime

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from projects.models import Acknowledgement, GuidelineExample, TaskStatus
from projects.rules import RULE_NAMES, RULES, rule_in_words, rules_in_words
from projects.services import guideline_acknowledge, guideline_version_create
from qc.models import Review, SendBack, Submission
from tests.factories import GuidelineVersionFactory, ImageFactory, ProjectFactory, TaskFactory


def _rejected(project, annotator, *, name=None, reasons=("boundary_too_loose",), comment=""):
    """A task of ``annotator`` rejected by a review of its one submission."""
    kwargs = {"project": project} if name is None else {"project": project, "name": name}
    task = TaskFactory(image=ImageFactory(**kwargs), annotator=annotator, status="rejected")
    submission = Submission.objects.create(task=task, revision=1)
    Review.objects.create(
        submission=submission,
        reviewer=project.memberships.get(role="lead").user,
        decision="reject",
        reasons=list(reasons),
        comment=comment,
    )
    return task, submission


@pytest.fixture
def published(project, lead):
    """v1 and v2 of one guideline, v2 with rules and a change summary."""
    guideline_version_create(
        project=project,
        title="Bubble outlines",
        body="# Outlines\n\nFollow the **rim**.",
        author=lead,
        change_summary="First version.",
        publish=True,
    )
    return guideline_version_create(
        project=project,
        title="Bubble outlines",
        body="# Outlines\n\nFollow the **outer edge** of the rim.\n\n<script>alert(1)</script>",
        author=lead,
        change_summary="The outer edge, not the middle of the rim.",
        rules=[
            {"rule": "min_area_px", "value": 20, "severity": "warn"},
            {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
        ],
        publish=True,
    )


# --- my tasks -------------------------------------------------------------------------


def test_my_tasks_shows_feedback_of_rejected_tasks_with_a_link_to_the_review(
    client, project, lead, annotator
):
    task, submission = _rejected(
        project,
        annotator,
        name="frame_07.png",
        reasons=("boundary_too_loose", "missed_instance"),
        comment="Follow the rim.",
    )
    TaskFactory(image=ImageFactory(project=project, name="frame_08.png"), annotator=annotator)
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    rows = response.context["tasks"]
    assert [(t.image.name, t.status) for t in rows] == [
        ("frame_07.png", "rejected"),
        ("frame_08.png", "assigned"),
    ]
    assert rows[0].feedback["reasons"] == ["Boundary too loose", "Missed instance"]
    assert rows[0].feedback["comment"] == "Follow the rim."
    assert rows[1].feedback is None
    html = response.content.decode()
    assert reverse("my-review", args=[project.slug, submission.pk]) in html
    assert "Boundary too loose" in html and "Missed instance" in html
    assert reverse("task-submit", args=[project.slug, task.pk]) in html
    assert response.context["feedback_waiting"] == 1


def test_my_tasks_shows_the_reasons_of_a_send_back(client, project, lead, annotator):
    task = TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="rejected")
    submission = Submission.objects.create(task=task, revision=1)
    Review.objects.create(submission=submission, reviewer=lead, decision="accept")
    send_back = SendBack.objects.create(
        image=task.image, actor=lead, reasons=["wrong_class"], comment="Those are droplets."
    )
    send_back.tasks.set([task])
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    feedback = response.context["tasks"][0].feedback
    assert (feedback["reasons"], feedback["comment"], feedback["sent_back"]) == (
        ["Wrong class"],
        "Those are droplets.",
        True,
    )
    assert "Sent back" in response.content.decode()


def test_my_tasks_counts_by_status_and_filters_by_one(client, project, lead, annotator):
    for status in ["assigned", "assigned", "submitted", "accepted"]:
        TaskFactory(image=ImageFactory(project=project), annotator=annotator, status=status)
    _rejected(project, annotator)
    client.force_login(annotator)

    everything = client.get(reverse("my-tasks", args=[project.slug]))
    assigned = client.get(reverse("my-tasks", args=[project.slug]), {"status": "assigned"})
    nonsense = client.get(reverse("my-tasks", args=[project.slug]), {"status": "<b>"})

    assert {key: n for key, _, n in everything.context["counts"]} == {
        "assigned": 2,
        "in_progress": 0,
        "submitted": 1,
        "accepted": 1,
        "rejected": 1,
    }
    assert everything.context["claimable"] == 2
    assert [t.status for t in assigned.context["tasks"]] == ["assigned", "assigned"]
    assert {key: n for key, _, n in assigned.context["counts"]}["submitted"] == 1
    assert (nonsense.status_code, len(nonsense.context["tasks"])) == (200, 5)


def test_my_tasks_marks_open_tasks_past_their_due_date(client, project, annotator):
    today = timezone.localdate()
    late = TaskFactory(
        image=ImageFactory(project=project, name="late.png"),
        annotator=annotator,
        due_date=today - datetime.timedelta(days=1),
    )
    TaskFactory(
        image=ImageFactory(project=project, name="done.png"),
        annotator=annotator,
        due_date=today - datetime.timedelta(days=1),
        status="submitted",
    )
    TaskFactory(
        image=ImageFactory(project=project, name="soon.png"),
        annotator=annotator,
        due_date=today + datetime.timedelta(days=1),
    )
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    assert {t.image.name: t.overdue for t in response.context["tasks"]} == {
        "late.png": True,
        "soon.png": False,
        "done.png": False,
    }
    assert late.pk == response.context["tasks"][0].pk
    assert response.content.decode().count(">overdue<") == 1


def test_my_tasks_asks_for_the_acknowledgement_of_a_new_version(
    client, project, annotator, published
):
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    assert [str(v) for v in response.context["unacknowledged"]] == ["Bubble outlines v2"]
    assert "read and acknowledge" in response.content.decode()


def test_my_tasks_never_names_another_annotators_task(
    client, project, lead, annotator, other_annotator
):
    _rejected(project, other_annotator, name="theirs.png", comment="Secret feedback.")
    client.force_login(annotator)

    response = client.get(reverse("my-tasks", args=[project.slug]))

    assert response.context["tasks"] == []
    assert b"theirs.png" not in response.content
    assert b"Secret feedback" not in response.content


@pytest.mark.parametrize("count", [1, 3])
def test_my_tasks_query_count_does_not_grow_with_tasks(
    client, project, lead, annotator, published, django_assert_num_queries, count
):
    for _ in range(count):
        task, _ = _rejected(project, annotator)
        send_back = SendBack.objects.create(image=task.image, actor=lead, reasons=["other"])
        send_back.tasks.set([task])
        TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    client.force_login(annotator)

    # session, user, project, membership; tasks, their submissions, reviews, send-backs;
    # the current guideline versions, the user's acknowledgements of them
    with django_assert_num_queries(10):
        response = client.get(reverse("my-tasks", args=[project.slug]))

    assert len(response.context["tasks"]) == 2 * count


# --- claim next -----------------------------------------------------------------------


def test_claim_next_starts_the_soonest_due_task_and_opens_its_submit_page(
    client, project, annotator
):
    today = timezone.localdate()
    TaskFactory(
        image=ImageFactory(project=project), annotator=annotator, due_date=today.replace(day=28)
    )
    soonest = TaskFactory(
        image=ImageFactory(project=project, name="first.png"),
        annotator=annotator,
        due_date=today - datetime.timedelta(days=3),
    )
    client.force_login(annotator)

    response = client.post(reverse("task-claim-next", args=[project.slug]), follow=True)

    assert response.redirect_chain == [
        (reverse("task-submit", args=[project.slug, soonest.pk]), 302)
    ]
    soonest.refresh_from_db()
    assert soonest.status == TaskStatus.IN_PROGRESS
    assert [str(m) for m in response.context["messages"]] == [
        "first.png is yours now: upload your masks when ready."
    ]


def test_claim_next_with_nothing_to_claim_says_so(client, project, annotator):
    TaskFactory(image=ImageFactory(project=project), annotator=annotator, status="in_progress")
    client.force_login(annotator)

    response = client.post(reverse("task-claim-next", args=[project.slug]), follow=True)

    assert response.redirect_chain == [(reverse("my-tasks", args=[project.slug]), 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "No task is waiting to be claimed: every task assigned to you is started or done. "
        "Your lead assigns new ones."
    ]


@pytest.mark.parametrize("who,status", [("reviewer", 403), ("lead", 403), ("outsider", 404)])
def test_claim_next_is_for_annotators_of_the_project(client, request, project, who, status):
    client.force_login(request.getfixturevalue(who))

    response = client.post(reverse("task-claim-next", args=[project.slug]))

    assert response.status_code == status


def test_claim_next_takes_post_only_and_a_login(client, project, annotator):
    url = reverse("task-claim-next", args=[project.slug])

    anonymous = client.post(url)
    client.force_login(annotator)
    get = client.get(url)

    assert (anonymous.status_code, anonymous.url) == (302, f"/login/?next={url}")
    assert get.status_code == 405


# --- guideline ------------------------------------------------------------------------


def test_every_rule_has_a_name():
    assert set(RULE_NAMES) == set(RULES)


def test_rules_in_words():
    assert [
        rule_in_words({"rule": name, "value": value, "severity": "warn"})
        for name, value in [
            ("min_area_px", 20),
            ("allow_holes", False),
            ("allow_holes", True),
            ("max_overlap", 0.05),
            ("max_overlap", 0),
            ("max_components", 1),
            ("max_components", 3),
            ("allowed_classes", ["bubble", "droplet"]),
            ("min_instances", 1),
            ("max_instances", 200),
        ]
    ] == [
        "Every instance covers at least 20 px",
        "Instances have no holes",
        "Instances may have holes",
        "Two instances overlap by at most 5 % of the smaller one",
        "Instances do not overlap",
        "Every instance is one connected piece",
        "Every instance has at most 3 pieces",
        "Only these classes: bubble, droplet",
        "At least 1 instance per image",
        "At most 200 instances per image",
    ]
    assert rules_in_words(
        [
            {"rule": "min_area_px", "value": 20, "severity": "warn"},
            {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
        ]
    ) == [
        {
            "text": "Only these classes: bubble",
            "severity": "block",
            "severity_words": "blocks submission",
        },
        {
            "text": "Every instance covers at least 20 px",
            "severity": "warn",
            "severity_words": "warning",
        },
    ]


def test_guideline_shows_the_current_version_rules_and_older_ones(
    client, project, annotator, published
):
    client.force_login(annotator)

    response = client.get(reverse("guideline", args=[project.slug]))

    html = response.content.decode()
    [entry] = response.context["guidelines"]
    assert (entry["current"].number, [v.number for v in entry["older"]]) == (2, [1])
    assert "<strong>outer edge</strong>" in html
    assert "<script>" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert "blocks submission</span> Only these classes: bubble" in html
    assert "warning</span> Every instance covers at least 20 px" in html
    assert "What changed: The outer edge, not the middle of the rim." in html
    assert "v1 · published" in html
    assert 'action="' + reverse("guideline-acknowledge", args=[project.slug, published.pk]) in html


def test_guideline_after_acknowledging_says_when(client, project, annotator, published):
    guideline_acknowledge(version=published, user=annotator)
    acknowledged_at = Acknowledgement.objects.get(user=annotator, version=published).acknowledged_at
    client.force_login(annotator)

    response = client.get(reverse("guideline", args=[project.slug]))

    html = response.content.decode()
    when = timezone.localtime(acknowledged_at).strftime("%-d %b %Y, %H:%M")
    assert f"You acknowledged v2 on {when}." in html
    assert "guideline-acknowledge" not in html and "/acknowledge/" not in html


@pytest.mark.parametrize("who", ["reviewer", "lead", "admin_user"])
def test_guideline_is_read_by_reviewers_and_leads_without_an_acknowledge_button(
    client, request, project, published, who
):
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse("guideline", args=[project.slug]))

    assert response.status_code == 200
    assert response.context["may_acknowledge"] is False
    assert b"/acknowledge/" not in response.content
    assert b"<strong>outer edge</strong>" in response.content


def test_guideline_outsider_404_anonymous_to_login(client, project, outsider, published):
    url = reverse("guideline", args=[project.slug])

    anonymous = client.get(url)
    client.force_login(outsider)
    stranger = client.get(url)

    assert (anonymous.status_code, anonymous.url) == (302, f"/login/?next={url}")
    assert stranger.status_code == 404
    assert b"outer edge" not in stranger.content


def test_guideline_shows_no_draft(client, project, lead, annotator, published):
    guideline_version_create(
        project=project, title="Bubble outlines", body="Draft: *secret* plan.", author=lead
    )
    client.force_login(annotator)

    response = client.get(reverse("guideline", args=[project.slug]))

    assert response.context["guidelines"][0]["current"].number == 2
    assert b"secret" not in response.content


@pytest.mark.parametrize("count", [1, 3])
def test_guideline_query_count_does_not_grow_with_guidelines(
    client, project, lead, annotator, django_assert_num_queries, count
):
    for k in range(count):
        for number in (1, 2):
            version = guideline_version_create(
                project=project,
                title=f"G{k}",
                body="Text.",
                author=lead,
                change_summary=f"Version {number}.",
                publish=True,
            )
            GuidelineExample.objects.create(
                version=version, image=ImageFactory(project=project), caption=f"ex {number}"
            )
    client.force_login(annotator)

    # session, user, project, membership; versions, their examples with images,
    # the user's acknowledgements
    with django_assert_num_queries(7):
        response = client.get(reverse("guideline", args=[project.slug]))

    assert len(response.context["guidelines"]) == count


# --- acknowledge ----------------------------------------------------------------------


def test_acknowledge_returns_to_the_page_the_gate_came_from(client, project, annotator, published):
    client.force_login(annotator)
    back = reverse("my-tasks", args=[project.slug]) + "?status=rejected"

    response = client.post(
        reverse("guideline-acknowledge", args=[project.slug, published.pk]),
        {"next": back},
        follow=True,
    )

    assert response.redirect_chain == [(back, 302)]
    assert Acknowledgement.objects.filter(user=annotator, version=published).count() == 1
    assert [str(m) for m in response.context["messages"]] == [
        "You acknowledged Bubble outlines v2."
    ]


def test_acknowledge_keeps_next_while_another_version_waits(
    client, project, lead, annotator, published
):
    other = guideline_version_create(
        project=project,
        title="Safety",
        body="Gloves.",
        author=lead,
        change_summary="First version.",
        publish=True,
    )
    client.force_login(annotator)
    back = reverse("my-tasks", args=[project.slug])

    response = client.post(
        reverse("guideline-acknowledge", args=[project.slug, published.pk]), {"next": back}
    )

    assert (
        response.url
        == reverse("guideline", args=[project.slug]) + "?next=%2Fp%2Fbubbles%2Ftasks%2F"
    )
    response = client.post(
        reverse("guideline-acknowledge", args=[project.slug, other.pk]), {"next": back}
    )
    assert response.url == back


@pytest.mark.parametrize(
    "target", ["https://evil.example/steal", "//evil.example/", "javascript:alert(1)"]
)
def test_acknowledge_ignores_a_next_off_this_site(client, project, annotator, published, target):
    client.force_login(annotator)

    response = client.post(
        reverse("guideline-acknowledge", args=[project.slug, published.pk]), {"next": target}
    )

    assert response.url == reverse("guideline", args=[project.slug])


@pytest.mark.parametrize("who,status", [("reviewer", 403), ("lead", 403), ("outsider", 404)])
def test_acknowledge_is_for_annotators(client, request, project, published, who, status):
    client.force_login(request.getfixturevalue(who))

    response = client.post(reverse("guideline-acknowledge", args=[project.slug, published.pk]))

    assert response.status_code == status
    assert Acknowledgement.objects.filter(version=published).count() == 0


def test_acknowledge_of_a_draft_or_another_projects_version_is_refused(
    client, project, lead, annotator, published
):
    draft = guideline_version_create(
        project=project, title="Bubble outlines", body="x", author=lead
    )
    elsewhere = GuidelineVersionFactory(published_at=timezone.now())
    client.force_login(annotator)

    refused = client.post(
        reverse("guideline-acknowledge", args=[project.slug, draft.pk]), follow=True
    )
    foreign = client.post(reverse("guideline-acknowledge", args=[project.slug, elsewhere.pk]))
    get = client.get(reverse("guideline-acknowledge", args=[project.slug, published.pk]))

    assert [str(m) for m in refused.context["messages"]] == [
        "Bubble outlines v3 is not published yet."
    ]
    assert (foreign.status_code, get.status_code) == (404, 405)
    assert Acknowledgement.objects.count() == 0


# --- examples -------------------------------------------------------------------------


def _example(version, *, pixels=b"\x89PNG example"):
    image = ImageFactory(project=version.guideline.project, name="example.png")
    if pixels is not None:
        image.file.save("example.png", ContentFile(pixels))
    return GuidelineExample.objects.create(version=version, image=image, caption="Rim included")


@pytest.mark.parametrize("who", ["annotator", "reviewer", "lead"])
def test_guideline_example_sends_the_pixels_to_members(client, request, project, published, who):
    example = _example(published)
    client.force_login(request.getfixturevalue(who))

    page = client.get(reverse("guideline", args=[project.slug]))
    response = client.get(reverse("guideline-example", args=[project.slug, example.pk]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG example"
    assert not response.get("Content-Disposition", "").startswith("attachment")
    assert reverse("guideline-example", args=[project.slug, example.pk]) in page.content.decode()
    assert "Rim included" in page.content.decode()


def test_guideline_example_hidden_from_outsiders_and_for_drafts(
    client, project, lead, annotator, outsider, published
):
    example = _example(published)
    draft = guideline_version_create(
        project=project, title="Bubble outlines", body="x", author=lead
    )
    draft_example = GuidelineExample.objects.create(version=draft, image=example.image)
    other_project = ProjectFactory(slug="droplets")
    url = reverse("guideline-example", args=[project.slug, example.pk])

    client.force_login(outsider)
    stranger = client.get(url)
    client.force_login(annotator)
    drafted = client.get(reverse("guideline-example", args=[project.slug, draft_example.pk]))
    wrong_project = client.get(reverse("guideline-example", args=[other_project.slug, example.pk]))
    missing = client.get(reverse("guideline-example", args=[project.slug, example.pk + 1000]))
    client.force_login(lead)
    lead_draft = client.get(reverse("guideline-example", args=[project.slug, draft_example.pk]))

    assert [r.status_code for r in (stranger, drafted, wrong_project, missing)] == [404] * 4
    assert lead_draft.status_code == 200


def test_guideline_example_without_pixels_is_404_and_described(
    client, project, annotator, published
):
    example = _example(published, pixels=None)
    client.force_login(annotator)

    response = client.get(reverse("guideline-example", args=[project.slug, example.pk]))
    page = client.get(reverse("guideline", args=[project.slug]))

    assert response.status_code == 404
    assert "64×48 px, no pixels stored" in page.content.decode()
