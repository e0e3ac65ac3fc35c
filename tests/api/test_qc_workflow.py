"""/api/v1/projects/<slug>/ images, submissions, reviews, labels, gold, send-back, agreement
per image and the audit log: behaviour, the blind rule and validation."""

import io
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from projects.models import AuditEvent, TaskStatus
from projects.services import guideline_acknowledge, guideline_version_create
from qc import masks
from qc.models import GoldScore, ImageAgreement, ImageLabel, Review, Submission
from qc.services import (
    InstanceInput,
    image_label_set,
    image_label_set_gold,
    review_assign,
    review_decide,
    submission_create,
)
from tests.factories import ImageFactory, MembershipFactory, TaskFactory, UserFactory

H, W = 48, 64


def disc(cx: int, cy: int, r: int) -> dict:
    yy, xx = np.mgrid[:H, :W]
    return masks.rle_from_mask((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r)


def url(project, rest: str) -> str:
    return f"/api/v1/projects/{project.slug}/{rest}"


@pytest.fixture
def image(project):
    return ImageFactory(project=project, name="frame_1.png", width=W, height=H)


@pytest.fixture
def task(image, annotator):
    return TaskFactory(image=image, annotator=annotator)


@pytest.fixture
def other_task(image, other_annotator):
    return TaskFactory(image=image, annotator=other_annotator)


def _submit(task, actor, bubble, *discs):
    return submission_create(
        task=task,
        actor=actor,
        instances=[InstanceInput(label_class=bubble, rle=disc(*d)) for d in discs],
    )


# ---------------------------------------------------------------------------- submitting


def test_annotator_submits_json_instances_as_rle_counts_and_polygon(
    api, project, bubble, task, annotator
):
    compressed = disc(20, 20, 6)
    uncompressed = masks.rle_to_mask(disc(45, 30, 5)).flatten(order="F")
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, uncompressed, 1 - uncompressed[-1]])))
    counts = [int(np.flatnonzero(uncompressed)[0]), *map(int, runs)]
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/"),
        {
            "task": task.pk,
            "instances": [
                {
                    "label_class": "bubble",
                    "rle": {"size": [H, W], "counts": compressed["counts"].decode()},
                },
                {"label_class": "bubble", "rle": {"size": [H, W], "counts": counts}},
                {"label_class": "bubble", "polygon": [[2, 2, 10, 2, 10, 10, 2, 10]]},
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    areas = [i["area"] for i in response.data["instances"]]
    assert areas == [
        masks.rle_area(compressed),
        int(uncompressed.sum()),
        masks.rle_area(masks.rle_from_polygons([[2, 2, 10, 2, 10, 10, 2, 10]], height=H, width=W)),
    ]
    assert response.data["instances"][2]["polygon"] == {
        "parts": [[2.0, 2.0, 10.0, 2.0, 10.0, 10.0, 2.0, 10.0]],
        "holes": [],
    }
    assert (response.data["revision"], response.data["annotator"]) == (1, "annotator")
    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({"label_class": "cat", "polygon": [[1, 1, 5, 1, 5, 5]]}, "Class 'cat' is not in"),
        ({"label_class": "bubble", "rle": {"size": [10, 10], "counts": "PPYo1"}}, "rle size"),
        ({"label_class": "bubble", "polygon": [[1, 1, 500, 1, 5, 5]]}, "outside the image"),
        ({"label_class": "bubble", "rle": {"size": [H, W], "counts": [5, 3]}}, "sum"),
        ({"label_class": "bubble", "rle": {"size": [H, W], "counts": {"a": 1}}}, "whole numbers"),
        ({"label_class": "bubble", "rle": {"size": [H, W], "counts": [H * W]}}, "no pixel"),
    ],
)
def test_submission_with_a_bad_instance_is_400_naming_it(
    api, project, bubble, task, annotator, instance, message
):
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/"), {"task": task.pk, "instances": [instance]}, format="json"
    )

    assert response.status_code == 400
    assert message in json.dumps(response.data["details"]["instances"]["0"])
    assert Submission.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"task": "x", "instances": []},
        {"task": 1, "instances": "abc"},
        {"task": 1, "instances": [{"label_class": "bubble"}]},
        {"task": 1, "instances": [{"label_class": "bubble", "rle": {"size": [1], "counts": ""}}]},
        {"task": 1, "instances": [{"label_class": ["x"], "polygon": [[1, 2]]}]},
    ],
)
def test_submission_body_of_the_wrong_shape_is_400(api, project, bubble, task, annotator, body):
    api.force_authenticate(annotator)

    response = api.post(url(project, "submissions/"), body, format="json")

    assert response.status_code == 400
    assert set(response.data) == {"message", "details"}


