"""Submitting for a task by upload: the dry-run check and the final submit
(qc.services.workflow.submission_import, qc.services.staging) and the page (task-submit)."""

import io
import json
import os
import time
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image as PILImage

from projects.errors import ImportRefused
from projects.models import AuditEvent, Task, TaskStatus
from projects.selectors import review_queue
from projects.services import guideline_acknowledge, guideline_version_create
from qc.formats import READERS
from qc.models import Instance, Review, Submission
from qc.services.staging import MAX_AGE_SECONDS, staging_sweep
from qc.services.workflow import submission_import
from tests.factories import ImageFactory, LabelClassFactory, TaskFactory


def _coco_bytes(name: str = "a.png", *, squares: tuple[int, ...] = (6,), size: int = 16) -> bytes:
    """A COCO file for image ``name`` with one square instance of each side length."""
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": name, "width": size, "height": size}],
            "categories": [{"id": 1, "name": "bubble"}],
            "annotations": [
                {
                    "id": k,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [[1, 1, 1 + side, 1, 1 + side, 1 + side, 1, 1 + side]],
                    "iscrowd": 0,
                }
                for k, side in enumerate(squares, 1)
            ],
        }
    ).encode()


@pytest.fixture
def task(project, bubble, annotator):
    image = ImageFactory(project=project, name="a.png", width=16, height=16)
    return TaskFactory(image=image, annotator=annotator, status=TaskStatus.IN_PROGRESS)


@pytest.fixture
def rules(project, lead, annotator):
    """A published guideline with a warning (min area 20 px) and a blocking rule (at most
    two instances), acknowledged by the annotator."""
    version = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Outline bubbles.",
        author=lead,
        rules=[
            {"rule": "min_area_px", "value": 20, "severity": "warn"},
            {"rule": "max_instances", "value": 2, "severity": "block"},
        ],
        change_summary="What changed.",
        publish=True,
    )
    guideline_acknowledge(version=version, user=annotator)
    return version


def _counts() -> tuple[int, int, int]:
    return Submission.objects.count(), Instance.objects.count(), AuditEvent.objects.count()


def test_dry_run_writes_nothing_and_shows_what_the_import_stores(
    tmp_path, project, annotator, task, rules
):
    path = tmp_path / "work.json"
    path.write_bytes(_coco_bytes(squares=(6, 3)))
    before = _counts()

    checked = submission_import(
        project=project, actor=annotator, path=path, format="coco", task=task, dry_run=True
    )

    assert _counts() == before
    task.refresh_from_db()
    assert task.status == TaskStatus.IN_PROGRESS
    assert checked.dry_run is True
    [would] = checked.submissions
    assert (would.image, would.revision, would.instances, would.by_class) == (
        "a.png",
        1,
        2,
        [("bubble", 2)],
    )
    assert [(v["rule"], v["severity"], v["instance"]) for v in would.violations] == [
        ("min_area_px", "warn", 1)
    ]

    stored = submission_import(
        project=project, actor=annotator, path=path, format="coco", task=task
    )

    assert stored.submissions == checked.submissions
    assert Submission.objects.get().rule_violations == would.violations
    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED


def test_dry_run_of_a_file_for_another_image_is_refused_naming_it(
    tmp_path, project, annotator, task
):
    other = TaskFactory(
        image=ImageFactory(project=project, name="b.png", width=16, height=16),
        annotator=annotator,
    )
    path = tmp_path / "work.json"
    path.write_bytes(_coco_bytes("b.png"))

    with pytest.raises(ImportRefused) as refused:
        submission_import(
            project=project, actor=annotator, path=path, format="coco", task=task, dry_run=True
        )

    assert refused.value.message == (
        "work.json: image b.png: object annotations[0] (id 1): not the image of this task (a.png); "
        "upload each image's masks from its own task"
    )
    assert Submission.objects.filter(task=other).count() == 0


