"""The review viewer (DESIGN §11): who may open it and its pixels, what it shows (the
measures against pycocotools, the groups, the queue's order), its actions (accept, reject
with flags, the label) and its fixed number of queries."""

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.urls import reverse

from projects.models import Role, TaskStatus
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc.agreement import boundary_width, instance_features
from qc.models import ConsensusInstance, ImageAgreement, ImageLabel, InstanceFlag, Review
from qc.selectors.viewer import (
    compute_metrics,
    disagreement_levels,
    latest_submissions_of,
    metrics_key,
    review_viewer,
    viewer_image,
)
from qc.services import (
    FlagInput,
    InstanceInput,
    review_assign,
    review_decide,
    submission_create,
)
from qc.services.agreement import agreement_update_for_image
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory

SIZE = 40


def square(x: int, y: int, side: int) -> dict:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y : y + side, x : x + side] = True
    return masks.rle_from_mask(mask)


# Each annotator's squares (x, y, side): the first two match across annotators (the
# second less well), the third of the first annotator is theirs alone.
SHAPES = [
    [(2, 2, 10), (20, 20, 12), (2, 28, 6)],
    [(3, 2, 10), (22, 21, 12)],
    [(2, 3, 10), (19, 22, 11)],
]


@pytest.fixture(autouse=True)
def empty_cache():
    # The measures and the rendered table are cached by ids, which another test's
    # rolled-back rows may have used too.
    cache.clear()


@pytest.fixture
def third_annotator(project):
    user = UserFactory(username="third_annotator")
    MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    return user


def make_image(
    project, bubble, annotators, *, reviewer=None, name=None, shapes=SHAPES, pixels=True
):
    """An image with one submission per annotator (their ``shapes``), its agreement, and
    its review assigned to ``reviewer``."""
    extra = {"name": name} if name else {}
    image = ImageFactory(project=project, width=SIZE, height=SIZE, **extra)
    if pixels:
        image.file.save("frame.png", ContentFile(b"\x89PNG pixels"), save=True)
    for annotator, drawn in zip(annotators, shapes, strict=False):
        submission_create(
            task=TaskFactory(image=image, annotator=annotator),
            actor=annotator,
            instances=[InstanceInput(label_class=bubble, rle=square(*s)) for s in drawn],
        )
    agreement_update_for_image(image_id=image.pk)
    if reviewer is not None:
        review_assign(image=image, actor=None, reviewer=reviewer)
    return image


@pytest.fixture
def annotators(annotator, other_annotator, third_annotator):
    return [annotator, other_annotator, third_annotator]


@pytest.fixture
def image(project, bubble, annotators, reviewer):
    return make_image(project, bubble, annotators, reviewer=reviewer)


def viewer_url(image) -> str:
    return reverse("review-viewer", args=[image.project.slug, image.pk])


def decide_url(image, submission) -> str:
    return reverse("review-decide", args=[image.project.slug, image.pk, submission.pk])


def label_url(image) -> str:
    return reverse("review-label", args=[image.project.slug, image.pk])


def submissions_of(image) -> dict:
    return {s.task.annotator.username: s for s in latest_submissions_of(image=image)}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def login(client, request, who):
    user = request.getfixturevalue("admin_user" if who == "admin" else who)
    client.force_login(user)
    return user


# --------------------------------------------------------------------------- who


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", 200),
        ("lead", 200),
        ("reviewer", 200),
        ("other_reviewer", 403),
        ("annotator", 403),
        ("outsider", 404),
    ],
)
def test_viewer_opens_for_who_may_review_the_image(client, request, image, who, expected):
    if who == "other_reviewer":
        user = UserFactory(username="other_reviewer")
        MembershipFactory(project=image.project, user=user, role=Role.REVIEWER)
        client.force_login(user)
    else:
        login(client, request, who)

    response = client.get(viewer_url(image))

    assert response.status_code == expected
    if expected != 200:
        # Nothing of the image's work leaks into the refusal.
        assert b"other_annotator" not in response.content
        assert b"viewer-data" not in response.content


