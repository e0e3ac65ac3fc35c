"""The annotator's feedback pages (DESIGN §6 "Blind", §11): my reviews, one review drawn on
its image, and my style report with its weekly trend."""

import io
from datetime import UTC, datetime
from unittest import mock

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image as PILImage

from projects.models import Role, TaskStatus
from qc import masks
from qc.models import ImageAgreement
from qc.render import FLAGGED_RGB, OWN_RGB
from qc.selectors.feedback import FEEDBACK_PER_PAGE, WeekStyle, iso_week
from qc.services import (
    FlagInput,
    InstanceInput,
    image_label_send_back,
    image_label_set,
    review_assign,
    review_decide,
    submission_create,
)
from qc.services.agreement import agreement_update_for_image
from qc.style import (
    AnnotatorObservation,
    ImageStyle,
    PairOffsets,
    StyleReport,
    describe,
    style_from_json,
    style_reports,
    style_to_json,
)
from qc.trend_chart import trend_charts
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, style_report

H, W = 48, 64


def disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:H, :W]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def submit(task, discs, bubble):
    return submission_create(
        task=task,
        actor=task.annotator,
        instances=[InstanceInput(label_class=bubble, rle=disc(*d)) for d in discs],
    )


def decide(submission, reviewer, lead, decision="reject", reasons=(), comment="", flags=()):
    review_assign(image=submission.task.image, actor=lead, reviewer=reviewer)
    return review_decide(
        submission=submission,
        reviewer=reviewer,
        decision=decision,
        reasons=list(reasons),
        comment=comment,
        flags=list(flags),
    )


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


@pytest.fixture
def image(project):
    return ImageFactory(project=project, name="frame_a.png", width=W, height=H)


@pytest.fixture
def mine(image, annotator):
    return TaskFactory(image=image, annotator=annotator)


@pytest.fixture
def theirs(image, other_annotator):
    return TaskFactory(image=image, annotator=other_annotator)


@pytest.fixture
def rejected(mine, theirs, bubble, reviewer, lead):
    """The annotator's submission rejected with two flags on its second instance and one on
    its first; the other annotator's submission on the same image, rejected with words
    that must not leak."""
    own = submit(mine, [(12, 12, 5), (40, 24, 7)], bubble)
    other = submit(theirs, [(52, 38, 6)], bubble)
    first, second = own.instances.order_by("pk")
    decide(
        own,
        reviewer,
        lead,
        reasons=["boundary_too_loose", "missed_instance"],
        comment="Follow the rim.",
        flags=[
            FlagInput(second, "boundary_too_loose", "Too wide on the left"),
            FlagInput(first, "extra_instance"),
            FlagInput(second, "merged_instances"),
        ],
    )
    review_decide(
        submission=other,
        reviewer=reviewer,
        decision="reject",
        reasons=["wrong_class"],
        comment="SECRET-OTHER-COMMENT",
    )
    return own


# --- who may open what ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my-reviews", "my-style"])
def test_feedback_lists_outsider_gets_404(client, project, outsider, name):
    client.force_login(outsider)

    response = client.get(reverse(name, args=[project.slug]))

    assert response.status_code == 404
    assert project.name.encode() not in response.content


@pytest.mark.parametrize("who", ["lead", "reviewer", "admin_user"])
@pytest.mark.parametrize("name", ["my-reviews", "my-style"])
def test_feedback_lists_are_the_annotators_others_get_403(client, request, project, who, name):
    client.force_login(request.getfixturevalue(who))

    assert client.get(reverse(name, args=[project.slug])).status_code == 403


def test_feedback_lists_anonymous_go_to_login(client, project):
    response = client.get(reverse("my-reviews", args=[project.slug]))

    assert (response.status_code, response.url) == (302, "/login/?next=/p/bubbles/my/reviews/")


