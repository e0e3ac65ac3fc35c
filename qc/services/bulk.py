"""Many rows into one table at once, faster than ``bulk_create``: COPY on PostgreSQL, one
prepared statement on SQLite. :func:`insert_rows` takes rows of values (the fast path of an
import's instances), :func:`insert_objects` unsaved model objects; both store what
``bulk_create`` would store."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import models, transaction

__all__ = [
    "chunks",
    "cyclic_gc_paused",
    "insert_fields",
    "insert_objects",
    "insert_rows",
    "planner_statistics_refresh",
]

# A write of at least this many rows refreshes the planner's statistics after it.
STATISTICS_REFRESH_ROWS = 5_000


def insert_fields(model: type[models.Model]) -> list[Any]:
    """The columns these helpers write: concrete fields but the primary key, in order."""
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def insert_rows(model: type[models.Model], rows: list[list[Any]]) -> None:
    """Insert many rows of ``model`` fast: for 10^5 rows the ORM's per-field work in
    ``bulk_create`` costs more than the database. A row holds the values of the model's
    concrete fields but the primary key, in field order (:func:`insert_fields`); JSON and
    date-time values are prepared by their fields, as ``bulk_create`` would, and every other
    value must already be what the database takes. Rows are prepared in place."""
    fields = insert_fields(model)
    db = transaction.get_connection()  # the connection itself, not the per-context proxy
    prepared_by_field = [
        (column, model_field)
        for column, model_field in enumerate(fields)
        if model_field.get_internal_type() in ("JSONField", "DateTimeField")
    ]
    # Most JSON values are None or {}: prepared once per column.
    empty = {
        (column, kind): model_field.get_db_prep_save(kind(), db)
        for column, model_field in prepared_by_field
        for kind in (type(None), dict)
        if model_field.get_internal_type() == "JSONField"
    }

    def prepared(row: list[Any]) -> list[Any]:
        for column, model_field in prepared_by_field:
            value = row[column]
            kind = type(value)
            if (kind is dict and not value) or value is None:
                row[column] = empty.get((column, kind), value)
            else:
                row[column] = model_field.get_db_prep_save(value, db)
        return row

    _write(model, fields, map(prepared, rows))


def insert_objects(model: type[models.Model], objects: Sequence[models.Model]) -> None:
    """Insert unsaved ``model`` objects as ``bulk_create`` would, without setting their
    primary keys: for rows nobody reads back, such as audit events. Each field's
    ``pre_save`` with ``add`` gives its value (so ``auto_now_add`` stamps it), prepared as
    :func:`insert_rows` prepares values."""
    fields = insert_fields(model)
    insert_rows(model, [[f.pre_save(obj, True) for f in fields] for obj in objects])


def _write(model: type[models.Model], fields: list[Any], rows: Iterable[list[Any]]) -> None:
    """Send prepared rows: PostgreSQL through COPY, SQLite through one prepared statement
    over all rows (sqlite3 runs the loop in C)."""
    db = transaction.get_connection()
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(fields))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector for a block that allocates many long-lived objects.

    Every full collection walks all live objects again: while an import holds hundreds of
    thousands of rows, each one costs a noticeable pause, for no garbage (those objects are
    freed by reference counting). Processes forked inside the block inherit the pause. The
    previous state is restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``: the ids of one ``IN (...)`` query each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def planner_statistics_refresh(*models_written: type[models.Model]) -> None:
    """Refresh PostgreSQL's planner statistics of the tables of ``models_written`` (ANALYZE)
    after a bulk write, outside any transaction.

    Until autovacuum gets to a table, the planner takes it for as small as it last
    measured it, and may choose plans that scan a whole table once per row of another:
    right after 10,000 images were written, the work dashboard's "waiting since" subquery
    scanned every submission once per image (27 s); after ANALYZE, 0.13 s. ANALYZE
    reads a sample of each table, so it costs about the same for any size. SQLite keeps
    no statistics here: nothing to do."""
    db = transaction.get_connection()
    if db.vendor != "postgresql":
        return
    tables = ", ".join(db.ops.quote_name(m._meta.db_table) for m in models_written)
    with db.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")
