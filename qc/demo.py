"""The demo project: a synthetic pool-boiling experiment that makes every page meaningful.

About 60 grey-scale frames of vapour bubbles, one label class, a lead, two reviewers and three
annotators with distinct styles (precise; drawing ~1.5 px outside the edge; skipping most
bubbles under 20 px, fewer once v2 says they count), guideline v1, a v2 with rules and a v3
not everyone has acknowledged yet, overlap 3 on a third of the images, submissions spread
over four weeks before and after v2, agreement computed, and reviews: acceptances,
rejections with reasons, comments and flagged instances, labels (one gold), a send-back, and
images waiting in each reviewer's queue.

:func:`demo_seed` replaces the demo project with a fresh one. The ``demo`` command seeds only
when there is none (a second ``make demo`` keeps what the user made) and keeps the seeded
passwords in ``MASKQC_DEMO_LOGINS_FILE`` (readable by its owner only) to print them again,
checked against the users' passwords (:func:`demo_logins`).
"""

import io
import json
import os
import random
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from PIL import Image as PILImage

from projects.models import GuidelineVersion, Image, Membership, Project, Role, Task, TaskStatus
from projects.services import (
    guideline_acknowledge,
    guideline_example_add,
    guideline_version_create,
    image_create,
    membership_set,
    project_create,
    task_assign,
)
from qc.models import ImageAgreement, ImageLabel, Review, ReviewAssignment, Submission
from qc.services import (
    InstanceInput,
    image_label_send_back,
    image_label_set,
    image_label_set_gold,
    review_assign,
    review_decide,
)
from qc.services.agreement import agreement_summary_update, agreement_update_for_image
from qc.services.submissions import SubmissionSource
from qc.services.workflow import FlagInput, submission_create
from qc.synthetic import AnnotatorStyle, Scene, annotate, make_scene, render_image

SLUG = "pool-boiling"
SEED = 2026
WIDTH, HEIGHT = 640, 480
BUBBLES_PER_IMAGE = 28
# The submissions are spread over this many days before the seeding, so that the weekly
# trends (style, agreement) have several weeks.
SPREAD_DAYS = 27

