"""A recompute fanned out in parts: each image in exactly one part, parts taken by any
worker in any order, a part run twice counted once, the last part closing the recompute."""

import numpy as np
import pytest
from django_tasks import default_task_backend

from qc import masks
from qc.models import AgreementResult, AgreementSummary, JobStatus, Recompute
from qc.services import InstanceInput, submission_create
from qc.services import recompute as recompute_service
from qc.services.jobs import PART_TASKS, jobs_reap_stuck
from qc.services.recompute import recompute_part_run, recompute_run
from tests.factories import ImageFactory, TaskFactory


@pytest.fixture
def queued(settings):
    """Tasks are queued and kept, not run: the test plays the workers."""
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}
    }
    settings.MASKQC_RECOMPUTE_PART_IMAGES = 2
    default_task_backend.clear()
    return default_task_backend.results


def _disc(cx: int, r: int = 12) -> dict:
    yy, xx = np.mgrid[:64, :64]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - 30) ** 2 <= r * r)


@pytest.fixture
def images(project, bubble, annotator, other_annotator):
    """Five images, each with two annotators' overlapping discs."""
    made = []
    for n in range(5):
        image = ImageFactory(project=project, name=f"f{n}.png", width=64, height=64)
        for user, cx in [(annotator, 30), (other_annotator, 34)]:
            task = TaskFactory(image=image, annotator=user)
            submission_create(
                task=task,
                actor=user,
                instances=[InstanceInput(label_class=bubble, rle=_disc(cx))],
            )
        made.append(image)
    return made


def _parts(results) -> list[dict]:
    return [r.kwargs for r in results if r.task.name == "recompute_part_task"]


def _run(part: dict) -> None:
    recompute_part_run(**part)


def test_a_recompute_is_cut_into_parts_of_the_setting(project, lead, images, queued):
    recompute = Recompute.objects.create(project=project, created_by=lead)

    running = recompute_run(recompute_id=recompute.pk)

    parts = _parts(queued)
    assert [p["image_ids"] for p in parts] == [
        [images[0].pk, images[1].pk],
        [images[2].pk, images[3].pk],
        [images[4].pk],
    ]
    assert [p["part"] for p in parts] == [0, 1, 2]
    assert {p["attempt"] for p in parts} == {1}
    assert (running.status, running.parts_total, running.parts_done, running.progress) == (
        JobStatus.RUNNING,
        3,
        0,
        0.0,
    )
    assert running.summary[PART_TASKS] == [
        r.id for r in queued if r.task.name.endswith("part_task")
    ]


def test_parts_taken_in_any_order_and_twice_close_the_recompute_once(project, lead, images, queued):
    recompute = Recompute.objects.create(project=project, created_by=lead)
    recompute_run(recompute_id=recompute.pk)
    last, middle, first = reversed(_parts(queued))

    _run(last)
    _run(last)  # a part run again (a retried task) counts once
    recompute.refresh_from_db()
    one_part = (recompute.parts_done, round(recompute.progress, 3), recompute.summary["images"])
    _run(middle)
    assert not AgreementSummary.objects.filter(project=project).exists()  # not before the end
    _run(first)

    recompute.refresh_from_db()
    assert one_part == (1, 0.333, 1)
    assert (recompute.status, recompute.parts_done, recompute.progress) == (JobStatus.DONE, 3, 1.0)
    assert recompute.summary == {
        "project": project.slug,
        "images": 5,
        "instances": 10,
        "instances_changed": 0,
        "images_recomputed": 5,
        "consensus_changed": recompute.summary["consensus_changed"],
        "failed": {},
    }
    assert recompute.message.startswith(f"{project.slug}: 10 instances on 5 images checked")
    assert AgreementResult.objects.filter(label_class__isnull=True).count() == 5
    report = AgreementSummary.objects.get(project=project)

    _run(first)  # after the end, a part changes nothing
    assert AgreementSummary.objects.get(project=project).computed_at == report.computed_at


def test_the_parts_of_an_earlier_claim_change_nothing(project, lead, images, queued, settings):
    recompute = Recompute.objects.create(project=project, created_by=lead)
    recompute_run(recompute_id=recompute.pk)
    stale = _parts(queued)
    # Its worker lost, the recompute is queued again and claimed again.
    settings.MASKQC_JOB_STUCK_SECONDS = 0
    Recompute.objects.filter(pk=recompute.pk).update(heartbeat_at=recompute.created_at)
    jobs_reap_stuck()
    queued.clear()
    recompute_run(recompute_id=recompute.pk)

    for part in stale:
        _run(part)

    recompute.refresh_from_db()
    assert (recompute.status, recompute.attempts, recompute.parts_done) == (
        JobStatus.RUNNING,
        2,
        0,
    )
    for part in _parts(queued):
        assert part["attempt"] == 2
        _run(part)
    recompute.refresh_from_db()
    assert (recompute.status, recompute.summary["images"]) == (JobStatus.DONE, 5)


def test_a_failing_part_fails_the_recompute_with_its_error(
    project, lead, images, queued, monkeypatch
):
    recompute = Recompute.objects.create(project=project, created_by=lead)
    recompute_run(recompute_id=recompute.pk)
    first, second, third = _parts(queued)
    _run(first)

    def broken(**_):
        raise RuntimeError("could not serialize access")

    monkeypatch.setattr(recompute_service, "instance_features_recompute", broken)
    with pytest.raises(RuntimeError):
        _run(second)
    monkeypatch.undo()
    _run(third)  # a part after the failure changes nothing

    recompute.refresh_from_db()
    assert (recompute.status, recompute.error, recompute.parts_done) == (
        JobStatus.FAILED,
        "part 2 of 3: internal error: RuntimeError: could not serialize access",
        1,
    )
    assert recompute.finished_at is not None


def test_a_project_without_submissions_is_recomputed_at_once(project, lead, queued):
    recompute = Recompute.objects.create(project=project, created_by=lead)

    done = recompute_run(recompute_id=recompute.pk)

    assert (done.status, done.parts_total, done.summary["images"]) == (JobStatus.DONE, 0, 0)
    assert _parts(queued) == []
