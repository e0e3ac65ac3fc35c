"""The hot queries' indexes (projects 0005) exist in the migrated database, on the columns
and in the order that ``bench/explain.py`` shows them serving.

Claim-next's order is pinned by ``tests/projects/test_task_life.py``; here, that each index
the plans rely on is there, and that the audit log still reads one project's events in the
index's order (newest first, the id breaking ties), leaving other projects' out.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from projects.models import AuditEvent, Task
from qc.selectors.workflow import audit_events_of
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _index(table: str, name: str) -> dict:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    assert name in constraints, f"index {name} is missing on {table}"
    return constraints[name]


def test_task_annotator_claim_order_index_exists():
    index = _index(Task._meta.db_table, "task_annotator_claim_order")

    assert index["index"] is True
    assert index["columns"] == ["annotator_id", "status", "due_date", "created_at", "id"]


def test_audit_event_project_time_index_exists_newest_first():
    index = _index(AuditEvent._meta.db_table, "audit_event_project_time")

    assert index["index"] is True
    assert index["columns"] == ["project_id", "created_at", "id"]
    assert index["orders"] == ["ASC", "DESC", "DESC"]


def test_audit_log_reads_one_projects_events_newest_first():
    project, other = ProjectFactory(), ProjectFactory()
    now = timezone.now()
    events = AuditEvent.objects.bulk_create(
        AuditEvent(project=p, verb="task.assign", object_type="projects.task", object_id=str(k))
        for k, p in enumerate([project, other, project, other, project])
    )
    # Two events of the same instant are ordered by id, newest (highest) first.
    minute = timedelta(minutes=1)
    stamps = [now - 3 * minute, now, now - minute, now, now - minute]
    for event, stamp in zip(events, stamps, strict=True):
        AuditEvent.objects.filter(pk=event.pk).update(created_at=stamp)

    listed = list(audit_events_of(project=project).values_list("pk", flat=True))

    assert listed == [events[4].pk, events[2].pk, events[0].pk]
