"""Indexes for two hot queries, justified by bench/explain.py on the 10,000-image seed.

Built with CREATE INDEX CONCURRENTLY on PostgreSQL: a plain CREATE INDEX holds a lock that
blocks every insert into the table while it builds, and every state change writes an audit
event, so on a large deployment an upgrade would stall all writes for the build's time;
built concurrently, the site keeps working. The price is a migration that is not atomic
(CONCURRENTLY cannot run in a transaction): if it fails half-way, PostgreSQL leaves an
INVALID index to drop before migrating again. Other databases build the index as usual.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """AddIndexConcurrently on PostgreSQL, AddIndex elsewhere (SQLite has no CONCURRENTLY)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("projects", "0004_project_slug_unique_ci"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="task",
            index=models.Index(
                fields=["annotator", "status", "due_date", "created_at", "id"],
                name="task_annotator_claim_order",
            ),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="auditevent",
            index=models.Index(
                fields=["project", "-created_at", "-id"], name="audit_event_project_time"
            ),
        ),
    ]
