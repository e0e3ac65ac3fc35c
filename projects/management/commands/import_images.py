"""``import_images SLUG PATH [PATH ...]`` (DESIGN §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from projects.images import images_import
from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from projects.management.progress import progress_bar


class Command(ServiceCommand):
    help = (
        "Store image files in a project (image name = file name; folders: the image files "
        "directly inside), all or nothing. Existing images of the same size get their pixels."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Image files or folders.")
        parser.add_argument(
            "--progress", action="store_true", help="Draw a progress bar even when not a tty."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["slug"])
        with progress_bar(self, wanted=options["progress"], description="images") as bar:
            summary = images_import(
                project=project, paths=options["paths"], actor=None, progress=bar
            )
        self.stdout.write(summary.line())
