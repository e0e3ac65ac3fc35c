from django.core.management.base import CommandParser

from projects.management.base import ServiceCommand
from qc.demo import (
    SLUG,
    DemoLogin,
    demo_counts,
    demo_exists,
    demo_logins,
    demo_logins_path,
    demo_logins_save,
    demo_seed,
)

DEFAULT_IMAGES = 60
RESET_HINT = "`manage.py demo --reset` (`make demo RESET=1`) starts over"


class Command(ServiceCommand):
    help = (
        "Seed the synthetic pool-boiling demo project and its users, unless it exists: then "
        "keep it as it is and print how to log in. --reset seeds it anew."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--images", type=int, help=f"Number of frames of a new seeding ({DEFAULT_IMAGES})."
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Replace the demo project (and what was made in it) with a fresh one, with "
            "new passwords.",
        )

    def handle(self, *args, images: int | None, reset: bool, **options) -> None:
        if demo_exists() and not reset:
            self._kept(images_given=images is not None)
            return
        result = demo_seed(images=DEFAULT_IMAGES if images is None else images)
        path = demo_logins_save(result.passwords)
        self._users(
            [DemoLogin(name, role, password) for name, (role, password) in result.passwords.items()]
        )
        self.stdout.write(
            f"The passwords are kept in {path} (only you can read it): `make demo` prints "
            f"them again; {RESET_HINT}."
        )
        self.stdout.write(
            f"Seeded demo project {result.project.slug}: {result.images} images, "
            f"{result.submissions} submissions, {result.reviews} reviews."
        )

    def _kept(self, *, images_given: bool) -> None:
        logins = demo_logins()
        if logins is None:
            self.stdout.write(
                f"Demo users: their passwords are not known here (no readable "
                f"{demo_logins_path()}). `manage.py changepassword USERNAME` sets one; "
                f"{RESET_HINT} with new ones."
            )
        else:
            self._users(logins)
        counts = demo_counts()
        ignored = " (--images applies to a new seeding: add --reset)" if images_given else ""
        self.stdout.write(
            f"Kept demo project {SLUG} as it was: {counts['images']} images, "
            f"{counts['submissions']} submissions, {counts['reviews']} reviews{ignored}. "
            f"{RESET_HINT}."
        )

    def _users(self, logins: list[DemoLogin]) -> None:
        self.stdout.write("Demo users (log in at /login/):")
        for login in logins:
            if login.password is None:
                self.stdout.write(f"  {login.username:<8} {login.role:<10} ({login.note})")
            else:
                self.stdout.write(
                    f"  {login.username:<8} {login.role:<10} password: {login.password}"
                )
