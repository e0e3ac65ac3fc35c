"""Who of a project's annotators can log in, and so be given work or be counted as owing an
acknowledgement. An import that creates missing users (DESIGN §9) makes accounts without a
usable password: they hold imported work but nobody works as them, so a plan that gave them
tasks, or a count that waited for their acknowledgement, would wait for ever."""

from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import BooleanField, ExpressionWrapper, Q

# What a person marked as unable to log in is told, wherever they are listed.
NO_LOGIN = "cannot log in — work imported only"


def can_log_in_q(prefix: str = "") -> Q:
    """Users who can log in: active, with a usable password (``User.has_usable_password``
    as a query); ``prefix`` reaches the user through a relation, such as ``"user__"``."""
    return Q(**{f"{prefix}is_active": True}) & ~Q(
        **{f"{prefix}password__startswith": UNUSABLE_PASSWORD_PREFIX}
    )


def can_log_in_flag(prefix: str = "") -> ExpressionWrapper:
    """:func:`can_log_in_q` as a value to annotate a query with."""
    return ExpressionWrapper(can_log_in_q(prefix), output_field=BooleanField())


def can_log_in(user: Any) -> bool:
    """The same test on a loaded user."""
    return bool(user.is_active and user.has_usable_password())
