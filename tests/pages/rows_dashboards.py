"""The rows of the role matrix for the dashboards: agreement, the funnel and the site
admin's page of all projects."""

from typing import Any

from projects.models import Project
from tests.pages.matrix import REVIEWERS_ONLY, Args, Case, Finder, statuses


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
    Case("project-funnel", REVIEWERS_ONLY),
    Case("project-funnel-csv", REVIEWERS_ONLY, page=False),
    # Site staff only; everyone else is a user of the site who may not see every project.
    Case(
        "site-dashboard",
        statuses(admin=200, lead=403, reviewer=403, annotator=403, outsider=403),
    ),
]