ANNOTATOR_STYLES = {
    "anna": AnnotatorStyle("anna"),
    "ben": AnnotatorStyle("ben", offset_px=1.5),
    "cleo": AnnotatorStyle("cleo", small_miss_rate=0.85),
}
# Under v2 ("small bubbles count"), cleo skips fewer small bubbles: the guideline helped,
# and the dashboard's figure before and after each version shows it.
STYLES_UNDER_V2 = {**ANNOTATOR_STYLES, "cleo": AnnotatorStyle("cleo", small_miss_rate=0.3)}
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
GUIDELINE_V3 = (
    GUIDELINE_V2
    + """
## Added in v3

- Two touching bubbles are split along the narrowest point of the neck between them.
"""
)
RULES_V2 = [
    {"rule": "min_area_px", "value": 20, "severity": "warn"},
    {"rule": "allow_holes", "value": True, "severity": "warn"},
    {"rule": "max_overlap", "value": 0.05, "severity": "warn"},
    {"rule": "max_components", "value": 1, "severity": "warn"},
    {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
]
# Who has read v3 so far (published the day before the seeding).
V3_READERS = ("anna",)

LOOSE_COMMENT = "Outlines sit outside the rim; follow the rim's outer edge."
LOOSE_NOTE = "About 1.5 px outside the rim all round."
MISSED_COMMENT = "Several bubbles under 20 px are missing; v2 asks for every bubble of 20 px."
MISSED_BY = 3  # a rejection for missed bubbles: this many fewer than the most complete
SEND_BACK_COMMENT = "The bright centre is filled in; since v2 it is drawn as a hole."


@dataclass(frozen=True)
class DemoResult:
    project: Project
    passwords: dict[str, tuple[str, str]]  # username -> (role, password)
    images: int
    submissions: int
    reviews: int


@dataclass(frozen=True)
class DemoLogin:
    """How one demo user logs in: ``password`` is None when it is not known (``note``
    says why)."""

    username: str
    role: str
    password: str | None
    note: str = ""


def demo_exists() -> bool:
    return Project.objects.filter(slug=SLUG).exists()


def demo_counts() -> dict[str, int]:
    """What the demo project holds now: images, submissions, reviews."""
    project = Project.objects.get(slug=SLUG)
    return {
        "images": project.images.count(),
        "submissions": Submission.objects.filter(task__image__project=project).count(),
        "reviews": Review.objects.filter(submission__task__image__project=project).count(),
    }


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _users() -> dict[str, tuple[Any, str, str]]:
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


class _Clock:
    """The time the seeding says it is: the demo replays four weeks of work, and every row
    is stamped by the model or service that makes it (submissions cannot be changed once
    stored), so the seeding sets the clock before each step instead of moving times after."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@contextmanager
def _replayed(moment: datetime) -> Iterator[_Clock]:
    clock = _Clock(moment)
    with mock.patch.object(timezone, "now", clock.now):
        yield clock


def demo_seed(*, images: int = 60) -> DemoResult:
    """Replace the demo project with a freshly seeded one; returns the users' passwords."""
    rng = random.Random(SEED)
    now = timezone.now()
    moments = _timeline(images, now)
    with _replayed(moments[0] - timedelta(days=2)) as clock:
        with transaction.atomic():
            Project.objects.filter(slug=SLUG).delete()
            users = _users()
            lead = users["lead"][0]
            project = project_create(
                slug=SLUG,
                name="Pool boiling (demo)",
                labels=["bubble"],
                actor=None,  # the seeding is the server's command; it makes the lead
                description="High-speed frames of nucleate pool boiling; "
                "outline every vapour bubble.",
                overlap=3,
                overlap_fraction=1 / 3,
                review_policy="all",
            )
            membership_set(project=project, user=lead, role=Role.LEAD, actor=None)
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
            clock.moment += timedelta(hours=1)
            _acknowledge(v1, users=annotators)

        at = {frame.pk: moment for (frame, _), moment in zip(frames, moments, strict=True)}
        submissions = _annotate(
            project=project,
            lead=lead,
            frames=frames,
            annotators=annotators,
            rng=rng,
            clock=clock,
            moments=moments,
        )
        reviews = _review_some(
            project=project, users=users, clock=clock, decided=_decided(at, now=now), now=now
        )
        clock.moment = now - timedelta(days=1)
        v3 = _guideline_publish(
            project=project,
            lead=lead,
            body=GUIDELINE_V3,
            change_summary="Touching bubbles: split at the neck.",
            rules=RULES_V2,
        )
        guideline_example_add(
            version=v3,
            image=frames[0][0],
            actor=lead,
            caption="A typical frame: every bubble, small ones too, outlined along the outer "
            "edge of its bright rim.",
        )
        clock.moment += timedelta(hours=1)
        _acknowledge(v3, users=[users[name][0] for name in V3_READERS])
    _due_dates(project=project, today=timezone.localdate(now))
    agreement_summary_update(project_id=project.pk)
    passwords = {name: (role, password) for name, (_, role, password) in users.items()}
    return DemoResult(
        project=project,
        passwords=passwords,
        images=len(frames),
        submissions=submissions,
        reviews=reviews,
    )


def _timeline(count: int, now: datetime) -> list[datetime]:
    """When each of ``count`` frames was annotated: spread evenly over the SPREAD_DAYS
    before the day before ``now``."""
    start = now - timedelta(days=SPREAD_DAYS + 1)
    step = timedelta(days=SPREAD_DAYS) / max(count - 1, 1)
    return [start + step * position for position in range(count)]


def _decided(at: dict[int, datetime], *, now: datetime) -> dict[int, datetime]:
    """When each frame was reviewed: a day after it was annotated, and before ``now``."""
    return {
        image_id: min(moment + timedelta(days=1), now - timedelta(hours=3))
        for image_id, moment in at.items()
    }


def _due_dates(*, project: Project, today: Any) -> None:
    """The open tasks (not started, or sent back) are due in the coming days."""
    open_tasks = Task.objects.filter(
        image__project=project, status__in=[TaskStatus.ASSIGNED, TaskStatus.REJECTED]
    ).order_by("image__name", "annotator__username")
    for offset, task_id in enumerate(open_tasks.values_list("pk", flat=True)):
        Task.objects.filter(pk=task_id).update(due_date=today + timedelta(days=2 + offset % 5))


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
    clock: _Clock,
    moments: list[datetime],
) -> int:
    """Every annotator's submissions, in their style, and each frame's agreement; the number
    of submissions. The frames are annotated in order, spread over the timeline, an hour
    apart by annotator. The first half of the frames is annotated under v1, then v2 is
    published and acknowledged. About one task in seven of the frames with one annotator is
    left open so the overview shows work in progress; the overlapped frames are all
    submitted, so the reviewers' queues have images to compare."""
    bubble = project.label_classes.get()
    submissions = 0
    half = len(frames) // 2
    for position, (frame, scene) in enumerate(frames):
        if position == half:
            clock.moment = moments[position] - timedelta(days=1)
            v2 = _guideline_publish(
                project=project,
                lead=lead,
                body=GUIDELINE_V2,
                change_summary="Holes for bright centres, minimum size, no overlaps.",
                rules=RULES_V2,
            )
            clock.moment += timedelta(hours=1)
            _acknowledge(v2, users=annotators)
        tasks = list(frame.tasks.select_related("annotator").order_by("annotator__username"))
        with transaction.atomic():
            for task in tasks:
                if len(tasks) == 1 and rng.random() < 0.15:
                    continue
                hour = list(ANNOTATOR_STYLES).index(task.annotator.username)
                clock.moment = moments[position] + timedelta(hours=hour)
                styles = STYLES_UNDER_V2 if position >= half else ANNOTATOR_STYLES
                style = styles[task.annotator.username]
                drawn = annotate(scene, style, seed=SEED + position)
                submission_create(
                    task=task,
                    actor=task.annotator,
                    source=SubmissionSource(format="demo"),
                    instances=[InstanceInput(label_class=bubble, rle=i.rle) for i in drawn],
                )
                submissions += 1
        # The agreement task queued at the commit has run already when the backend runs
        # tasks inline; otherwise (a worker's backend) the demo computes it now.
        if len(tasks) > 1 and not ImageAgreement.objects.filter(image=frame).exists():
            agreement_update_for_image(image_id=frame.pk)
    return submissions


