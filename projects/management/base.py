"""The base of every MaskQC management command."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from projects.errors import ApplicationError


class ServiceCommand(BaseCommand):
    """A command that calls services: a refusal they raise (:class:`ApplicationError`) is
    the command's error -- its message printed, exit status 1 -- as any ``CommandError``."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ApplicationError as error:
            raise CommandError(error.message) from None


def options_given(options: dict[str, Any]) -> dict[str, Any]:
    """The options that were given (not None), for a service that has its own defaults for
    the rest."""
    return {key: value for key, value in options.items() if value is not None}