def test_viewer_anonymous_goes_to_login(client, image):
    response = client.get(viewer_url(image))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_viewer_refuses_a_lead_who_annotated_the_image(client, project, bubble, lead, annotator):
    image = make_image(project, bubble, [lead, annotator])
    client.force_login(lead)

    assert client.get(viewer_url(image)).status_code == 403


def test_viewer_image_of_another_project_is_404(client, image, outsider):
    other = ImageFactory(project=outsider.memberships.get().project)
    client.force_login(outsider)

    url = reverse("review-viewer", args=[other.project.slug, image.pk])

    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", 200),
        ("lead", 200),
        ("reviewer", 200),
        ("annotator", 200),  # their own task's image
        ("outsider", 404),
    ],
)
def test_image_pixels_follow_the_apis_rule(client, request, image, who, expected):
    login(client, request, who)

    response = client.get(reverse("image-pixels", args=[image.project.slug, image.pk]))

    assert response.status_code == expected
    if expected == 200:
        assert b"".join(response.streaming_content) == b"\x89PNG pixels"
        assert response["Cache-Control"] == "private, max-age=600"


def test_image_pixels_of_an_image_without_task_are_404_to_an_annotator(
    client, project, annotator, image
):
    stranger = ImageFactory(project=project, name="not-mine.png")
    stranger.file.save("x.png", ContentFile(b"pixels"), save=True)
    client.force_login(annotator)

    response = client.get(reverse("image-pixels", args=[project.slug, stranger.pk]))

    assert response.status_code == 404


def test_image_pixels_of_an_image_without_pixels_are_404(client, project, bubble, lead, annotators):
    image = make_image(project, bubble, annotators, pixels=False)
    client.force_login(lead)

    response = client.get(reverse("image-pixels", args=[project.slug, image.pk]))

    assert response.status_code == 404


# ------------------------------------------------------------------------ what


def test_viewer_shows_each_submission_numbered_with_its_instances(client, image, reviewer):
    client.force_login(reviewer)

    response = client.get(viewer_url(image))

    viewer = response.context["viewer"]
    assert [(s.number, s.username, s.instance_count) for s in viewer.submissions] == [
        (1, "annotator", 3),
        (2, "other_annotator", 2),
        (3, "third_annotator", 2),
    ]
    script = viewer.script
    assert (script["width"], script["height"]) == (SIZE, SIZE)
    assert script["pixels"] == reverse("image-pixels", args=[image.project.slug, image.pk])
    assert [layer["key"] for layer in script["layers"]] == [
        "annotator-1",
        "annotator-2",
        "annotator-3",
    ]
    stored = {i.pk: i.rle for s in viewer.submissions for i in s.submission.instances.all()}
    sent = {row[0]: row[1] for layer in script["layers"] for row in layer["instances"]}
    assert sent == stored
    content = response.content.decode()
    assert 'data-layer="annotator-3"' in content
    assert 'id="viewer-data"' in content


def test_viewer_measures_equal_pycocotools_on_the_stored_masks(image, reviewer):
    data = review_viewer(user=reviewer, image=viewer_image(project=image.project, pk=image.pk))

    band_px = boundary_width(height=SIZE, width=SIZE, boundary_px=image.project.boundary_px)
    consensus = {c.pk: c for c in ConsensusInstance.objects.filter(image=image)}
    clustered = [g for g in data.groups if g.consensus is not None]
    assert [len(g.rows) for g in clustered] == [3, 3]
    for group in clustered:
        item = consensus[group.consensus.pk]
        rle = masks.rle_from_string(item.rle, height=SIZE, width=SIZE)
        band = instance_features(rle, boundary_px=band_px).boundary_rle
        for row in group.rows:
            own = masks.rle_from_string(row.instance.rle, height=SIZE, width=SIZE)
            own_band = masks.rle_from_string(row.instance.boundary_rle, height=SIZE, width=SIZE)
            assert row.iou == pytest.approx(masks.rle_iou([own], [rle])[0, 0], abs=1e-12)
            assert row.boundary_iou == pytest.approx(
                masks.rle_iou([own_band], [band])[0, 0], abs=1e-12
            )
            assert row.reference == "consensus"


