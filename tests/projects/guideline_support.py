"""What the guideline editor's tests share: a published v1 with rules and the draft v2
started from it (each test module's fixtures call these), and the draft editor's POST."""

from typing import Any

from django.urls import reverse

from projects.models import GuidelineVersion, Project
from projects.services import guideline_version_create
from projects.services.guidelines import guideline_draft_start

RULES = [
    {"rule": "min_area_px", "value": 20, "severity": "warn"},
    {"rule": "max_overlap", "value": 0.05, "severity": "warn"},
    {"rule": "allowed_classes", "value": ["bubble"], "severity": "block"},
]


def published_v1(project: Project, lead: Any) -> GuidelineVersion:
    """Guideline "Bubbles" v1, published with RULES."""
    return guideline_version_create(
        project=project,
        title="Bubbles",
        body="# Bubbles\n\nOutline every bubble.\n",
        author=lead,
        rules=RULES,
        change_summary="First.",
        publish=True,
    )


def draft_of(version: GuidelineVersion, lead: Any) -> GuidelineVersion:
    """The next version of ``version``'s guideline, a draft copied from it."""
    draft, _ = guideline_draft_start(guideline=version.guideline, actor=lead)
    return draft


def draft_post(**changes: Any) -> dict[str, Any]:
    """The draft editor's POST: the text, no summary, and the rules of RULES; a change
    of None leaves that field out."""
    data = {
        "body": "# Bubbles\n\nOutline every bubble.\n\nSmall ones too.\n",
        "change_summary": "",
        "on_min_area_px": "on",
        "value_min_area_px": "20",
        "severity_min_area_px": "warn",
        "on_max_overlap": "on",
        "value_max_overlap": "5",
        "severity_max_overlap": "warn",
        "on_allowed_classes": "on",
        "value_allowed_classes": ["bubble"],
        "severity_allowed_classes": "block",
        "value_allow_holes": "no",
        "severity_allow_holes": "warn",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def page_url(name: str, project: Project, *args: Any) -> str:
    return reverse(name, args=[project.slug, *args])
