"""A large import refreshes PostgreSQL's planner statistics of the tables it grew (ANALYZE
after its commit); a small one, and any import on SQLite, leaves them to autovacuum."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qc.services import bulk, imports
from qc.services.imports import import_annotations
from tests.qc.test_imports import coco_image, coco_polygon, square, write_coco


def _import(tmp_path, project, lead) -> list[str]:
    path = write_coco(
        tmp_path,
        images=[coco_image(1, "a.png"), coco_image(2, "b.png")],
        annotations=[coco_polygon(7, 1, square(10, 8, 12)), coco_polygon(8, 2, square(40, 20, 5))],
    )
    with CaptureQueriesContext(connection) as captured:
        summary = import_annotations(
            project=project, path=path, format="coco", actor=lead, annotator="annotator"
        )
    assert summary.instances == 2
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith("ANALYZE")]


@pytest.mark.parametrize("threshold", [4, 5])
def test_an_import_of_at_least_the_threshold_refreshes_statistics(
    tmp_path, project, bubble, annotator, lead, monkeypatch, threshold
):
    # Two submissions and two instances: four rows.
    monkeypatch.setattr(imports, "STATISTICS_REFRESH_ROWS", threshold)

    analyzed = _import(tmp_path, project, lead)

    if connection.vendor != "postgresql" or threshold > 4:
        assert analyzed == []
    else:
        assert len(analyzed) == 1
        for model in imports.WRITTEN_BY_IMPORTS:
            assert f'"{model._meta.db_table}"' in analyzed[0]


def test_refreshing_statistics_is_one_statement_on_postgresql_none_on_sqlite(db):
    with CaptureQueriesContext(connection) as captured:
        bulk.planner_statistics_refresh(*imports.WRITTEN_BY_IMPORTS)

    assert len(captured) == (1 if connection.vendor == "postgresql" else 0)
