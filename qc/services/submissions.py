"""Submissions: every revision of a task's masks is stored by :func:`submissions_create`,
whether an annotator submits one task (:func:`qc.services.workflow.submission_create`) or
an import brings thousands (:func:`qc.services.imports.import_annotations`).

It owns what storing a submission means (DESIGN §6, §7): the revision number (the task's
next), the guideline versions in force, the guideline's rules checked (and, behind the gate,
acknowledgements required and blocking rules refused), ``imported_by``, the instances'
rows, the task marked submitted, one audit event per submission, and agreement queued on
commit for the images whose agreement can change.

An instance is stored as a row of :data:`INSTANCE_FIELDS` values (:func:`instance_row`),
everything derived from its mask computed once, when the row is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef
from django.utils import timezone

from projects.audit import audit_event
from projects.errors import ApplicationError, ConflictError
from projects.models import (
    OPEN_TASK_STATUSES,
    Acknowledgement,
    AuditEvent,
    LabelClass,
    Project,
    Task,
    TaskStatus,
)
from projects.permissions import Action, has_permission, may_submit_task
from projects.selectors import current_versions
from qc import masks
from qc.agreement import InstanceFeatures, instance_features
from qc.models import ImageAgreement, Instance, Submission
from qc.rules import Violation, check_rules
from qc.services.agreement_backlog import agreement_queue
from qc.services.bulk import chunks, insert_fields, insert_objects, insert_rows
from qc.services.labels import gold_scores_store

__all__ = [
    "API_SOURCE",
    "INSTANCE_FIELDS",
    "LABEL_COLUMN",
    "SUBMISSION_COLUMN",
    "InstanceInput",
    "SubmissionDraft",
    "SubmissionSource",
    "SubmissionsCreated",
    "instance_row",
    "instance_values",
    "submissions_create",
]


# Instance columns in insert order; an instance travels as a list of these values.
INSTANCE_FIELDS = insert_fields(Instance)
SUBMISSION_COLUMN = [f.name for f in INSTANCE_FIELDS].index("submission")
LABEL_COLUMN = [f.name for f in INSTANCE_FIELDS].index("label_class")
_INSTANCE_ATTNAMES = [f.attname for f in INSTANCE_FIELDS]
# Columns whose field has a default: what ``instance_values`` leaves out gets it, as
# ``bulk_create`` would give it (the others, submission and class, are filled in later).
_INSTANCE_DEFAULTED = [k for k, f in enumerate(INSTANCE_FIELDS) if f.has_default()]


@dataclass(frozen=True)
class InstanceInput:
    """One instance to store: its class and mask; `polygon` keeps the source geometry."""

    label_class: LabelClass | None
    rle: dict
    polygon: dict | None = None
    attributes: dict = field(default_factory=dict)


def instance_values(
    *,
    item: InstanceInput,
    boundary_px: int,
    features: InstanceFeatures | None = None,
) -> dict[str, Any]:
    """The column values (by attribute name) of the Instance stored for ``item``, with
    everything derived from its mask computed once, here; the submission is the caller's.

    `features` may be given when the caller already holds them for `item.rle` and
    `boundary_px` (an import measures them while it decodes the pixels); they must equal
    what `instance_features` gives.
    """
    if features is None:
        features = instance_features(item.rle, boundary_px=boundary_px)
    return {
        "label_class_id": None if item.label_class is None else item.label_class.pk,
        **Instance.mask_columns_for(rle=item.rle, bbox=features.bbox, area=features.area),
        "perimeter": features.perimeter,
        "boundary_rle": masks.rle_to_string(features.boundary_rle),
        "boundary_px": boundary_px,
        "polygon": item.polygon,
        "attributes": item.attributes,
    }


def instance_row(
    item: InstanceInput, *, boundary_px: int, features: InstanceFeatures | None = None
) -> list[Any]:
    """The :data:`INSTANCE_FIELDS` values of ``item``'s Instance (:func:`instance_values`);
    a column the values leave out gets its field's default. The submission column is
    filled when the row is stored."""
    values = instance_values(item=item, boundary_px=boundary_px, features=features)
    row = [values.get(name) for name in _INSTANCE_ATTNAMES]
    for column in _INSTANCE_DEFAULTED:
        if _INSTANCE_ATTNAMES[column] not in values:
            row[column] = INSTANCE_FIELDS[column].get_default()
    return row


@dataclass
class SubmissionDraft:
    """One submission to store: its task (saved, and locked or created by the caller), its
    instances as rows (:func:`instance_row`, class column filled), and each instance's
    class name and RLE, which the guideline's rules check. ``new_task``: the task was
    created for this submission, with status submitted."""

    task: Task
    rows: list[list[Any]]
    shapes: Sequence[tuple[str, Mapping[str, Any]]]
    new_task: bool = False


@dataclass(frozen=True)
class SubmissionSource:
    """Where a submission came from: ``api`` (an annotator through the API or a page), or
    an import's format, the file's name and the import's checksum."""

    format: str = "api"
    name: str = ""
    checksum: str = ""


