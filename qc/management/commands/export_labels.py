"""``export_labels SLUG --format coco|supervisely|mask-png --out PATH [...]`` (DESIGN §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from projects.management.base import ServiceCommand, options_given
from projects.management.lookup import project_or_error
from projects.management.progress import add_progress_argument, run_with_progress
from qc.services.exports import EXPORT_FORMATS, export_write


class Command(ServiceCommand):
    help = (
        "Export a project's accepted labels (byte-for-byte reproducible): COCO JSON, a "
        "Supervisely project or PNG masks (folder, or a .zip)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--out", required=True, help="File (coco, .zip) or folder.")
        parser.add_argument(
            "--include-unreviewed",
            action="store_true",
            help="Also images without an accepted label: their consensus, else their latest "
            "submission.",
        )
        parser.add_argument(
            "--polygons", action="store_true", help="COCO: polygons instead of RLE where exact."
        )
        parser.add_argument(
            "--class",
            dest="classes",
            action="append",
            metavar="NAME",
            help="Only this class (repeatable).",
        )
        parser.add_argument("--gold", action="store_true", help="Only gold labels.")
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["slug"])
        filters = {"classes": options["classes"], "gold": options["gold"] or None}
        run_with_progress(
            self,
            export_write,
            wanted=options["progress"],
            description="export",
            project=project,
            format=options["format"],
            out_path=options["out"],
            include_unreviewed=options["include_unreviewed"],
            polygons=options["polygons"],
            filters=options_given(filters),
        )
