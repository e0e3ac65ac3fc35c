from django.core.management.base import CommandParser

from projects.management.base import ServiceCommand
from qc.demo import demo_seed


class Command(ServiceCommand):
    help = "Create (or re-create) the synthetic pool-boiling demo project and its users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--images", type=int, default=60, help="Number of frames (60).")

    def handle(self, *args, images: int, **options) -> None:
        result = demo_seed(images=images)
        self.stdout.write("Demo users (log in at /login/):")
        for username, (role, password) in result.passwords.items():
            self.stdout.write(f"  {username:<8} {role:<10} password: {password}")
        self.stdout.write(
            f"Seeded demo project {result.project.slug}: {result.images} images, "
            f"{result.submissions} submissions, {result.reviews} reviews."
        )