def test_viewer_groups_matched_instances_worst_first_and_unmatched_last(image, reviewer):
    data = review_viewer(user=reviewer, image=viewer_image(project=image.project, pk=image.pk))

    titles = [g.title for g in data.groups]
    assert titles == ["bubble, 3 of 3", "bubble, 3 of 3", "Unmatched"]
    means = [g.mean_iou for g in data.groups[:2]]
    assert means == sorted(means)
    (alone,) = data.groups[-1].rows
    assert (alone.owner.username, alone.index, alone.instance.area) == ("annotator", 3, 36)
    assert (alone.iou, alone.boundary_iou, alone.reference) == (None, None, "overlaps none")


def test_viewer_without_consensus_compares_with_the_best_overlap(project, bubble, annotators):
    # Two annotators whose squares overlap by less than the match threshold: no cluster.
    image = make_image(project, bubble, annotators[:2], shapes=[[(2, 2, 10)], [(8, 2, 10)]])
    submissions = list(latest_submissions_of(image=image))

    metrics = compute_metrics(
        height=SIZE, width=SIZE, submissions=submissions, consensus=[], band_px=3
    )

    first, second = (s.instances.get() for s in submissions)
    a = masks.rle_from_string(first.rle, height=SIZE, width=SIZE)
    b = masks.rle_from_string(second.rle, height=SIZE, width=SIZE)
    expected = masks.rle_iou([a], [b])[0, 0]
    assert metrics.clusters == {}
    assert metrics.measures[first.pk].iou == pytest.approx(expected)
    assert metrics.measures[first.pk].reference == second.pk
    assert metrics.measures[second.pk].reference == first.pk
    assert metrics.measures[first.pk].kind == "instance"


def test_viewer_measures_are_cached_until_a_submission_or_agreement_changes(
    project, bubble, image, reviewer, annotator
):
    cache.clear()
    loaded = viewer_image(project=project, pk=image.pk)
    assert review_viewer(user=reviewer, image=loaded).groups  # computes and caches
    submissions = list(latest_submissions_of(image=image))
    consensus = list(ConsensusInstance.objects.filter(image=image).order_by("pk"))
    agreement = ImageAgreement.objects.get(image=image)
    key = metrics_key(
        image=image,
        agreement=agreement,
        submissions=submissions,
        consensus=consensus,
        band_px=boundary_width(height=SIZE, width=SIZE, boundary_px=project.boundary_px),
    )
    assert cache.get(key) is not None

    task = image.tasks.get(annotator=annotator)
    task.status = TaskStatus.IN_PROGRESS
    task.save()
    submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=square(1, 1, 9))],
    )
    agreement_update_for_image(image_id=image.pk)

    newer = metrics_key(
        image=image,
        agreement=ImageAgreement.objects.get(image=image),
        submissions=list(latest_submissions_of(image=image)),
        consensus=list(ConsensusInstance.objects.filter(image=image).order_by("pk")),
        band_px=boundary_width(height=SIZE, width=SIZE, boundary_px=project.boundary_px),
    )
    assert newer != key


def test_viewer_shows_rule_violations_beside_their_instance(
    project, bubble, annotators, reviewer, lead
):
    version = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Outline every bubble.",
        author=lead,
        rules=[
            {"rule": "min_area_px", "value": 40, "severity": "warn"},
            {"rule": "max_instances", "value": 2, "severity": "warn"},
        ],
        change_summary="What changed.",
        publish=True,
    )
    for user in annotators:
        guideline_acknowledge(version=version, user=user)
    image = make_image(project, bubble, annotators, reviewer=reviewer)

    data = review_viewer(user=reviewer, image=viewer_image(project=project, pk=image.pk))

    rows = {(r.owner.username, r.index): r for g in data.groups for r in g.rows}
    assert rows[("annotator", 3)].violations == [
        {
            "rule": "min_area_px",
            "name": "min area px",
            "severity": "warn",
            "message": "instance 3 (bubble) has 36 px, under 40 px",
            "instance": 2,
        }
    ]
    assert rows[("annotator", 1)].violations == []
    first = data.submissions[0]
    assert (first.blocking, first.warnings) == (0, 2)
    assert [v["message"] for v in first.violations] == ["3 instances, more than the maximum 2"]
    assert (data.submissions[1].blocking, data.submissions[1].warnings) == (0, 0)


