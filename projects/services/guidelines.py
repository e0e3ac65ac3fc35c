"""Guidelines and their versions: drafts written and edited by leads, published with a
change summary, acknowledged by annotators (DESIGN §3, §6, §7, §10)."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.audit import audit
from projects.errors import ApplicationError, ConflictError
from projects.markdown import render_markdown
from projects.models import (
    Acknowledgement,
    Guideline,
    GuidelineExample,
    GuidelineVersion,
    Project,
)
from projects.permissions import Action, require_action
from projects.rules import RuleError, validate_rules

SUMMARY_NEEDED = (
    "Say what changed: annotators read this summary before they acknowledge the new version."
)


def _summary_checked(summary: str | None) -> str:
    """The change summary a version is published with: required, so every annotator asked
    to acknowledge a version is told what changed (the page, the API and commands alike)."""
    summary = (summary or "").strip()
    if not summary:
        raise ApplicationError(SUMMARY_NEEDED, extra={"change_summary": [SUMMARY_NEEDED]})
    return summary


def _rules_checked(title: str, rules: list[dict] | None) -> list[dict]:
    try:
        return validate_rules(rules or [])
    except RuleError as error:
        raise ApplicationError(
            f"Guideline {title!r}: {error}", extra={"rules": [str(error)]}
        ) from None


@transaction.atomic
def guideline_version_create(
    *,
    project: Project,
    title: str,
    body: str,
    author: Any,
    change_summary: str = "",
    rules: list[dict] | None = None,
    publish: bool = False,
) -> GuidelineVersion:
    """A new version of the guideline ``title`` (created when missing), a draft unless
    ``publish`` (which needs a change summary). Leads and admins write guidelines;
    concurrent writers get consecutive numbers."""
    require_action(
        actor=author, project=project, action=Action.WRITE_GUIDELINES, what="write guidelines"
    )
    if publish:
        change_summary = _summary_checked(change_summary)
    rules = _rules_checked(title, rules)
    guideline, _ = Guideline.objects.get_or_create(project=project, title=title)
    # Lock the guideline so two leads writing at once get consecutive numbers.
    guideline = Guideline.objects.select_for_update().get(pk=guideline.pk)
    last = guideline.versions.order_by("-number").values_list("number", flat=True).first()
    version = GuidelineVersion.objects.create(
        guideline=guideline,
        number=(last or 0) + 1,
        body=body,
        body_html=render_markdown(body),
        change_summary=change_summary,
        rules=rules,
        author=author,
        published_at=timezone.now() if publish else None,
    )
    audit(
        actor=author,
        verb="guideline_version.create",
        obj=version,
        project=project,
        after={"guideline": title, "number": version.number, "published": publish},
    )
    return version


def _locked(version: GuidelineVersion) -> GuidelineVersion:
    return (
        GuidelineVersion.objects.select_for_update(of=("self",))
        .select_related("guideline__project")
        .get(pk=version.pk)
    )


def _edit(
    version: GuidelineVersion,
    *,
    actor: Any,
    body: str | None,
    rules: list[dict] | None,
    change_summary: str | None,
) -> None:
    """Apply a draft's edits (the version locked by the caller) and audit what changed."""
    before = {
        "body": version.body,
        "rules": version.rules,
        "change_summary": version.change_summary,
    }
    if body is not None:
        version.body, version.body_html = body, render_markdown(body)
    if rules is not None:
        version.rules = _rules_checked(version.guideline.title, rules)
    if change_summary is not None:
        version.change_summary = change_summary
    version.save(update_fields=["body", "body_html", "rules", "change_summary"])
    after = {"body": version.body, "rules": version.rules, "change_summary": version.change_summary}
    changed = [field for field in before if before[field] != after[field]]
    if changed:
        audit(
            actor=actor,
            verb="guideline_version.update",
            obj=version,
            project=version.guideline.project,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
        )


