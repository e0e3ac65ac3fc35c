#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting MaskQC refuses (a malformed DATABASE_URL or REDIS_URL, say) stops the
        # command with one line naming it, as it stops gunicorn, instead of a traceback.
        sys.exit(f"MaskQC cannot start: {error}")


if __name__ == "__main__":
    main()