def test_submission_for_another_annotators_task_is_404(api, project, other_task, annotator):
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/"), {"task": other_task.pk, "instances": []}, format="json"
    )

    assert response.status_code == 404
    assert Submission.objects.count() == 0


def test_submission_refused_by_a_blocking_rule_lists_the_violations(
    api, project, bubble, task, annotator, lead
):
    version = guideline_version_create(
        project=project,
        title="Bubbles",
        body="x",
        author=lead,
        change_summary="First rules.",
        publish=True,
        rules=[{"rule": "min_area_px", "value": 500, "severity": "block"}],
    )
    guideline_acknowledge(version=version, user=annotator)
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/"),
        {
            "task": task.pk,
            "instances": [{"label_class": "bubble", "polygon": [[1, 1, 9, 1, 9, 9]]}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert [v["rule"] for v in response.data["details"]["violations"]] == ["min_area_px"]


def _coco_file(*, image_name: str, width: int = W, height: int = H, category: str = "bubble"):
    data = {
        "images": [{"id": 1, "file_name": image_name, "width": width, "height": height}],
        "categories": [{"id": 1, "name": category}],
        "annotations": [
            {
                "id": 7,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[2, 2, 12, 2, 12, 12, 2, 12]],
                "iscrowd": 0,
            }
        ],
    }
    return SimpleUploadedFile("mine.json", json.dumps(data).encode(), "application/json")


def test_annotator_uploads_a_file_for_their_own_task(api, project, bubble, task, annotator):
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/upload/"),
        {"file": _coco_file(image_name="frame_1.png"), "format": "coco"},
        format="multipart",
    )

    assert response.status_code == 201, response.data
    submission = Submission.objects.get()
    assert (submission.task, submission.source_format, submission.imported_by) == (
        task,
        "coco",
        None,
    )
    assert submission.instances.count() == 1


def test_upload_naming_an_image_without_a_task_of_the_uploader_is_refused(
    api, project, bubble, other_task, annotator
):
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/upload/"),
        {"file": _coco_file(image_name="frame_1.png"), "format": "coco"},
        format="multipart",
    )

    assert response.status_code == 400
    assert (response.data["details"]["file"], response.data["details"]["image"]) == (
        "mine.json",
        "frame_1.png",
    )
    assert "has no task on this image" in response.data["message"]
    assert Submission.objects.count() == 0


@pytest.mark.parametrize(
    ("image_name", "category", "expected"),
    [("unknown.png", "bubble", "image is not in the project"), ("frame_1.png", "cat", "class")],
)
def test_upload_never_creates_images_or_classes(
    api, project, bubble, task, annotator, image_name, category, expected
):
    api.force_authenticate(annotator)

    response = api.post(
        url(project, "submissions/upload/"),
        {"file": _coco_file(image_name=image_name, category=category), "format": "coco"},
        format="multipart",
    )

    assert response.status_code == 400
    assert expected in response.data["message"]
    assert (Submission.objects.count(), project.images.count()) == (0, 1)


# ------------------------------------------------------------------------- the blind rule


def test_annotator_sees_only_their_own_submissions(
    api, project, bubble, task, other_task, annotator, other_annotator
):
    own = _submit(task, annotator, bubble, (20, 20, 6))
    theirs = _submit(other_task, other_annotator, bubble, (20, 20, 7))
    api.force_authenticate(annotator)

    listed = api.get(url(project, "submissions/"))
    other = api.get(url(project, f"submissions/{theirs.pk}/"))

    assert [s["id"] for s in listed.data["results"]] == [own.pk]
    assert other.status_code == 404


