"""Agreement persistence: per image × pair (and class), consensus, the project report."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from qc import masks
from qc.agreement import MeasuredInstance, boundary_width, compare_pair
from qc.comparison import compare_image
from qc.models import AgreementResult, AgreementSummary, ConsensusInstance, ImageAgreement
from qc.services import InstanceInput, review_decide, submission_create
from qc.services.agreement import agreement_update_for_image
from qc.tasks import agreement_update_for_images_task
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    TaskFactory,
    UserFactory,
)

H, W = 96, 128


def disc(cx: float, cy: float, r: float) -> dict:
    yy, xx = np.mgrid[:H, :W]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


@pytest.fixture
def image(project):
    return ImageFactory(project=project, width=W, height=H, name="frame_001.png")


def _annotator(project, name):
    user = UserFactory(username=name)
    MembershipFactory(project=project, user=user, role="annotator")
    return user


def _submit(image, user, items, *, execute=False):
    task = image.tasks.filter(annotator=user).first() or TaskFactory(image=image, annotator=user)
    return submission_create(
        task=task,
        actor=user,
        instances=[InstanceInput(label_class=c, rle=r) for c, r in items],
    )


def test_two_submissions_store_pooled_and_per_class_results_equal_to_engine(project, image, bubble):
    droplet = LabelClassFactory(project=project, name="droplet")
    amy, bob = _annotator(project, "amy"), _annotator(project, "bob")
    a_items = [(bubble, disc(30, 30, 12)), (bubble, disc(80, 40, 9)), (droplet, disc(60, 75, 6))]
    b_items = [(bubble, disc(31, 30, 12)), (droplet, disc(80, 40, 9)), (bubble, disc(10, 80, 4))]
    _submit(image, amy, a_items)
    _submit(image, bob, b_items)

    agreement = agreement_update_for_image(image_id=image.pk)

    band = boundary_width(height=H, width=W, boundary_px=None)
    expected = compare_pair(
        [
            MeasuredInstance.from_rle(i, c.pk, r, boundary_px=band)
            for i, (c, r) in enumerate(a_items)
        ],
        [
            MeasuredInstance.from_rle(i, c.pk, r, boundary_px=band)
            for i, (c, r) in enumerate(b_items)
        ],
        match_iou=0.5,
    )
    pooled = AgreementResult.objects.get(image=image, label_class__isnull=True)
    assert (pooled.annotator_a.username, pooled.annotator_b.username) == ("amy", "bob")
    assert (pooled.matched, pooled.unmatched_a, pooled.unmatched_b, pooled.label_mismatch) == (
        expected.matched,
        expected.unmatched_a,
        expected.unmatched_b,
        expected.label_mismatch,
    )
    assert (pooled.matched, pooled.label_mismatch) == (1, 1)
    assert pooled.pq == pytest.approx(expected.pq, abs=1e-12)
    assert pooled.boundary_iou == pytest.approx(expected.boundary_iou, abs=1e-12)
    per_class = {
        r.label_class.name: (r.matched, r.unmatched_a, r.unmatched_b)
        for r in AgreementResult.objects.filter(image=image, label_class__isnull=False)
    }
    assert per_class == {"bubble": (1, 1, 1), "droplet": (0, 1, 1)}
    assert agreement.pq == pytest.approx(expected.pq, abs=1e-12)
    reference = compare_image(
        {
            "amy": [
                MeasuredInstance.from_rle(i, c.pk, r, boundary_px=band)
                for i, (c, r) in enumerate(a_items)
            ],
            "bob": [
                MeasuredInstance.from_rle(i, c.pk, r, boundary_px=band)
                for i, (c, r) in enumerate(b_items)
            ],
        },
        height=H,
        width=W,
        match_iou=0.5,
    )
    stored = ConsensusInstance.objects.filter(image=image)
    assert sorted((c.label_class_id, c.rle) for c in stored) == sorted(
        (c.label, masks.rle_to_string(c.rle)) for c in reference.consensus
    )
    # one matched bubble pair, and each unmatched instance alone (a quorum of 0.5 of two)
    assert stored.count() == len(reference.consensus) == 5


def test_one_submission_has_no_agreement(project, image, bubble):
    _submit(image, _annotator(project, "amy"), [(bubble, disc(30, 30, 10))])

    assert agreement_update_for_image(image_id=image.pk) is None
    assert not AgreementResult.objects.filter(image=image).exists()


def test_empty_versus_empty_agrees_fully(project, image):
    _submit(image, _annotator(project, "amy"), [])
    _submit(image, _annotator(project, "bob"), [])

    agreement = agreement_update_for_image(image_id=image.pk)

    row = AgreementResult.objects.get(image=image)
    assert (row.pq, row.f1, row.mean_iou, agreement.pq) == (1.0, 1.0, None, 1.0)


def test_rework_replaces_results_with_the_new_revision(project, image, bubble, lead):
    amy, bob = _annotator(project, "amy"), _annotator(project, "bob")
    _submit(image, amy, [(bubble, disc(30, 30, 12))])
    first_bob = _submit(image, bob, [(bubble, disc(70, 60, 12))])
    agreement_update_for_image(image_id=image.pk)
    review_decide(
        submission=first_bob, reviewer=lead, decision="reject", reasons=["missed_instance"]
    )

    _submit(image, bob, [(bubble, disc(30, 30, 12))])
    agreement_update_for_image(image_id=image.pk)

    row = AgreementResult.objects.get(image=image, label_class__isnull=True)
    assert (row.submission_b.revision, row.matched, row.pq) == (2, 1, 1.0)
    assert AgreementResult.objects.filter(image=image).count() == 2  # pooled + one class


def test_submission_queues_agreement_and_report_on_commit(
    project, image, bubble, django_capture_on_commit_callbacks
):
    amy, bob = _annotator(project, "amy"), _annotator(project, "bob")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(image, amy, [(bubble, disc(30, 30, 12))])
        _submit(image, bob, [(bubble, disc(32, 30, 12))])

    agreement = ImageAgreement.objects.get(image=image)
    summary = AgreementSummary.objects.get(project=project)
    assert agreement.annotators == 2
    assert summary.report["images"] == 1
    assert summary.report["summary"]["pq"] == pytest.approx(agreement.pq)


@pytest.fixture
def three_annotators(project, bubble):
    users = [_annotator(project, name) for name in ("cleo", "amy", "bob")]
    for index in range(2):
        image = ImageFactory(project=project, width=W, height=H, name=f"f{index}.png")
        for shift, user in enumerate(users):
            items = [(bubble, disc(30 + shift, 30, 12)), (bubble, disc(90, 50, 10 + shift))]
            if user.username == "cleo" and index == 1:
                items = []
            _submit(image, user, items)
    return users


def test_compute_agreement_json_has_exact_interface(project, three_annotators, capsys):
    call_command("compute_agreement", project.slug, "--json")

    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["project", "images", "summary", "pairs", "annotators"]
    assert (report["project"], report["images"]) == (project.slug, 2)
    assert list(report["summary"]) == ["pq", "pq_ci95", "mean_iou", "f1", "boundary_iou"]
    assert [(p["image"], p["annotator_a"], p["annotator_b"]) for p in report["pairs"]] == [
        ("f0.png", "amy", "bob"),
        ("f0.png", "amy", "cleo"),
        ("f0.png", "bob", "cleo"),
        ("f1.png", "amy", "bob"),
        ("f1.png", "amy", "cleo"),
        ("f1.png", "bob", "cleo"),
    ]
    assert list(report["pairs"][0]) == [
        "image",
        "annotator_a",
        "annotator_b",
        "matched",
        "unmatched_a",
        "unmatched_b",
        "label_mismatch",
        "mean_iou",
        "f1",
        "pq",
        "boundary_iou",
    ]
    empty_pair = report["pairs"][4]
    assert (
        empty_pair["matched"],
        empty_pair["mean_iou"],
        empty_pair["boundary_iou"],
        empty_pair["pq"],
    ) == (0, None, None, 0.0)
    assert [a["username"] for a in report["annotators"]] == ["amy", "bob", "cleo"]
    assert list(report["annotators"][0]) == [
        "username",
        "images",
        "pq_vs_peers",
        "pq_vs_consensus",
        "area_ratio",
        "boundary_offset_px",
        "boundary_offset_vs_consensus_px",
        "recall_small",
        "recall_medium",
        "recall_large",
        "merges",
        "splits",
    ]
    lo, hi = report["summary"]["pq_ci95"]
    assert lo <= report["summary"]["pq"] <= hi


def test_compute_agreement_summary_line(project, three_annotators, capsys):
    call_command("compute_agreement", project.slug)

    line = capsys.readouterr().out
    assert line.startswith(f"{project.slug}: 2 images, 6 pairs, pq ")


def test_compute_agreement_unknown_project(db):
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        call_command("compute_agreement", "nope")


def test_a_rebuild_task_rebuilds_a_report_that_only_looks_newer_than_every_image(
    project, image, bubble, django_capture_on_commit_callbacks
):
    # An image result saved (its computed_at taken) just before a rebuild began reading,
    # but committed just after, looks included in that report when it is not.
    from qc.services.agreement import agreement_summary_task

    amy, bob = _annotator(project, "amy"), _annotator(project, "bob")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(image, amy, [(bubble, disc(30, 30, 12))])
        _submit(image, bob, [(bubble, disc(32, 30, 12))])
    summary = AgreementSummary.objects.get(project=project)
    full = summary.report
    AgreementSummary.objects.filter(pk=summary.pk).update(report={"missing": "the image"})

    agreement_summary_task.call(project_id=project.pk)

    assert AgreementSummary.objects.get(project=project).report == full


def test_agreement_task_for_several_images_does_every_image_and_names_the_failures(
    project, image, bubble
):
    # Arrange: one image with two submissions, and an id that is no image
    amy, bob = _annotator(project, "amy"), _annotator(project, "bob")
    _submit(image, amy, [(bubble, disc(30, 30, 12))])
    _submit(image, bob, [(bubble, disc(32, 30, 12))])
    ImageAgreement.objects.all().delete()
    AgreementSummary.objects.all().delete()
    missing = image.pk + 1000

    # Act
    with pytest.raises(RuntimeError) as caught:
        agreement_update_for_images_task.call(image_ids=[missing, image.pk])

    # Assert: the image after the failing one was computed, the report rebuilt
    assert str(caught.value) == (
        f"agreement failed: image {missing}: DoesNotExist: Image matching query does not exist."
    )
    assert ImageAgreement.objects.get(image=image).annotators == 2
    assert AgreementSummary.objects.get(project=project).report["images"] == 1
