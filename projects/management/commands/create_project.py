from django.core.management.base import CommandParser

from projects.management.base import ServiceCommand
from projects.services import project_create


class Command(ServiceCommand):
    help = "Create a project with its label classes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (default: the slug).")
        parser.add_argument(
            "--label",
            action="append",
            default=[],
            metavar="NAME",
            help="A label class; repeat for several.",
        )

    def handle(self, *args, slug: str, name: str | None, label: list[str], **options) -> None:
        project = project_create(slug=slug, name=name, labels=label)
        classes = ", ".join(label) or "no label classes"
        self.stdout.write(f"Created project {project.slug} ({project.name}) with {classes}.")
