"""The QC workflow's writes one at a time: a submission (through
:mod:`qc.services.submissions`, which stores every submission), review assignments and
decisions; image labels are :mod:`qc.services.labels`."""

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.models import Image, Project, Role, Task, TaskStatus
from projects.permissions import Action, may_review_image
from qc.agreement import boundary_width
from qc.models import (
    Instance,
    InstanceFlag,
    ReasonCode,
    Review,
    ReviewAssignment,
    Submission,
)
from qc.services.imports import PATH_OPTIONS, ImportSummary, import_annotations
from qc.services.labels import require_right
from qc.services.submissions import (
    API_SOURCE,
    InstanceInput,
    SubmissionDraft,
    SubmissionSource,
    instance_row,
    submissions_create,
)


def submission_create(
    *,
    task: Task,
    instances: Sequence[InstanceInput],
    actor: Any,
    source: SubmissionSource = API_SOURCE,
    check_gate: bool = True,
) -> Submission:
    """Store a new revision of the task's masks and mark the task submitted: one draft of
    :func:`qc.services.submissions.submissions_create`, which holds the rules.

    With `check_gate`, the annotator must have acknowledged the current version of every
    published guideline, and rules of severity "block" refuse the submission with the list
    of violations. Imports by a lead pass `check_gate=False`: the rules are still recorded.
    """
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",))
            .select_related("image__project")
            .get(pk=task.pk)
        )
        image, project = task.image, task.image.project
        for item in instances:
            if item.label_class is None or item.label_class.project_id != project.pk:
                name = None if item.label_class is None else item.label_class.name
                raise ApplicationError(f"Class {name!r} is not in {project.slug}.")
            if list(item.rle["size"]) != [image.height, image.width]:
                raise ApplicationError(
                    f"Image {image.name}: a mask of size {item.rle['size']} does not fit the "
                    f"image ({image.height}×{image.width}, height×width)."
                )
        band_px = boundary_width(
            height=image.height, width=image.width, boundary_px=project.boundary_px
        )
        draft = SubmissionDraft(
            task=task,
            rows=[instance_row(item, boundary_px=band_px) for item in instances],
            shapes=[(item.label_class.name, item.rle) for item in instances],
        )
        created = submissions_create(
            project=project,
            drafts=[draft],
            actor=actor,
            source=source,
            check_gate=check_gate,
        )
    return created.submissions[0]


@transaction.atomic
def review_assign(*, image: Image, actor: Any, reviewer: Any = None) -> ReviewAssignment:
    """Give the image to `reviewer`, or to the least-loaded project reviewer who did not
    annotate it. A lead's reassignment cancels the open assignment."""

    image = Image.objects.select_for_update(of=("self",)).select_related("project").get(pk=image.pk)
    require_right(
        actor, image.project, Action.ASSIGN_TASKS, f"assign reviews in {image.project.slug}"
    )
    annotators = set(image.tasks.values_list("annotator_id", flat=True))
    if reviewer is None:
        reviewer = (
            get_user_model()
            .objects.filter(memberships__project=image.project, memberships__role=Role.REVIEWER)
            .exclude(pk__in=annotators)
            .annotate(
                load=Count(
                    "review_assignments",
                    filter=Q(review_assignments__status=ReviewAssignment.Status.OPEN),
                )
            )
            .order_by("load", "username")
            .first()
        )
        if reviewer is None:
            raise ApplicationError(f"Image {image.name}: no reviewer who did not annotate it.")
    elif reviewer.pk in annotators:
        raise ApplicationError(f"{reviewer} annotated {image.name} and may not review it.")
    previous = image.review_assignments.filter(status=ReviewAssignment.Status.OPEN).first()
    if previous is not None:
        if previous.reviewer_id == reviewer.pk:
            return previous
        previous.status = ReviewAssignment.Status.CANCELLED
        previous.save(update_fields=["status"])
        audit(
            actor=actor,
            verb="review_assignment.cancel",
            obj=previous,
            project=image.project,
            before={"status": "open"},
            after={"status": "cancelled"},
        )
    assignment = ReviewAssignment.objects.create(image=image, reviewer=reviewer, assigned_by=actor)
    audit(
        actor=actor,
        verb="review_assignment.create",
        obj=assignment,
        project=image.project,
        after={"image": image.name, "reviewer": reviewer.username},
    )
    return assignment