@pytest.mark.parametrize(
    "who,status",
    [
        ("annotator", 200),
        ("lead", 200),
        ("admin_user", 200),
        ("reviewer", 404),
        ("other_annotator", 404),
        ("outsider", 404),
    ],
)
@pytest.mark.parametrize("name", ["my-review", "my-review-picture"])
def test_one_review_is_for_its_annotator_and_managers(
    client, request, project, rejected, who, status, name
):
    client.force_login(request.getfixturevalue(who))

    response = client.get(reverse(name, args=[project.slug, rejected.pk]))

    assert response.status_code == status
    if status == 404:
        assert b"Follow the rim." not in response.content


@pytest.mark.parametrize("pk", ["0", "999999", "99999999999999999999999"])
def test_one_review_unknown_submission_is_404(client, project, annotator, pk):
    client.force_login(annotator)

    url = f"/p/{project.slug}/my/reviews/{pk}/"

    assert client.get(url).status_code == 404
    assert client.get(url + "picture.png").status_code == 404


def test_one_review_of_another_projects_submission_is_404(client, project, annotator, bubble):
    elsewhere = TaskFactory(annotator=annotator)
    MembershipFactory(project=elsewhere.image.project, user=annotator, role=Role.ANNOTATOR)
    submission = submission_create(task=elsewhere, actor=annotator, instances=[])
    client.force_login(annotator)

    response = client.get(reverse("my-review", args=[project.slug, submission.pk]))

    assert response.status_code == 404


def test_feedback_pages_refuse_post_without_error(client, project, annotator, rejected):
    client.force_login(annotator)

    for url in (
        reverse("my-reviews", args=[project.slug]),
        reverse("my-review", args=[project.slug, rejected.pk]),
        reverse("my-style", args=[project.slug]),
    ):
        assert client.post(url).status_code == 405


# --- my reviews -------------------------------------------------------------------------------


def test_my_reviews_shows_reasons_in_words_and_the_fix_first(
    client, project, annotator, rejected, bubble, reviewer, lead
):
    accepted_task = TaskFactory(
        image=ImageFactory(project=project, name="frame_b.png", width=W, height=H),
        annotator=annotator,
    )
    accepted = submit(accepted_task, [(20, 20, 6)], bubble)
    decide(accepted, reviewer, lead, decision="accept", comment="Clean work.")
    client.force_login(annotator)

    response = client.get(reverse("my-reviews", args=[project.slug]))

    items = list(response.context["page"])
    assert [(i.kind, i.image_name, i.decision, i.needs_fix) for i in items] == [
        ("review", "frame_a.png", "reject", True),
        ("review", "frame_b.png", "accept", False),
    ]
    first = items[0]
    assert (first.reasons, first.comment, first.by, first.flagged, first.task_status) == (
        ["Boundary too loose", "Missed instance"],
        "Follow the rim.",
        "reviewer",
        2,
        TaskStatus.REJECTED,
    )
    assert response.context["to_fix"] == 1
    body = response.content.decode()
    assert "Boundary too loose, Missed instance" in body
    assert reverse("task-submit", args=[project.slug, rejected.task_id]) in body
    assert reverse("my-review", args=[project.slug, rejected.pk]) in body
    assert body.count("/submit/") == 1  # only the rejected one is to resubmit
    assert "SECRET-OTHER-COMMENT" not in body
    assert "other_annotator" not in body


def test_my_reviews_a_fixed_rejection_no_longer_needs_a_fix(client, project, annotator, rejected):
    submit(rejected.task, [(12, 12, 5)], rejected.instances.first().label_class)
    client.force_login(annotator)

    response = client.get(reverse("my-reviews", args=[project.slug]))

    assert [i.needs_fix for i in response.context["page"]] == [False]
    assert response.context["to_fix"] == 0
    assert b"Needs your fix" not in response.content


