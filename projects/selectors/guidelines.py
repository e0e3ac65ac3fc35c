"""Reads of the guideline editor (DESIGN §7, §10, §11): the editor's home, a draft, the
history with the diff between two versions, and who acknowledged which version. Each
page's view calls one function here, which returns everything its template shows."""

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from projects.models import (
    Acknowledgement,
    Guideline,
    GuidelineVersion,
    LabelClass,
    Membership,
    Project,
    Role,
)
from projects.rules import RULE_NAMES, RULES, SEVERITY_WORDS, rule_in_words
from projects.selectors.people import can_log_in_q

# Lines of unchanged text kept around each change of a body diff.
DIFF_CONTEXT = 3


def annotators_of(*, project: Project) -> QuerySet[Membership]:
    """The project's annotators who acknowledge guidelines: users who can log in and are
    not site staff (staff are admins everywhere and never submit), by username. An account
    an import created has no usable password: nobody could acknowledge as it."""
    return (
        Membership.objects.filter(
            can_log_in_q("user__"), project=project, role=Role.ANNOTATOR, user__is_staff=False
        )
        .select_related("user")
        .order_by("user__username")
    )


def annotators_without_login(*, project: Project) -> int:
    """How many of the project's annotators cannot log in (left out of the counts)."""
    return (
        Membership.objects.filter(project=project, role=Role.ANNOTATOR, user__is_staff=False)
        .exclude(can_log_in_q("user__"))
        .count()
    )


def _acknowledged_counts(project: Project) -> dict[int, int]:
    """Per version of the project, how many of its annotators acknowledged it."""
    annotators = annotators_of(project=project).values("user_id")
    return dict(
        Acknowledgement.objects.filter(version__guideline__project=project, user_id__in=annotators)
        .values_list("version_id")
        .annotate(n=Count("id"))
        .values_list("version_id", "n")
    )


def guideline_editor_page(*, project: Project) -> dict[str, Any]:
    """The editor's home: each guideline (by title) with its versions, newest first, each
    with its author and how many of the project's annotators acknowledged it
    (``acknowledged``, None for a draft) and how many not yet (``pending``); the
    guideline's open ``draft`` (its newest
    version, when unpublished), its ``current`` published version and the version before
    each (``previous``, to compare with). ``annotators``: how many the project has."""
    versions = (
        GuidelineVersion.objects.filter(guideline__project=project)
        .select_related("author")
        .order_by("guideline_id", "-number")
    )
    counts = _acknowledged_counts(project)
    annotators = annotators_of(project=project).count()
    by_guideline: dict[int, list[GuidelineVersion]] = {}
    for version in versions:
        published = version.published_at is not None
        version.acknowledged = counts.get(version.pk, 0) if published else None
        version.pending = annotators - version.acknowledged if published else None
        by_guideline.setdefault(version.guideline_id, []).append(version)
    entries = []
    for guideline in Guideline.objects.filter(project=project).order_by("title"):
        own = by_guideline.get(guideline.pk, [])
        for newer, older in zip(own, [*own[1:], None], strict=True):
            newer.previous = older
        entries.append(
            {
                "guideline": guideline,
                "versions": own,
                "draft": own[0] if own and own[0].published_at is None else None,
                "current": next((v for v in own if v.published_at), None),
            }
        )
    return {
        "guidelines": entries,
        "annotators": annotators,
        "without_login": annotators_without_login(project=project),
        "titles": [entry["guideline"].title for entry in entries],
    }


def guideline_of(*, project: Project, pk: int) -> Guideline | None:
    """The guideline ``pk`` of ``project``, with its project."""
    return Guideline.objects.filter(pk=pk, project=project).select_related("project").first()


def guideline_draft_of(*, project: Project, pk: int) -> GuidelineVersion | None:
    """The version ``pk`` of one of ``project``'s guidelines, with its guideline."""
    return (
        GuidelineVersion.objects.filter(pk=pk, guideline__project=project)
        .select_related("guideline", "author")
        .first()
    )