@dataclass(frozen=True)
class FlagInput:
    instance: Instance
    reason: str
    note: str = ""


def review_decide(
    *,
    submission: Submission,
    reviewer: Any,
    decision: str,
    reasons: Sequence[str] = (),
    comment: str = "",
    flags: Sequence[FlagInput] = (),
) -> Review:
    """Accept or reject one submission. A rejection sends the task back to its annotator.

    Two reviewers deciding at once: the task row is locked, so the second waits, then finds
    the decision made and gets a ConflictError; nothing is half-written.
    """
    if decision not in Review.Decision.values:
        raise ApplicationError(f"Decision must be accept or reject, not {decision!r}.")
    unknown = [r for r in [*reasons, *(f.reason for f in flags)] if r not in ReasonCode.values]
    if unknown:
        raise ApplicationError(
            f"Unknown reason codes: {', '.join(map(str, unknown))}.", extra={"reasons": unknown}
        )
    if decision == Review.Decision.REJECT and not reasons and not flags:
        raise ApplicationError("A rejection needs at least one reason.")
    try:
        with transaction.atomic():
            task = (
                Task.objects.select_for_update()
                .select_related("image__project")
                .get(pk=submission.task_id)
            )
            if not may_review_image(user=reviewer, image=task.image):
                raise ApplicationError(f"{reviewer} may not review {task.image.name}.", status=403)
            if Review.objects.filter(submission=submission).exists():
                raise ConflictError(f"{submission} was already decided by someone else.")
            latest = task.submissions.aggregate(last=Max("revision"))["last"]
            if submission.revision != latest:
                raise ConflictError(f"{submission} was superseded by revision {latest}.")
            for flag in flags:
                if flag.instance.submission_id != submission.pk:
                    raise ApplicationError(
                        f"Flagged instance {flag.instance.pk} is not part of {submission}."
                    )
            review = Review.objects.create(
                submission=submission,
                reviewer=reviewer,
                decision=decision,
                reasons=list(reasons),
                comment=comment,
            )
            InstanceFlag.objects.bulk_create(
                InstanceFlag(review=review, instance=f.instance, reason=f.reason, note=f.note)
                for f in flags
            )
            before = task.status
            task.status = (
                TaskStatus.ACCEPTED if decision == Review.Decision.ACCEPT else TaskStatus.REJECTED
            )
            task.save(update_fields=["status", "updated_at"])
            audit(
                actor=reviewer,
                verb=f"review.{decision}",
                obj=review,
                project=task.image.project,
                before={"task_status": before},
                after={"task_status": task.status, "reasons": list(reasons)},
            )
    except IntegrityError:
        raise ConflictError(f"{submission} was already decided by someone else.") from None
    return review


def submission_upload(
    *,
    project: Project,
    actor: Any,
    upload: Any,
    format: str,
    options: dict[str, Any] | None = None,
) -> ImportSummary:
    """An annotator's own work uploaded as a file in any importable format (a zip for
    folder formats): every object is the uploader's, and only new revisions of their own
    open tasks are written (:func:`submission_import`); anything else is refused naming
    file, image and object. Runs at once, under the guideline gate."""
    require_right(actor, project, Action.SUBMIT, f"submit in {project.slug}")
    upload_size_check(getattr(upload, "size", None))
    name = Path(getattr(upload, "name", "") or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="maskqc-submit-") as tmp:
        target = Path(tmp) / name
        with target.open("wb") as out:
            for block in upload.chunks():
                out.write(block)
        return submission_import(
            project=project, actor=actor, path=target, format=format, options=options
        ).summary


