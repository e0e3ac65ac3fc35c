"""``recompute_features [SLUG ...] [--all-images]``: after an upgrade (README, Upgrading)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from projects.management.progress import add_progress_argument, run_with_progress
from projects.models import Project
from qc.services.features import instance_features_recompute


class Command(ServiceCommand):
    help = (
        "Recompute the stored features of every instance (area, bbox, perimeter, boundary "
        "band), rewrite those that changed and recompute the agreement of their images."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="Default: every project.")
        parser.add_argument(
            "--all-images",
            action="store_true",
            help="Recompute the agreement and consensus of every image with two or more "
            "submissions, even where no feature changed (after a consensus rule change).",
        )
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = options["slugs"]
        # Every slug is checked before any project is touched.
        projects = (
            [project_or_error(slug) for slug in dict.fromkeys(slugs)]
            if slugs
            else list(Project.objects.order_by("slug"))
        )
        failed = []
        for project in projects:
            summary = run_with_progress(
                self,
                instance_features_recompute,
                wanted=options["progress"],
                description=project.slug,
                project=project,
                all_images=options["all_images"],
            )
            for name, error in summary.failed.items():
                self.stderr.write(f"{project.slug}: image {name}: {error}")
                failed.append(f"{project.slug}/{name}")
        if failed:
            raise CommandError(
                f"{len(failed)} image(s) could not be recomputed and were left as they were: "
                + ", ".join(failed)
            )
