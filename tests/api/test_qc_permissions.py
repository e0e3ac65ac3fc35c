"""Who may call each qc workflow endpoint (DESIGN §10): admin, lead, reviewer, annotator,
other annotator, outsider and anonymous, each against a project holding data that could
leak (an annotator's submission on an image assigned to the reviewer)."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from qc.services import (
    InstanceInput,
    image_label_set,
    review_assign,
    review_decide,
    submission_create,
)
from tests.factories import ImageFactory, TaskFactory

ROLES = ["admin", "lead", "reviewer", "annotator", "other_annotator", "outsider", "anonymous"]


@pytest.fixture
def world(project, bubble, admin_user, lead, reviewer, annotator, other_annotator, outsider):
    image = ImageFactory(project=project, name="seen.png", width=16, height=16)
    image.file.save("seen.png", ContentFile(b"\x89PNG pixels"), save=True)
    task = TaskFactory(image=image, annotator=annotator)
    submission = submission_create(
        task=task,
        actor=annotator,
        instances=[InstanceInput(label_class=bubble, rle=_square())],
    )
    review_assign(image=image, actor=None, reviewer=reviewer)
    open_image = ImageFactory(project=project, name="open.png", width=16, height=16)
    open_task = TaskFactory(image=open_image, annotator=annotator)
    return {"image": image, "submission": submission, "open_task": open_task}


def _square() -> dict:
    import numpy as np

    from qc import masks

    mask = np.zeros((16, 16), bool)
    mask[2:6, 2:6] = True
    return masks.rle_from_mask(mask)


def _accept(world, lead):
    review_decide(submission=world["submission"], reviewer=lead, decision="accept")
    image_label_set(image=world["image"], actor=lead, submission=world["submission"])


def _coco(world):
    data = {
        "images": [{"id": 1, "file_name": "open.png", "width": 16, "height": 16}],
        "categories": [{"id": 1, "name": "bubble"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[1, 1, 8, 1, 8, 8, 1, 8]],
                "iscrowd": 0,
            }
        ],
    }
    return {
        "file": SimpleUploadedFile("mine.json", json.dumps(data).encode(), "application/json"),
        "format": "coco",
    }


# (name, method, path, body, prepare, expected by role in ROLES order)
CASES = [
    ("images", "get", "images/", None, None, [200, 200, 200, 200, 200, 404, 401]),
    ("image", "get", "images/{image}/", None, None, [200, 200, 200, 200, 404, 404, 401]),
    ("pixels", "get", "images/{image}/pixels/", None, None, [200, 200, 200, 200, 404, 404, 401]),
    (
        "image agreement",
        "get",
        "images/{image}/agreement/",
        None,
        None,
        [200, 200, 200, 403, 403, 404, 401],
    ),
    (
        "review assignment",
        "post",
        "images/{image}/review-assignment/",
        {},
        None,
        [201, 201, 403, 403, 403, 404, 401],
    ),
    (
        "label",
        "post",
        "images/{image}/label/",
        {"consensus": True},
        None,
        [201, 201, 201, 403, 403, 404, 401],
    ),
    (
        "label detail",
        "get",
        "images/{image}/label/",
        None,
        _accept,
        [200, 200, 200, 403, 403, 404, 401],
    ),
    (
        "send-back",
        "post",
        "images/{image}/send-back/",
        {"reasons": ["other"]},
        _accept,
        [201, 201, 201, 403, 403, 404, 401],
    ),
    (
        "gold",
        "put",
        "images/{image}/gold/",
        {"gold": True},
        _accept,
        [200, 200, 403, 403, 403, 404, 401],
    ),
    ("submissions", "get", "submissions/", None, None, [200, 200, 200, 200, 200, 404, 401]),
    (
        "submission",
        "get",
        "submissions/{submission}/",
        None,
        None,
        [200, 200, 200, 200, 404, 404, 401],
    ),
    (
        "submit",
        "post",
        "submissions/",
        "submit",
        None,
        [201, 201, 404, 201, 404, 404, 401],
    ),
    (
        "upload",
        "post",
        "submissions/upload/",
        "upload",
        None,
        [403, 403, 403, 201, 400, 404, 401],
    ),
    (
        "decide",
        "post",
        "submissions/{submission}/review/",
        {"decision": "accept"},
        None,
        [201, 201, 201, 403, 404, 404, 401],
    ),
    ("review queue", "get", "review-queue/", None, None, [200, 200, 200, 403, 403, 404, 401]),
    ("gold scores", "get", "gold-scores/", None, None, [200, 200, 200, 200, 200, 404, 401]),
    ("audit", "get", "audit/", None, None, [200, 200, 403, 403, 403, 404, 401]),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "prepare", "role", "expected"),
    [
        pytest.param(method, path, body, prepare, role, codes[k], id=f"{name}-{role}")
        for name, method, path, body, prepare, codes in CASES
        for k, role in enumerate(ROLES)
    ],
)
def test_permission_matrix(
    request, api, project, world, lead, method, path, body, prepare, role, expected
):
    if prepare is not None:
        prepare(world, lead)
    if role == "admin":
        api.force_authenticate(request.getfixturevalue("admin_user"))
    elif role != "anonymous":
        api.force_authenticate(request.getfixturevalue(role))
    target = f"/api/v1/projects/{project.slug}/" + path.format(
        image=world["image"].pk, submission=world["submission"].pk
    )
    if body == "upload":
        response = api.post(target, _coco(world), format="multipart")
    elif body == "submit":
        response = api.post(target, {"task": world["open_task"].pk, "instances": []}, format="json")
    elif method == "get":
        response = api.get(target)
    else:
        response = getattr(api, method)(target, body, format="json")

    assert response.status_code == expected, getattr(response, "data", None)
