"""Submitting for a task by upload in two steps (DESIGN §11): *check*, then *submit*.

The check keeps the uploaded file privately -- under ``MEDIA_ROOT/staging/<random
token>/``, a name nobody can guess and no URL reaches -- and runs the import as a dry run
(:func:`qc.services.workflow.submission_import`), which shows what would be stored and the
rule violations. The page then carries a signed reference to the file
(:meth:`StagedUpload.signed`: its token, name, checksum, format and options, tied to the
user and the task), and the submit imports that very file, after checking the signature,
the file's age and its checksum, without uploading it again. A staged file is removed after
the submit, after a check that cannot be submitted, and in any case after a day
(:func:`staging_sweep`, run at each new check).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.core import signing

from projects.errors import ApplicationError
from projects.files import file_sha256, unguessable_name
from projects.models import Task
from projects.permissions import may_submit_task
from qc.services.workflow import UploadOutcome, submission_import, upload_size_check

__all__ = [
    "MAX_AGE_SECONDS",
    "StagedUpload",
    "SubmissionCheck",
    "staged_upload_create",
    "staged_upload_discard",
    "staged_upload_get",
    "staging_root",
    "staging_sweep",
    "submission_check",
    "submission_submit",
]

MAX_AGE_SECONDS = 24 * 60 * 60
_SALT = "qc.staging.staged-upload"
_TOKEN = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")
# A lone PNG for the mask reader goes into a folder of this name: the reader reads folders
# and zips.
_PNG_FOLDER = "masks"
_GONE = "The checked file is no longer here; choose it and check it again."


def staging_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "staging"


@dataclass(frozen=True)
class StagedUpload:
    """A checked upload kept for its submit: ``folder`` (``staging/<token>``) holds the
    file ``name``; the import reads ``source`` (the file, or for a lone PNG of the mask
    format the folder it was put in)."""

    token: str
    name: str
    sha256: str
    format: str
    options: dict[str, Any]
    task: int
    user: int
    in_folder: bool = False

    @property
    def folder(self) -> Path:
        return staging_root() / self.token

    @property
    def file(self) -> Path:
        return self.folder / _PNG_FOLDER / self.name if self.in_folder else self.folder / self.name

    @property
    def source(self) -> Path:
        return self.file.parent if self.in_folder else self.file

    def signed(self) -> str:
        """The reference a page carries to the submit (signed, so it cannot be forged)."""
        return signing.dumps(dataclasses.asdict(self), salt=_SALT, compress=True)


def _require_own_task(task: Task, user: Any) -> None:
    if not may_submit_task(user=user, task=task):
        raise ApplicationError(f"{user} may not submit for this task.", status=403)


def staged_upload_create(
    *, task: Task, user: Any, upload: Any, format: str, options: dict[str, Any] | None = None
) -> StagedUpload:
    """Keep ``upload`` (a Django UploadedFile) for ``user``'s ``task``; refused when it is
    empty or over MASKQC_MAX_UPLOAD_BYTES (413). Staged files older than a day go first."""
    _require_own_task(task, user)
    size = getattr(upload, "size", None)
    upload_size_check(size)
    if not size:
        raise ApplicationError("The file is empty; choose the file your tool exported.")
    staging_sweep()
    _discard_earlier(task=task, user=user)
    token, name = unguessable_name(_safe_name(getattr(upload, "name", None))).split("/", 1)
    folder = staging_root() / token
    folder.mkdir(parents=True)
    _owner_file(token).write_text(_owner(task=task, user=user))
    target = folder / name
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for block in upload.chunks():
            digest.update(block)
            out.write(block)
    in_folder = format == "mask-png" and not _is_zip(target)
    if in_folder:
        (folder / _PNG_FOLDER).mkdir()
        target.rename(folder / _PNG_FOLDER / name)
    return StagedUpload(
        token=token,
        name=name,
        sha256=digest.hexdigest(),
        format=format,
        options=dict(options or {}),
        task=task.pk,
        user=user.pk,
        in_folder=in_folder,
    )


def _owner(*, task: Task, user: Any) -> str:
    return f"{user.pk}:{task.pk}"


def _owner_file(token: str) -> Path:
    # Beside the folder, not in it: an upload may bear any name.
    return staging_root() / f"{token}.owner"


def _discard_earlier(*, task: Task, user: Any) -> None:
    """One staged upload per user and task: a new check replaces the one before (whose
    page then says to check again), so checks cannot pile up files."""
    owner = _owner(task=task, user=user)
    for marker in staging_root().glob("*.owner"):
        try:
            mine = marker.read_text() == owner
        except FileNotFoundError:
            continue
        if mine:
            shutil.rmtree(marker.with_suffix(""), ignore_errors=True)
            marker.unlink(missing_ok=True)


def _safe_name(name: str | None) -> str:
    """The uploaded file's own name, without folders or control characters (Django's
    upload handlers clean it too; a staged name must never leave its folder)."""
    name = "".join(c for c in PurePath(name or "").name if c.isprintable()).strip()
    return "upload" if name in ("", ".", "..") else name


def _is_zip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def staged_upload_get(*, signed: str, task: Task, user: Any) -> StagedUpload:
    """The staged upload ``signed`` refers to, if it was checked by ``user`` for ``task``
    less than a day ago and its file is unchanged; else an ApplicationError saying to check
    the file again."""
    _require_own_task(task, user)
    try:
        data = signing.loads(signed, salt=_SALT, max_age=MAX_AGE_SECONDS)
        staged = StagedUpload(**data)
    except signing.SignatureExpired:
        raise ApplicationError(
            "The check is more than a day old; choose the file and check it again."
        ) from None
    except (signing.BadSignature, TypeError, ValueError):
        raise ApplicationError(_GONE) from None
    if (staged.task, staged.user) != (task.pk, user.pk) or not _TOKEN.match(staged.token):
        raise ApplicationError(_GONE)
    if "/" in staged.name or staged.name in ("", ".", "..") or not staged.file.is_file():
        raise ApplicationError(_GONE)
    if file_sha256(staged.file) != staged.sha256:
        staged_upload_discard(staged)
        raise ApplicationError("The checked file changed after the check; check it again.")
    return staged


def staged_upload_discard(staged: StagedUpload) -> None:
    shutil.rmtree(staged.folder, ignore_errors=True)
    _owner_file(staged.token).unlink(missing_ok=True)


def staging_sweep(*, now: float | None = None) -> int:
    """Remove staged uploads older than a day; how many were removed."""
    root = staging_root()
    if not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - MAX_AGE_SECONDS
    removed = 0
    for entry in root.iterdir():
        try:
            old = entry.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if entry.suffix == ".owner":
            # An owner's note goes with its folder, or alone once that folder is gone.
            if not entry.with_suffix("").exists():
                entry.unlink(missing_ok=True)
            continue
        if not old:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            _owner_file(entry.name).unlink(missing_ok=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@dataclass(frozen=True)
class SubmissionCheck:
    """A check's result: what the submit would store (``outcome``, with the staged file to
    submit), or why it cannot be submitted (``error``, with the violations when blocking
    rules refused it)."""

    staged: StagedUpload | None = None
    outcome: UploadOutcome | None = None
    error: str | None = None
    violations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def may_submit(self) -> bool:
        return self.staged is not None and self.error is None


def submission_check(*, task: Task, user: Any, staged: StagedUpload) -> SubmissionCheck:
    """Run the import of ``staged`` as a dry run for ``task``: nothing is written. A check
    that cannot be submitted (refused, or the same file submitted before) says why and
    removes the staged file."""
    try:
        outcome = submission_import(
            project=task.image.project,
            actor=user,
            path=staged.source,
            format=staged.format,
            options=staged.options,
            task=task,
            dry_run=True,
        )
    except ApplicationError as error:
        staged_upload_discard(staged)
        return SubmissionCheck(
            error=error.message, violations=list(error.extra.get("violations") or [])
        )
    if outcome.summary.already_imported:
        staged_upload_discard(staged)
        return SubmissionCheck(
            outcome=outcome,
            error="You submitted this very file before; nothing would change. "
            "Upload the corrected file.",
        )
    return SubmissionCheck(staged=staged, outcome=outcome)


def submission_submit(*, task: Task, user: Any, signed: str) -> UploadOutcome:
    """Store the checked upload ``signed`` refers to (:func:`staged_upload_get`) as the
    task's next revision, with the format and options it was checked with; the staged file
    is removed whatever happens."""
    staged = staged_upload_get(signed=signed, task=task, user=user)
    try:
        return submission_import(
            project=task.image.project,
            actor=user,
            path=staged.source,
            format=staged.format,
            options=staged.options,
            task=task,
        )
    finally:
        staged_upload_discard(staged)
