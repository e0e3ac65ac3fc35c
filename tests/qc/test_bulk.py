"""The bulk-row helper stores exactly what ``bulk_create`` stores, for every model an import
writes through it (instances and audit events), defaults and JSON values included."""

import datetime

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from projects.models import AuditEvent
from qc import masks
from qc.formats import ParsedImage, ParsedObject, ParseResult
from qc.models import Instance, Submission
from qc.services import import_reading, submissions
from qc.services.bulk import insert_fields, insert_objects, insert_rows
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def _stored(model, pk):
    row = model_to_dict(model.objects.get(pk=pk))
    row.pop("id")
    return row


def _row_of(obj) -> list:
    return [getattr(obj, f.attname) for f in insert_fields(type(obj))]


def test_insert_rows_stores_instances_as_bulk_create_does(bubble, annotator):
    # Arrange: two instances, one with every optional value, one with the fields' defaults
    submission = Submission.objects.create(
        task=TaskFactory(image__project=bubble.project, annotator=annotator), revision=1
    )
    rle = masks.rle_to_string(masks.rle_from_uncompressed([5, 3, 92], height=10, width=10))
    full = {
        "submission": submission,
        "label_class": bubble,
        "rle": rle,
        "bbox_x": 0,
        "bbox_y": 5,
        "bbox_w": 1,
        "bbox_h": 3,
        "area": 3,
        "perimeter": 2.5,
        "boundary_rle": rle,
        "boundary_px": 1,
        "polygon": {"parts": [[0, 5, 1, 5, 1, 8]], "holes": []},
        "attributes": {"occluded": True, "note": "é"},
    }
    defaults = {k: v for k, v in full.items() if k not in ("polygon", "attributes")}
    expected = [
        Instance.objects.bulk_create([Instance(**values)])[0].pk for values in (full, defaults)
    ]

    # Act
    before = set(Instance.objects.values_list("pk", flat=True))
    insert_rows(Instance, [_row_of(Instance(**values)) for values in (full, defaults)])
    added = sorted(set(Instance.objects.values_list("pk", flat=True)) - before)

    # Assert
    assert [_stored(Instance, pk) for pk in added] == [_stored(Instance, pk) for pk in expected]
    assert _stored(Instance, added[1])["attributes"] == {}
    assert _stored(Instance, added[1])["polygon"] is None


def test_insert_rows_stores_audit_events_as_bulk_create_does(project, lead):
    # Arrange: the created_at that auto_now_add would stamp, set by hand for both
    at = datetime.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=datetime.UTC)
    values = [
        {
            "project": project,
            "actor": lead,
            "verb": "image.create",
            "object_type": "image",
            "object_id": "7",
            "before": None,
            "after": {"name": "a.png", "size": [3, 4]},
        },
        {
            "project": None,
            "actor": None,
            "verb": "user.create",
            "object_type": "user",
            "object_id": "x",
            "before": {},
            "after": [],
        },
    ]
    created = AuditEvent.objects.bulk_create([AuditEvent(**v) for v in values])
    AuditEvent.objects.filter(pk__in=[e.pk for e in created]).update(created_at=at)

    # Act
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    events = [AuditEvent(**v) for v in values]
    for event in events:
        event.created_at = at
    insert_rows(AuditEvent, [_row_of(event) for event in events])
    added = sorted(set(AuditEvent.objects.values_list("pk", flat=True)) - before)

    # Assert
    assert [
        _stored(AuditEvent, pk) | {"created_at": AuditEvent.objects.get(pk=pk).created_at}
        for pk in added
    ] == [
        _stored(AuditEvent, e.pk) | {"created_at": AuditEvent.objects.get(pk=e.pk).created_at}
        for e in created
    ]


def test_import_rows_give_a_field_the_services_leave_out_its_default(monkeypatch):
    # A column instance_values does not fill (as a field added later with a default would
    # be) gets the field's default, as bulk_create would give it, not NULL
    real = submissions.instance_values

    def without_attributes(**kwargs):
        values = real(**kwargs)
        del values["attributes"]
        return values

    monkeypatch.setattr(submissions, "instance_values", without_attributes)
    rle = masks.rle_from_uncompressed([5, 3, 92], height=10, width=10)
    result = ParseResult(
        images=[ParsedImage(name="a.png", width=10, height=10)],
        objects=[
            ParsedObject(
                image="a.png",
                label="bubble",
                rle=rle,
                annotator="amy",
                polygon=None,
                holes=None,
                attributes={},
                source="object 0",
            )
        ],
        skipped={},
        annotators_saw_all=True,
    )

    rows, failure = import_reading._instances_for(result, 0, 1, None)

    columns = [f.attname for f in submissions.INSTANCE_FIELDS]
    assert failure is None
    assert rows[0][columns.index("attributes")] == {}


def test_insert_objects_stores_audit_events_as_bulk_create_does(project, lead):
    # Arrange: the same unsaved events, for bulk_create and for insert_objects
    values = [
        {
            "project": project,
            "actor": lead,
            "verb": "task.create",
            "object_type": "task",
            "object_id": "12",
            "before": None,
            "after": {"image": "a.png", "annotator": "amy", "source": "é.json"},
        },
        {
            "project": None,
            "actor": None,
            "verb": "user.create",
            "object_type": "user",
            "object_id": "x",
            "before": {"task_status": None},
            "after": [1, 2.5, "three"],
        },
    ]
    expected = AuditEvent.objects.bulk_create([AuditEvent(**v) for v in values])
    start = timezone.now()

    # Act
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    insert_objects(AuditEvent, [AuditEvent(**v) for v in values])
    added = sorted(set(AuditEvent.objects.values_list("pk", flat=True)) - before)
    end = timezone.now()

    # Assert: the same values, and created_at stamped by auto_now_add while inserting
    assert [_stored(AuditEvent, pk) for pk in added] == [
        _stored(AuditEvent, e.pk) for e in expected
    ]
    stamped = [AuditEvent.objects.get(pk=pk).created_at for pk in added]
    assert all(start <= at <= end for at in stamped)
