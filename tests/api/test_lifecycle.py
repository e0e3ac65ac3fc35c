"""The team's whole workflow through the REST API only (DESIGN §6, §9; issue 10 "Show").

A lead creates a project with the ``below_threshold`` review policy, its label classes and
members, publishes a guideline with a blocking rule and assigns 10 uploaded images with
overlap 2. The annotators acknowledge the guideline and submit (one submission refused by
the rule, then fixed; one annotator's work uploaded as a Supervisely project). Agreement
runs as each submission commits: the agreeing images are accepted by the system, the rest
reach the review queue worst first. A reviewer rejects a submission with reasons and
per-instance flags, the annotator sees the feedback and reworks, the new revision is
accepted and becomes the label; a gold label scores a later submission; the export holds
exactly the accepted labels.

Only user accounts are made with the ORM (there is no sign-up endpoint); every user then
signs in for an API token, and everything else goes through the API. The project's review
policy is given when the project is created: the project endpoint is read-only (GET). The
test runs in a real transaction (``transaction=True``), so
agreement and the review policy run on commit as in production, on SQLite and PostgreSQL.
"""

import base64
import hashlib
import io
import json
import zipfile
import zlib

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage
from rest_framework.test import APIClient

from qc import masks
from tests.factories import UserFactory

H, W = 48, 64
SIDE = 12
SLUG = "boiling"
BASE = f"/api/v1/projects/{SLUG}/"
MIN_AREA = 30
PASSWORD = "password"  # what tests.factories.UserFactory gives every user


def square(x: int, y: int, side: int = SIDE) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y : y + side, x : x + side] = True
    return mask


def rle_instance(mask: np.ndarray, label: str = "bubble") -> dict:
    rle = masks.rle_from_mask(mask)
    return {"label_class": label, "rle": {"size": [H, W], "counts": rle["counts"].decode()}}


def png_file(name: str, shade: int) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    PILImage.new("L", (W, H), color=shade).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), "image/png")


def supervisely_zip(drawn: dict[str, list[tuple[int, int]]], login: str) -> SimpleUploadedFile:
    """A Supervisely project (meta.json + ds/ann/<image>.json) with one bitmap object per
    square: base64(zlib(PNG)) of the crop, placed at ``origin`` [x, y]."""
    crop = io.BytesIO()
    PILImage.fromarray(np.full((SIDE, SIDE), 255, dtype=np.uint8)).save(crop, format="PNG")
    data = base64.b64encode(zlib.compress(crop.getvalue())).decode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        meta = {"classes": [{"title": "bubble", "shape": "bitmap"}], "tags": []}
        archive.writestr("project/meta.json", json.dumps(meta))
        for image, origins in drawn.items():
            document = {
                "size": {"width": W, "height": H},
                "tags": [],
                "objects": [
                    {
                        "geometryType": "bitmap",
                        "classTitle": "bubble",
                        "labelerLogin": login,
                        "bitmap": {"data": data, "origin": [x, y]},
                    }
                    for x, y in origins
                ],
            }
            archive.writestr(f"project/ds/ann/{image}.json", json.dumps(document))
    return SimpleUploadedFile("work.zip", buffer.getvalue(), "application/zip")