def test_reviewer_sees_the_submissions_of_images_assigned_to_them(
    api, project, bubble, task, annotator, reviewer
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    elsewhere = TaskFactory(image=ImageFactory(project=project), annotator=annotator)
    _submit(elsewhere, annotator, bubble)
    review_assign(image=task.image, actor=None, reviewer=reviewer)
    api.force_authenticate(reviewer)

    listed = api.get(url(project, "submissions/"))

    assert [s["id"] for s in listed.data["results"]] == [submission.pk]


# ---------------------------------------------------------------------------- reviewing


def test_reviewer_rejects_with_reasons_and_flags_and_the_annotator_sees_the_feedback(
    api, project, bubble, task, annotator, reviewer
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    instance = submission.instances.get()
    review_assign(image=task.image, actor=None, reviewer=reviewer)
    api.force_authenticate(reviewer)

    response = api.post(
        url(project, f"submissions/{submission.pk}/review/"),
        {
            "decision": "reject",
            "reasons": ["boundary_too_loose"],
            "comment": "hug the rim",
            "flags": [{"instance": instance.pk, "reason": "boundary_too_loose", "note": "left"}],
        },
        format="json",
    )
    api.force_authenticate(annotator)
    seen = api.get(url(project, f"submissions/{submission.pk}/")).data

    assert response.status_code == 201
    assert (seen["review"]["decision"], seen["review"]["reasons"], seen["review"]["comment"]) == (
        "reject",
        ["boundary_too_loose"],
        "hug the rim",
    )
    assert seen["flags"] == [
        {"instance": instance.pk, "reason": "boundary_too_loose", "note": "left"}
    ]
    assert seen["rework_rounds"] == 1
    detail = api.get(url(project, f"images/{task.image_id}/")).data
    assert (detail["qc_state"], detail["tasks"][0]["rework_rounds"]) == ("needs_rework", 1)


def test_a_flag_on_an_instance_of_another_submission_is_400(
    api, project, bubble, task, other_task, annotator, other_annotator, lead
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    foreign = _submit(other_task, other_annotator, bubble, (20, 20, 6)).instances.get()
    api.force_authenticate(lead)

    response = api.post(
        url(project, f"submissions/{submission.pk}/review/"),
        {"decision": "reject", "flags": [{"instance": foreign.pk, "reason": "other"}]},
        format="json",
    )

    assert response.status_code == 400
    assert Review.objects.count() == 0


def test_a_lead_deciding_on_their_own_work_is_403(api, project, bubble, image, lead):
    own = _submit(TaskFactory(image=image, annotator=lead), lead, bubble, (20, 20, 6))
    api.force_authenticate(lead)

    response = api.post(
        url(project, f"submissions/{own.pk}/review/"), {"decision": "accept"}, format="json"
    )

    assert response.status_code == 403
    assert Review.objects.count() == 0


def test_second_decision_on_a_submission_is_409(api, project, bubble, task, annotator, lead):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    api.force_authenticate(lead)
    path = url(project, f"submissions/{submission.pk}/review/")

    first = api.post(path, {"decision": "accept"}, format="json")
    second = api.post(path, {"decision": "reject", "reasons": ["other"]}, format="json")

    assert (first.status_code, second.status_code) == (201, 409)


def test_lead_assigns_and_reassigns_the_review(
    api, project, bubble, task, annotator, reviewer, lead
):
    second = UserFactory(username="second_reviewer")
    MembershipFactory(project=project, user=second, role="reviewer")
    _submit(task, annotator, bubble)
    api.force_authenticate(lead)
    path = url(project, f"images/{task.image_id}/review-assignment/")

    first = api.post(path, {}, format="json")
    moved = api.post(path, {"reviewer": "second_reviewer"}, format="json")
    annotator_refused = api.post(path, {"reviewer": "annotator"}, format="json")
    unknown = api.post(path, {"reviewer": "nobody"}, format="json")

    assert (first.status_code, first.data["reviewer"]) == (201, "reviewer")
    assert (moved.status_code, moved.data["reviewer"]) == (201, "second_reviewer")
    assert (annotator_refused.status_code, unknown.status_code) == (400, 400)
    assert list(task.image.review_assignments.values_list("reviewer__username", "status")) == [
        ("reviewer", "cancelled"),
        ("second_reviewer", "open"),
    ]


def test_label_send_back_and_replacement_through_the_api(
    api, project, bubble, task, annotator, lead
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    api.force_authenticate(lead)
    api.post(
        url(project, f"submissions/{submission.pk}/review/"), {"decision": "accept"}, format="json"
    )

    labelled = api.post(
        url(project, f"images/{task.image_id}/label/"), {"submission": submission.pk}, format="json"
    )
    state = api.get(url(project, f"images/{task.image_id}/")).data["qc_state"]
    sent = api.post(
        url(project, f"images/{task.image_id}/send-back/"),
        {"reasons": ["missed_instance"], "comment": "two missing"},
        format="json",
    )
    after = api.get(url(project, f"images/{task.image_id}/")).data

    assert (labelled.status_code, state, sent.status_code) == (201, "accepted", 201)
    assert (after["qc_state"], after["label"]["sent_back"], after["label"]["submission"]) == (
        "needs_rework",
        True,
        submission.pk,
    )
    assert sent.data["reasons"] == ["missed_instance"]


def test_gold_mark_and_a_later_submission_scored(
    api, project, bubble, task, other_task, annotator, other_annotator, lead
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    review_decide(submission=submission, reviewer=lead, decision="accept")
    api.force_authenticate(lead)
    api.post(
        url(project, f"images/{task.image_id}/label/"), {"submission": submission.pk}, format="json"
    )

    marked = api.put(url(project, f"images/{task.image_id}/gold/"), {"gold": True}, format="json")
    later = _submit(other_task, other_annotator, bubble, (20, 20, 6))
    api.force_authenticate(other_annotator)
    seen = api.get(url(project, f"submissions/{later.pk}/")).data

    assert (marked.status_code, marked.data["gold"]) == (200, True)
    assert seen["gold_score"] == {
        "matched": 1,
        "missed": 0,
        "extra": 0,
        "mean_iou": 1.0,
        "pq": 1.0,
        "match_iou": 0.5,
    }
    assert GoldScore.objects.get().label == ImageLabel.objects.get()


def test_gold_on_an_image_without_label_is_409(api, project, image, lead):
    api.force_authenticate(lead)

    response = api.put(url(project, f"images/{image.pk}/gold/"), {"gold": True}, format="json")

    assert response.status_code == 409


# ------------------------------------------------------------------- images and the queue


def test_images_list_states_and_filters(api, project, bubble, annotator, other_annotator, lead):
    annotating = ImageFactory(project=project, name="a.png", width=W, height=H)
    TaskFactory(image=annotating, annotator=annotator)
    in_review = ImageFactory(project=project, name="b.png", width=W, height=H)
    _submit(TaskFactory(image=in_review, annotator=other_annotator), other_annotator, bubble)
    api.force_authenticate(lead)

    everything = api.get(url(project, "images/")).data["results"]
    waiting = api.get(url(project, "images/"), {"state": "in_review"}).data["results"]
    by_annotator = api.get(url(project, "images/"), {"annotator": "annotator"}).data["results"]
    bad = api.get(url(project, "images/"), {"state": "lost", "pq_min": "x"})

    assert [(i["name"], i["qc_state"]) for i in everything] == [
        ("a.png", "annotating"),
        ("b.png", "in_review"),
    ]
    assert [i["name"] for i in waiting] == ["b.png"]
    assert [i["name"] for i in by_annotator] == ["a.png"]
    assert bad.status_code == 400


def test_annotator_sees_only_images_they_have_a_task_on(api, project, task, annotator):
    ImageFactory(project=project, name="z.png")
    api.force_authenticate(annotator)

    names = [i["name"] for i in api.get(url(project, "images/")).data["results"]]

    assert names == [task.image.name]


def test_review_queue_lowest_pq_first_and_only_own_assignments_for_reviewers(
    api, project, bubble, annotator, other_annotator, reviewer, lead
):
    images = []
    for name, pq in [("hi.png", 0.9), ("lo.png", 0.2), ("none.png", None)]:
        image = ImageFactory(project=project, name=name, width=W, height=H)
        _submit(TaskFactory(image=image, annotator=annotator), annotator, bubble)
        if pq is not None:
            ImageAgreement.objects.create(image=image, annotators=2, pq=pq, consensus_method="x")
        images.append(image)
    review_assign(image=images[0], actor=None, reviewer=reviewer)
    api.force_authenticate(lead)
    all_names = [i["name"] for i in api.get(url(project, "review-queue/")).data["results"]]
    api.force_authenticate(reviewer)
    own = [i["name"] for i in api.get(url(project, "review-queue/")).data["results"]]

    assert all_names == ["lo.png", "hi.png", "none.png"]
    assert own == ["hi.png"]


def test_image_upload_by_a_lead_and_pixels_to_those_who_may_see_the_image(
    api, project, lead, annotator, other_annotator, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    PILImage.new("L", (W, H)).save(buffer, format="PNG")
    api.force_authenticate(lead)

    uploaded = api.post(
        url(project, "images/"),
        {"files": [SimpleUploadedFile("f.png", buffer.getvalue(), "image/png")]},
        format="multipart",
    )
    image = project.images.get(name="f.png")
    TaskFactory(image=image, annotator=annotator)
    statuses = {}
    for who in (lead, annotator, other_annotator):
        api.force_authenticate(who)
        response = api.get(url(project, f"images/{image.pk}/pixels/"))
        statuses[who.username] = response.status_code
        if response.status_code == 200:
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert body == buffer.getvalue()

    assert (uploaded.status_code, uploaded.data["created"]) == (201, 1)
    api.force_authenticate(lead)
    assert api.get(url(project, f"images/{image.pk}/")).data["pixels_url"] == url(
        project, f"images/{image.pk}/pixels/"
    )
    assert statuses == {"lead": 200, "annotator": 200, "other_annotator": 404}


# ---------------------------------------------------------------- agreement and the audit


def test_image_agreement_matrix_and_consensus(
    api,
    project,
    bubble,
    task,
    other_task,
    annotator,
    other_annotator,
    lead,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        _submit(task, annotator, bubble, (20, 20, 6))
    with django_capture_on_commit_callbacks(execute=True):
        _submit(other_task, other_annotator, bubble, (20, 20, 6), (50, 35, 4))
    api.force_authenticate(lead)

    data = api.get(url(project, f"images/{task.image_id}/agreement/")).data

    assert data["annotators"] == ["annotator", "other_annotator"]
    assert data["matrix"]["pooled"] == [[1.0, pytest.approx(2 / 3)], [pytest.approx(2 / 3), 1.0]]
    assert list(data["matrix"]["by_class"]) == ["bubble"]
    pooled = [p for p in data["pairs"] if p["label_class"] is None]
    assert [(p["matched"], p["unmatched_a"], p["unmatched_b"]) for p in pooled] == [(1, 0, 1)]
    # Two annotators, quorum 0.5: the instance only one of them drew is kept too.
    assert [(c["label_class"], c["support"]) for c in data["consensus"]] == [
        ("bubble", 2),
        ("bubble", 1),
    ]
    assert data["consensus"][0]["rle"]["size"] == [H, W]


def test_audit_log_filters_by_verb_and_actor(api, project, bubble, task, annotator, lead):
    _submit(task, annotator, bubble)
    review_decide(submission=Submission.objects.get(), reviewer=lead, decision="accept")
    api.force_authenticate(lead)

    everything = api.get(url(project, "audit/")).data["results"]
    reviews = api.get(url(project, "audit/"), {"verb": "review."}).data["results"]
    by_annotator = api.get(url(project, "audit/"), {"actor": "annotator"}).data["results"]
    bad = api.get(url(project, "audit/"), {"since": "yesterday"})

    assert [e["verb"] for e in everything] == ["review.accept", "submission.create"]
    assert [(e["verb"], e["actor"]) for e in reviews] == [("review.accept", "lead")]
    assert [e["verb"] for e in by_annotator] == ["submission.create"]
    assert bad.status_code == 400
    assert AuditEvent.objects.filter(project=project).count() == 2


def test_image_detail_shows_an_annotator_only_their_own_task_and_submission(
    api, project, bubble, task, other_task, annotator, other_annotator
):
    _submit(task, annotator, bubble, (20, 20, 6))
    own = _submit(other_task, other_annotator, bubble, (20, 20, 7))
    api.force_authenticate(other_annotator)

    detail = api.get(url(project, f"images/{task.image_id}/")).data

    assert [t["annotator"] for t in detail["tasks"]] == ["other_annotator"]
    assert [s["id"] for s in detail["submissions"]] == [own.pk]


def test_reviewer_cannot_see_or_decide_on_an_image_not_assigned_to_them(
    api, project, bubble, task, annotator, reviewer
):
    submission = _submit(task, annotator, bubble, (20, 20, 6))
    api.force_authenticate(reviewer)

    seen = api.get(url(project, f"submissions/{submission.pk}/"))
    decided = api.post(
        url(project, f"submissions/{submission.pk}/review/"), {"decision": "accept"}, format="json"
    )
    queue = api.get(url(project, "review-queue/")).data

    assert (seen.status_code, decided.status_code, queue["count"]) == (404, 404, 0)
    assert Review.objects.count() == 0


def test_label_shows_the_labels_it_replaced(api, project, bubble, task, annotator, lead):
    first = _submit(task, annotator, bubble, (20, 20, 6))
    review_decide(submission=first, reviewer=lead, decision="accept")
    api.force_authenticate(lead)
    path = url(project, f"images/{task.image_id}/label/")
    api.post(path, {"submission": first.pk}, format="json")
    api.post(
        url(project, f"images/{task.image_id}/send-back/"), {"reasons": ["other"]}, format="json"
    )
    rework = _submit(task, annotator, bubble, (20, 20, 5))
    review_decide(submission=rework, reviewer=lead, decision="accept")

    replaced = api.post(path, {"submission": rework.pk}, format="json")
    shown = api.get(path).data

    assert replaced.status_code == 201
    assert (shown["submission"], shown["sent_back"], shown["instances"]) == (rework.pk, False, [])
    assert [(h["submission"], h["accepted_by"], h["replaced_by"]) for h in shown["history"]] == [
        (first.pk, "lead", "lead")
    ]
    assert api.get(url(project, f"images/{task.image_id}/")).data["qc_state"] == "accepted"


def test_consensus_label_shows_its_copied_instances(
    api,
    project,
    bubble,
    task,
    other_task,
    annotator,
    other_annotator,
    lead,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        _submit(task, annotator, bubble, (20, 20, 6))
        _submit(other_task, other_annotator, bubble, (20, 20, 6))
    api.force_authenticate(lead)
    path = url(project, f"images/{task.image_id}/label/")

    api.post(path, {"consensus": True}, format="json")
    shown = api.get(path).data

    assert (shown["from_consensus"], shown["history"]) == (True, [])
    assert [(i["label_class"], i["area"]) for i in shown["instances"]] == [
        ("bubble", masks.rle_area(disc(20, 20, 6)))
    ]


@pytest.mark.parametrize(
    ("files", "status"),
    [([("notes.png", b"not an image")], 400), ([], 400)],
)
def test_image_upload_of_bad_files_is_400_and_stores_nothing(api, project, lead, files, status):
    api.force_authenticate(lead)

    response = api.post(
        url(project, "images/"),
        {"files": [SimpleUploadedFile(name, data, "image/png") for name, data in files]},
        format="multipart",
    )

    assert response.status_code == status
    assert project.images.count() == 0


@pytest.mark.parametrize("who", ["reviewer", "annotator"])
def test_image_upload_by_a_member_who_does_not_lead_is_403(request, api, project, who):
    api.force_authenticate(request.getfixturevalue(who))

    response = api.post(
        url(project, "images/"),
        {"files": [SimpleUploadedFile("f.png", b"x", "image/png")]},
        format="multipart",
    )

    assert response.status_code == 403
    assert project.images.count() == 0


def test_gold_scores_all_for_leads_own_for_annotators(
    api, project, bubble, image, annotator, other_annotator, lead
):
    gold = _submit(TaskFactory(image=image, annotator=annotator), annotator, bubble, (20, 20, 6))
    review_decide(submission=gold, reviewer=lead, decision="accept")
    image_label_set_gold(
        label=image_label_set(image=image, actor=lead, submission=gold), actor=lead
    )
    third = UserFactory(username="third")
    MembershipFactory(project=project, user=third, role="annotator")
    mine = _submit(TaskFactory(image=image, annotator=other_annotator), other_annotator, bubble)
    _submit(TaskFactory(image=image, annotator=third), third, bubble, (20, 20, 6))
    api.force_authenticate(lead)
    everyone = api.get(url(project, "gold-scores/")).data["results"]
    api.force_authenticate(other_annotator)
    own = api.get(url(project, "gold-scores/")).data["results"]

    assert sorted((s["annotator"], s["matched"], s["missed"], s["pq"]) for s in everyone) == [
        ("other_annotator", 0, 1, 0.0),
        ("third", 1, 0, 1.0),
    ]
    assert [(s["submission"], s["missed"]) for s in own] == [(mine.pk, 1)]


@pytest.mark.parametrize(
    "query",
    [
        "submissions/?image=-2.08e%2B150",
        "submissions/?task=99999999999999999999",
        "gold-scores/?image=-2.08e%2B150",
    ],
)
def test_an_id_filter_out_of_range_is_400(api, project, lead, query):
    api.force_authenticate(lead)

    response = api.get(url(project, query))

    assert response.status_code == 400
