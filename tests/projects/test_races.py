"""Races end in a clear answer, on PostgreSQL with real threads and separate connections:
claim-next never hands one task to two callers, and concurrent identical creates give one
row and a ConflictError for every other caller (never an IntegrityError)."""

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from projects.errors import ConflictError
from projects.models import AuditEvent, Image, LabelClass, Membership, Project, Task, TaskStatus
from projects.services import (
    image_create,
    label_class_create,
    membership_add,
    membership_set,
    project_create,
    task_claim_next,
)
from tests.factories import (
    ImageFactory,
    MembershipFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)

WORKERS = 20

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every writer)")


def run_at_once(call: Callable[[], Any], workers: int = WORKERS) -> list[Any]:
    """``call`` in ``workers`` threads released together; each outcome is the returned
    value or the exception raised. Every thread closes its own connection."""
    barrier = threading.Barrier(workers)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            barrier.wait()
            result: Any = call()
        except Exception as error:
            result = error
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _kinds(outcomes: list[Any]) -> Counter:
    return Counter(type(outcome).__name__ for outcome in outcomes)


def test_claim_next_twenty_workers_ten_tasks_each_claimed_once():
    project = ProjectFactory()
    annotator = UserFactory()
    MembershipFactory(project=project, user=annotator, role="annotator")
    for _ in range(10):
        TaskFactory(image=ImageFactory(project=project), annotator=annotator)

    outcomes = run_at_once(lambda: task_claim_next(project=project, actor=annotator))

    claimed = [o.pk for o in outcomes if isinstance(o, Task)]
    assert _kinds(outcomes) == Counter({"Task": 10, "ConflictError": 10})
    assert len(set(claimed)) == 10
    assert Task.objects.filter(status=TaskStatus.IN_PROGRESS).count() == 10
    assert AuditEvent.objects.filter(verb="task.claim").count() == 10


def test_claim_next_conditional_update_path_claims_each_task_once(monkeypatch):
    """The path for databases without SKIP LOCKED, raced for real on PostgreSQL."""
    features = type(connection.features)
    monkeypatch.setattr(features, "has_select_for_update_skip_locked", False)
    project = ProjectFactory()
    annotator = UserFactory()
    MembershipFactory(project=project, user=annotator, role="annotator")
    for _ in range(10):
        TaskFactory(image=ImageFactory(project=project), annotator=annotator)

    outcomes = run_at_once(lambda: task_claim_next(project=project, actor=annotator))

    claimed = [o.pk for o in outcomes if isinstance(o, Task)]
    assert _kinds(outcomes) == Counter({"Task": 10, "ConflictError": 10})
    assert len(set(claimed)) == 10


def test_project_create_twenty_at_once_one_row():
    outcomes = run_at_once(lambda: project_create(slug="race", name="Race"))

    assert _kinds(outcomes) == Counter({"Project": 1, "ConflictError": 19})
    assert Project.objects.filter(slug="race").count() == 1
    assert {str(o) for o in outcomes if isinstance(o, ConflictError)} == {
        "A project with slug 'race' already exists."
    }


def test_label_class_create_twenty_at_once_one_row():
    project = ProjectFactory()

    outcomes = run_at_once(lambda: label_class_create(project=project, name="bubble"))

    assert _kinds(outcomes) == Counter({"LabelClass": 1, "ConflictError": 19})
    assert LabelClass.objects.filter(project=project).count() == 1


def test_image_create_twenty_at_once_one_row():
    project = ProjectFactory()

    outcomes = run_at_once(lambda: image_create(project=project, name="f.png", width=10, height=10))

    assert _kinds(outcomes) == Counter({"Image": 1, "ConflictError": 19})
    assert Image.objects.filter(project=project).count() == 1
    assert AuditEvent.objects.filter(verb="image.create").count() == 1


def test_membership_add_twenty_at_once_one_row():
    project = ProjectFactory()
    user = UserFactory()

    outcomes = run_at_once(lambda: membership_add(project=project, user=user, role="annotator"))

    assert _kinds(outcomes) == Counter({"Membership": 1, "ConflictError": 19})
    assert Membership.objects.filter(project=project, user=user).count() == 1


def test_membership_set_twenty_at_once_everyone_gets_the_one_row():
    project = ProjectFactory()
    user = UserFactory()

    outcomes = run_at_once(lambda: membership_set(project=project, user=user, role="reviewer"))

    assert _kinds(outcomes) == Counter({"Membership": 20})
    assert len({o.pk for o in outcomes}) == 1
    assert Membership.objects.get(project=project, user=user).role == "reviewer"
    assert AuditEvent.objects.filter(verb="membership.create").count() == 1