@transaction.atomic
def guideline_version_update(
    *,
    version: GuidelineVersion,
    actor: Any,
    body: str | None = None,
    rules: list[dict] | None = None,
    change_summary: str | None = None,
) -> GuidelineVersion:
    """Edit a draft's body, rules or change summary (leads and admins); a published
    version never changes (a ConflictError: write a new version instead)."""
    version = _locked(version)
    project = version.guideline.project
    require_action(
        actor=actor, project=project, action=Action.WRITE_GUIDELINES, what="edit guidelines"
    )
    if version.published_at is not None:
        raise ConflictError(f"{version} is published; write a new version instead.")
    _edit(version, actor=actor, body=body, rules=rules, change_summary=change_summary)
    return version


@transaction.atomic
def guideline_version_publish(
    *,
    version: GuidelineVersion,
    actor: Any,
    change_summary: str | None = None,
    body: str | None = None,
    rules: list[dict] | None = None,
) -> GuidelineVersion:
    """Publish a draft (leads and admins) with its change summary (``change_summary``, else
    the draft's saved one; a blank one is refused, field ``change_summary``) and, as one
    step with publishing, the body and rules the editor shows (so what a lead saw is what
    is published, saved or not); from now on annotators must acknowledge it before they
    submit. Publishing twice is a ConflictError; invalid rules publish nothing."""
    version = _locked(version)
    project = version.guideline.project
    require_action(
        actor=actor, project=project, action=Action.WRITE_GUIDELINES, what="publish guidelines"
    )
    if version.published_at is not None:
        raise ConflictError(f"{version} is already published.")
    summary = _summary_checked(version.change_summary if change_summary is None else change_summary)
    if body is not None or rules is not None:
        _edit(version, actor=actor, body=body, rules=rules, change_summary=None)
    version.published_at = timezone.now()
    version.change_summary = summary
    version.save(update_fields=["published_at", "change_summary"])
    audit(
        actor=actor,
        verb="guideline_version.publish",
        obj=version,
        project=project,
        after={
            "published_at": version.published_at.isoformat(),
            "change_summary": version.change_summary,
        },
    )
    return version


@transaction.atomic
def guideline_draft_start(*, guideline: Guideline, actor: Any) -> tuple[GuidelineVersion, bool]:
    """The draft a lead edits next: the guideline's open draft when it has one (so a
    doubled click or a second lead finds the same draft, ``False``), else a new draft
    copied from the newest version's body and rules (``True``)."""
    require_action(
        actor=actor,
        project=guideline.project,
        action=Action.WRITE_GUIDELINES,
        what="write guidelines",
    )
    # Lock the guideline: two starts at once see the one draft the first made.
    guideline = (
        Guideline.objects.select_for_update(of=("self",))
        .select_related("project")
        .get(pk=guideline.pk)
    )
    newest = guideline.versions.order_by("-number").first()
    if newest is not None and newest.published_at is None:
        return newest, False
    version = GuidelineVersion.objects.create(
        guideline=guideline,
        number=(newest.number if newest else 0) + 1,
        body=newest.body if newest else "",
        body_html=newest.body_html if newest else "",
        rules=list(newest.rules) if newest else [],
        author=actor,
    )
    audit(
        actor=actor,
        verb="guideline_version.create",
        obj=version,
        project=guideline.project,
        after={
            "guideline": guideline.title,
            "number": version.number,
            "published": False,
            "copied_from": newest.number if newest else None,
        },
    )
    return version, True


