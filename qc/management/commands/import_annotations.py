"""``import_annotations SLUG PATH --format FORMAT [...]`` (DESIGN §9)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.errors import ApplicationError
from projects.models import Project
from qc.formats import READERS
from qc.services.imports import ProgressCallback, import_annotations


@contextlib.contextmanager
def progress_bar(
    command: BaseCommand, *, wanted: bool, description: str
) -> Iterator[ProgressCallback | None]:
    """A tqdm bar on stderr fed by a service's ``progress(fraction, message)`` callback,
    when stdout is a terminal or ``wanted``; None otherwise (stdout keeps the summary)."""
    if not (wanted or command.stdout.isatty()):
        yield None
        return
    from tqdm import tqdm

    # No monitor thread: an import may fork worker processes, and forking with extra
    # threads alive is asking for a lock held forever in the child.
    tqdm.monitor_interval = 0
    bar = tqdm(
        total=100,
        desc=description,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar:30}| {elapsed}<{remaining} {postfix}",
    )

    def update(fraction: float, message: str) -> None:
        bar.set_postfix_str(message, refresh=False)
        bar.n = round(100 * fraction)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def project_or_error(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"No project with slug {slug!r}.")
    return project


def _image_size(text: str) -> list[int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--image-size must be WIDTHxHEIGHT, got {text!r}.") from None
    return [width, height]


class Command(BaseCommand):
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
            help="COCO instances file naming a results file's image ids and categories.",
        )
        coco.add_argument(
            "--all-mapped-images",
            action="store_true",
            help="With --images-from: every image of that file is a submission, empty or not.",
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
        parser.add_argument(
            "--progress", action="store_true", help="Draw a progress bar even when not a tty."
        )

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
        try:
            with progress_bar(self, wanted=options["progress"], description="import") as bar:
                summary = import_annotations(
                    project=project,
                    path=options["path"],
                    format=options["format"],
                    actor=None,
                    annotator=options["annotator"],
                    create_users=options["create_users"],
                    create_labels=options["create_labels"],
                    labelers_saw_all_images=options["labelers_saw_all_images"],
                    options={k: v for k, v in reader_options.items() if v is not None},
                    progress=bar,
                )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(summary.line())