def test_viewer_of_an_image_without_pixels_says_so(client, project, bubble, lead, annotators):
    image = make_image(project, bubble, annotators, pixels=False)
    client.force_login(lead)

    response = client.get(viewer_url(image))

    assert response.context["viewer"].script["pixels"] is None
    assert "imported without pixels" in response.content.decode()


def test_disagreement_levels_spread_from_light_to_dark():
    assert disagreement_levels(1) == []
    assert disagreement_levels(2) == [(1, 5)]
    assert disagreement_levels(3) == [(1, 1), (2, 5)]
    assert disagreement_levels(5) == [(1, 1), (2, 2), (3, 4), (4, 5)]


# ----------------------------------------------------------------------- queue


def test_viewer_steps_through_the_queue_worst_first_even_after_leaving_it(
    client, project, bubble, annotators, reviewer
):
    images = [
        make_image(project, bubble, annotators, reviewer=reviewer, name=f"img{k}.png")
        for k in range(3)
    ]
    pq = {images[0].pk: 0.9, images[1].pk: 0.2, images[2].pk: 0.5}
    for pk, value in pq.items():
        ImageAgreement.objects.filter(image_id=pk).update(pq=value)
    worst, middle, best = images[1], images[2], images[0]
    client.force_login(reviewer)

    place = client.get(viewer_url(middle)).context["viewer"].queue
    assert (place.position, place.count, place.previous, place.next) == (
        2,
        3,
        worst.pk,
        best.pk,
    )

    # Rejecting one submission sends the middle image to rework: it leaves the queue.
    review_decide(
        submission=submissions_of(middle)["annotator"],
        reviewer=reviewer,
        decision="reject",
        reasons=["other"],
    )
    place = client.get(viewer_url(middle)).context["viewer"].queue
    assert (place.position, place.count, place.previous, place.next) == (
        None,
        2,
        worst.pk,
        best.pk,
    )


# --------------------------------------------------------------------- actions


def test_reject_with_reasons_comment_and_flags(client, image, reviewer):
    submission = submissions_of(image)["annotator"]
    first, _, third = submission.instances.order_by("pk")
    client.force_login(reviewer)
    before = client.get(viewer_url(image)).content.decode()
    assert f'value="{first.pk}" form="decide-{submission.pk}"' in before

    response = client.post(
        decide_url(image, submission),
        {
            "decision": "reject",
            "reasons": ["boundary_too_loose", "extra_instance"],
            "comment": "Follow the rim.",
            "flag": [first.pk, third.pk],
            f"flag_reason_{third.pk}": "extra_instance",
            f"flag_reason_{first.pk}": "",
        },
        follow=True,
    )

    assert response.redirect_chain == [(viewer_url(image), 302)]
    review = Review.objects.get(submission=submission)
    assert (review.decision, review.reasons, review.comment) == (
        "reject",
        ["boundary_too_loose", "extra_instance"],
        "Follow the rim.",
    )
    flags = {f.instance_id: f.reason for f in InstanceFlag.objects.filter(review=review)}
    # The flag without a reason of its own takes the decision's first.
    assert flags == {first.pk: "boundary_too_loose", third.pk: "extra_instance"}
    assert messages_of(response) == ["Rejected annotator's revision 1, 2 instances flagged."]
    content = response.content.decode()
    assert "Boundary too loose, Extra instance" in content
    # The table (kept rendered) shows the new flags, and no flag box on that submission.
    assert "⚑ Boundary too loose" in content
    assert f'value="{first.pk}" form="decide-{submission.pk}"' not in content
    submission.task.refresh_from_db()
    assert submission.task.status == TaskStatus.REJECTED