def guideline_draft_page(*, project: Project, version: GuidelineVersion) -> dict[str, Any]:
    """What the draft editor shows beside the draft: the project's class names (the
    choices of the allowed-classes rule) and the newest published version of the same
    guideline (``published``: what the draft would replace, None for a first version)."""
    published = (
        GuidelineVersion.objects.filter(guideline=version.guideline, published_at__isnull=False)
        .order_by("-number")
        .first()
    )
    return {
        "class_names": list(
            LabelClass.objects.filter(project=project)
            .order_by("name")
            .values_list("name", flat=True)
        ),
        "published": published,
    }


# The history and the diff.


@dataclass(frozen=True)
class DiffLine:
    """One line of a body diff: ``kind`` is "same", "added" or "removed"; ``old`` and
    ``new`` its line numbers in each version (None where it is absent)."""

    kind: str
    old: int | None
    new: int | None
    text: str

    @property
    def marker(self) -> str:
        return {"added": "+", "removed": "−", "same": " "}[self.kind]


@dataclass
class BodyDiff:
    """The body diff as hunks of lines (unchanged runs longer than the context left out
    between them), with the number of added and removed lines."""

    hunks: list[list[DiffLine]] = field(default_factory=list)
    added: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def body_diff(old: str, new: str, *, context: int = DIFF_CONTEXT) -> BodyDiff:
    """The line diff from the markdown ``old`` to ``new`` (difflib's matching, with
    ``context`` unchanged lines around each change)."""
    a, b = old.splitlines(), new.splitlines()
    diff = BodyDiff()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        hunk = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunk += [DiffLine("same", i + 1, j1 + i - i1 + 1, a[i]) for i in range(i1, i2)]
                continue
            if tag in ("delete", "replace"):
                hunk += [DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2)]
                diff.removed += i2 - i1
            if tag in ("insert", "replace"):
                hunk += [DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2)]
                diff.added += j2 - j1
        diff.hunks.append(hunk)
    return diff


def _rule_words(rule: dict | None) -> str | None:
    if rule is None:
        return None
    return f"{rule_in_words(rule)} ({SEVERITY_WORDS[rule['severity']]})"


def rules_diff(old: list[dict], new: list[dict]) -> list[dict[str, Any]]:
    """Rule by rule, in the order of the rule kinds: ``status`` "added", "removed",
    "changed" or "same", the rule's name, and each side in words (None where absent)."""
    before = {rule["rule"]: rule for rule in old}
    after = {rule["rule"]: rule for rule in new}
    rows = []
    for name in RULES:
        was, now = before.get(name), after.get(name)
        if was is None and now is None:
            continue
        if was is None:
            status = "added"
        elif now is None:
            status = "removed"
        elif (was["value"], was["severity"]) != (now["value"], now["severity"]):
            status = "changed"
        else:
            status = "same"
        rows.append(
            {
                "rule": name,
                "name": RULE_NAMES[name].capitalize(),
                "status": status,
                "old": _rule_words(was),
                "new": _rule_words(now),
            }
        )
    return rows


def _pick(versions: list[GuidelineVersion], pk: int | None) -> GuidelineVersion | None:
    return next((version for version in versions if version.pk == pk), None)


def guideline_history_page(
    *, project: Project, guideline: int | None, a: int | None, b: int | None
) -> dict[str, Any]:
    """The history of one guideline (``guideline``, else the guideline of version ``b``
    or ``a``, else the first by title): its versions newest first, and the diff from
    version ``a`` to version ``b`` (by default the version before the newest, and the
    newest). ``ignored`` names the asked-for versions that are not versions of it."""
    guidelines = list(Guideline.objects.filter(project=project).order_by("title"))
    versions = list(
        GuidelineVersion.objects.filter(guideline__project=project)
        .select_related("author")
        .order_by("-number")
    )
    wanted = guideline or next(
        (v.guideline_id for v in versions if v.pk in (b, a) and v.pk is not None), None
    )
    chosen = next((g for g in guidelines if g.pk == wanted), guidelines[0] if guidelines else None)
    own = [v for v in versions if chosen is not None and v.guideline_id == chosen.pk]
    old, new = _pick(own, a), _pick(own, b)
    ignored = [pk for pk, found in ((a, old), (b, new)) if pk is not None and found is None]
    if a is None and b is None and len(own) >= 2:
        new, old = own[0], own[1]
    compared = None
    if old is not None and new is not None and old.pk != new.pk:
        compared = {
            "old": old,
            "new": new,
            "body": body_diff(old.body, new.body),
            "rules": rules_diff(old.rules, new.rules),
        }
        compared["rule_counts"] = [
            (status, n)
            for status in ("changed", "added", "removed")
            if (n := sum(r["status"] == status for r in compared["rules"]))
        ]
    return {
        "guidelines": guidelines,
        "guideline": chosen,
        "versions": own,
        "a": old,
        "b": new,
        "compared": compared,
        "ignored": ignored,
    }