# --- the page -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def staging_in_tmp(settings, tmp_path):
    """Each test stages its uploads in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media" / "staging"


def _url(task) -> str:
    return reverse("task-submit", args=[task.image.project.slug, task.pk])


def _check(client, task, data: bytes, *, name="work.json", format="coco", **extra):
    upload = SimpleUploadedFile(name, data, "application/octet-stream")
    return client.post(_url(task), {"action": "check", "format": format, "file": upload, **extra})


def _staged(response) -> str:
    return response.context["check"].staged.signed()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_page_shows_the_task_the_guideline_and_every_importable_format(
    client, project, annotator, task, rules
):
    client.force_login(annotator)

    response = client.get(_url(task))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'Submit <span class="image-name">a.png</span>' in html
    assert "16 × 16 px" in html
    assert ">Bubbles v1</a>" in html
    for name in READERS:
        assert f'value="{name}"' in html
    assert 'enctype="multipart/form-data"' in html


@pytest.mark.parametrize(
    "who,status", [("other_annotator", 404), ("reviewer", 403), ("lead", 403), ("outsider", 404)]
)
def test_page_is_only_for_the_tasks_annotator(client, request, project, task, rules, who, status):
    client.force_login(request.getfixturevalue(who))

    get = client.get(_url(task))
    post = _check(client, task, _coco_bytes())

    assert (get.status_code, post.status_code) == (status, status)
    assert b"a.png" not in get.content
    assert Submission.objects.count() == 0


def test_page_anonymous_goes_to_login(client, task):
    response = client.get(_url(task))

    assert (response.status_code, response.url) == (302, f"/login/?next={_url(task)}")


def test_gate_sends_to_the_guideline_and_back_after_acknowledging(
    client, project, lead, annotator, task, rules
):
    v2 = guideline_version_create(
        project=project,
        title="Bubbles",
        body="Now with holes.",
        author=lead,
        change_summary="What changed.",
        publish=True,
    )
    client.force_login(annotator)

    gated = client.get(_url(task), follow=True)
    acknowledged = client.post(
        reverse("guideline-acknowledge", args=[project.slug, v2.pk]),
        {"next": gated.context["next"]},
        follow=True,
    )

    guideline = reverse("guideline", args=[project.slug])
    assert gated.redirect_chain == [
        (f"{guideline}?next=%2Fp%2Fbubbles%2Ftasks%2F{task.pk}%2Fsubmit%2F", 302)
    ]
    assert _messages(gated) == [
        "Read and acknowledge Bubbles v2 first: you submit only under the current guideline."
    ]
    assert 'name="next" value="/p/bubbles/tasks/' in gated.content.decode()
    assert acknowledged.redirect_chain == [(_url(task), 302)]
    assert acknowledged.status_code == 200


def test_gate_holds_for_a_posted_check_too(client, project, lead, annotator, task, rules):
    guideline_version_create(
        project=project,
        title="Bubbles",
        body="v2",
        author=lead,
        change_summary="What changed.",
        publish=True,
    )
    client.force_login(annotator)

    response = _check(client, task, _coco_bytes())

    assert response.status_code == 302
    assert response.url.startswith(reverse("guideline", args=[project.slug]))
    assert Submission.objects.count() == 0


def test_check_writes_nothing_and_submit_stores_exactly_what_it_showed(
    client, project, annotator, task, rules, staging_in_tmp
):
    client.force_login(annotator)
    before = _counts()

    checked = _check(client, task, _coco_bytes(squares=(6, 3)))

    assert _counts() == before
    check = checked.context["check"]
    assert check.may_submit and check.error is None
    [would] = check.outcome.submissions
    html = checked.content.decode()
    assert '<strong id="instance-total">2</strong> instances' in html
    assert '<td>bubble</td><td class="num">2</td>' in html
    assert "instance 2 (bubble) has 9 px, under 20 px" in html
    assert 'data-severity="warn"' in html and 'data-severity="block"' not in html
    token = check.staged.token
    assert sorted(p.name for p in staging_in_tmp.iterdir()) == [token, f"{token}.owner"]

    submitted = client.post(
        _url(task), {"action": "submit", "staged": _staged(checked)}, follow=True
    )

    assert submitted.redirect_chain == [(reverse("my-tasks", args=[project.slug]), 302)]
    assert _messages(submitted) == [
        "Submitted revision 1 of a.png, 2 instances, 1 warning for the reviewer. It goes to "
        "review once every annotator of the image has submitted."
    ]
    stored = Submission.objects.get()
    assert stored.rule_violations == would.violations
    assert sorted(stored.instances.values_list("label_class__name", flat=True)) == [
        "bubble",
        "bubble",
    ]
    assert list(stored.instances.order_by("pk").values_list("area", flat=True)) == [36, 9]
    assert stored.source_format == "coco" and stored.source_name == "work.json"
    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED
    assert list(staging_in_tmp.iterdir()) == []


def test_submitted_image_reaches_the_review_queue(client, project, lead, annotator, task, rules):
    client.force_login(annotator)
    checked = _check(client, task, _coco_bytes())

    client.post(_url(task), {"action": "submit", "staged": _staged(checked)})

    assert [image.name for image in review_queue(user=lead, project=project)] == ["a.png"]


def test_blocking_rules_are_shown_and_nothing_can_be_submitted(
    client, project, annotator, task, rules, staging_in_tmp
):
    client.force_login(annotator)

    response = _check(client, task, _coco_bytes(squares=(6, 5, 4)))

    check = response.context["check"]
    html = response.content.decode()
    assert not check.may_submit
    assert check.error.startswith("Image a.png: the submission breaks the guideline: 3 instances")
    assert [(v["rule"], v["severity"]) for v in check.violations] == [
        ("min_area_px", "warn"),
        ("max_instances", "block"),
    ]
    assert "Cannot submit this file" in html
    assert 'data-severity="block"' in html and 'data-severity="warn"' in html
    assert 'id="submit-form"' not in html
    assert list(staging_in_tmp.iterdir()) == []
    assert Submission.objects.count() == 0


def test_the_same_file_twice_is_refused_at_the_check(client, project, annotator, task, rules):
    client.force_login(annotator)
    first = _check(client, task, _coco_bytes())
    client.post(_url(task), {"action": "submit", "staged": _staged(first)})
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.REJECTED)

    again = _check(client, task, _coco_bytes())

    assert again.context["check"].error == (
        "You submitted this very file before; nothing would change. Upload the corrected file."
    )
    assert Submission.objects.count() == 1


def _zip(members: dict[str, bytes], *, compress=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compress) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(mask.astype(np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_png_masks_one_file_or_a_zip_become_the_tasks_instances(
    client, project, annotator, task, rules
):
    one = np.zeros((16, 16), bool)
    one[2:8, 2:8] = True
    two = np.zeros((16, 16), bool)
    two[9:15, 9:15] = True
    client.force_login(annotator)

    single = _check(
        client, task, _png(one | two), name="m.png", format="mask-png", instances="components"
    )
    zipped = _check(
        client,
        task,
        _zip({"a.png": _png(one), "b.png": _png(two)}),
        name="masks.zip",
        format="mask-png",
        instances="single",
    )

    assert [s.by_class for s in single.context["check"].outcome.submissions] == [[("bubble", 2)]]
    assert [s.by_class for s in zipped.context["check"].outcome.submissions] == [[("bubble", 2)]]
    assert Submission.objects.count() == 0


def test_png_masks_in_a_project_of_several_classes_need_the_class(
    client, project, annotator, task, rules
):
    LabelClassFactory(project=project, name="droplet")
    client.force_login(annotator)

    response = _check(client, task, _png(np.ones((16, 16), bool)), name="m.png", format="mask-png")

    assert response.context["form"].errors == {
        "label": ["Choose the class of the masks' instances."]
    }
    assert response.context["check"] is None


def _bomb() -> bytes:
    """A Supervisely project whose annotation inflates from 64 KiB to 64 MiB."""
    meta = json.dumps({"classes": [{"title": "bubble", "shape": "bitmap"}]}).encode()
    return _zip({"meta.json": meta, "ds/ann/a.png.json": b" " * (64 * 1024 * 1024)})


@pytest.mark.parametrize(
    "format,name,data,expected",
    [
        ("coco", "work.json", b"{not json", "work.json: image (none): object (none): "),
        ("coco", "work.json", b"[]", "work.json: image a.png: object (none): the file holds "),
        ("coco", "work.json", "\u00e9t\u00e9".encode("latin-1"), "work.json: "),
        ("supervisely", "project.zip", b"PK\x03\x04broken", "project.zip: "),
        ("supervisely", "project.zip", b"not a zip at all", "project.zip: "),
        ("supervisely", "bomb.zip", None, "bomb.zip/ds/ann/a.png.json: image (none): "),
        ("cvat", "work.xml", b"<annotations><image", "work.xml: "),
        ("cvat", "work.xml", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "work.xml: "),
        ("labelme", "work.json", b'{"shapes": 5}', "work.json: "),
        ("label-studio", "work.json", b'{"a": 1}', "work.json: "),
        ("mask-png", "m.png", b"\x89PNG\r\n\x1a\nbroken", "m"),
        ("mask-png", "m.zip", b"PK\x03\x04", "m.zip"),
    ],
)
def test_bad_files_give_a_message_naming_the_problem(
    client, settings, project, annotator, task, rules, format, name, data, expected, staging_in_tmp
):
    # Limits low enough for the bomb to pass the upload and burst inside.
    settings.MASKQC_MAX_UPLOAD_BYTES = 1024 * 1024
    client.force_login(annotator)

    response = _check(client, task, _bomb() if data is None else data, name=name, format=format)

    assert response.status_code == 200
    check = response.context["check"]
    assert check.error.startswith(expected), check.error
    assert list(staging_in_tmp.iterdir()) == []
    assert Submission.objects.count() == 0


def test_a_file_for_another_image_is_refused_naming_it(client, project, annotator, task, rules):
    client.force_login(annotator)

    response = _check(client, task, _coco_bytes("b.png"))

    assert response.context["check"].error == (
        "work.json: image b.png: object annotations[0] (id 1): not the image of this task "
        "(a.png); upload each image's masks from its own task"
    )


def test_a_class_the_project_lacks_is_refused_naming_its_classes(
    client, project, annotator, task, rules
):
    data = json.loads(_coco_bytes())
    data["categories"][0]["name"] = "droplet"
    client.force_login(annotator)

    response = _check(client, task, json.dumps(data).encode())

    assert response.context["check"].error == (
        "work.json: image a.png: object annotations[0] (id 1): class 'droplet' is not in "
        "project bubbles; its classes: bubble"
    )


def test_an_image_of_the_wrong_size_is_refused_naming_it(client, project, annotator, task, rules):
    client.force_login(annotator)

    response = _check(client, task, _coco_bytes(size=32))

    assert response.context["check"].error == (
        "work.json: image a.png: object (none): size 32x32 in the file disagrees with the "
        "project's image of 16x16 (width x height)"
    )


def test_an_empty_or_oversized_file_is_refused_before_it_is_kept(
    client, settings, project, annotator, task, rules, staging_in_tmp
):
    settings.MASKQC_MAX_UPLOAD_BYTES = 100
    client.force_login(annotator)

    empty = _check(client, task, b"")
    huge = _check(client, task, b" " * 101)
    no_file = client.post(_url(task), {"action": "check", "format": "coco"})
    bad_format = _check(client, task, _coco_bytes(), format="pdf")

    assert empty.context["form"].errors == {"file": ["The submitted file is empty."]}
    assert huge.context["form"].errors == {
        "file": ["The file is 101 bytes, over the limit of 100."]
    }
    assert no_file.context["form"].errors == {"file": ["This field is required."]}
    assert list(bad_format.context["form"].errors) == ["format"]
    assert not staging_in_tmp.exists() or list(staging_in_tmp.iterdir()) == []


def test_submit_with_a_forged_expired_or_foreign_reference_is_refused(
    client, monkeypatch, project, annotator, task, rules
):
    client.force_login(annotator)
    signed = _staged(_check(client, task, _coco_bytes()))
    other = TaskFactory(
        image=ImageFactory(project=project, name="b.png", width=16, height=16),
        annotator=annotator,
    )

    forged = client.post(
        _url(task), {"action": "submit", "staged": signed[:-2] + "xx"}, follow=True
    )
    other_task = client.post(_url(other), {"action": "submit", "staged": signed}, follow=True)
    empty = client.post(_url(task), {"action": "submit"}, follow=True)
    now = time.time()
    monkeypatch.setattr("django.core.signing.time.time", lambda: now + MAX_AGE_SECONDS + 60)
    expired = client.post(_url(task), {"action": "submit", "staged": signed}, follow=True)

    gone = "The checked file is no longer here; choose it and check it again."
    assert _messages(forged) == [gone]
    assert _messages(other_task) == [gone]
    assert _messages(empty) == [gone]
    assert _messages(expired) == [
        "The check is more than a day old; choose the file and check it again."
    ]
    assert Submission.objects.count() == 0


def test_submit_of_a_file_changed_after_the_check_is_refused(
    client, project, annotator, task, rules
):
    client.force_login(annotator)
    checked = _check(client, task, _coco_bytes())
    check = checked.context["check"]
    check.staged.file.write_bytes(_coco_bytes(squares=(9,)))

    response = client.post(
        _url(task), {"action": "submit", "staged": _staged(checked)}, follow=True
    )

    assert _messages(response) == ["The checked file changed after the check; check it again."]
    assert Submission.objects.count() == 0
    assert not check.staged.folder.exists()


def test_staged_files_older_than_a_day_are_swept(client, project, annotator, task, rules):
    client.force_login(annotator)
    old = _check(client, task, _coco_bytes()).context["check"].staged
    stamp = time.time() - MAX_AGE_SECONDS - 60
    os.utime(old.folder, (stamp, stamp))

    fresh = _check(client, task, _coco_bytes(squares=(5,))).context["check"].staged

    assert (old.folder.exists(), fresh.folder.exists()) == (False, True)
    assert staging_sweep(now=time.time() + MAX_AGE_SECONDS + 60) == 1
    assert not fresh.folder.exists()


def test_a_closed_task_shows_no_form_and_takes_no_post(client, project, annotator, task, rules):
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.ACCEPTED)
    client.force_login(annotator)

    page = client.get(_url(task))
    post = _check(client, task, _coco_bytes())

    assert b"This task is accepted: there is nothing to submit." in page.content
    assert b'id="upload-form"' not in page.content
    assert (post.status_code, post.url) == (302, _url(task))
    assert Submission.objects.count() == 0


def test_page_shows_the_feedback_of_a_rejected_task(client, project, lead, annotator, task, rules):
    submission = Submission.objects.create(task=task, revision=1)
    Review.objects.create(
        submission=submission,
        reviewer=lead,
        decision="reject",
        reasons=["missed_instance"],
        comment="Two bubbles on the left edge.",
    )
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.REJECTED)
    client.force_login(annotator)

    response = client.get(_url(task))

    html = response.content.decode()
    assert "Missed instance" in html and "Two bubbles on the left edge." in html
    assert reverse("my-review", args=[project.slug, submission.pk]) in html


@pytest.mark.parametrize("count", [1, 3])
def test_page_query_count_is_fixed(
    client, project, lead, annotator, task, rules, django_assert_num_queries, count
):
    for revision in range(1, count + 1):
        submission = Submission.objects.create(task=task, revision=revision)
        Review.objects.create(
            submission=submission, reviewer=lead, decision="reject", reasons=["other"]
        )
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.REJECTED)
    client.force_login(annotator)

    # session, user, project, membership; the task, its submissions, their reviews, its
    # send-backs; the current versions, the acknowledgements; the project's classes
    with django_assert_num_queries(11):
        response = client.get(_url(task))

    assert response.context["task"].revisions == count


def test_a_new_check_replaces_the_users_staged_file_for_that_task(
    client, project, bubble, annotator, task, rules
):
    other = TaskFactory(
        image=ImageFactory(project=project, name="b.png", width=16, height=16),
        annotator=annotator,
        status=TaskStatus.IN_PROGRESS,
    )
    client.force_login(annotator)
    first = _check(client, task, _coco_bytes()).context["check"].staged
    elsewhere = _check(client, other, _coco_bytes("b.png")).context["check"].staged

    second = _check(client, task, _coco_bytes(squares=(5,))).context["check"].staged
    stale = client.post(_url(task), {"action": "submit", "staged": first.signed()}, follow=True)

    assert (first.folder.exists(), second.folder.exists(), elsewhere.folder.exists()) == (
        False,
        True,
        True,
    )
    assert "check it again" in stale.content.decode()
    assert Submission.objects.count() == 0
