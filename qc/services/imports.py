"""Imports: annotation files into submissions (DESIGN §8, §9).

:func:`import_annotations` is a sequence of steps, each in its own module:

1. the source: options checked, checksum, limits (:mod:`qc.services.import_source`) -- a
   source already imported changes nothing and says so;
2. read and measure: a pure reader of :data:`qc.formats.READERS` and the instances' rows,
   in worker processes when the source is large (:mod:`qc.services.import_reading`);
3. resolve: the submissions of the file, and which classes, users, images and tasks exist
   (:mod:`qc.services.import_plan`), once before the transaction so that bad input is
   refused without holding locks;
4. one transaction: lock the project, resolve again, create what is missing (classes,
   users and members, images, tasks with status submitted: :mod:`qc.services.import_write`),
   then store one submission per (image, annotator) through
   :func:`qc.services.submissions.submissions_create`, which owns what a submission means;
5. agreement queued on commit, for the images that have two or more submissions.

Any error changes nothing and names the file, the image and the object
(:class:`ImportRefused`). Uploaded files run in the background through
:mod:`qc.services.import_jobs`; image files come in through
:func:`projects.images.images_import`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import transaction

from projects.audit import audit
from projects.errors import ImportRefused
from projects.models import AuditEvent, Image, Project, Task
from projects.progress import ProgressCallback, ProgressThrottle
from qc.formats import PATH_OPTIONS, ParseResult
from qc.models import Instance, Submission
from qc.services.bulk import (
    STATISTICS_REFRESH_ROWS,
    cyclic_gc_paused,
    insert_objects,
    planner_statistics_refresh,
)
from qc.services.import_plan import ImportPlan, import_plan, submission_pairs
from qc.services.import_reading import SourceReading, default_workers, read_and_build
from qc.services.import_source import (
    display_name,
    import_checksum,
    import_limits,
    import_options_clean,
    imported_submissions,
    reader_kwargs,
    remember_coco_ids,
)
from qc.services.import_summary import ImportSummary, refuse_if_all_skipped
from qc.services.import_write import create_images, create_labels_and_users, create_tasks
from qc.services.submissions import (
    LABEL_COLUMN,
    SubmissionDraft,
    SubmissionSource,
    submissions_create,
)

__all__ = [
    "PATH_OPTIONS",
    "ImportRefused",
    "ImportSummary",
    "import_annotations",
    "import_checksum",
    "import_limits",
    "import_options_clean",
]

# The tables a large import grows, whose planner statistics it refreshes after its commit.
WRITTEN_BY_IMPORTS = (
    Image,
    Task,
    Submission,
    Submission.guideline_versions.through,
    Instance,
    AuditEvent,
)


def import_annotations(
    *,
    project: Project,
    path: Path | str,
    format: str,
    actor: Any,
    annotator: str | None = None,
    create_users: bool = False,
    create_labels: bool = False,
    labelers_saw_all_images: bool = False,
    options: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    source_name: str | None = None,
    workers: int | None = None,
    submitter: Any = None,
    submitter_image: str | None = None,
) -> ImportSummary:
    """Import an annotation file or folder into ``project`` (DESIGN §8), all or nothing.

    ``format``: a key of :data:`qc.formats.READERS`, ``options`` its reader's options.
    ``annotator`` (a username) overrides the file's annotator for every object;
    ``create_users`` creates missing users, ``create_labels`` missing classes (a user who is
    not a member becomes an annotator of the project). ``source_name`` names the source in
    submissions (default: the file's name); ``workers`` caps the worker processes
    (default: :func:`default_workers`).

    ``submitter``: an annotator's own upload -- every object theirs, only new revisions of
    their open tasks, under the guideline gate (:func:`_submitter_options`), holding the
    image ``submitter_image`` only when given (an upload for one task).

    Raises :class:`ImportRefused` (naming file, image and object) or ApplicationError, and
    writes nothing, for bad input and for a source whose every object is skipped (naming the
    option that would import them). A source imported before writes nothing either."""
    path = Path(path)
    display = display_name(path)
    if submitter is not None:
        actor, annotator, create_users, create_labels = _submitter_options(submitter)
    checked = import_options_clean(format, options)
    report = ProgressThrottle(progress)
    report(0.0, f"checking {display}")
    checksum = import_checksum(
        path=path,
        format=format,
        options={**checked, "annotator": annotator, "all_labelers": labelers_saw_all_images},
    )
    summary = ImportSummary(
        project=project.slug, format=format, source_name=source_name or display, checksum=checksum
    )
    if _already_imported(project, summary, report):
        return summary
    # From the read to the commit, the parse result and rows are long-lived objects that
    # every full collection would walk again, for no garbage (workers inherit the pause).
    with cyclic_gc_paused():
        result, rows = _read(
            path, options=checked, project=project, workers=workers, summary=summary, report=report
        )
        resolve = functools.partial(
            import_plan,
            result=result,
            pairs=submission_pairs(
                result,
                display=display,
                annotator=annotator,
                labelers_saw_all=labelers_saw_all_images,
            ),
            display=display,
            create_users=create_users,
            create_labels=create_labels,
            own_tasks_only=submitter is not None,
            only_image=submitter_image if submitter is not None else None,
        )
        # Resolve once before the transaction, so bad input is refused without holding locks.
        resolve(project=project)
        report(0.9, "writing")
        write = functools.partial(
            _write, result=result, rows=rows, actor=actor, check_gate=submitter is not None
        )
        if _commit(project, resolve=resolve, write=write, summary=summary, report=report):
            _committed(summary, report)
    return summary


def _committed(summary: ImportSummary, report: ProgressThrottle) -> None:
    """After the commit: a large import refreshes the planner statistics of what it grew."""
    if summary.instances + summary.submissions >= STATISTICS_REFRESH_ROWS:
        report(0.99, "refreshing the database's statistics")
        planner_statistics_refresh(*WRITTEN_BY_IMPORTS)
    report(1.0, "done")


def _submitter_options(submitter: Any) -> tuple[Any, str, bool, bool]:
    """An annotator's own upload: the actor and the annotator of every object (so every
    image the file lists) are the uploader; no user or class is created (and no image or
    task: the plan refuses any submission that is not a new revision of the uploader's
    open task, naming file, image and object)."""
    return submitter, submitter.username, False, False


def _commit(
    project: Project,
    *,
    resolve: Callable[..., ImportPlan],
    write: Callable[..., None],
    summary: ImportSummary,
    report: ProgressThrottle,
) -> bool:
    """The import's one transaction: lock the project, resolve the plan again and write it;
    False when the source turned out to be imported meanwhile (nothing written)."""
    with transaction.atomic():
        # One import per project at a time: a second import of the same source waits here,
        # then finds the first one's submissions and changes nothing.
        project = Project.objects.select_for_update().get(pk=project.pk)
        if _already_imported(project, summary, report):
            summary.images, summary.skipped = 0, {}
            return False
        write(project=project, plan=resolve(project=project), summary=summary)
    return True


def _read(
    path: Path,
    *,
    options: dict[str, Any],
    project: Project,
    workers: int | None,
    summary: ImportSummary,
    report: ProgressThrottle,
) -> tuple[ParseResult, list[list[Any]]]:
    """The parsed source and its instances' rows (:func:`read_and_build`), counted in the
    summary; a source whose every object was skipped is refused."""
    display, format = display_name(path), summary.format
    limits = import_limits()
    result, rows = read_and_build(
        SourceReading(
            format=format,
            path=path,
            display=display,
            limits=limits,
            kwargs=reader_kwargs(format, options, limits, project),
            boundary_px=project.boundary_px,
        ),
        workers=default_workers() if workers is None else max(1, workers),
        report=report,
    )
    refuse_if_all_skipped(format, result, display)
    summary.images, summary.skipped = len(result.images), dict(result.skipped)
    return result, rows


def _already_imported(project: Project, summary: ImportSummary, report: ProgressThrottle) -> bool:
    existing = imported_submissions(project, summary.checksum)
    if existing:
        summary.already_imported, summary.submissions = True, existing
        report(1.0, "already imported")
    return bool(existing)


def _write(
    *,
    project: Project,
    plan: ImportPlan,
    result: ParseResult,
    rows: list[list[Any]],
    actor: Any,
    summary: ImportSummary,
    check_gate: bool = False,
) -> None:
    """Write everything the plan says, inside the import's transaction; ``check_gate``
    for an annotator's own upload (acknowledgements and blocking rules hold)."""
    events: list[AuditEvent] = []
    create_labels_and_users(project, plan, actor, summary)
    create_images(project, plan, result, actor, summary, events)
    remember_coco_ids(
        project,
        result,
        images=plan.images,
        labels={k: v for k, v in plan.labels.items() if v is not None},
        checksum=summary.checksum,
    )
    new_tasks = create_tasks(project, plan, actor, summary, events)
    insert_objects(AuditEvent, events)
    label_ids = {name: label.pk for name, label in plan.labels.items()}
    drafts = []
    for key, positions in plan.pairs.items():
        for position in positions:
            rows[position][LABEL_COLUMN] = label_ids[result.objects[position].label]
        drafts.append(
            SubmissionDraft(
                task=plan.tasks.get(key) or new_tasks[key],
                rows=[rows[position] for position in positions],
                shapes=[(result.objects[p].label, result.objects[p].rle) for p in positions],
                new_task=key in new_tasks,
            )
        )
    created = submissions_create(
        project=project,
        drafts=drafts,
        actor=actor,
        source=SubmissionSource(summary.format, summary.source_name, summary.checksum),
        check_gate=check_gate,
    )
    summary.submissions = len(created.submissions)
    summary.empty_submissions = sum(1 for positions in plan.pairs.values() if not positions)
    summary.instances = len(rows)
    summary.annotators = sorted({name for _, name in plan.pairs})
    summary.agreement_queued = len(created.agreement_images)
    audit(
        actor=actor,
        verb="annotations.import",
        obj=project,
        project=project,
        after={k: v for k, v in summary.as_dict().items() if k != "project"},
    )