def test_my_reviews_lists_send_backs_of_accepted_images(
    client, project, annotator, image, mine, bubble, reviewer, lead
):
    accepted = submit(mine, [(20, 20, 6)], bubble)
    decide(accepted, reviewer, lead, decision="accept")
    image_label_set(image=image, actor=reviewer, submission=accepted)
    image_label_send_back(
        image=image, actor=lead, reasons=["split_instance"], comment="One bubble, one outline."
    )
    client.force_login(annotator)

    response = client.get(reverse("my-reviews", args=[project.slug]))

    items = list(response.context["page"])
    assert [(i.kind, i.needs_fix, i.submission_id) for i in items] == [
        ("send_back", True, accepted.pk),
        ("review", False, accepted.pk),
    ]
    assert (items[0].reasons, items[0].comment, items[0].by) == (
        ["Split instance"],
        "One bubble, one outline.",
        "lead",
    )
    assert b"Sent back after acceptance" in response.content

    detail = client.get(reverse("my-review", args=[project.slug, accepted.pk]))

    assert [(s["by"], s["reasons"]) for s in detail.context["send_backs"]] == [
        ("lead", ["Split instance"])
    ]
    assert detail.context["needs_fix"] is True
    assert b"One bubble, one outline." in detail.content


@pytest.mark.parametrize("count", [1, 3])
def test_my_reviews_query_count_does_not_grow(
    client,
    project,
    annotator,
    other_annotator,
    bubble,
    reviewer,
    lead,
    django_assert_num_queries,
    count,
):
    for k in range(count):
        image = ImageFactory(project=project, width=W, height=H)
        submission = submit(TaskFactory(image=image, annotator=annotator), [(20, 20, 6)], bubble)
        flags = [FlagInput(submission.instances.get(), "boundary_too_tight")]
        decide(submission, reviewer, lead, reasons=["boundary_too_tight"], flags=flags)
        if k == 0:
            accepted_task = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
            accepted = submit(accepted_task, [], bubble)
            decide(accepted, reviewer, lead, decision="accept")
            image_label_set(image=accepted_task.image, actor=reviewer, submission=accepted)
            image_label_send_back(image=accepted_task.image, actor=lead, reasons=["other"])
    other = submit(
        TaskFactory(
            image=ImageFactory(project=project, width=W, height=H), annotator=other_annotator
        ),
        [],
        bubble,
    )
    decide(other, reviewer, lead, decision="accept")
    client.force_login(annotator)

    # session, user, project, membership, count, page's rows, reviews, send-backs, tasks to fix
    with django_assert_num_queries(9):
        response = client.get(reverse("my-reviews", args=[project.slug]))

    assert len(response.context["page"]) == count + 2


def test_my_reviews_pages_and_any_page_argument(client, project, annotator, bubble, reviewer, lead):
    for _ in range(FEEDBACK_PER_PAGE + 1):
        image = ImageFactory(project=project, width=W, height=H)
        submission = submit(TaskFactory(image=image, annotator=annotator), [], bubble)
        decide(submission, reviewer, lead, decision="accept")
    client.force_login(annotator)
    url = reverse("my-reviews", args=[project.slug])

    pages = {arg: client.get(url, {"page": arg}) for arg in ["1", "2", "999", "abc", "-1", "1e9"]}

    assert {arg: r.status_code for arg, r in pages.items()} == dict.fromkeys(pages, 200)
    assert {arg: r.context["page"].number for arg, r in pages.items()} == {
        "1": 1,
        "2": 2,
        "999": 2,
        "abc": 1,
        "-1": 2,
        "1e9": 1,
    }
    assert len(pages["2"].context["page"]) == 1
    assert b"Page 1 of 2" in pages["1"].content


def test_my_reviews_empty(client, project, annotator):
    client.force_login(annotator)

    response = client.get(reverse("my-reviews", args=[project.slug]))

    assert b"No feedback on your work yet" in response.content


# --- one review ------------------------------------------------------------------------------


