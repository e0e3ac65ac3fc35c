"""The rows of the role matrix for the dashboards: agreement, the funnel and the site
admin's page of all projects."""

from tests.pages.matrix import Case

ROWS: list[Case] = [
    # The funnel and the site's dashboards.
]