def signed_in(username: str) -> APIClient:
    """A client that trades the user's password for their API token and sends it."""
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.data
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    return client


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# What each annotator draws (squares by top-left corner), image by image:
#   img_00..img_04  both draw the same squares: pq 1.0, accepted by the system;
#   img_05          b's square 2 px to the right: IoU 120/168;
#   img_06          b's square 3 px to the right: IoU 108/180;
#   img_07          disjoint squares: pq 0 (a's is rejected and reworked);
#   img_08          b draws one of a's two squares: pq 1/1.5 (left in review);
#   img_09          a's two squares become the gold label; b submits later, one square.
A_DRAWS = {
    "img_00.png": [(10, 10), (40, 30)],
    "img_01.png": [(10, 10)],
    "img_02.png": [(20, 12)],
    "img_03.png": [(30, 20)],
    "img_04.png": [(5, 30)],
    "img_05.png": [(10, 10)],
    "img_06.png": [(10, 10)],
    "img_07.png": [(10, 10)],
    "img_08.png": [(10, 10), (40, 30)],
    "img_09.png": [(10, 10), (40, 30)],
}
B_UPLOADS = {name: A_DRAWS[name] for name in ("img_00.png", "img_01.png", "img_02.png")}
B_DRAWS = {
    "img_03.png": [(30, 20)],
    "img_04.png": [(5, 30)],
    "img_05.png": [(12, 10)],
    "img_06.png": [(13, 10)],
    "img_07.png": [(40, 30)],
    "img_08.png": [(10, 10)],
}
NAMES = [f"img_{k:02d}.png" for k in range(10)]