# Who acknowledged which version.


@dataclass
class AckRow:
    """One annotator's line of the acknowledgement table: for each published version,
    when they acknowledged it (None: not yet); ``blocked`` names the current versions they
    have not acknowledged, which stop their next submission."""

    membership: Membership
    cells: list[tuple[GuidelineVersion, datetime | None]]
    blocked: list[GuidelineVersion]


@dataclass(frozen=True)
class AckFilter:
    """The rows asked for: acknowledged (``state`` "acknowledged") or not yet ("pending")
    version ``version``; or annotators ``blocked`` from submitting now."""

    version: int | None = None
    state: str | None = None
    blocked: bool = False

    @property
    def applied(self) -> bool:
        return self.version is not None or self.blocked


def _keeps(row: AckRow, wanted: AckFilter) -> bool:
    if wanted.blocked and not row.blocked:
        return False
    if wanted.version is None or wanted.state is None:
        return True
    done = dict((version.pk, at) for version, at in row.cells).get(wanted.version)
    return (done is not None) == (wanted.state == "acknowledged")


def guideline_acknowledgements_page(*, project: Project, wanted: AckFilter) -> dict[str, Any]:
    """The table annotator × published version (each guideline by title, newest version
    first), the rows ``wanted`` keeps, and the counts each filter links to: per version
    how many acknowledged it and how many not yet, and how many are blocked; ``several``:
    the project has more than one published guideline. A filter naming a version that is
    not a published version of the project is dropped (``dropped``)."""
    versions = list(
        GuidelineVersion.objects.filter(guideline__project=project, published_at__isnull=False)
        .select_related("guideline")
        .order_by("guideline__title", "guideline_id", "-number")
    )
    members = list(annotators_of(project=project))
    done = {
        (user_id, version_id): at
        for user_id, version_id, at in Acknowledgement.objects.filter(
            version__in=[v.pk for v in versions], user__in=[m.user_id for m in members]
        ).values_list("user_id", "version_id", "acknowledged_at")
    }
    current = {}
    for version in versions:
        current.setdefault(version.guideline_id, version)
    rows = []
    for member in members:
        cells = [(version, done.get((member.user_id, version.pk))) for version in versions]
        blocked = [v for v in current.values() if (member.user_id, v.pk) not in done]
        rows.append(AckRow(membership=member, cells=cells, blocked=blocked))
    dropped = wanted.version is not None and wanted.version not in {v.pk for v in versions}
    if dropped:
        wanted = AckFilter(blocked=wanted.blocked)
    for version in versions:
        version.is_current = current[version.guideline_id].pk == version.pk
        version.acknowledged = sum(
            1 for row in rows if (row.membership.user_id, version.pk) in done
        )
        version.pending = len(rows) - version.acknowledged
    return {
        "versions": versions,
        "rows": [row for row in rows if _keeps(row, wanted)],
        "annotators": len(rows),
        "blocked": sum(1 for row in rows if row.blocked),
        "wanted": wanted,
        "wanted_version": next((v for v in versions if v.pk == wanted.version), None),
        "dropped": dropped,
        "several": len(current) > 1,
        "without_login": annotators_without_login(project=project),
    }
