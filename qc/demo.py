"""The demo project: a synthetic pool-boiling experiment that makes every page meaningful.

About 60 grey-scale frames of vapour bubbles, one label class, a lead, two reviewers and three
annotators with distinct styles (precise; drawing ~1.5 px outside the edge; skipping most
bubbles under 20 px), guideline v1 and a v2 with rules, overlap 3 on a third of the images,
submissions before and after v2, agreement computed, and some reviews. Seeding again replaces
the demo project, so there is only ever one.
"""

import io
import random
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image as PILImage

from projects.models import GuidelineVersion, Image, Project, Role, TaskStatus
from projects.services import (
    guideline_acknowledge,
    guideline_version_create,
    image_create,
    membership_set,
    project_create,
    task_assign,
)
from qc.models import Submission
from qc.services import (
    InstanceInput,
    image_label_set,
    image_label_set_gold,
    review_assign,
    review_decide,
)
from qc.services.agreement import agreement_summary_update, agreement_update_for_image
from qc.services.submissions import SubmissionSource
from qc.services.workflow import submission_create
from qc.synthetic import AnnotatorStyle, Scene, annotate, make_scene, render_image

SLUG = "pool-boiling"
SEED = 2026
WIDTH, HEIGHT = 640, 480
BUBBLES_PER_IMAGE = 28

ANNOTATOR_STYLES = {
    "anna": AnnotatorStyle("anna"),
    "ben": AnnotatorStyle("ben", offset_px=1.5),
    "cleo": AnnotatorStyle("cleo", small_miss_rate=0.85),
}
STAFF = {"lead": Role.LEAD, "rita": Role.REVIEWER, "rui": Role.REVIEWER}

GUIDELINE_V1 = """\
# Bubble outlines

Outline every vapour bubble you can see, one instance per bubble.

- Follow the **outer edge of the bright rim**: the rim belongs to the bubble.
- Two touching bubbles are two instances; do not merge them.
- Bubbles cut by the frame are outlined up to the frame.
"""
GUIDELINE_V2 = (
    GUIDELINE_V1
    + """
## Added in v2

- Leave out the bright spot in the middle of a back-lit bubble (draw it as a hole).
- Small bubbles count: outline every bubble of 20 px area or more.
- Instances must not overlap.
"""
)
RULES_V2 = [
    {"rule": "min_area_px", "value": 20, "severity": "warn"},
    {"rule": "allow_holes", "value": True, "severity": "warn"},
    {"rule": "max_overlap", "value": 0.05, "severity": "warn"},
    {"rule": "max_components", "value": 1, "severity": "warn"},
    {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
]


@dataclass(frozen=True)
class DemoResult:
    project: Project
    passwords: dict[str, tuple[str, str]]  # username -> (role, password)
    images: int
    submissions: int
    reviews: int


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _users() -> dict[str, tuple[object, str, str]]:
    User = get_user_model()
    users = {}
    for username, role in {**STAFF, **dict.fromkeys(ANNOTATOR_STYLES, Role.ANNOTATOR)}.items():
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.org"}
        )
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save(update_fields=["password"])
        users[username] = (user, role, password)
    return users


def demo_seed(*, images: int = 60) -> DemoResult:
    """Replace the demo project with a freshly seeded one; returns the users' passwords."""
    rng = random.Random(SEED)
    with transaction.atomic():
        Project.objects.filter(slug=SLUG).delete()
        users = _users()
        lead = users["lead"][0]
        project = project_create(
            slug=SLUG,
            name="Pool boiling (demo)",
            labels=["bubble"],
            actor=lead,
            description="High-speed frames of nucleate pool boiling; outline every vapour bubble.",
            overlap=3,
            overlap_fraction=1 / 3,
            review_policy="all",
        )
        for user, role, _ in users.values():
            membership_set(project=project, user=user, role=role, actor=lead)
        v1 = _guideline_publish(
            project=project, lead=lead, body=GUIDELINE_V1, change_summary="First version."
        )
        frames = _frames_create(project=project, lead=lead, count=images)
        annotators = [users[name][0] for name in ANNOTATOR_STYLES]
        task_assign(
            project=project,
            images=[frame for frame, _ in frames],
            actor=lead,
            annotators=annotators,
            seed=SEED,
        )
        _acknowledge(v1, users=annotators)

    submissions = _annotate(
        project=project, lead=lead, frames=frames, annotators=annotators, rng=rng
    )
    reviews = _review_some(project=project, users=users, rng=rng)
    agreement_summary_update(project_id=project.pk)
    passwords = {name: (role, password) for name, (_, role, password) in users.items()}
    return DemoResult(
        project=project,
        passwords=passwords,
        images=len(frames),
        submissions=submissions,
        reviews=reviews,
    )


