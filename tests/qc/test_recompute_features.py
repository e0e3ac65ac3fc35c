"""recompute_features: stored instance features rewritten after a fix, and nothing else.

Wrong features are planted the way an older release (or a migration) left them: with the
database guard switched off for one raw UPDATE. The expected values are what storing the
submission computed in the first place.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from projects.models import AuditEvent
from qc import masks
from qc.agreement import instance_features
from qc.models import (
    AgreementResult,
    AgreementSummary,
    ConsensusInstance,
    ImageAgreement,
    Instance,
)
from qc.selectors import agreement_report
from qc.services import InstanceInput, submission_create
from qc.services import features as features_service
from qc.services.agreement import agreement_recompute_project
from qc.services.features import _features_rewritable, instance_features_recompute
from tests.factories import (
    ImageFactory,
    LabelClassFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

H, W = 96, 128  # band width 3 px (2 % of the 160 px diagonal)


def disc(cx: float, cy: float, r: float) -> dict:
    yy, xx = np.mgrid[:H, :W]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def submit(image, username: str, rles: list[dict], label_class) -> None:
    user = UserFactory(username=username)
    if not user.memberships.filter(project=image.project).exists():
        MembershipFactory(project=image.project, user=user, role="annotator")
    submission_create(
        task=TaskFactory(image=image, annotator=user),
        actor=user,
        instances=[InstanceInput(label_class=label_class, rle=r) for r in rles],
    )


@pytest.fixture
def seeded(project, bubble):
    """Four images: three annotators on the first, two on the second and the fourth, one on
    the third; agreement and the report computed from the features stored on submission."""
    images = [
        ImageFactory(project=project, width=W, height=H, name=f"frame_{n}.png")
        for n in (1, 2, 3, 4)
    ]
    one, two, three, four = images
    submit(one, "amy", [disc(30, 30, 12), disc(90, 50, 10)], bubble)
    submit(one, "bob", [disc(31, 30, 12), disc(91, 51, 10)], bubble)
    submit(one, "cat", [disc(30, 31, 13), disc(90, 50, 9)], bubble)
    submit(two, "amy", [disc(60, 40, 15)], bubble)
    submit(two, "bob", [disc(61, 41, 15), disc(20, 70, 8)], bubble)
    submit(three, "amy", [disc(50, 50, 11)], bubble)
    submit(four, "amy", [disc(40, 40, 14)], bubble)
    submit(four, "bob", [disc(42, 40, 14)], bubble)
    agreement_recompute_project(project=project)
    return images


def instance_of(image, username: str, n: int = 0) -> Instance:
    return Instance.objects.filter(
        submission__task__image=image, submission__task__annotator__username=username
    ).order_by("pk")[n]


def instance_rows(**filters) -> list[dict]:
    return list(Instance.objects.filter(**filters).order_by("pk").values())


def stored_rows(image) -> dict[str, list[dict]]:
    """Everything agreement stored for the image, every column (ids and times included)."""
    return {
        "results": list(AgreementResult.objects.filter(image=image).order_by("pk").values()),
        "image": list(ImageAgreement.objects.filter(image=image).values()),
        "consensus": list(ConsensusInstance.objects.filter(image=image).order_by("pk").values()),
    }


def agreement_of(image) -> dict[str, list[dict]]:
    """What agreement stored for the image, without the ids and times a recompute renews."""
    renewed = {"id", "computed_at"}
    rows = {
        "results": AgreementResult.objects.filter(image=image).order_by(
            "annotator_a", "annotator_b", "label_class"
        ),
        "image": ImageAgreement.objects.filter(image=image),
        "consensus": ConsensusInstance.objects.filter(image=image).order_by("members"),
    }
    return {
        name: [{k: v for k, v in row.items() if k not in renewed} for row in query.values()]
        for name, query in rows.items()
    }


def pooled_boundary_iou(image) -> float:
    return AgreementResult.objects.get(
        image=image,
        label_class__isnull=True,
        annotator_a__username="amy",
        annotator_b__username="bob",
    ).boundary_iou


def plant(instance: Instance, **columns) -> None:
    """Store wrong column values with the guard switched off, as a migration would."""
    assignments = ", ".join(f"{name} = %s" for name in columns)
    update = f"UPDATE qc_instance SET {assignments} WHERE id = %s"
    params = [*columns.values(), instance.pk]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Not ALTER TABLE … DISABLE TRIGGER: the test's transaction holds deferred
            # foreign-key checks on qc_instance, and PostgreSQL refuses to alter it then.
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(update, params)
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:
            triggers = sqlite_triggers()
            for name in triggers:
                cursor.execute(f"DROP TRIGGER {name}")
            cursor.execute(update, params)
            for sql in triggers.values():
                cursor.execute(sql)


def sqlite_triggers() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'qc_instance' ORDER BY name"
        )
        return dict(cursor.fetchall())


def plant_wrong_features(one, two) -> list[int]:
    """Wrong band, area and perimeter on four instances of the first two images."""
    wrong = [instance_of(one, "amy"), instance_of(one, "cat", 1), instance_of(two, "bob")]
    whole_mask_band, wrong_area, wrong_perimeter = wrong
    plant(whole_mask_band, boundary_rle=whole_mask_band.rle)
    plant(wrong_area, area=wrong_area.area + 7)
    plant(wrong_perimeter, perimeter=wrong_perimeter.perimeter + 0.5)
    second_band = instance_of(two, "amy")
    plant(second_band, boundary_rle=second_band.rle)
    return [i.pk for i in (*wrong, second_band)]


# --- the service ---------------------------------------------------------------------------


def test_recompute_rewrites_exactly_the_wrong_instances_and_their_images(project, seeded):
    one, two, three, four = seeded
    seeded_instances = instance_rows()
    good = {image.name: agreement_of(image) for image in (one, two)}
    good_iou = {image.name: pooled_boundary_iou(image) for image in (one, two)}
    planted = plant_wrong_features(one, two)
    agreement_recompute_project(project=project)  # results built on the wrong bands
    stale = {image.name: pooled_boundary_iou(image) for image in (one, two)}
    untouched = stored_rows(four)
    assert stale != good_iou  # the wrong bands did reach the stored results

    summary = instance_features_recompute(project=project)

    assert (
        summary.images,
        summary.instances,
        summary.instances_changed,
        summary.images_recomputed,
        summary.failed,
    ) == (4, 12, 4, 2, {})
    assert instance_rows() == seeded_instances
    assert {image.name: agreement_of(image) for image in (one, two)} == good
    assert {image.name: pooled_boundary_iou(image) for image in (one, two)} == good_iou
    assert stored_rows(four) == untouched
    assert not ImageAgreement.objects.filter(image=three).exists()
    report = AgreementSummary.objects.get(project=project).report
    assert report == json.loads(json.dumps(agreement_report(project=project)))
    event = AuditEvent.objects.get(verb="image.features_recompute", object_id=str(one.pk))
    assert event.after == {
        "boundary_px": 3,
        "instances": {str(planted[0]): ["boundary_rle"], str(planted[1]): ["area"]},
    }
    assert AuditEvent.objects.filter(verb="image.features_recompute").count() == 2


def test_recompute_second_run_changes_nothing(project, seeded):
    one, two, _, _ = seeded
    plant_wrong_features(one, two)
    instance_features_recompute(project=project)
    instances = instance_rows()
    stored = {image.name: stored_rows(image) for image in seeded}
    report = list(AgreementSummary.objects.values())
    events = AuditEvent.objects.count()

    summary = instance_features_recompute(project=project)

    assert (
        summary.instances,
        summary.instances_changed,
        summary.images_recomputed,
        summary.consensus_changed,
    ) == (12, 0, 0, 0)
    assert instance_rows() == instances
    assert {image.name: stored_rows(image) for image in seeded} == stored
    assert list(AgreementSummary.objects.values()) == report
    assert AuditEvent.objects.count() == events


def test_recompute_on_a_correct_database_changes_nothing(project, seeded):
    instances = instance_rows()
    stored = {image.name: stored_rows(image) for image in seeded}

    summary = instance_features_recompute(project=project)

    assert (summary.instances_changed, summary.images_recomputed) == (0, 0)
    assert instance_rows() == instances
    assert {image.name: stored_rows(image) for image in seeded} == stored


def test_recompute_uses_the_band_width_the_project_sets_now(project, seeded):
    project.boundary_px = 1
    project.save(update_fields=["boundary_px"])

    summary = instance_features_recompute(project=project)

    assert (summary.instances_changed, summary.images_recomputed) == (12, 3)
    for row in instance_rows():
        band = instance_features({"size": [H, W], "counts": row["rle"]}, boundary_px=1)
        assert (row["boundary_px"], row["boundary_rle"]) == (
            1,
            masks.rle_to_string(band.boundary_rle),
        )


def test_recompute_all_images_recomputes_every_image_with_two_submissions(project, seeded):
    one, two, _, four = seeded
    good = {image.name: agreement_of(image) for image in seeded}
    # A consensus stored by an older rule: one mask differs, one instance is missing.
    first = ConsensusInstance.objects.filter(image=one).order_by("pk").first()
    ConsensusInstance.objects.filter(pk=first.pk).update(rle=masks.rle_to_string(disc(5, 5, 2)))
    ConsensusInstance.objects.filter(image=four).delete()
    old_results = set(AgreementResult.objects.values_list("pk", flat=True))

    plain = instance_features_recompute(project=project)
    summary = instance_features_recompute(project=project, all_images=True)

    assert (plain.images_recomputed, plain.consensus_changed) == (0, 0)
    assert (summary.instances_changed, summary.images_recomputed, summary.consensus_changed) == (
        0,
        3,
        2,
    )
    assert {image.name: agreement_of(image) for image in seeded} == good
    assert old_results.isdisjoint(AgreementResult.objects.values_list("pk", flat=True))
    # Pooled and per class: three pairs on the first image, one on the second and the fourth.
    assert AgreementResult.objects.filter(image__in=[one, two, four]).count() == 10


def test_recompute_image_that_fails_is_rolled_back_and_the_others_go_on(
    project, seeded, monkeypatch
):
    one, two, _, _ = seeded
    seeded_two = instance_rows(submission__task__image=two)
    planted = plant_wrong_features(one, two)
    wrong_one = instance_rows(submission__task__image=one)
    stored_one = stored_rows(one)
    real_update = features_service.agreement_update_for_image

    def update_failing_on_one(*, image_id: int):
        result = real_update(image_id=image_id)
        if image_id == one.pk:
            raise RuntimeError("disk full")
        return result

    monkeypatch.setattr(features_service, "agreement_update_for_image", update_failing_on_one)

    summary = instance_features_recompute(project=project)

    assert summary.failed == {one.name: "RuntimeError: disk full"}
    assert (summary.images, summary.instances_changed, summary.images_recomputed) == (3, 2, 1)
    assert instance_rows(submission__task__image=one) == wrong_one
    assert stored_rows(one) == stored_one
    assert not AuditEvent.objects.filter(
        verb="image.features_recompute", object_id=str(one.pk)
    ).exists()
    assert instance_rows(submission__task__image=two) == seeded_two
    with pytest.raises(IntegrityError), transaction.atomic():  # the guard is back
        Instance.objects.filter(pk=planted[0]).update(area=1)
    if connection.vendor == "sqlite":
        assert set(sqlite_triggers()) == {"qc_instance_immutable", "qc_instance_mask_immutable"}

    monkeypatch.undo()
    again = instance_features_recompute(project=project)

    assert (again.instances_changed, again.images_recomputed, again.failed) == (2, 1, {})


# --- the database guard --------------------------------------------------------------------


@pytest.fixture
def instance(seeded) -> Instance:
    return instance_of(seeded[0], "amy")


MASK_CHANGES = {
    "id": lambda i: {"id": i.pk + 100_000},
    "rle": lambda i: {"rle": masks.rle_to_string(disc(5, 5, 2))},
    "label_class_id": lambda i: {"label_class": LabelClassFactory(project=i.label_class.project)},
    "submission_id": lambda i: {
        "submission": instance_of(i.submission.task.image, "bob").submission
    },
    "polygon": lambda i: {"polygon": [[[0, 0], [4, 0], [4, 4]]]},
    "attributes": lambda i: {"attributes": {"edited": True}},
}


@pytest.mark.parametrize("column", sorted(MASK_CHANGES))
def test_instance_mask_update_refused_outside_and_inside_the_rewrite(instance, column):
    change = MASK_CHANGES[column](instance)
    before = instance_rows(pk=instance.pk)

    with pytest.raises(IntegrityError), transaction.atomic():
        Instance.objects.filter(pk=instance.pk).update(**change)
    with pytest.raises(IntegrityError), transaction.atomic(), _features_rewritable():
        Instance.objects.filter(pk=instance.pk).update(**change)
    with pytest.raises(IntegrityError), transaction.atomic(), _features_rewritable():
        Instance.objects.filter(pk=instance.pk).update(area=instance.area + 1, **change)

    assert instance_rows(pk=instance.pk) == before


def test_instance_mask_update_by_raw_sql_refused_inside_the_rewrite(instance):
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        _features_rewritable(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE qc_instance SET rle = %s, area = %s WHERE id = %s",
            ["x", instance.area, instance.pk],
        )


@pytest.mark.parametrize("column", ["area", "perimeter", "boundary_rle", "bbox_w", "boundary_px"])
def test_instance_feature_update_refused_outside_the_service(instance, column):
    value = {"boundary_rle": instance.rle}.get(column, 2)

    with pytest.raises(IntegrityError), transaction.atomic():
        Instance.objects.filter(pk=instance.pk).update(**{column: value})
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE qc_instance SET {column} = %s WHERE id = %s", [value, instance.pk])

    assert getattr(Instance.objects.get(pk=instance.pk), column) == getattr(instance, column)


def test_instance_feature_update_allowed_inside_the_rewrite_only(instance):
    with transaction.atomic():
        with _features_rewritable():
            Instance.objects.filter(pk=instance.pk).update(area=instance.area + 1, perimeter=1.5)
        # The same transaction, after the rewrite: refused again.
        with pytest.raises(IntegrityError), transaction.atomic():
            Instance.objects.filter(pk=instance.pk).update(area=instance.area)

    assert Instance.objects.values_list("area", "perimeter").get(pk=instance.pk) == (
        instance.area + 1,
        1.5,
    )


@pytest.mark.django_db(transaction=True)
def test_instance_rewrite_outside_a_transaction_refused():
    with pytest.raises(RuntimeError, match="inside a transaction"), _features_rewritable():
        pass


# --- the command ---------------------------------------------------------------------------


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("recompute_features", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def test_command_prints_one_line_per_project(project, seeded):
    one, two, _, _ = seeded
    ProjectFactory(slug="cells")
    plant_wrong_features(one, two)

    lines = run()

    assert lines == [
        "bubbles: 12 instances on 4 images checked, 4 changed; agreement recomputed on "
        "2 images, 0 consensus instances changed.",
        "cells: 0 instances on 0 images checked, 0 changed; agreement recomputed on 0 images, "
        "0 consensus instances changed.",
    ]


def test_command_all_images_for_one_project(project, seeded):
    ProjectFactory(slug="cells")
    ConsensusInstance.objects.filter(image=seeded[3]).delete()

    lines = run("bubbles", "--all-images")

    assert lines == [
        "bubbles: 12 instances on 4 images checked, 0 changed; agreement recomputed on "
        "3 images, 1 consensus instance changed."
    ]


def test_command_bad_slug_changes_nothing_and_exits_non_zero(project, seeded):
    one, two, _, _ = seeded
    plant_wrong_features(one, two)
    instances = instance_rows()

    # manage.py prints a CommandError and exits with its returncode.
    with pytest.raises(CommandError, match=r"^No project with slug 'nosuch'\.$") as error:
        run("bubbles", "nosuch")

    assert error.value.returncode == 1
    assert instance_rows() == instances


def test_command_failed_image_is_named_and_exits_non_zero(project, seeded, monkeypatch):
    one, two, _, _ = seeded
    plant_wrong_features(one, two)

    def failing(*, image_id: int):
        raise RuntimeError("disk full")

    monkeypatch.setattr(features_service, "agreement_update_for_image", failing)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as error:
        call_command("recompute_features", "bubbles", stdout=out, stderr=err)

    assert out.getvalue().splitlines() == [
        "bubbles: 3 instances on 2 images checked, 0 changed; agreement recomputed on 0 images, "
        "0 consensus instances changed; 2 images failed, left unchanged."
    ]
    assert err.getvalue().splitlines() == [
        "bubbles: image frame_1.png: RuntimeError: disk full",
        "bubbles: image frame_2.png: RuntimeError: disk full",
    ]
    assert str(error.value) == (
        "2 image(s) could not be recomputed and were left as they were: "
        "bubbles/frame_1.png, bubbles/frame_2.png"
    )
    assert error.value.returncode == 1