def test_accept_then_label_from_that_submission(client, project, image, reviewer):
    submission = submissions_of(image)["other_annotator"]
    client.force_login(reviewer)

    client.post(decide_url(image, submission), {"decision": "accept"})
    response = client.post(label_url(image), {"source": str(submission.pk)})

    assert Review.objects.get(submission=submission).decision == "accept"
    label = ImageLabel.objects.get(image=image)
    assert (label.submission_id, label.from_consensus, label.accepted_by) == (
        submission.pk,
        False,
        reviewer,
    )
    # The reviewer's review is done: on to the queue (this was its only image).
    assert response.status_code == 302
    assert response["Location"] == reverse("review-queue", args=[project.slug])


def test_label_from_the_consensus_lead_returns_to_the_image(client, image, lead):
    client.force_login(lead)

    response = client.post(label_url(image), {"source": "consensus"}, follow=True)

    label = ImageLabel.objects.get(image=image)
    assert label.from_consensus is True
    assert label.instances.count() == ConsensusInstance.objects.filter(image=image).count()
    assert response.redirect_chain == [(viewer_url(image), 302)]
    assert "The label of" in response.content.decode()
    assert 'id="label-state" data-source="consensus"' in response.content.decode()


def test_label_after_the_reviewers_review_leads_to_the_next_image(
    client, project, bubble, annotators, reviewer
):
    first = make_image(project, bubble, annotators, reviewer=reviewer, name="a.png")
    second = make_image(project, bubble, annotators, reviewer=reviewer, name="b.png")
    ImageAgreement.objects.filter(image=first).update(pq=0.1)
    ImageAgreement.objects.filter(image=second).update(pq=0.2)
    client.force_login(reviewer)

    response = client.post(label_url(first), {"source": "consensus"})

    assert response["Location"] == viewer_url(second)


def test_label_from_a_submission_not_accepted_is_refused_with_a_message(client, image, reviewer):
    submission = submissions_of(image)["annotator"]
    client.force_login(reviewer)

    response = client.post(label_url(image), {"source": str(submission.pk)}, follow=True)

    assert not ImageLabel.objects.filter(image=image).exists()
    assert f"{submission} has not been accepted." in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"decision": "maybe"},
        {"decision": "reject", "reasons": ["not_a_reason"]},
        {"decision": "reject", "flag": ["x"]},
        {"decision": "reject", "reasons": ["other"], "flag": ["999999999"]},
        {"decision": "reject", "reasons": ["other"], "comment": "x" * 5000},
        {},
    ],
    ids=["decision", "reason", "flag-not-a-number", "flag-of-another", "comment-long", "empty"],
)
def test_decide_bad_input_is_a_400_with_a_message(client, image, reviewer, data):
    submission = submissions_of(image)["annotator"]
    client.force_login(reviewer)

    response = client.post(decide_url(image, submission), data)

    assert response.status_code == 400
    assert messages_of(response) != []
    assert not Review.objects.filter(submission=submission).exists()


def test_decide_flag_of_another_submission_is_refused(client, image, reviewer):
    submission = submissions_of(image)["annotator"]
    theirs = submissions_of(image)["other_annotator"].instances.first()
    client.force_login(reviewer)

    response = client.post(
        decide_url(image, submission),
        {"decision": "reject", "reasons": ["other"], "flag": [theirs.pk]},
    )

    assert response.status_code == 400
    assert not Review.objects.exists()


def test_decide_bad_flag_reason_is_a_400(client, image, reviewer):
    submission = submissions_of(image)["annotator"]
    instance = submission.instances.first()
    client.force_login(reviewer)

    response = client.post(
        decide_url(image, submission),
        {
            "decision": "reject",
            "reasons": ["other"],
            "flag": [instance.pk],
            f"flag_reason_{instance.pk}": "bogus",
        },
    )

    assert response.status_code == 400
    assert messages_of(response) == [f"Unknown reason 'bogus' for instance {instance.pk}."]