# A submission sent by its annotator (the API or a page).
API_SOURCE = SubmissionSource()


@dataclass
class SubmissionsCreated:
    """What :func:`submissions_create` stored, and the images queued for agreement."""

    submissions: list[Submission]
    agreement_images: list[int]


@transaction.atomic
def submissions_create(
    *,
    project: Project,
    drafts: Sequence[SubmissionDraft],
    actor: Any,
    source: SubmissionSource = API_SOURCE,
    check_gate: bool = True,
) -> SubmissionsCreated:
    """Store one submission per draft, each its task's next revision, and mark the tasks
    submitted; all or nothing.

    The actor is the annotator of every task, or a lead or an admin of the project, or None
    (the server's operator, through a command); anyone else gets a 403. With ``check_gate``
    every annotator must have acknowledged the current version of each published
    guideline, and rules of severity "block" refuse the drafts that break them, with the
    list of violations (ApplicationError); without it (an import) the violations are
    recorded only. A task that is not open and was not created for its draft
    is a ConflictError.

    The images' agreement is queued after the commit (:func:`agreement_queue`): while the
    task queue is down (Redis, under ``TASKS_BACKEND=rq``) submissions still commit, and
    their agreement is queued by the agreement backlog once it is back.
    """
    for draft in drafts:
        _require_open(draft)
    _require_may_submit(actor, project, drafts)
    versions = current_versions(project=project)
    if check_gate:
        _require_acknowledged(versions, {draft.task.annotator_id for draft in drafts})
    rules = [rule for version in versions for rule in version.rules]
    violations = [check_rules(rules, draft.shapes) if rules else [] for draft in drafts]
    if check_gate:
        _refuse_blocking(drafts, violations)
    submissions = _store_submissions(
        drafts,
        violations,
        actor=actor,
        source=source,
    )
    _versions_link(project, drafts, submissions, versions=versions, gated=check_gate)
    rows: list[list[Any]] = []
    for draft, submission in zip(drafts, submissions, strict=True):
        for row in draft.rows:
            row[SUBMISSION_COLUMN] = submission.pk
        rows += draft.rows
    insert_rows(Instance, rows)
    gold_scores_store(submissions=submissions)
    before = _mark_submitted(drafts)
    insert_objects(
        AuditEvent,
        [
            audit_event(
                actor=actor,
                verb="submission.create",
                obj=submission,
                project=project,
                before={"task_status": status},
                after={
                    "task": submission.task_id,
                    "revision": submission.revision,
                    "instances": len(draft.rows),
                    "violations": len(submission.rule_violations),
                    "source": source.name,
                },
            )
            for draft, submission, status in zip(drafts, submissions, before, strict=True)
        ],
    )
    images = _agreement_images(sorted({draft.task.image_id for draft in drafts}))
    if images:
        # After the commit, and never failing it: work the queue refuses is logged and
        # left for the agreement backlog (qc.services.agreement_backlog).
        transaction.on_commit(lambda: agreement_queue(image_ids=images))
    return SubmissionsCreated(submissions=submissions, agreement_images=images)


def _versions_link(
    project: Project,
    drafts: Sequence[SubmissionDraft],
    submissions: Sequence[Submission],
    *,
    versions: Sequence[Any],
    gated: bool,
) -> None:
    """Record the guideline versions each submission was made under. Through the gate
    every annotator works under the current versions; an import's annotators under what
    each had acknowledged (work drawn elsewhere, maybe before any)."""
    annotators = {draft.task.annotator_id for draft in drafts}
    under = (
        {annotator: [v.pk for v in versions] for annotator in annotators}
        if gated
        else _versions_acknowledged(project, annotators)
    )
    through = Submission.guideline_versions.through
    through.objects.bulk_create(
        [
            through(submission_id=submission.pk, guidelineversion_id=version_id)
            for draft, submission in zip(drafts, submissions, strict=True)
            for version_id in under.get(draft.task.annotator_id, [])
        ],
        batch_size=1000,
    )


def _versions_acknowledged(project: Project, annotator_ids: set[int]) -> dict[int, list[int]]:
    """The guideline versions each annotator works under: per guideline, the newest
    published version they acknowledged (none for a guideline they never acknowledged)."""
    newest: dict[tuple[int, int], tuple[int, int]] = {}
    for user_id, guideline_id, number, version_id in Acknowledgement.objects.filter(
        user_id__in=annotator_ids,
        version__guideline__project=project,
        version__published_at__isnull=False,
    ).values_list("user_id", "version__guideline_id", "version__number", "version_id"):
        key = (user_id, guideline_id)
        if key not in newest or number > newest[key][0]:
            newest[key] = (number, version_id)
    under: dict[int, list[int]] = {}
    for (user_id, _), (_, version_id) in sorted(newest.items()):
        under.setdefault(user_id, []).append(version_id)
    return under