@pytest.fixture(autouse=True)
def _no_login_throttle_left_over():
    """The token endpoint's throttle counts live in the cache: start and end with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_project_lifecycle_through_the_api():
    # Accounts: there is no sign-up endpoint. Everyone signs in for a token.
    UserFactory(username="admin", is_staff=True)
    for username in ("lead", "ann_a", "ann_b", "rev"):
        UserFactory(username=username)
    admin, lead, ann_a, ann_b, rev = map(signed_in, ("admin", "lead", "ann_a", "ann_b", "rev"))

    # --- a site admin creates the project and makes its lead -------------------------
    created = admin.post(
        "/api/v1/projects/",
        {"slug": SLUG, "name": "Pool boiling", "overlap": 2, "review_policy": "below_threshold"},
        format="json",
    )
    assert created.status_code == 201, created.data
    assert (created.data["role"], created.data["overlap"], created.data["review_policy"]) == (
        "admin",
        2,
        "below_threshold",
    )
    made_lead = admin.post(BASE + "members/", {"username": "lead", "role": "lead"}, "json")
    assert (made_lead.status_code, made_lead.data["role"]) == (201, "lead")

    # --- the lead sets the project up ------------------------------------------------
    assert created.data["auto_accept_pq"] == 0.85
    assert APIClient().get(BASE).status_code == 401  # without a token
    assert ann_a.get(BASE).status_code == 404  # not a member yet: the project is unknown
    for name, colour in (("bubble", "#ff0000"), ("droplet", "#0000ff")):
        response = lead.post(BASE + "label-classes/", {"name": name, "colour": colour}, "json")
        assert (response.status_code, response.data["name"]) == (201, name)
    for username, role in (("ann_a", "annotator"), ("ann_b", "annotator"), ("rev", "reviewer")):
        response = lead.post(BASE + "members/", {"username": username, "role": role}, "json")
        assert (response.status_code, response.data["role"]) == (201, role)
    members = lead.get(BASE + "members/").data["results"]
    assert sorted((m["username"], m["role"]) for m in members) == [
        ("ann_a", "annotator"),
        ("ann_b", "annotator"),
        ("lead", "lead"),
        ("rev", "reviewer"),
    ]

    # A guideline with a blocking rule, published.
    rules = [{"rule": "min_area_px", "value": MIN_AREA, "severity": "block"}]
    draft = lead.post(
        BASE + "guidelines/",
        {"title": "Bubbles", "body": "# Bubbles\n\nHug the rim.\n", "rules": rules},
        format="json",
    )
    assert draft.status_code == 201, draft.data
    assert (draft.data["number"], draft.data["published_at"], draft.data["rules"]) == (
        1,
        None,
        rules,
    )
    version = f"{BASE}guidelines/{draft.data['guideline']}/versions/1/"
    published = lead.post(version + "publish/", {"change_summary": "First rules"}, "json")
    assert published.status_code == 200, published.data
    assert published.data["published_at"] is not None

    # Ten images, uploaded as PNG files.
    uploaded = lead.post(
        BASE + "images/",
        {"files": [png_file(name, k * 20) for k, name in enumerate(NAMES)]},
        format="multipart",
    )
    assert (uploaded.status_code, uploaded.data["created"]) == (201, 10), uploaded.data
    images = lead.get(BASE + "images/").data["results"]
    assert [(i["name"], i["width"], i["height"], i["qc_state"]) for i in images] == [
        (name, W, H, "annotating") for name in NAMES
    ]
    ids = {i["name"]: i["id"] for i in images}

    # Assign all ten with overlap 2: each image to both annotators.
    assigned = lead.post(BASE + "tasks/assign/", {"images": list(ids.values())}, "json")
    assert assigned.status_code == 201, assigned.data
    assert len(assigned.data["created"]) == 20
    assert [(i["image_name"], sorted(i["annotators"])) for i in assigned.data["images"]] == [
        (name, ["ann_a", "ann_b"]) for name in NAMES
    ]
    tasks = {}
    for who, client in (("ann_a", ann_a), ("ann_b", ann_b)):
        mine = client.get(BASE + "tasks/mine/").data["results"]
        assert sorted(t["image_name"] for t in mine) == NAMES
        assert {t["status"] for t in mine} == {"assigned"}
        tasks[who] = {t["image_name"]: t["id"] for t in mine}

    # --- annotating ------------------------------------------------------------------
    def submit(client, who: str, name: str, squares) -> dict:
        response = client.post(
            BASE + "submissions/",
            {"task": tasks[who][name], "instances": [rle_instance(square(*s)) for s in squares]},
            format="json",
        )
        assert response.status_code == 201, response.data
        return response.data

    # Before acknowledging the guideline, a submission is refused.
    gated = ann_a.post(
        BASE + "submissions/",
        {"task": tasks["ann_a"]["img_00.png"], "instances": []},
        format="json",
    )
    assert gated.status_code == 400
    assert gated.data["details"]["unacknowledged"] == ["Bubbles v1"]
    for client in (ann_a, ann_b):
        ack = client.post(version + "acknowledge/")
        assert ack.status_code == 200
    acks = lead.get(version + "acknowledgements/").data["results"]
    assert [a["username"] for a in acks] == ["ann_a", "ann_b"]

    # claim-next hands ann_a their first task, now in progress.
    claimed = ann_a.post(BASE + "tasks/claim-next/")
    assert claimed.status_code == 200
    assert (claimed.data["image_name"], claimed.data["status"]) == ("img_00.png", "in_progress")

    # A speck under the minimum area: refused by the blocking rule, with the violations.
    speck = square(25, 2, side=4)  # 16 px
    refused = ann_a.post(
        BASE + "submissions/",
        {
            "task": tasks["ann_a"]["img_00.png"],
            "instances": [rle_instance(square(*s)) for s in A_DRAWS["img_00.png"]]
            + [rle_instance(speck)],
        },
        format="json",
    )
    assert refused.status_code == 400
    assert refused.data["details"]["violations"] == [
        {
            "rule": "min_area_px",
            "severity": "block",
            "message": f"instance 3 (bubble) has 16 px, under {MIN_AREA} px",
            "instance": 2,
        }
    ]
    assert ann_a.get(BASE + "submissions/").data["count"] == 0
    # Fixed (the speck left out): accepted as revision 1, no violation.
    fixed = submit(ann_a, "ann_a", "img_00.png", A_DRAWS["img_00.png"])
    assert (fixed["revision"], fixed["rule_violations"], fixed["instance_count"]) == (1, [], 2)
    assert [i["area"] for i in fixed["instances"]] == [SIDE * SIDE, SIDE * SIDE]
    # ann_a's others, except the gold image's, which they submit after b's work.
    for name in NAMES[1:9]:
        submit(ann_a, "ann_a", name, A_DRAWS[name])

    # ann_b uploads three images' work as one Supervisely project.
    upload = ann_b.post(
        BASE + "submissions/upload/",
        {"file": supervisely_zip(B_UPLOADS, login="ann_b"), "format": "supervisely"},
        format="multipart",
    )
    assert upload.status_code == 201, upload.data
    assert (upload.data["submissions"], upload.data["instances"]) == (3, 4)
    from_file = ann_b.get(BASE + "submissions/", {"image": ids["img_00.png"]}).data["results"]
    assert [(s["source_format"], s["revision"], s["instance_count"]) for s in from_file] == [
        ("supervisely", 1, 2)
    ]
    for name, squares in B_DRAWS.items():
        submit(ann_b, "ann_b", name, squares)
    submit(ann_a, "ann_a", "img_09.png", A_DRAWS["img_09.png"])

    # --- agreement and the review policy ---------------------------------------------
    agreement = lead.get(f"{BASE}images/{ids['img_05.png']}/agreement/")
    assert agreement.status_code == 200
    assert agreement.data["annotators"] == ["ann_a", "ann_b"]
    assert agreement.data["summary"]["annotators"] == 2
    assert agreement.data["summary"]["pq"] == pytest.approx(120 / 168)
    assert agreement.data["matrix"]["pooled"] == [
        [1.0, pytest.approx(120 / 168)],
        [pytest.approx(120 / 168), 1.0],
    ]
    pooled = [p for p in agreement.data["pairs"] if p["label_class"] is None]
    assert [(p["matched"], p["unmatched_a"], p["unmatched_b"]) for p in pooled] == [(1, 0, 0)]
    assert [(c["label_class"], c["support"]) for c in agreement.data["consensus"]] == [
        ("bubble", 2)
    ]
    consensus_05 = agreement.data["consensus"][0]

    states = {i["name"]: i for i in lead.get(BASE + "images/").data["results"]}
    assert {name: states[name]["qc_state"] for name in NAMES} == {
        **{name: "accepted" for name in NAMES[:5]},
        **{name: "in_review" for name in NAMES[5:9]},
        "img_09.png": "annotating",
    }
    for name in NAMES[:5]:
        assert states[name]["pq"] == 1.0
        assert states[name]["label"]["from_consensus"] is True
        assert states[name]["label"]["submission"] is None
    auto = lead.get(BASE + "audit/", {"verb": "review.auto_accept"}).data["results"]
    assert sorted(e["after"]["image"] for e in auto) == NAMES[:5]
    assert {e["actor"] for e in auto} == {None}

    # The rest wait for review, the lowest agreement first.
    queue = lead.get(BASE + "review-queue/").data["results"]
    assert [(i["name"], i["pq"]) for i in queue] == [
        ("img_07.png", 0.0),
        ("img_06.png", pytest.approx(108 / 180)),
        ("img_08.png", pytest.approx(2 / 3)),
        ("img_05.png", pytest.approx(120 / 168)),
    ]

    # --- review ------------------------------------------------------------------------
    assert rev.get(BASE + "review-queue/").data["count"] == 0
    for name in [*(i["name"] for i in queue), "img_09.png"]:
        response = lead.post(
            f"{BASE}images/{ids[name]}/review-assignment/", {"reviewer": "rev"}, "json"
        )
        assert (response.status_code, response.data["reviewer"], response.data["status"]) == (
            201,
            "rev",
            "open",
        )
    assert [i["name"] for i in rev.get(BASE + "review-queue/").data["results"]] == [
        "img_07.png",
        "img_06.png",
        "img_08.png",
        "img_05.png",
    ]

    def submissions_of(client, name: str) -> dict[str, dict]:
        found = client.get(BASE + "submissions/", {"image": ids[name]}).data["results"]
        return {s["annotator"]: s for s in found}

    def decide(submission_id: int, body: dict):
        return rev.post(f"{BASE}submissions/{submission_id}/review/", body, format="json")

    # img_07: b's square is right; a's is rejected with reasons and a per-instance flag.
    on_07 = submissions_of(rev, "img_07.png")
    assert decide(on_07["ann_b"]["id"], {"decision": "accept"}).status_code == 201
    a_07 = rev.get(f"{BASE}submissions/{on_07['ann_a']['id']}/").data
    flagged = a_07["instances"][0]["id"]
    rejected = decide(
        a_07["id"],
        {
            "decision": "reject",
            "reasons": ["missed_instance", "extra_instance"],
            "comment": "The bubble is at the lower right.",
            "flags": [{"instance": flagged, "reason": "extra_instance", "note": "no bubble here"}],
        },
    )
    assert rejected.status_code == 201, rejected.data
    assert (rejected.data["decision"], rejected.data["reviewer"]) == ("reject", "rev")

    # The annotator sees the feedback on their submission and their task.
    seen = ann_a.get(f"{BASE}submissions/{a_07['id']}/").data
    assert (seen["review"]["decision"], seen["review"]["reasons"], seen["review"]["comment"]) == (
        "reject",
        ["missed_instance", "extra_instance"],
        "The bubble is at the lower right.",
    )
    assert seen["flags"] == [
        {"instance": flagged, "reason": "extra_instance", "note": "no bubble here"}
    ]
    assert seen["rework_rounds"] == 1
    mine = {t["image_name"]: t for t in ann_a.get(BASE + "tasks/mine/").data["results"]}
    assert mine["img_07.png"]["status"] == "rejected"
    detail = ann_a.get(f"{BASE}images/{ids['img_07.png']}/").data
    assert detail["qc_state"] == "needs_rework"
    assert [(t["annotator"], t["status"], t["rework_rounds"]) for t in detail["tasks"]] == [
        ("ann_a", "rejected", 1)
    ]
    # ann_a cannot see b's submission on the same image (the blind rule).
    assert ann_a.get(f"{BASE}submissions/{on_07['ann_b']['id']}/").status_code == 404

    # Rework: a new revision, which the reviewer accepts and makes the label.
    rework = submit(ann_a, "ann_a", "img_07.png", [(40, 30)])
    assert (rework["revision"], rework["rework_rounds"]) == (2, 1)
    assert rev.get(f"{BASE}images/{ids['img_07.png']}/").data["qc_state"] == "in_review"
    assert decide(rework["id"], {"decision": "accept"}).status_code == 201
    label = rev.post(
        f"{BASE}images/{ids['img_07.png']}/label/", {"submission": rework["id"]}, "json"
    )
    assert label.status_code == 201, label.data
    assert (label.data["submission"], label.data["accepted_by"], label.data["gold"]) == (
        rework["id"],
        "rev",
        False,
    )
    in_force = rev.get(f"{BASE}images/{ids['img_07.png']}/label/").data
    assert (in_force["submission"], in_force["from_consensus"]) == (rework["id"], False)

    # img_06: a's submission accepted and made the label; img_05: the consensus.
    a_06 = submissions_of(rev, "img_06.png")["ann_a"]
    assert decide(a_06["id"], {"decision": "accept"}).status_code == 201
    assert (
        rev.post(f"{BASE}images/{ids['img_06.png']}/label/", {"submission": a_06["id"]}, "json")
    ).status_code == 201
    consensus_label = rev.post(
        f"{BASE}images/{ids['img_05.png']}/label/", {"consensus": True}, "json"
    )
    assert consensus_label.status_code == 201, consensus_label.data
    assert (consensus_label.data["from_consensus"], consensus_label.data["submission"]) == (
        True,
        None,
    )
    assert [i["name"] for i in rev.get(BASE + "review-queue/").data["results"]] == ["img_08.png"]

    # --- gold ------------------------------------------------------------------------
    # img_09: b has not submitted yet; a's work is accepted, made the label and gold.
    a_09 = submissions_of(rev, "img_09.png")["ann_a"]
    assert decide(a_09["id"], {"decision": "accept"}).status_code == 201
    assert (
        rev.post(f"{BASE}images/{ids['img_09.png']}/label/", {"submission": a_09["id"]}, "json")
    ).status_code == 201
    gold = lead.put(f"{BASE}images/{ids['img_09.png']}/gold/", {"gold": True}, format="json")
    assert (gold.status_code, gold.data["gold"], gold.data["submission"]) == (
        200,
        True,
        a_09["id"],
    )
    assert lead.get(BASE + "gold-scores/").data["count"] == 0
    # b's later submission on the gold image: one of the two gold squares, exactly.
    later = submit(ann_b, "ann_b", "img_09.png", [(10, 10)])
    expected_score = {
        "matched": 1,
        "missed": 1,
        "extra": 0,
        "mean_iou": 1.0,
        "pq": pytest.approx(2 / 3),
        "match_iou": 0.5,
    }
    scores = lead.get(BASE + "gold-scores/").data["results"]
    assert [
        {k: s[k] for k in ("submission", "image_name", "annotator", "revision")} for s in scores
    ] == [
        {"submission": later["id"], "image_name": "img_09.png", "annotator": "ann_b", "revision": 1}
    ]
    assert {k: scores[0][k] for k in expected_score} == expected_score
    assert ann_b.get(f"{BASE}submissions/{later['id']}/").data["gold_score"] == expected_score
    assert ann_a.get(BASE + "gold-scores/").data["count"] == 0

    # --- the final states and the export ---------------------------------------------
    states = {i["name"]: i["qc_state"] for i in lead.get(BASE + "images/").data["results"]}
    assert states == {**{name: "accepted" for name in NAMES}, "img_08.png": "in_review"}
    assert lead.get(BASE + "images/", {"gold": True}).data["count"] == 1

    started = lead.post(BASE + "exports/", {"format": "coco"}, format="json")
    assert started.status_code == 202, started.data
    export = lead.get(f"{BASE}exports/{started.data['id']}/").data
    assert export["status"] == "done", export
    download = lead.get(export["download_url"])
    assert download.status_code == 200
    body = body_of(download)
    assert hashlib.sha256(body).hexdigest() == export["sha256"] == download["X-Checksum-SHA256"]
    assert export["counts"]["images"] == 9
    assert export["counts"]["annotations"] == 11
    coco = json.loads(body)
    assert coco["info"]["labels"] == "accepted labels only"
    assert [c["name"] for c in coco["categories"]] == ["bubble", "droplet"]
    names_by_id = {i["id"]: i["file_name"] for i in coco["images"]}
    accepted = [name for name in NAMES if name != "img_08.png"]
    assert list(names_by_id.values()) == accepted
    exported = {name: [] for name in accepted}
    for annotation in coco["annotations"]:
        provenance = annotation["maskqc"]
        exported[names_by_id[annotation["image_id"]]].append(
            (
                annotation["category_id"],
                annotation["bbox"],
                annotation["area"],
                annotation["segmentation"]["counts"],
                provenance["from"],
                provenance["annotator"],
                provenance["reviewer"],
                provenance["label"],
            )
        )

    def label_of(squares, source: str, annotator: str | None, reviewer: str | None) -> list:
        return [
            (
                1,
                [x, y, SIDE, SIDE],
                SIDE * SIDE,
                rle_instance(square(x, y))["rle"]["counts"],
                source,
                annotator,
                reviewer,
                "accepted",
            )
            for x, y in squares
        ]

    assert exported == {
        # accepted by the system with the consensus of the two agreeing annotators
        **{name: label_of(A_DRAWS[name], "consensus", None, None) for name in NAMES[:5]},
        # the consensus, chosen by the reviewer
        "img_05.png": [
            (
                1,
                consensus_05["bbox"],
                consensus_05["area"],
                consensus_05["rle"]["counts"],
                "consensus",
                None,
                "rev",
                "accepted",
            )
        ],
        "img_06.png": label_of(A_DRAWS["img_06.png"], "submission", "ann_a", "rev"),
        # a's reworked revision, not the rejected one
        "img_07.png": label_of([(40, 30)], "submission", "ann_a", "rev"),
        # the gold label, not b's later submission
        "img_09.png": label_of(A_DRAWS["img_09.png"], "submission", "ann_a", "rev"),
    }
