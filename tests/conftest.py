"""Shared fixtures: a project with one user per role, and the path to the real test data."""

import os
from pathlib import Path

import pytest

from projects.models import Role
from tests.factories import LabelClassFactory, MembershipFactory, ProjectFactory, UserFactory

SHARED_DATA = Path(
    os.environ.get("MASKQC_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set MASKQC_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def project(db):
    return ProjectFactory(slug="bubbles", name="Pool boiling")


@pytest.fixture
def bubble(project):
    return LabelClassFactory(project=project, name="bubble")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)


def _member(project, username: str, role: str):
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.fixture
def lead(project):
    return _member(project, "lead", Role.LEAD)


@pytest.fixture
def reviewer(project):
    return _member(project, "reviewer", Role.REVIEWER)


@pytest.fixture
def annotator(project):
    return _member(project, "annotator", Role.ANNOTATOR)


@pytest.fixture
def other_annotator(project):
    return _member(project, "other_annotator", Role.ANNOTATOR)


@pytest.fixture
def outsider(db):
    """A user of another project: knows the site, must learn nothing of `project`."""
    user = UserFactory(username="outsider")
    MembershipFactory(user=user, role=Role.LEAD)
    return user
