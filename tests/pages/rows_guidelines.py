"""The rows of the role matrix for the guideline editor: drafts, preview, publish, history
and acknowledgements. Only leads and admins write guidelines (DESIGN §10): reviewers and
annotators get a 403 from every page here, and a refused POST changes nothing."""

from typing import Any

from projects.models import Guideline, GuidelineVersion, Project, Role
from tests.pages.matrix import STAFF, Args, Case, statuses

WRITERS = statuses(**STAFF, reviewer=403, annotator=403)
WRITERS_POST = statuses(admin=302, lead=302, reviewer=403, annotator=403)


def draft(project: Project, subject: Any) -> Args:
    """A draft of the project's first guideline (by title), started by one of its leads
    when it has none: the World and the demo publish every version they write."""
    guideline = Guideline.objects.filter(project=project).order_by("title").first()
    if guideline is None:
        return None
    version = guideline.versions.filter(published_at__isnull=True).order_by("-number").first()
    if version is None:
        newest = guideline.versions.order_by("-number").first()
        lead = project.memberships.filter(role=Role.LEAD).order_by("pk").first()
        version = GuidelineVersion.objects.create(
            guideline=guideline,
            number=newest.number + 1,
            body=newest.body,
            body_html=newest.body_html,
            rules=newest.rules,
            author=lead.user,
        )
    return (version.pk,)


def _new_guideline(args: Args) -> bool:
    return Guideline.objects.filter(title="Drops").exists()


def _discarded(args: Args) -> bool:
    return not GuidelineVersion.objects.filter(pk=args[0]).exists()


def _published(args: Args) -> bool:
    return GuidelineVersion.objects.get(pk=args[0]).published_at is not None


ROWS = [
    Case("guideline-editor", WRITERS),
    Case(
        "guideline-version-new",
        WRITERS_POST,
        method="POST",
        data={"title": "Drops"},
        changed=_new_guideline,
        page=False,
    ),
    Case("guideline-draft", WRITERS, target=draft),
    Case(
        "guideline-publish",
        WRITERS_POST,
        target=draft,
        method="POST",
        data={"change_summary": "Holes are drawn."},
        changed=_published,
        page=False,
    ),
    Case(
        "guideline-draft-discard",
        WRITERS_POST,
        target=draft,
        method="POST",
        changed=_discarded,
        page=False,
    ),
    Case(
        "guideline-preview",
        WRITERS,
        method="POST",
        data={"body": "# Bubbles"},
        page=False,
    ),
    Case("guideline-history", WRITERS),
    Case("guideline-acknowledgements", WRITERS),
]
