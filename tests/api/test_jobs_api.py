"""Every background job's run in the API (imports, exports, recomputes): status, progress,
error, attempts and when it was created, claimed, last heard of and ended; whether it is
stuck; a failed one retried with POST .../<id>/retry/ (leads and admins; 409 unless it
failed); and the recomputes list, detail and start."""

from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import AuditEvent
from qc.models import Export, ImportJob, JobStatus, Recompute

KINDS = {
    # kind: (model, the URL's collection, the audit verb's noun, fields of a new row)
    "import": (ImportJob, "imports", "import_job", {"format": "coco"}),
    "export": (Export, "exports", "export", {"format": "coco"}),
    "recompute": (Recompute, "recomputes", "recompute", {}),
}
ERROR = "worker lost 3 times; last sign of life at 2026-12-01T09:00:00+00:00"


def _job(kind: str, project, user, **fields):
    model, _, _, defaults = KINDS[kind]
    return model.objects.create(project=project, created_by=user, **defaults, **fields)


def _url(kind: str, project, job=None, tail: str = "") -> str:
    collection = KINDS[kind][1]
    path = f"/api/v1/projects/{project.slug}/{collection}/"
    return path + (f"{job.pk}/" if job else "") + tail


def _failed(kind: str, project, user):
    started = timezone.now() - timedelta(minutes=10)
    return _job(
        kind,
        project,
        user,
        status=JobStatus.FAILED,
        progress=0.4,
        error=ERROR,
        attempts=3,
        started_at=started,
        heartbeat_at=started + timedelta(minutes=2),
        finished_at=started + timedelta(minutes=5),
    )


# ----------------------------------------------------------------------------- the run


@pytest.mark.parametrize("kind", KINDS)
def test_each_job_shows_its_run(api, project, lead, kind):
    job = _failed(kind, project, lead)
    api.force_authenticate(lead)

    data = api.get(_url(kind, project, job)).json()

    assert {key: data[key] for key in ("status", "progress", "error", "attempts", "stuck")} == {
        "status": "failed",
        "progress": 0.4,
        "error": ERROR,
        "attempts": 3,
        "stuck": False,
    }
    for key in ("created_at", "started_at", "heartbeat_at", "finished_at"):
        assert data[key] == getattr(job, key).isoformat().replace("+00:00", "Z"), key
    assert data["created_by"] == "lead"
    assert data["retry_url"] == _url(kind, project, job, "retry/")


@pytest.mark.parametrize("kind", KINDS)
def test_a_running_job_silent_past_the_stuck_time_is_stuck(api, project, lead, kind, settings):
    settings.MASKQC_JOB_STUCK_SECONDS = 120
    now = timezone.now()
    beating = _job(kind, project, lead, status=JobStatus.RUNNING, started_at=now, heartbeat_at=now)
    silent = _job(
        kind,
        project,
        lead,
        status=JobStatus.RUNNING,
        started_at=now - timedelta(minutes=10),
        heartbeat_at=now - timedelta(seconds=121),
    )
    api.force_authenticate(lead)

    listed = {row["id"]: row for row in api.get(_url(kind, project)).json()["results"]}

    assert (listed[beating.pk]["stuck"], listed[silent.pk]["stuck"]) == (False, True)
    assert (listed[beating.pk]["retry_url"], listed[silent.pk]["retry_url"]) == (None, None)


def test_the_run_fields_are_read_only_in_the_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]

    for name in ("ImportJob", "Export", "Recompute"):
        properties = schema[name]["properties"]
        for key in ("status", "attempts", "started_at", "heartbeat_at", "finished_at"):
            assert properties[key].get("readOnly") is True, (name, key)
    retry = "/api/v1/projects/{slug}/recomputes/{id}/retry/"
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert sorted(paths[retry]["post"]["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "429",
    ]
    assert "requestBody" not in paths[retry]["post"]


# --------------------------------------------------------------------------- retrying


@pytest.mark.parametrize("kind", KINDS)
def test_a_lead_retries_a_failed_job_and_it_is_queued(
    api, project, lead, kind, django_capture_on_commit_callbacks
):
    job = _failed(kind, project, lead)
    api.force_authenticate(lead)

    with django_capture_on_commit_callbacks() as queued:
        response = api.post(_url(kind, project, job, "retry/"))

    assert response.status_code == 200
    data = response.json()
    assert (data["id"], data["status"], data["error"], data["progress"]) == (
        job.pk,
        "pending",
        "",
        0.0,
    )
    assert (data["finished_at"], data["retry_url"]) == (None, None)
    # An export has no message; the others say why they wait.
    assert data.get("message", "queued again") == "queued again"
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.PENDING, "")
    # Its task is queued once the retry commits.
    assert len(queued) == 1
    event = AuditEvent.objects.get(verb=f"{KINDS[kind][2]}.retry")
    assert (event.actor, event.object_id, event.project) == (lead, str(job.pk), project)