def test_one_review_says_the_reasons_and_numbers_the_flags(client, project, annotator, rejected):
    client.force_login(annotator)

    response = client.get(reverse("my-review", args=[project.slug, rejected.pk]))

    first, second = rejected.instances.order_by("pk")
    flagged = response.context["flagged"]
    assert [(f.number, f.instance_id, f.reasons, f.notes) for f in flagged] == [
        (1, second.pk, ["Boundary too loose", "Merged instances"], ["Too wide on the left"]),
        (2, first.pk, ["Extra instance"], []),
    ]
    assert (flagged[0].area, flagged[0].bbox) == (
        second.area,
        (second.bbox_x, second.bbox_y, second.bbox_w, second.bbox_h),
    )
    assert response.context["reasons"] == ["Boundary too loose", "Missed instance"]
    assert response.context["needs_fix"] is True
    body = response.content.decode()
    assert "Boundary too loose, Missed instance" in body
    assert "Follow the rim." in body
    assert f"{second.area} px · box at x {second.bbox_x}, y {second.bbox_y}" in body
    assert reverse("my-review-picture", args=[project.slug, rejected.pk]) in body
    assert reverse("task-submit", args=[project.slug, rejected.task_id]) in body
    assert "imported without pixels" in body
    assert "SECRET-OTHER-COMMENT" not in body


def test_one_review_for_a_lead_names_the_annotator_without_a_resubmit(
    client, project, lead, rejected
):
    client.force_login(lead)

    response = client.get(reverse("my-review", args=[project.slug, rejected.pk]))

    assert b"Annotated by annotator" in response.content
    assert b"This task is back with annotator." in response.content
    assert b"back with you" not in response.content
    assert reverse("task-submit", args=[project.slug, rejected.task_id]).encode() not in (
        response.content
    )


def test_one_review_not_reviewed_yet(client, project, annotator, mine, bubble):
    submission = submit(mine, [(20, 20, 6)], bubble)
    client.force_login(annotator)

    response = client.get(reverse("my-review", args=[project.slug, submission.pk]))

    assert response.status_code == 200
    assert b"Not reviewed yet" in response.content


def test_one_review_older_revision_links_to_the_newer(client, project, annotator, rejected):
    newer = submit(rejected.task, [(12, 12, 5)], rejected.instances.first().label_class)
    client.force_login(annotator)

    response = client.get(reverse("my-review", args=[project.slug, rejected.pk]))

    assert response.context["needs_fix"] is False
    assert [(r["revision"], r["decision"]) for r in response.context["revisions"]] == [
        (1, "rejected"),
        (2, "not reviewed yet"),
    ]
    assert reverse("my-review", args=[project.slug, newer.pk]).encode() in response.content


@pytest.mark.parametrize("count", [1, 3])
def test_one_review_query_count_does_not_grow_with_flags(
    client, project, annotator, mine, bubble, reviewer, lead, django_assert_num_queries, count
):
    submission = submit(mine, [(8 + 14 * k, 20, 5) for k in range(3)], bubble)
    instances = list(submission.instances.order_by("pk"))[:count]
    decide(
        submission,
        reviewer,
        lead,
        reasons=["other"],
        flags=[FlagInput(i, "other") for i in instances],
    )
    client.force_login(annotator)

    # session, user, project, membership, submission, revisions, send-backs, flags
    with django_assert_num_queries(8):
        response = client.get(reverse("my-review", args=[project.slug, submission.pk]))

    assert len(response.context["flagged"]) == count


def _picture(response) -> np.ndarray:
    assert response["Content-Type"] == "image/png"
    return np.asarray(PILImage.open(io.BytesIO(response.content)).convert("RGB"))


def test_picture_draws_own_instances_and_flags_but_never_anothers_masks(
    client, project, annotator, rejected
):
    client.force_login(annotator)

    pixels = _picture(client.get(reverse("my-review-picture", args=[project.slug, rejected.pk])))

    assert pixels.shape == (H, W, 3)
    # Flagged instances are filled in vermillion over the grey canvas (their numbers, in
    # black boxes, sit at their top-left corners).
    fill = np.rint(128 * 0.55 + np.array(FLAGGED_RGB) * 0.45)
    assert tuple(pixels[24, 40]) == tuple(fill)
    assert (pixels == 0).all(axis=2).any()
    own = masks.rle_to_mask(disc(12, 12, 5)) | masks.rle_to_mask(disc(40, 24, 7))
    assert (pixels[own] != 128).any(axis=1).all()
    # The other annotator's disc at (52, 38) leaves the neutral canvas as it is.
    theirs = masks.rle_to_mask(disc(52, 38, 6)) & ~own
    assert (pixels[theirs] == 128).all()


