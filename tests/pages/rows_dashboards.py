"""The rows of the role matrix for the dashboards: agreement, the funnel and the site
admin's page of all projects."""

from typing import Any

from projects.models import Project
from tests.pages.matrix import REVIEWERS_ONLY, Args, Case, Finder


def _table(name: str) -> Finder:
    """The dashboard's CSV file ``name``."""

    def target(project: Project, subject: Any) -> Args:
        return (name,)

    return target


ROWS: list[Case] = [
    Case("project-dashboard", REVIEWERS_ONLY),
    Case("dashboard-csv", REVIEWERS_ONLY, target=_table("heatmap"), page=False),
    Case(
        "dashboard-csv",
        REVIEWERS_ONLY,
        target=_table("pairs"),
        page=False,
        variant="every pair of every image",
    ),
    # The funnel and the site's dashboards.
]
