"""``import_images SLUG PATH [PATH ...]`` (DESIGN §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from projects.images import images_import
from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from projects.management.progress import add_progress_argument, run_with_progress


class Command(ServiceCommand):
    help = (
        "Store image files in a project (image name = file name; folders: the image files "
        "directly inside), all or nothing. Existing images of the same size get their pixels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Image files or folders.")
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["slug"])
        run_with_progress(
            self,
            images_import,
            wanted=options["progress"],
            description="images",
            project=project,
            paths=options["paths"],
            actor=None,
        )
