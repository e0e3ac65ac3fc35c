"""Let `recompute_features` rewrite an instance's derived features, and nothing else.

An instance's mask, class, submission, polygon and attributes are what an annotator submitted
and a reviewer judged: they stay immutable. Its features (area, bbox, perimeter, boundary band
and the band width) are derived from the mask once when it is stored; when a release fixes the
code that derives them, `qc.services.features.instance_features_recompute` rewrites them.

PostgreSQL: qc_instance gets its own trigger function. It lets an UPDATE through only while
the transaction has set `maskqc.rewrite_features` to 'on' (the service does `SET LOCAL`, which
ends with the transaction) and only when every column but the feature columns is unchanged,
compared over the whole row so that a column added later is guarded too.

SQLite has no session variables, so two triggers: qc_instance_immutable (from 0002) refuses
every UPDATE and stays as it was; qc_instance_mask_immutable refuses an UPDATE that names any
non-feature column. The service drops qc_instance_immutable inside its transaction and
re-creates it before the transaction ends (SQLite DDL is transactional, so a rollback brings it
back too); in that window the second trigger still guards the mask, and no other connection
can write: SQLite has one writer at a time, and the DROP made this transaction the writer.

Neither is a permission system: a database user who can run DDL can drop any trigger. They keep
every code path (queryset.update, the admin, a hand-written UPDATE) from rewriting a submission
by mistake. qc_submission's trigger is unchanged.
"""

from django.db import migrations

FEATURE_COLUMNS = (
    "area",
    "bbox_x",
    "bbox_y",
    "bbox_w",
    "bbox_h",
    "perimeter",
    "boundary_rle",
    "boundary_px",
)
MASK_COLUMNS = ("id", "submission_id", "label_class_id", "rle", "polygon", "attributes")

POSTGRES_GUARD = """
CREATE OR REPLACE FUNCTION maskqc_instance_guard_update() RETURNS trigger AS $$
DECLARE
    features text[] := ARRAY[{features}];
BEGIN
    IF current_setting('maskqc.rewrite_features', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'qc_instance rows are immutable once submitted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(NEW) - features) IS DISTINCT FROM (to_jsonb(OLD) - features) THEN
        RAISE EXCEPTION 'qc_instance: only the features of an instance may be rewritten'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
""".format(features=", ".join(f"'{c}'" for c in FEATURE_COLUMNS))

SQLITE_MASK_TRIGGER = (
    "CREATE TRIGGER qc_instance_mask_immutable BEFORE UPDATE OF "
    + ", ".join(MASK_COLUMNS)
    + " ON qc_instance BEGIN "
    "SELECT RAISE(ABORT, 'qc_instance: only the features of an instance may be rewritten'); END;"
)


def guard_features(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_GUARD, params=None)
        schema_editor.execute("DROP TRIGGER qc_instance_immutable ON qc_instance;")
        schema_editor.execute(
            "CREATE TRIGGER qc_instance_immutable BEFORE UPDATE ON qc_instance "
            "FOR EACH ROW EXECUTE FUNCTION maskqc_instance_guard_update();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_MASK_TRIGGER)


def refuse_every_update(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER qc_instance_immutable ON qc_instance;")
        schema_editor.execute(
            "CREATE TRIGGER qc_instance_immutable BEFORE UPDATE ON qc_instance "
            "FOR EACH ROW EXECUTE FUNCTION maskqc_refuse_update();"
        )
        schema_editor.execute("DROP FUNCTION maskqc_instance_guard_update();")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS qc_instance_mask_immutable;")


class Migration(migrations.Migration):
    dependencies = [("qc", "0004_import_jobs")]

    operations = [migrations.RunPython(guard_features, refuse_every_update)]