@transaction.atomic
def guideline_draft_discard(*, version: GuidelineVersion, actor: Any) -> bool:
    """Throw away a draft (leads and admins), with what it held in the audit event. Only a
    draft: a published version is the record of what annotators acknowledged and is never
    removed (a ConflictError). Its number is free again, so the next draft takes it. A
    guideline left with no version at all (its first draft discarded) goes too; the result
    says whether it did."""
    project = version.guideline.project
    require_action(
        actor=actor, project=project, action=Action.WRITE_GUIDELINES, what="discard drafts"
    )
    try:
        version = _locked(version)
    except GuidelineVersion.DoesNotExist:
        raise ConflictError(f"{version} was discarded already.") from None
    if version.published_at is not None:
        raise ConflictError(
            f"{version} is published: a published version is never discarded. Start a new "
            "version to change it."
        )
    guideline = version.guideline
    alone = not guideline.versions.exclude(pk=version.pk).exists()
    audit(
        actor=actor,
        verb="guideline_version.discard",
        obj=version,
        project=project,
        before={
            "guideline": guideline.title,
            "number": version.number,
            "body": version.body,
            "rules": version.rules,
            "change_summary": version.change_summary,
        },
        after={"guideline_removed": alone},
    )
    version.delete()
    if alone:
        guideline.delete()
    return alone


@transaction.atomic
def guideline_create(*, project: Project, title: str, actor: Any) -> GuidelineVersion:
    """A new guideline ``title`` with its first draft (a heading of its title). A title the
    project already has is refused: a new version of that guideline is what was meant."""
    require_action(
        actor=actor, project=project, action=Action.WRITE_GUIDELINES, what="write guidelines"
    )
    title = title.strip()
    if not title:
        raise ApplicationError("Give the guideline a title.", extra={"title": ["required"]})
    if Guideline.objects.filter(project=project, title__iexact=title).exists():
        raise ConflictError(
            f"{project.slug} has a guideline {title!r} already: start a new version of it.",
            extra={"title": ["exists"]},
        )
    try:
        with transaction.atomic():
            guideline = Guideline.objects.create(project=project, title=title)
    except IntegrityError:
        raise ConflictError(
            f"{project.slug} has a guideline {title!r} already: start a new version of it.",
            extra={"title": ["exists"]},
        ) from None
    body = f"# {title}\n"
    version = GuidelineVersion.objects.create(
        guideline=guideline, number=1, body=body, body_html=render_markdown(body), author=actor
    )
    audit(
        actor=actor,
        verb="guideline_version.create",
        obj=version,
        project=project,
        after={"guideline": title, "number": 1, "published": False},
    )
    return version


@transaction.atomic
def guideline_acknowledge(*, version: GuidelineVersion, user: Any) -> Acknowledgement:
    """The annotator ``user`` has read ``version`` (published only). Acknowledging twice,
    or twice at once, returns the one acknowledgement."""
    version = GuidelineVersion.objects.select_related("guideline__project").get(pk=version.pk)
    project = version.guideline.project
    require_action(
        actor=user,
        project=project,
        action=Action.ACKNOWLEDGE_GUIDELINES,
        what="acknowledge guidelines",
    )
    if version.published_at is None:
        raise ApplicationError(f"{version} is not published yet.")
    ack, created = Acknowledgement.objects.get_or_create(version=version, user=user)
    if created:
        audit(
            actor=user,
            verb="guideline_version.acknowledge",
            obj=version,
            project=project,
            after={"user": user.username},
        )
    return ack


@transaction.atomic
def guideline_example_add(
    *, version: GuidelineVersion, image: Any, actor: Any, caption: str = ""
) -> GuidelineExample:
    """Show ``image`` (an image of the same project, with its pixels) as an example of
    ``version``, with ``caption`` saying what it shows. Those who write guidelines add
    examples, to drafts and published versions alike (an example explains, it changes no
    rule)."""
    version = GuidelineVersion.objects.select_related("guideline__project").get(pk=version.pk)
    project = version.guideline.project
    require_action(
        actor=actor, project=project, action=Action.WRITE_GUIDELINES, what="write guidelines"
    )
    if image.project_id != project.pk:
        raise ApplicationError(f"Image {image.name!r} is not an image of {project.slug}.")
    if not image.file:
        raise ApplicationError(f"Image {image.name!r} has no pixels to show as an example.")
    example = GuidelineExample.objects.create(version=version, image=image, caption=caption)
    audit(
        actor=actor,
        verb="guideline_version.example_add",
        obj=version,
        project=project,
        after={"image": image.name, "caption": caption},
    )
    return example