def _guideline_publish(
    *, project: Project, lead: Any, body: str, change_summary: str, rules: list | None = None
) -> GuidelineVersion:
    """A published version of the demo's one guideline."""
    return guideline_version_create(
        project=project,
        title="Bubble outlines",
        body=body,
        author=lead,
        change_summary=change_summary,
        rules=rules,
        publish=True,
    )


def _acknowledge(version: GuidelineVersion, *, users: list[Any]) -> None:
    for user in users:
        guideline_acknowledge(version=version, user=user)


def _frames_create(*, project: Project, lead: Any, count: int) -> list[tuple[Image, Scene]]:
    """``count`` rendered frames stored as the project's images, in frame order, each with
    the scene it shows."""
    frames = []
    for index in range(count):
        scene = make_scene(
            seed=SEED + index, height=HEIGHT, width=WIDTH, n_bubbles=BUBBLES_PER_IMAGE
        )
        name = f"run07_frame{index * 25:05d}.png"
        frame = image_create(
            project=project,
            name=name,
            width=WIDTH,
            height=HEIGHT,
            actor=lead,
            metadata={"experiment": "run07", "frame": index * 25, "heat_flux_kw_m2": 180},
            file=ContentFile(_png(render_image(scene, seed=SEED)), name=name),
        )
        frames.append((frame, scene))
    return frames


def _annotate(
    *,
    project: Project,
    lead: Any,
    frames: list[tuple[Image, Scene]],
    annotators: list[Any],
    rng: random.Random,
) -> int:
    """Every annotator's submissions, in their style, and each frame's agreement; the number
    of submissions. The first half of the frames is annotated under v1, then v2 is published
    and acknowledged. About one task in eight is left open so the overview shows work in
    progress."""
    bubble = project.label_classes.get()
    submissions = 0
    half = len(frames) // 2
    for position, (frame, scene) in enumerate(frames):
        if position == half:
            v2 = _guideline_publish(
                project=project,
                lead=lead,
                body=GUIDELINE_V2,
                change_summary="Holes for bright centres, minimum size, no overlaps.",
                rules=RULES_V2,
            )
            _acknowledge(v2, users=annotators)
        for task in frame.tasks.select_related("annotator").order_by("annotator__username"):
            if rng.random() < 0.12:
                continue
            style = ANNOTATOR_STYLES[task.annotator.username]
            drawn = annotate(scene, style, seed=SEED + position)
            submission_create(
                task=task,
                actor=task.annotator,
                source=SubmissionSource(format="demo"),
                instances=[InstanceInput(label_class=bubble, rle=i.rle) for i in drawn],
            )
            submissions += 1
        agreement_update_for_image(image_id=frame.pk)
    return submissions


def _review_some(*, project: Project, users: dict, rng: random.Random) -> int:
    """Assign every fully submitted image to a reviewer and decide about half of them."""
    lead = users["lead"][0]
    reviews = 0
    ready = [
        frame
        for frame in project.images.order_by("name")
        if not frame.tasks.exclude(status=TaskStatus.SUBMITTED).exists()
    ]
    for frame in ready:
        assignment = review_assign(image=frame, actor=lead)
        if rng.random() < 0.5:
            continue
        reviewer = assignment.reviewer
        latest = [
            Submission.objects.filter(task=task).order_by("-revision").first()
            for task in frame.tasks.select_related("annotator").order_by("annotator__username")
        ]
        rejected = False
        for submission in latest:
            if submission.task.annotator.username == "ben":
                review_decide(
                    submission=submission,
                    reviewer=reviewer,
                    decision="reject",
                    reasons=["boundary_too_loose"],
                    comment="Outlines sit outside the rim; follow the rim's outer edge.",
                )
                rejected = True
            else:
                review_decide(submission=submission, reviewer=reviewer, decision="accept")
            reviews += 1
        if not rejected:
            # One annotator: their submission is the label; several: the consensus.
            single = latest[0] if len(latest) == 1 else None
            label = image_label_set(
                image=frame, actor=reviewer, submission=single, from_consensus=single is None
            )
            if rng.random() < 0.3:
                image_label_set_gold(label=label, actor=lead)
    return reviews
