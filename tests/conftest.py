"""Shared fixtures: a project with one user per role, and the path to the real test data.

Also the hypothesis set-up of the whole suite. The ``maskqc`` profile is loaded unless
``HYPOTHESIS_PROFILE`` names another (``quick``: 10 examples where a test does not set its
own count, for a fast local loop); the metric and band properties scale their example
counts from it (see ``tests/qc/test_agreement.py``). Every property draws its own seed;
when one fails its seed is printed beside the failure (``--hypothesis-seed=N`` with ``-k``
for that test replays it), and hypothesis' example database replays the failure first on
the next run.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, core, settings

from projects.models import Role
from tests.factories import LabelClassFactory, MembershipFactory, ProjectFactory, UserFactory

settings.register_profile(
    "maskqc",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("quick", settings.get_profile("maskqc"), max_examples=10)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "maskqc"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    test = getattr(item, "obj", None)
    if report.failed and getattr(test, "is_hypothesis_test", False):
        # The seed this test drew (or the one forced for the whole run)
        seed = getattr(test, "_hypothesis_internal_use_generated_seed", None)
        if seed is None:
            seed = core.global_force_seed
        if seed is not None:
            report.sections.append(
                (
                    "hypothesis seed",
                    f"{seed}: rerun this test with -k and --hypothesis-seed={seed}",
                )
            )
    return report


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
