"""What the imports, exports and recompute pages say of a job's run (one partial,
``qc/_job_progress.html``, for all three): queued since when, running with its last sign
of life, stuck with what the watcher will do, failed with its error and Retry for leads and
admins, finished when; and the Retry routes, which queue a failed job again and come back
to its page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone

from projects.models import AuditEvent
from qc.models import Export, ImportJob, JobStatus, Recompute
from qc.selectors.jobs import _error_parts, job_state, seconds_in_words

pytestmark = pytest.mark.django_db

KINDS = {
    # kind: (model, detail URL name, retry URL name, the list's URL name)
    "import": (ImportJob, "import-detail", "import-retry", "project-imports"),
    "export": (Export, "export-detail", "export-retry", "project-exports"),
    "recompute": (Recompute, "recompute-detail", "recompute-retry", "project-recompute"),
}
ERROR = "worker lost 3 times; last sign of life at 2026-12-01T09:00:00+00:00"


def _job(kind: str, project, user, **fields):
    model = KINDS[kind][0]
    extra = {} if kind == "recompute" else {"format": "coco"}
    return model.objects.create(project=project, created_by=user, **extra, **fields)


def _ago(**delta) -> object:
    return timezone.now() - timedelta(**delta)


def _shown(moment, format: str) -> str:
    return dateformat.format(timezone.localtime(moment), format)


def _partial(client, kind: str, job) -> str:
    """The job's status partial, as the page's poll asks for it."""
    url = reverse(KINDS[kind][1], args=[job.project.slug, job.pk])
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def as_lead(client, lead):
    client.force_login(lead)
    return client


# ------------------------------------------------------------------------ each state


@pytest.mark.parametrize("kind", KINDS)
def test_a_queued_job_says_since_when_it_waits(as_lead, project, lead, kind):
    job = _job(kind, project, lead)
    created = _ago(seconds=95)
    type(job).objects.filter(pk=job.pk).update(created_at=created)

    html = _partial(as_lead, kind, job)

    assert '<span class="badge job-pending">Queued</span>' in html
    assert (
        f'In the queue since <time datetime="{created.isoformat()}">'
        f"{_shown(created, 'j M, H:i:s')}</time> (1 min ago): waiting for a worker."
    ) in html
    assert 'hx-trigger="every 2s"' in html
    assert f'id="{kind}-retry"' not in html


@pytest.mark.parametrize("kind", KINDS)
def test_a_running_job_shows_its_per_cent_start_and_last_sign_of_life(
    as_lead, project, lead, kind, settings
):
    # Minutes, not seconds, so that a slow test still reads the same words.
    settings.MASKQC_JOB_STUCK_SECONDS = 600
    started = _ago(minutes=5)
    job = _job(
        kind,
        project,
        lead,
        status=JobStatus.RUNNING,
        progress=0.42,
        started_at=started,
        heartbeat_at=_ago(minutes=3, seconds=10),
        attempts=1,
    )

    html = _partial(as_lead, kind, job)

    assert f'<progress id="{kind}-progress" max="100" value="42">42 %</progress>' in html
    assert (
        f'Started at <time datetime="{started.isoformat()}">{_shown(started, "H:i:s")}</time>'
        ' · last sign of life <span class="job-beat">3 min ago</span>'
    ) in html
    assert f'id="{kind}-stuck"' not in html
    # The first attempt is not worth a word.
    assert "attempt" not in html
    assert 'hx-trigger="every 2s"' in html


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_silent_past_the_stuck_time_says_the_watcher_will_queue_it_again(
    as_lead, project, lead, kind, settings
):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    settings.MASKQC_JOB_MAX_ATTEMPTS = 3
    silent = _ago(minutes=5, seconds=10)
    job = _job(
        kind,
        project,
        lead,
        status=JobStatus.RUNNING,
        progress=0.3,
        started_at=_ago(minutes=8),
        heartbeat_at=silent,
        attempts=2,
    )

    html = _partial(as_lead, kind, job)

    assert (
        f'No sign of life since <time datetime="{silent.isoformat()}">'
        f"{_shown(silent, 'j M, H:i:s')}</time> (5 min) — the watcher will queue it again."
    ) in html
    assert '<span class="badge job-running job-stuck">Running</span>' in html
    assert f'<span class="job-attempt" id="{kind}-attempt">attempt 2 of 3</span>' in html


def test_a_job_lost_on_its_last_attempt_says_the_watcher_will_fail_it(
    as_lead, project, lead, settings
):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    settings.MASKQC_JOB_MAX_ATTEMPTS = 3
    job = _job(
        "import",
        project,
        lead,
        status=JobStatus.RUNNING,
        started_at=_ago(minutes=4),
        heartbeat_at=_ago(minutes=3),
        attempts=3,
    )

    html = _partial(as_lead, "import", job)

    assert (
        "(3 min) — the watcher will mark it failed: its worker has been lost 3 times.</p>"
    ) in html


def test_a_recompute_running_in_parts_says_how_many_are_done(as_lead, project, lead):
    job = _job(
        "recompute",
        project,
        lead,
        status=JobStatus.RUNNING,
        progress=0.4,
        parts_done=2,
        parts_total=5,
        message="2 of 5 parts done",
        started_at=_ago(seconds=30),
        heartbeat_at=_ago(seconds=1),
    )

    html = _partial(as_lead, "recompute", job)

    assert '<span class="job-parts" id="recompute-parts">2 of 5 parts done</span>' in html
    # Its message says the same ("2 of 5 parts done"): said once.
    assert html.count("2 of 5 parts done") == 1
    assert '<progress id="recompute-progress" max="100" value="40">40 %</progress>' in html


def test_a_recompute_whose_parts_wait_is_not_called_lost_for_sure(as_lead, project, lead, settings):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    job = _job(
        "recompute",
        project,
        lead,
        status=JobStatus.RUNNING,
        parts_done=1,
        parts_total=5,
        started_at=_ago(minutes=9),
        heartbeat_at=_ago(minutes=4),
        attempts=1,
    )

    html = _partial(as_lead, "recompute", job)

    assert (
        "(4 min) — its parts may still be waiting for a free worker; if its worker was "
        "lost, the watcher will queue it again."
    ) in html


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_job_shows_its_error_and_retry_to_a_lead(as_lead, project, lead, kind):
    started = _ago(minutes=10)
    job = _job(
        kind,
        project,
        lead,
        status=JobStatus.FAILED,
        error=ERROR,
        attempts=3,
        started_at=started,
        finished_at=started + timedelta(minutes=6, seconds=5),
    )

    html = _partial(as_lead, kind, job)

    assert f'<p class="error-line" id="{kind}-error">{ERROR}</p>' in html
    assert "The whole error" not in html
    assert "(took 6 min).</p>" in html
    retry = reverse(KINDS[kind][2], args=[project.slug, job.pk])
    assert f'<form class="job-retry" method="post" action="{retry}">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'<button type="submit" id="{kind}-retry">Retry</button>' in html
    assert "hx-trigger" not in html


def test_a_long_error_shows_its_head_and_folds_the_rest(as_lead, project, lead):
    error = "internal error: OperationalError: " + "the server closed the connection " * 20
    job = _job("export", project, lead, status=JobStatus.FAILED, error=error)

    html = _partial(as_lead, "export", job)

    head, _ = _error_parts(error)
    assert len(head) == 300 and head.endswith("…")
    assert f'<p class="error-line" id="export-error">{head}</p>' in html
    assert (
        '<details class="error-details"><summary>The whole error</summary>'
        f'<pre class="error-text">{error.strip()}</pre></details>'
    ) in html


def test_a_traceback_is_headed_by_its_exception_not_its_first_line():
    error = (
        "Traceback (most recent call last):\n"
        '  File "qc/services/exports.py", line 9, in export_run\n'
        "    write()\n"
        "OSError: [Errno 28] No space left on device\n"
    )

    assert _error_parts(error) == ("OSError: [Errno 28] No space left on device", error.strip())
    assert _error_parts("x: it broke") == ("x: it broke", "")
    assert _error_parts("") == ("", "")


@pytest.mark.parametrize("kind", KINDS)
def test_a_finished_job_says_when_and_after_how_long(as_lead, project, lead, kind):
    finished = _ago(minutes=1)
    job = _job(
        kind,
        project,
        lead,
        status=JobStatus.DONE,
        progress=1.0,
        attempts=1,
        started_at=finished - timedelta(seconds=83),
        finished_at=finished,
    )

    html = _partial(as_lead, kind, job)

    assert (
        f'Finished <time datetime="{finished.isoformat()}">'
        f"{_shown(finished, 'j M Y, H:i:s')}</time> (took 1 min).</p>"
    ) in html
    assert "<progress" not in html and "hx-trigger" not in html


def test_durations_read_as_a_person_says_them():
    assert [seconds_in_words(s) for s in (0.4, 12, 59.9, 60, 3599, 3600, 7500, 86_400, 3e5)] == [
        "under a second",
        "12 s",
        "59 s",
        "1 min",
        "59 min",
        "1 h",
        "2 h 5 min",
        "1 day",
        "3 days",
    ]


def test_the_state_is_read_without_a_query(project, lead, django_assert_num_queries):
    job = _job("import", project, lead, status=JobStatus.FAILED, error="x")

    with django_assert_num_queries(0):
        state = job_state(job, may_manage=False)

    assert (state.may_retry, state.error_head, state.live) == (False, "x", False)


# --------------------------------------------------------------------------- the lists


@pytest.mark.parametrize("kind", KINDS)
def test_the_lists_say_queued_running_stuck_failed_and_finished(
    as_lead, project, lead, kind, settings
):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    now = timezone.now()
    _job(kind, project, lead)
    _job(kind, project, lead, status=JobStatus.RUNNING, progress=0.5, heartbeat_at=now)
    _job(kind, project, lead, status=JobStatus.RUNNING, progress=0.25, heartbeat_at=_ago(hours=1))
    _job(kind, project, lead, status=JobStatus.FAILED, error=ERROR)
    _job(kind, project, lead, status=JobStatus.DONE, progress=1.0)

    html = as_lead.get(reverse(KINDS[kind][3], args=[project.slug])).content.decode()

    for badge in (
        '<span class="badge quiet">Queued</span>',
        '<span class="badge">Running 50 %</span>',
        '<span class="badge warn job-stuck" title="No sign of life for 1 h">Stuck at 25 %</span>',
        '<span class="badge bad">Failed</span>',
        '<span class="badge good">Finished</span>',
    ):
        assert html.count(badge) == 1, badge


# ---------------------------------------------------------------------------- retrying


@pytest.mark.parametrize("kind", KINDS)
def test_retry_queues_a_failed_job_and_comes_back_to_its_page(
    client, project, lead, admin_user, kind, django_capture_on_commit_callbacks
):
    job = _job(
        kind,
        project,
        lead,
        status=JobStatus.FAILED,
        error=ERROR,
        attempts=3,
        started_at=_ago(hours=2),
        finished_at=_ago(hours=1),
    )
    client.force_login(admin_user)
    detail = reverse(KINDS[kind][1], args=[project.slug, job.pk])

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse(KINDS[kind][2], args=[project.slug, job.pk]))

    assert (response.status_code, response["Location"]) == (302, detail)
    assert len(queued) == 1
    job.refresh_from_db()
    assert (job.status, job.error, job.finished_at) == (JobStatus.PENDING, "", None)
    page = client.get(detail).content.decode()
    assert "is queued again; this page follows it." in page
    # Queued again at the retry, as its audit event says, not at the job's creation.
    event = AuditEvent.objects.get(verb__endswith=".retry", object_id=str(job.pk))
    since = (
        f'Queued again since <time datetime="{event.created_at.isoformat()}">'
        f"{_shown(event.created_at, 'j M, H:i:s')}</time> ("
    )
    assert page[page.index(since) + len(since) :].startswith(("under a second ago)", "1 s ago)"))
    assert ERROR not in page
    # Its message ("queued again") says no more than the state: not repeated.
    assert 'class="muted job-message"' not in page


@pytest.mark.parametrize("kind", KINDS)
def test_retrying_a_job_that_has_not_failed_says_why_and_changes_nothing(
    as_lead, project, lead, kind
):
    job = _job(kind, project, lead, status=JobStatus.DONE, progress=1.0)

    response = as_lead.post(reverse(KINDS[kind][2], args=[project.slug, job.pk]), follow=True)

    assert response.redirect_chain == [(reverse(KINDS[kind][1], args=[project.slug, job.pk]), 302)]
    assert "Only a failed job can be retried; this one is Finished." in response.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.DONE


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("annotator", 403)])
def test_other_members_may_not_retry_nor_see_the_job(
    client, request, project, lead, kind, who, status
):
    job = _job(kind, project, lead, status=JobStatus.FAILED, error=ERROR)
    client.force_login(request.getfixturevalue(who))

    posted = client.post(reverse(KINDS[kind][2], args=[project.slug, job.pk]))
    seen = client.get(reverse(KINDS[kind][1], args=[project.slug, job.pk]))

    assert (posted.status_code, seen.status_code) == (status, status)
    assert ERROR not in posted.content.decode() + seen.content.decode()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


@pytest.mark.parametrize("kind", KINDS)
def test_an_outsider_and_another_project_s_job_are_not_found(client, project, lead, outsider, kind):
    mine = _job(kind, project, lead, status=JobStatus.FAILED, error=ERROR)
    theirs = _job(
        kind, outsider.memberships.get().project, outsider, status=JobStatus.FAILED, error=ERROR
    )

    client.force_login(outsider)
    outsider_post = client.post(reverse(KINDS[kind][2], args=[project.slug, mine.pk]))
    client.force_login(lead)
    cross_post = client.post(reverse(KINDS[kind][2], args=[project.slug, theirs.pk]))

    assert (outsider_post.status_code, cross_post.status_code) == (404, 404)
    assert ERROR not in outsider_post.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (JobStatus.FAILED, JobStatus.FAILED)