def test_an_admin_retries_a_failed_export_and_a_worker_finishes_it(
    api, project, lead, admin_user, django_capture_on_commit_callbacks
):
    export = _failed("export", project, lead)
    api.force_authenticate(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(_url("export", project, export, "retry/"))

    assert response.status_code == 200
    # The immediate backend ran the queued task at the commit: the export ran again.
    done = api.get(_url("export", project, export)).json()
    assert (done["status"], done["progress"], done["error"]) == ("done", 1.0, "")
    assert done["attempts"] == 1
    assert done["download_url"] == f"/api/v1/projects/{project.slug}/exports/{export.pk}/download/"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DONE])
def test_retrying_a_job_that_has_not_failed_is_a_409(api, project, lead, kind, status):
    job = _job(kind, project, lead, status=status)
    api.force_authenticate(lead)

    response = api.post(_url(kind, project, job, "retry/"))

    assert response.status_code == 409
    label = {"pending": "Queued", "running": "Running", "done": "Finished"}[status]
    assert response.json()["message"] == (f"Only a failed job can be retried; this one is {label}.")
    job.refresh_from_db()
    assert job.status == status
    assert not AuditEvent.objects.filter(verb__endswith=".retry").exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("annotator", 403), ("outsider", 404), (None, 401)]
)
def test_only_leads_and_admins_retry_and_others_learn_nothing(
    api, request, project, lead, kind, who, status
):
    job = _failed(kind, project, lead)
    if who is not None:
        api.force_authenticate(request.getfixturevalue(who))

    response = api.post(_url(kind, project, job, "retry/"))

    assert response.status_code == status
    # The job's error (what could leak) is not in the refusal, and nothing changed.
    assert "worker lost" not in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, ERROR)
    assert not AuditEvent.objects.filter(verb__endswith=".retry").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_another_project_s_job_is_not_found_for_retry(api, project, lead, outsider, kind):
    theirs = _failed(kind, outsider.memberships.get().project, outsider)
    api.force_authenticate(lead)

    response = api.post(f"/api/v1/projects/{project.slug}/{KINDS[kind][1]}/{theirs.pk}/retry/")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == JobStatus.FAILED


@pytest.mark.parametrize("kind", KINDS)
def test_retry_takes_no_get(api, project, lead, kind):
    job = _failed(kind, project, lead)
    api.force_authenticate(lead)

    assert api.get(_url(kind, project, job, "retry/")).status_code == 405


# ------------------------------------------------------------------------- recomputes


def test_a_lead_starts_a_recompute_and_follows_it(
    api, project, lead, django_capture_on_commit_callbacks
):
    api.force_authenticate(lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(_url("recompute", project))

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    recompute = Recompute.objects.get()
    data = api.get(_url("recompute", project, recompute)).json()
    # A project without submissions: nothing to recompute, done at once.
    assert (data["id"], data["status"], data["progress"], data["error"]) == (
        recompute.pk,
        "done",
        1.0,
        "",
    )
    assert data["summary"]["images"] == 0
    assert data["attempts"] == 1
    assert AuditEvent.objects.filter(verb="recompute.create", object_id=str(recompute.pk)).exists()


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 403), ("annotator", 403), ("outsider", 404)]
)
def test_only_leads_and_admins_start_or_see_recomputes(api, request, project, lead, who, status):
    mine = _failed("recompute", project, lead)
    api.force_authenticate(request.getfixturevalue(who))

    started = api.post(_url("recompute", project))
    listed = api.get(_url("recompute", project))
    detail = api.get(_url("recompute", project, mine))

    assert (started.status_code, listed.status_code, detail.status_code) == (status,) * 3
    assert "worker lost" not in listed.content.decode() + detail.content.decode()
    assert Recompute.objects.count() == 1


def test_a_project_with_recomputes_queued_refuses_another_with_429(api, project, lead, settings):
    settings.MASKQC_MAX_PENDING_JOBS = 1
    _job("recompute", project, lead)
    api.force_authenticate(lead)

    response = api.post(_url("recompute", project))

    assert response.status_code == 429
    assert response.json()["message"].startswith("bubbles already has 1 recomputes queued")
    assert Recompute.objects.count() == 1


def test_another_project_s_recompute_is_not_found(api, project, lead, outsider):
    theirs = _job("recompute", outsider.memberships.get().project, outsider)
    api.force_authenticate(lead)

    assert api.get(_url("recompute", project, theirs)).status_code == 404


@pytest.mark.parametrize("count", [1, 3])
def test_the_recomputes_list_takes_the_same_queries_for_1_and_3(
    api, project, lead, django_assert_num_queries, count
):
    made = [
        _job("recompute", project, lead, status=JobStatus.RUNNING, parts_total=4, parts_done=n)
        for n in range(count)
    ]
    api.force_authenticate(lead)

    # project, membership, count, recomputes with their creators and project
    with django_assert_num_queries(4):
        response = api.get(_url("recompute", project))

    rows = response.json()["results"]
    assert [(row["id"], row["parts_done"], row["parts_total"]) for row in rows] == [
        (job.pk, n, 4) for n, job in reversed(list(enumerate(made)))
    ]


def test_a_recompute_list_shows_only_the_project_s_own(api, project, lead, outsider):
    mine = _job("recompute", project, lead)
    _job("recompute", outsider.memberships.get().project, outsider)
    api.force_authenticate(lead)

    rows = api.get(_url("recompute", project)).json()["results"]

    assert [row["id"] for row in rows] == [mine.pk]