def test_picture_outlines_unflagged_instances_thin_over_the_image_pixels(
    client, project, annotator, bubble, reviewer, lead
):
    grey = np.full((H, W), 200, dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(grey, mode="L").save(buffer, format="PNG")
    image = ImageFactory(
        project=project, width=W, height=H, file=ContentFile(buffer.getvalue(), name="f.png")
    )
    submission = submit(TaskFactory(image=image, annotator=annotator), [(20, 20, 8)], bubble)
    decide(submission, reviewer, lead, decision="accept")
    client.force_login(annotator)

    pixels = _picture(client.get(reverse("my-review-picture", args=[project.slug, submission.pk])))

    mask = masks.rle_to_mask(disc(20, 20, 8))
    edge = mask & ~np.pad(mask, 1)[2:, 1:-1] | mask & ~np.pad(mask, 1)[:-2, 1:-1]
    assert tuple(pixels[20, 20]) == (200, 200, 200)  # inside: no fill
    assert tuple(pixels[12, 20]) == OWN_RGB  # the top of the disc's edge
    assert edge[12, 20]
    assert tuple(pixels[0, 0]) == (200, 200, 200)


def test_picture_is_drawn_once_then_served_from_the_cache(
    client, project, annotator, rejected, django_assert_num_queries
):
    client.force_login(annotator)
    url = reverse("my-review-picture", args=[project.slug, rejected.pk])
    first = client.get(url)

    # session, user, project, membership, submission: neither instances nor flags are read
    with django_assert_num_queries(5):
        second = client.get(url)

    assert second.content == first.content
    assert second["Cache-Control"] == "private, max-age=3600"


# --- my style ----------------------------------------------------------------------------------


def _report(**changes) -> StyleReport:
    mine = {
        "annotator": "annotator",
        "recall_small": 0.6,
        "recall_medium": 0.95,
        "found": (3, 19, 4),
        "total": (5, 20, 4),
    }
    return style_report(**{**mine, **changes})


def test_describe_says_it_to_the_annotator():
    assert describe(_report(), noun="bubbles", person="you") == (
        "You draw 1.6 px outside the consensus edge (median of 412 bubbles); "
        "1.0 px wider than the team's typical annotator; "
        "you find 60 % of small, 95 % of medium and 100 % of large bubbles; 2 merges, 0 splits."
    )
    assert describe(
        _report(boundary_offset_vs_consensus_px=0.02, boundary_offset_px=None, reference="mixed"),
        person="you",
    ) == (
        "You draw on the reference edge (median of 412 instances); "
        "you find 60 % of small, 95 % of medium and 100 % of large instances; 2 merges, 0 splits."
    )
    assert (
        describe(
            _report(
                reference=None,
                recall_small=None,
                recall_medium=None,
                recall_large=None,
                boundary_offset_px=None,
            ),
            noun="bubbles",
            person="you",
        )
        == "None of your bubbles matched a reference yet; 2 merges, 0 splits."
    )


def _observation(name: str, *, offsets, found, total, merges=0, n=4, iou=3.2):
    return AnnotatorObservation(
        annotator=name,
        reference="consensus",
        area_ratios=tuple(1.0 + o / 10 for o in offsets),
        offsets=tuple(offsets),
        found=found,
        total=total,
        merges=merges,
        splits=0,
        n_own=n,
        n_ref=n,
        iou_sum=iou,
    )


def _stored_style(project, annotator, other_annotator, *, at, offsets, found, other_offsets):
    """An image both annotated, with stored observations; the annotator's latest revision
    submitted ``at``."""
    image = ImageFactory(project=project, width=W, height=H)
    mine = TaskFactory(image=image, annotator=annotator)
    TaskFactory(image=image, annotator=other_annotator)
    # submitted_at is stamped by the database layer's clock (and the row is immutable).
    with mock.patch("django.utils.timezone.now", return_value=at):
        submission_create(task=mine, actor=annotator, instances=[])
    style = ImageStyle(
        annotators=("annotator", "other_annotator", "third"),
        observations=(
            _observation("annotator", offsets=offsets, found=found, total=(2, 1, 1)),
            _observation(
                "other_annotator",
                offsets=other_offsets,
                found=(0, 0, 1),
                total=(2, 1, 1),
                merges=7,
                iou=1.1,
            ),
        ),
        pair_offsets=(PairOffsets("annotator", "other_annotator", tuple(offsets)),),
    )
    ImageAgreement.objects.create(
        image=image, annotators=3, consensus_method="mv", style=style_to_json(style)
    )
    return style


@pytest.fixture
def three_weeks(project, bubble, annotator, other_annotator):
    """Four images over three ISO weeks (two in the last), with the observations of each."""
    days = [
        datetime(2026, 3, 2, 9, tzinfo=UTC),  # 2026-W10
        datetime(2026, 3, 11, 9, tzinfo=UTC),  # 2026-W11
        datetime(2026, 3, 16, 9, tzinfo=UTC),  # 2026-W12
        datetime(2026, 3, 22, 23, tzinfo=UTC),  # 2026-W12 (Sunday)
    ]
    figures = [
        ([2.0, 1.8, 1.6], (0, 1, 1)),
        ([1.2, 1.0], (1, 1, 1)),
        ([0.4, 0.2, 0.3], (2, 1, 1)),
        ([0.1], (1, 0, 1)),
    ]
    styles = {}
    for at, (offsets, found) in zip(days, figures, strict=True):
        style = _stored_style(
            project,
            annotator,
            other_annotator,
            at=at,
            offsets=offsets,
            found=found,
            other_offsets=[-3.0],
        )
        styles.setdefault(iso_week(at), []).append(style)
    return styles


def test_my_style_weekly_trend_is_style_reports_of_each_weeks_observations(
    client, project, annotator, three_weeks
):
    client.force_login(annotator)

    response = client.get(reverse("my-style", args=[project.slug]))

    weeks = response.context["weeks"]
    assert [w.week for w in weeks] == ["2026-W10", "2026-W11", "2026-W12"]
    assert [w.report for w in weeks] == [
        style_reports(three_weeks[week])["annotator"]
        for week in ("2026-W10", "2026-W11", "2026-W12")
    ]
    everything = [s for week in sorted(three_weeks) for s in three_weeks[week]]
    report = style_reports(everything)["annotator"]
    assert response.context["report"] == report
    assert response.context["sentence"] == describe(report, noun="bubbles", person="you")
    rows = response.context["charts"]["rows"]
    assert [(r["week"], r["offset"], r["found"][0], r["pq"]) for r in rows] == [
        ("2026-W10", "+1.8 px", {"rate": "0 %", "counts": "0/2"}, "0.80"),
        ("2026-W11", "+1.1 px", {"rate": "50 %", "counts": "1/2"}, "0.80"),
        ("2026-W12", "+0.2 px", {"rate": "75 %", "counts": "3/4"}, "0.80"),
    ]
    body = response.content.decode()
    assert body.count('class="marker"') == 3 + 3 * 4  # offset, and found by size with pq
    assert "2026-W12: +0.2 px" in body


def test_my_style_shows_only_the_annotators_own_figures(
    client, project, annotator, other_annotator, three_weeks
):
    client.force_login(annotator)

    response = client.get(reverse("my-style", args=[project.slug]))

    body = response.content.decode()
    assert "other_annotator" not in body
    assert "third" not in body
    assert response.context["report"].annotator == "annotator"
    assert response.context["report"].merges == 0  # the other's 7 merges are theirs
    assert {w.report.annotator for w in response.context["weeks"]} == {"annotator"}
    assert response.context["sentence"].startswith(
        "You draw 1.0 px outside the consensus edge (median of 9 bubbles)"
    )


def test_my_style_of_a_real_comparison_in_words(
    client, project, annotator, other_annotator, image, mine, theirs, bubble
):
    submit(mine, [(20, 20, 8), (48, 30, 6)], bubble)
    submit(theirs, [(20, 20, 7), (48, 30, 6)], bubble)
    agreement = agreement_update_for_image(image_id=image.pk)
    client.force_login(annotator)

    response = client.get(reverse("my-style", args=[project.slug]))

    expected = style_reports([style_from_json(agreement.style)])["annotator"]
    assert response.context["report"] == expected
    assert response.context["sentence"] == describe(expected, noun="bubbles", person="you")
    assert response.context["sentence"].startswith("You draw ")
    assert "the other annotator" in response.context["sentence"]
    assert response.context["sentence"].encode() in response.content.replace(b"&#x27;", b"'")


def test_my_style_before_any_comparison(client, project, annotator, mine, bubble):
    submit(mine, [(20, 20, 8)], bubble)
    client.force_login(annotator)

    response = client.get(reverse("my-style", args=[project.slug]))

    assert response.context["report"] is None
    assert response.context["weeks"] == []
    assert b"No style report yet" in response.content


@pytest.mark.parametrize("count", [1, 3])
def test_my_style_query_count_does_not_grow(
    client, project, annotator, other_annotator, bubble, django_assert_num_queries, count
):
    for k in range(count):
        _stored_style(
            project,
            annotator,
            other_annotator,
            at=datetime(2026, 3, 2 + 7 * k, tzinfo=UTC),
            offsets=[1.0],
            found=(1, 1, 1),
            other_offsets=[0.0],
        )
    client.force_login(annotator)

    # session, user, project, membership, agreements, label classes, rule violations
    with django_assert_num_queries(7):
        response = client.get(reverse("my-style", args=[project.slug]))

    assert len(response.context["weeks"]) == count


def test_trend_chart_places_weeks_by_date_and_breaks_lines_without_data():
    weeks = [
        WeekStyle(week, _report(recall_small=small))
        for week, small in (("2026-W10", 0.5), ("2026-W11", None), ("2026-W13", 1.0))
    ]

    charts = trend_charts(weeks)

    offset, recall = charts["charts"]
    xs = [tick["x"] for tick in offset["x_ticks"]]
    assert [tick["label"] for tick in offset["x_ticks"]] == ["W10", "W11", "W13"]
    assert xs[2] - xs[1] == pytest.approx(2 * (xs[1] - xs[0]), abs=0.2)
    small = recall["series"][0]
    assert small["name"] == "Small found"
    assert small["path"].count("M") == 2  # a gap where week 11 found no small object
    assert [m["title"] for m in small["markers"]] == [
        "2026-W10: Small found 50 %",
        "2026-W13: Small found 100 %",
    ]
    assert [row["found"][0] for row in charts["rows"]] == [
        {"rate": "50 %", "counts": "3/5"},
        {"rate": "—", "counts": ""},
        {"rate": "100 %", "counts": "3/5"},
    ]


def test_picture_of_an_unreadable_image_file_is_drawn_on_the_grey_canvas(
    client, project, annotator, bubble, reviewer, lead
):
    image = ImageFactory(
        project=project, width=W, height=H, file=ContentFile(b"not a picture", name="f.png")
    )
    submission = submit(TaskFactory(image=image, annotator=annotator), [(20, 20, 8)], bubble)
    client.force_login(annotator)

    response = client.get(reverse("my-review-picture", args=[project.slug, submission.pk]))

    assert response.status_code == 200
    assert tuple(_picture(response)[0, 0]) == (128, 128, 128)