def _review_some(
    *, project: Project, users: dict, clock: _Clock, decided: dict[int, datetime], now: datetime
) -> int:
    """Assign every fully submitted image to a reviewer (the least loaded) once its last
    submission is in, and decide the first half of each reviewer's images, of those with
    several annotators and of those with one apart, so that each reviewer has both kinds
    waiting; each decided at its time in ``decided``. A third of the labels are gold, and the
    last label is sent back by the lead the next day. Returns the number of reviews."""
    lead = users["lead"][0]
    ready = (
        project.images.annotate(
            open_tasks=Count("tasks", filter=~Q(tasks__status=TaskStatus.SUBMITTED)),
            annotators=Count("tasks"),
        )
        .filter(open_tasks=0)
        .order_by("name")
    )
    by_reviewer: dict[int, list[tuple[Image, ReviewAssignment]]] = defaultdict(list)
    for frame in ready:
        clock.moment = decided[frame.pk] - timedelta(hours=20)
        assignment = review_assign(image=frame, actor=lead)
        by_reviewer[assignment.reviewer_id].append((frame, assignment))
    chosen = []
    for assigned in by_reviewer.values():
        several = [item for item in assigned if item[0].annotators > 1]
        single = [item for item in assigned if item[0].annotators == 1]
        chosen += several[: len(several) // 2]
        chosen += single[: min((len(single) + 1) // 2, len(single) - 1)]
    reviews = 0
    labels = []
    compared = 0  # the decided images with several annotators so far
    for frame, assignment in sorted(chosen, key=lambda item: item[0].name):
        clock.moment = decided[frame.pk]
        strict = frame.annotators == 1 or compared % 2 == 0
        compared += frame.annotators > 1
        count, label = _decide(frame=frame, reviewer=assignment.reviewer, strict=strict)
        reviews += count
        if label is not None:
            labels.append(label)
    _gold_and_send_back(labels=labels, lead=lead, clock=clock, decided=decided, now=now)
    return reviews


def _gold_and_send_back(
    *,
    labels: list[ImageLabel],
    lead: Any,
    clock: _Clock,
    decided: dict[int, datetime],
    now: datetime,
) -> None:
    """Every third label (from the first) becomes gold an hour after it was set; the last
    of the others is sent back by the lead the next day."""
    for label in labels[::3]:
        clock.moment = decided[label.image_id] + timedelta(hours=1)
        image_label_set_gold(label=label, actor=lead)
    others = [label for position, label in enumerate(labels) if position % 3]
    if others:
        image = others[-1].image
        clock.moment = min(decided[image.pk] + timedelta(days=1), now - timedelta(hours=2))
        image_label_send_back(
            image=image, actor=lead, reasons=["guideline_violation"], comment=SEND_BACK_COMMENT
        )


def _decide(*, frame: Image, reviewer: Any, strict: bool) -> tuple[int, ImageLabel | None]:
    """The reviewer's decisions on the frame's latest submissions. A ``strict`` reviewer
    rejects ben's loose outlines, with flags on his two largest instances, and cleo's missed
    small bubbles (where others found them) without flags; the rest, and everything when not
    strict, is accepted. Without a rejection the frame gets its label: the one submission,
    or the consensus of several. Returns the number of decisions and the label."""
    latest = [
        Submission.objects.filter(task=task).order_by("-revision").first()
        for task in frame.tasks.select_related("annotator").order_by("annotator__username")
    ]
    sizes = {s.pk: s.instances.count() for s in latest}
    most = max(sizes.values())
    rejected = False
    for submission in latest:
        who = submission.task.annotator.username
        if strict and who == "ben":
            largest = list(submission.instances.order_by("-area", "pk")[:2])
            review_decide(
                submission=submission,
                reviewer=reviewer,
                decision="reject",
                reasons=["boundary_too_loose"],
                comment=LOOSE_COMMENT,
                flags=[FlagInput(i, "boundary_too_loose", LOOSE_NOTE) for i in largest],
            )
            rejected = True
        elif strict and who == "cleo" and sizes[submission.pk] <= most - MISSED_BY:
            review_decide(
                submission=submission,
                reviewer=reviewer,
                decision="reject",
                reasons=["missed_instance"],
                comment=MISSED_COMMENT,
            )
            rejected = True
        else:
            review_decide(submission=submission, reviewer=reviewer, decision="accept")
    if rejected:
        return len(latest), None
    single = latest[0] if len(latest) == 1 else None
    label = image_label_set(
        image=frame, actor=reviewer, submission=single, from_consensus=single is None
    )
    return len(latest), label


# ---------------------------------------------------------------- the seeded passwords


def demo_logins_path() -> Path:
    return Path(settings.MASKQC_DEMO_LOGINS_FILE)


def demo_logins_save(passwords: dict[str, tuple[str, str]]) -> Path:
    """Keep the seeded passwords in the logins file, readable and writable by its owner
    only (0600), for a later ``demo`` to print again."""
    path = demo_logins_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {
        "project": SLUG,
        "users": {name: {"role": role, "password": pw} for name, (role, pw) in passwords.items()},
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file that existed keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as stored:
        json.dump(content, stored, indent=2)
    return path


def demo_logins() -> list[DemoLogin] | None:
    """How each demo user logs in, from the logins file, each password checked against the
    user's: a password changed since the seeding is not shown (and says so), nor one of a
    user who is gone. None when there is no readable logins file."""
    try:
        stored = json.loads(demo_logins_path().read_text())
        users = stored["users"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    known = {u.username: u for u in get_user_model().objects.filter(username__in=list(users))}
    roles = dict(
        Membership.objects.filter(project__slug=SLUG, user__username__in=list(users)).values_list(
            "user__username", "role"
        )
    )
    logins = []
    for username, entry in users.items():
        user = known.get(username)
        role = roles.get(username, entry.get("role", ""))
        password = entry.get("password")
        if user is None:
            logins.append(DemoLogin(username, role, None, "no longer exists"))
        elif not isinstance(password, str) or not user.check_password(password):
            logins.append(DemoLogin(username, role, None, "password changed since the seeding"))
        else:
            logins.append(DemoLogin(username, role, password))
    return logins
