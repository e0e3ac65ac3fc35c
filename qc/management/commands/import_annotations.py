"""``import_annotations SLUG PATH --format FORMAT [...]`` (DESIGN §9)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from projects.management.base import ServiceCommand, options_given
from projects.management.lookup import project_or_error
from projects.management.progress import add_progress_argument, run_with_progress
from qc.formats import READERS
from qc.services.imports import import_annotations


def _image_size(text: str) -> list[int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--image-size must be WIDTHxHEIGHT, got {text!r}.") from None
    return [width, height]


class Command(ServiceCommand):
    help = (
        "Import an annotation file or folder as submissions (tasks submitted), all or "
        "nothing; the same source again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("path", help="File, folder or zip.")
        parser.add_argument("--format", required=True, choices=sorted(READERS))
        parser.add_argument(
            "--annotator", help="Username that annotated every object (overrides the file's)."
        )
        parser.add_argument(
            "--create-users", action="store_true", help="Create missing users as annotators."
        )
        parser.add_argument(
            "--create-labels", action="store_true", help="Create missing label classes."
        )
        parser.add_argument(
            "--labelers-saw-all-images",
            action="store_true",
            help="Supervisely: every labeler looked at every image (empty submissions too).",
        )
        masks = parser.add_argument_group("mask-png")
        masks.add_argument(
            "--pattern",
            help="Mask paths with {annotator}, {image} and optional {instance}, "
            "e.g. 'ExpertsAnnotations/{annotator}/seg_{image}.png'.",
        )
        masks.add_argument("--foreground", choices=["nonzero", "zero"])
        masks.add_argument("--instances", choices=["single", "components", "ids"])
        masks.add_argument("--label", help="Class of every mask (default 'object').")
        masks.add_argument(
            "--image-name",
            help="mask-png: image name from the {image} match, e.g. '{image}.png'; "
            "label-studio: the image of a prediction list.",
        )
        coco = parser.add_argument_group("coco")
        coco.add_argument(
            "--images-from",
            help=(
                "COCO instances file naming a results file's image ids and categories "
                "(default: the COCO ids the project's images and classes were imported with)."
            ),
        )
        coco.add_argument(
            "--all-mapped-images",
            action="store_true",
            help="Every mapped image is a submission of the results file, empty or not.",
        )
        other = parser.add_argument_group("cvat and label-studio")
        other.add_argument("--subset", help="cvat: import only this subset.")
        other.add_argument("--image-key", help="label-studio: task data key of the image.")
        other.add_argument(
            "--image-size", help="label-studio: WIDTHxHEIGHT when results carry no size."
        )
        other.add_argument(
            "--include-predictions", action="store_true", help="label-studio: predictions too."
        )
        add_progress_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["slug"])
        reader_options = {
            "pattern": options["pattern"],
            "foreground": options["foreground"],
            "instances": options["instances"],
            "label": options["label"],
            "image_name": options["image_name"],
            "images_from": options["images_from"],
            "all_mapped_images": options["all_mapped_images"] or None,
            "subset": options["subset"],
            "image_key": options["image_key"],
            "image_size": _image_size(options["image_size"]) if options["image_size"] else None,
            "include_predictions": options["include_predictions"] or None,
        }
        run_with_progress(
            self,
            import_annotations,
            wanted=options["progress"],
            description="import",
            project=project,
            path=options["path"],
            format=options["format"],
            actor=None,
            annotator=options["annotator"],
            create_users=options["create_users"],
            create_labels=options["create_labels"],
            labelers_saw_all_images=options["labelers_saw_all_images"],
            options=options_given(reader_options),
        )