def upload_size_check(size: int | None) -> None:
    """Refuse an upload over MASKQC_MAX_UPLOAD_BYTES (413)."""
    if size is not None and size > settings.MASKQC_MAX_UPLOAD_BYTES:
        raise ApplicationError(
            f"The file is {size} bytes, over the limit of {settings.MASKQC_MAX_UPLOAD_BYTES}.",
            status=413,
        )


@dataclass(frozen=True)
class UploadedSubmission:
    """One submission an upload stored (or, in a dry run, would have stored): its image,
    revision, instances by class name, and rule violations (each naming its instance by
    its index in the submission, :class:`qc.rules.Violation`)."""

    image: str
    revision: int
    instances: int
    by_class: list[tuple[str, int]]
    violations: list[dict[str, Any]]


@dataclass(frozen=True)
class UploadOutcome:
    """What :func:`submission_import` did: the import's summary and each submission."""

    summary: ImportSummary
    submissions: list[UploadedSubmission]
    dry_run: bool


class _DryRunDone(Exception):
    """Leaves a dry run's transaction, which rolls it back, carrying what it wrote."""

    def __init__(self, outcome: UploadOutcome) -> None:
        super().__init__("dry run")
        self.outcome = outcome


def submission_import(
    *,
    project: Project,
    actor: Any,
    path: Path,
    format: str,
    options: dict[str, Any] | None = None,
    task: Task | None = None,
    dry_run: bool = False,
) -> UploadOutcome:
    """Import an annotator's own work from ``path`` (an uploaded file or folder held on the
    server): :func:`qc.services.imports.import_annotations` with ``submitter``, under the
    guideline gate. With ``task`` the file may hold that task's image only.

    ``dry_run`` runs the very same import, inside a transaction that is rolled back once it
    has written: what it stored is read back first and returned, nothing stays written,
    and what the import queued on commit (agreement) is discarded with the transaction, as
    Django drops the on-commit callbacks of a rolled-back transaction or savepoint. So a
    check shows exactly what the real import of the same file then stores. Refusals
    (ApplicationError, ImportRefused) are the import's, dry or not.
    """
    require_right(actor, project, Action.SUBMIT, f"submit in {project.slug}")
    options = dict(options or {})
    for key in sorted(PATH_OPTIONS & set(options)):
        raise ApplicationError(f"Option {key!r} names a server path and is not accepted here.")

    def run() -> UploadOutcome:
        summary = import_annotations(
            project=project,
            path=path,
            format=format,
            actor=actor,
            options=options,
            submitter=actor,
            submitter_image=None if task is None else task.image.name,
            workers=1,
        )
        return UploadOutcome(summary, _uploaded(project, summary), dry_run=dry_run)

    if not dry_run:
        return run()
    try:
        with transaction.atomic():
            raise _DryRunDone(run())
    except _DryRunDone as done:
        return done.outcome


def _uploaded(project: Project, summary: ImportSummary) -> list[UploadedSubmission]:
    """The submissions the import of ``summary`` wrote, by image (none when the source had
    been imported before and nothing was written)."""
    if summary.already_imported:
        return []
    submissions = list(
        Submission.objects.filter(task__image__project=project, source_checksum=summary.checksum)
        .select_related("task__image")
        .order_by("task__image__name", "pk")
    )
    counts: dict[int, dict[str, int]] = {s.pk: {} for s in submissions}
    for submission_id, name, n in (
        Instance.objects.filter(submission__in=submissions)
        .order_by()
        .values_list("submission_id", "label_class__name")
        .annotate(n=Count("id"))
        .values_list("submission_id", "label_class__name", "n")
    ):
        counts[submission_id][name] = n
    return [
        UploadedSubmission(
            image=s.task.image.name,
            revision=s.revision,
            instances=sum(counts[s.pk].values()),
            by_class=sorted(counts[s.pk].items()),
            violations=list(s.rule_violations),
        )
        for s in submissions
    ]