def test_reject_without_reason_comes_back_with_the_services_message(client, image, reviewer):
    submission = submissions_of(image)["annotator"]
    client.force_login(reviewer)

    response = client.post(decide_url(image, submission), {"decision": "reject"}, follow=True)

    assert response.redirect_chain == [(viewer_url(image), 302)]
    assert "A rejection needs at least one reason." in response.content.decode()
    assert not Review.objects.exists()


def test_decide_twice_shows_the_conflict(client, image, reviewer, lead):
    submission = submissions_of(image)["annotator"]
    review_decide(submission=submission, reviewer=lead, decision="accept")
    client.force_login(reviewer)

    response = client.post(
        decide_url(image, submission), {"decision": "reject", "reasons": ["other"]}, follow=True
    )

    assert "was already decided by someone else" in response.content.decode()
    assert Review.objects.get(submission=submission).decision == "accept"


def test_decide_by_an_annotator_is_403_and_by_an_outsider_404(client, image, annotator, outsider):
    submission = submissions_of(image)["other_annotator"]

    client.force_login(annotator)
    assert client.post(decide_url(image, submission), {"decision": "accept"}).status_code == 403
    client.force_login(outsider)
    assert client.post(decide_url(image, submission), {"decision": "accept"}).status_code == 404
    assert client.post(label_url(image), {"source": "consensus"}).status_code == 404
    assert not Review.objects.exists()


def test_decide_on_a_submission_of_another_image_is_404(
    client, project, bubble, annotators, image, reviewer
):
    other = make_image(project, bubble, annotators, reviewer=reviewer, name="other.png")
    submission = submissions_of(other)["annotator"]
    client.force_login(reviewer)

    response = client.post(decide_url(image, submission), {"decision": "accept"})

    assert response.status_code == 404


def test_label_bad_source_is_a_400(client, image, reviewer):
    client.force_login(reviewer)

    for source in ["", "nonsense", "99999999", "²", "①", "9" * 30]:
        response = client.post(label_url(image), {"source": source})
        assert response.status_code == 400, source
    assert not ImageLabel.objects.exists()


def test_viewer_get_only_and_actions_post_only(client, image, reviewer):
    client.force_login(reviewer)

    assert client.post(viewer_url(image)).status_code == 405
    assert client.get(label_url(image)).status_code == 405


# ----------------------------------------------------------------------- speed


@pytest.mark.parametrize("count", [1, 3])
def test_viewer_fixed_query_count(
    client, project, bubble, annotators, reviewer, django_assert_num_queries, count
):
    # The same instances whatever the number of submissions: 2 each over 1 or 3.
    shapes = [[(2, 2, 10), (20, 20, 12)]] * count
    image = make_image(project, bubble, annotators[:count], reviewer=reviewer, shapes=shapes)
    for submission in latest_submissions_of(image=image):
        review_decide(
            submission=submission,
            reviewer=reviewer,
            decision="reject",
            reasons=["other"],
            flags=[FlagInput(instance=submission.instances.first(), reason="other")],
        )
    client.force_login(reviewer)
    cache.clear()

    # session, user, project, membership, image (agreement, label, state), annotated it?,
    # assigned to me?, submissions (annotator, review), instances, flags, consensus, the
    # instances' boundary bands (the measures: cold cache), the queue
    with django_assert_num_queries(13):
        response = client.get(viewer_url(image))

    assert len(response.context["viewer"].submissions) == count


def test_the_kept_instance_table_shows_a_renamed_class_at_once(
    client, project, bubble, image, reviewer
):
    cache.clear()
    client.force_login(reviewer)
    before = client.get(viewer_url(image)).content.decode()
    bubble.name = "vapour bubble"
    bubble.save(update_fields=["name"])

    after = client.get(viewer_url(image)).content.decode()

    table = after.split('id="instances"')[1].split("</table>")[0]
    assert '<table class="list instances" id="instances"' in before
    assert "vapour bubble" in table
