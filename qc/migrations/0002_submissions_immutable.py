"""Database triggers that refuse any UPDATE of a submission or its instances.

A submission is one immutable revision: reworks create a new revision. The rule is held by
the database itself so no code path (queryset.update, raw SQL, the admin) can rewrite what an
annotator submitted and a reviewer judged.
"""

from django.db import migrations

TABLES = ("qc_submission", "qc_instance")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION maskqc_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable once submitted', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION maskqc_refuse_update();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable once submitted'); END;"
            )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor in ("postgresql", "sqlite"):
        for table in TABLES:
            on = f" ON {table}" if vendor == "postgresql" else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable{on};")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS maskqc_refuse_update();")


class Migration(migrations.Migration):
    dependencies = [("qc", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
