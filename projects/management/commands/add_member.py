from django.contrib.auth import get_user_model
from django.core.management.base import CommandParser
from django.db import transaction

from projects.errors import ApplicationError
from projects.management.base import ServiceCommand
from projects.management.lookup import project_or_error
from projects.models import Role
from projects.services import membership_set


class Command(ServiceCommand):
    help = "Add a user to a project with a role (or change their role)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--create-user",
            action="store_true",
            help="Create the user (without a usable password) if missing.",
        )

    def handle(
        self, *args, slug: str, username: str, role: str, create_user: bool, **options
    ) -> None:
        project = project_or_error(slug)
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = False
            if user is None:
                if not create_user:
                    raise ApplicationError(
                        f"No user {username!r}; pass --create-user to create it."
                    )
                user = User.objects.create_user(username=username)
                created = True
            membership_set(project=project, user=user, role=role)
        note = " (new user, no password set)" if created else ""
        self.stdout.write(f"{username} is {role} of {slug}{note}.")
