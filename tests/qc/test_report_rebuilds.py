"""A project's agreement report under a stream of submissions: one rebuild waits per
project, deferred to MASKQC_REPORT_INTERVAL_SECONDS after the stored report was read, and a
rebuild that read earlier never overwrites one that read later."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import task_backends

from qc.models import AgreementSummary
from qc.services import agreement
from qc.services.agreement import (
    agreement_summary_queue,
    agreement_summary_task,
    agreement_summary_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(settings):
    """The tasks queued, kept and not run; rebuilds at most every 30 s."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.MASKQC_REPORT_INTERVAL_SECONDS = 30
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    backend = task_backends["default"]
    backend.clear()
    return backend.results


def _stored(project, *, ago: float, queued_ago: float | None = None) -> AgreementSummary:
    now = timezone.now()
    return AgreementSummary.objects.create(
        project=project,
        report={"stored": True},
        computed_at=now - timedelta(seconds=ago),
        queued_at=None if queued_ago is None else now - timedelta(seconds=queued_ago),
    )


def test_the_first_report_of_a_project_is_queued_at_once(queued, project):
    agreement_summary_queue(project_id=project.pk)

    assert [(r.kwargs, r.task.run_after) for r in queued] == [({"project_id": project.pk}, None)]


def test_many_requests_queue_one_rebuild_deferred_to_the_interval(queued, project):
    summary = _stored(project, ago=10)

    for _ in range(5):
        agreement_summary_queue(project_id=project.pk)

    summary.refresh_from_db()
    assert [r.task.run_after for r in queued] == [summary.computed_at + timedelta(seconds=30)]
    assert summary.queued_at is not None


def test_a_report_older_than_the_interval_is_rebuilt_without_delay(queued, project):
    _stored(project, ago=45)

    agreement_summary_queue(project_id=project.pk)

    assert [r.task.run_after for r in queued] == [None]


def test_a_started_rebuild_lets_the_next_request_queue_another(queued, project):
    _stored(project, ago=45)
    agreement_summary_queue(project_id=project.pk)

    agreement_summary_task.call(project_id=project.pk)
    agreement_summary_queue(project_id=project.pk)

    assert len(queued) == 2
    assert AgreementSummary.objects.get(project=project).queued_at is not None


def test_a_claim_whose_rebuild_was_lost_is_queued_again(queued, project):
    # Queued 151 s ago: past the interval (30 s) and the stuck time (120 s).
    _stored(project, ago=200, queued_ago=151)

    agreement_summary_queue(project_id=project.pk)

    assert len(queued) == 1


def test_a_recent_claim_holds_even_when_the_report_is_old(queued, project):
    _stored(project, ago=200, queued_ago=100)

    agreement_summary_queue(project_id=project.pk)

    assert queued == []


def test_a_refused_rebuild_lets_the_claim_go_and_says_so(queued, project, monkeypatch, caplog):
    _stored(project, ago=45)

    def refuse(self, *args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(type(agreement.agreement_summary_task), "enqueue", refuse)
    agreement_summary_queue(project_id=project.pk)

    assert AgreementSummary.objects.get(project=project).queued_at is None
    assert [r.getMessage() for r in caplog.records if r.name == "maskqc.agreement"] == [
        f"agreement report of project {project.pk} not queued (ConnectionError: Redis is down); "
        "the agreement backlog queues it once the task queue takes work again"
    ]


def test_a_rebuild_that_read_earlier_does_not_overwrite_a_later_one(project):
    later = timezone.now() + timedelta(hours=1)
    AgreementSummary.objects.create(project=project, report={"later": True}, computed_at=later)

    agreement_summary_update(project_id=project.pk)

    summary = AgreementSummary.objects.get(project=project)
    assert (summary.report, summary.computed_at) == ({"later": True}, later)


def test_a_rebuild_records_when_it_began_reading(project):
    before = timezone.now()
    AgreementSummary.objects.create(
        project=project, report={"old": True}, computed_at=before - timedelta(minutes=5)
    )

    agreement_summary_update(project_id=project.pk)

    summary = AgreementSummary.objects.get(project=project)
    assert summary.report != {"old": True}
    assert before <= summary.computed_at <= timezone.now()
