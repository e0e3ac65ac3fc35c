"""What an import did (:class:`ImportSummary`, one line of it for the command), and the
refusal of a source whose every object was skipped."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from projects.errors import ImportRefused
from qc.formats import NOTHING_DRAWN, SKIP_REMEDIES, ParseResult
from qc.text import counted

__all__ = ["ImportSummary", "refuse_if_all_skipped", "skipped_text"]


@dataclass
class ImportSummary:
    """What an import did (or, when ``already_imported``, that it did nothing)."""

    project: str
    format: str
    source_name: str
    checksum: str
    already_imported: bool = False
    images: int = 0
    images_created: int = 0
    annotators: list[str] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    members_added: list[str] = field(default_factory=list)
    labels_created: list[str] = field(default_factory=list)
    tasks_created: int = 0
    revisions: int = 0
    submissions: int = 0
    empty_submissions: int = 0
    instances: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    agreement_queued: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ImportJob.summary, API), skipped kinds sorted."""
        return {**dataclasses.asdict(self), "skipped": dict(sorted(self.skipped.items()))}

    def line(self) -> str:
        """The one-line summary the command prints."""
        head = f"{self.project}: {self.format} {self.source_name!r} (sha256 {self.checksum[:12]})"
        if self.already_imported:
            return (
                f"{head} was already imported: {counted(self.submissions, 'submission')} come from "
                "it; nothing changed."
            )
        extras = []
        if self.users_created:
            extras.append(f"{counted(len(self.users_created), 'user')} created")
        if self.members_added:
            extras.append(f"{counted(len(self.members_added), 'member')} made annotators")
        if self.labels_created:
            extras.append(f"{counted(len(self.labels_created), 'class', 'classes')} created")
        skipped = skipped_text(self.format, self.skipped) or "none"
        return (
            f"{head}: {counted(self.images, 'image')} ({self.images_created} created), "
            f"{counted(len(self.annotators), 'annotator')}, "
            f"{counted(self.submissions, 'submission')} "
            f"({self.empty_submissions} empty, {self.revisions} new revisions of open tasks), "
            f"{counted(self.instances, 'instance')}"
            + (f"; {', '.join(extras)}" if extras else "")
            + f"; skipped: {skipped}."
        )


def skipped_text(format: str, skipped: dict[str, int]) -> str:
    """``"keypointlabels 2, annotation without image size 1 (pass --image-size ...)"``: what
    was skipped, sorted, each with the option that would import it (:data:`SKIP_REMEDIES`)."""
    remedies = SKIP_REMEDIES.get(format, {})
    return ", ".join(
        f"{kind} {count}" + (f" (pass {remedies[kind]})" if kind in remedies else "")
        for kind, count in sorted(skipped.items())
    )


def refuse_if_all_skipped(format: str, result: ParseResult, display: str) -> None:
    """An import that would store no instance while it skipped some objects is refused: it
    would report success having imported none of them. It names the first object skipped,
    one an option would import when there is one. (No instance and nothing skipped is a
    file of empty submissions, DESIGN §4.6, and imports; so do empty mask files, which skip
    no object: :data:`NOTHING_DRAWN`.)"""
    if result.objects or not set(result.skipped) - NOTHING_DRAWN:
        return
    remedies = SKIP_REMEDIES.get(format, {})
    first = next(iter(result.skipped_at), None)
    kind = next((k for k in result.skipped_at if k in remedies), first)
    image, obj = result.skipped_at.get(kind, (None, None)) if kind is not None else (None, None)
    raise ImportRefused(
        "nothing to import, every object was skipped: "
        + skipped_text(format, dict(result.skipped)),
        file=display,
        image=image,
        obj=obj,
    )