def _require_open(draft: SubmissionDraft) -> None:
    task = draft.task
    if not draft.new_task and task.status not in OPEN_TASK_STATUSES:
        raise ConflictError(
            f"Task {task.image.name} for {task.annotator} is {task.status}; "
            "only assigned, in-progress or rejected tasks take a submission."
        )


def _require_may_submit(actor: Any, project: Project, drafts: Sequence[SubmissionDraft]) -> None:
    """Annotators submit for their own tasks; a lead or an admin may submit (import) for
    anyone's, and so may the server's operator through a command (no actor) (DESIGN §10)."""
    if actor is None or has_permission(user=actor, project=project, action=Action.ASSIGN_TASKS):
        return
    for draft in drafts:
        task = draft.task
        if not may_submit_task(user=actor, task=task):
            raise ApplicationError(
                f"{actor} may not submit for {task.annotator}'s task on {task.image.name}.",
                status=403,
            )


def _require_acknowledged(versions: Sequence[Any], annotator_ids: set[int]) -> None:
    """Every annotator has acknowledged every current guideline version."""
    if not versions:
        return
    done = set(
        Acknowledgement.objects.filter(user_id__in=annotator_ids, version__in=versions).values_list(
            "user_id", "version_id"
        )
    )
    for annotator_id in sorted(annotator_ids):
        missing = [str(v) for v in versions if (annotator_id, v.pk) not in done]
        if missing:
            raise ApplicationError(
                f"Acknowledge the current guideline first: {', '.join(missing)}.",
                extra={"unacknowledged": missing},
            )


def _refuse_blocking(
    drafts: Sequence[SubmissionDraft], violations: Sequence[list[Violation]]
) -> None:
    for draft, found in zip(drafts, violations, strict=True):
        blocking = [v for v in found if v.severity == "block"]
        if blocking:
            raise ApplicationError(
                f"Image {draft.task.image.name}: the submission breaks the guideline: "
                + "; ".join(v.message for v in blocking),
                extra={"violations": [v.as_dict() for v in found]},
            )


def _store_submissions(
    drafts: Sequence[SubmissionDraft],
    violations: Sequence[list[Violation]],
    *,
    actor: Any,
    source: SubmissionSource,
) -> list[Submission]:
    """The Submission rows: each its task's next revision, ``imported_by`` the actor when
    the actor is not the annotator."""
    last_revision: dict[int, int] = {}
    existing = [draft.task.pk for draft in drafts if not draft.new_task]
    for chunk in chunks(existing):
        last_revision.update(
            Submission.objects.filter(task_id__in=chunk)
            .values("task_id")
            .annotate(last=Max("revision"))
            .values_list("task_id", "last")
        )
    actor_id = getattr(actor, "pk", None)
    importer = actor if actor_id is not None else None
    submissions = [
        Submission(
            task=draft.task,
            revision=last_revision.get(draft.task.pk, 0) + 1,
            source_format=source.format,
            source_name=source.name[:500],
            source_checksum=source.checksum,
            imported_by=importer if actor_id != draft.task.annotator_id else None,
            rule_violations=[v.as_dict() for v in found],
        )
        for draft, found in zip(drafts, violations, strict=True)
    ]
    return Submission.objects.bulk_create(submissions, batch_size=1000)


def _mark_submitted(drafts: Sequence[SubmissionDraft]) -> list[str | None]:
    """Set the drafts' tasks to submitted; their statuses before (None: a new task)."""
    before = [None if draft.new_task else draft.task.status for draft in drafts]
    reopened = [draft.task for draft in drafts if not draft.new_task]
    now = timezone.now()
    for chunk in chunks(reopened):
        Task.objects.filter(pk__in=[task.pk for task in chunk]).update(
            status=TaskStatus.SUBMITTED, updated_at=now
        )
    for task in reopened:
        task.status, task.updated_at = TaskStatus.SUBMITTED, now
    return before


def _agreement_images(image_ids: list[int]) -> list[int]:
    """Of these images, those whose agreement can change: two or more live tasks with a
    submission, or agreement stored from before (to be cleared)."""
    found: set[int] = set()
    for chunk in chunks(image_ids):
        found.update(
            Task.objects.filter(image_id__in=chunk)
            .exclude(status=TaskStatus.CANCELLED)
            .filter(Exists(Submission.objects.filter(task=OuterRef("pk"))))
            .values("image_id")
            .annotate(n=Count("id"))
            .filter(n__gte=2)
            .values_list("image_id", flat=True)
        )
        found.update(
            ImageAgreement.objects.filter(image_id__in=chunk).values_list("image_id", flat=True)
        )
    return sorted(found)
