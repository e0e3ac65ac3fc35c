"""The per-image services lock the image they change, not its project: an import (or a job
start) that holds the project's row must not stall every image's agreement behind it, and
workers on different images of one project run side by side (PostgreSQL's FOR UPDATE on a
join would lock every joined row)."""

import numpy as np
import psycopg
import pytest
from django.db import connection

from qc import masks
from qc.models import ImageAgreement
from qc.services import InstanceInput, submission_create
from qc.services.agreement import agreement_update_for_image
from qc.services.features import instance_features_recompute
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite locks the whole file)")


def _disc(cx: float, cy: float, r: float) -> dict:
    yy, xx = np.mgrid[:64, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


@pytest.fixture
def image(project, bubble):
    image = ImageFactory(project=project, width=64, height=64)
    for n, name in enumerate(("amy", "bob")):
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user, role="annotator")
        submission_create(
            task=TaskFactory(image=image, annotator=user),
            actor=user,
            instances=[InstanceInput(label_class=bubble, rle=_disc(30 + n, 30, 10))],
        )
    return image


@pytest.fixture
def project_locked(project):
    """Another session holding the project's row, as an import's commit does."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg.connect(**params, autocommit=False)
    other.execute("SELECT 1 FROM projects_project WHERE id = %s FOR UPDATE", [project.pk])
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")
    yield
    other.rollback()
    other.close()
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


def test_an_images_agreement_is_stored_while_its_project_row_is_held(image, project_locked):
    agreement_update_for_image(image_id=image.pk)

    assert ImageAgreement.objects.filter(image=image).count() == 1


def test_an_images_features_are_recomputed_while_its_project_row_is_held(
    project, image, project_locked
):
    summary = instance_features_recompute(project=project, all_images=True)

    assert (summary.images_recomputed, summary.failed) == (1, {})
