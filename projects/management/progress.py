"""A terminal progress bar for commands that run long services (imports, exports), and the
way such a command runs its service."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from django.core.management.base import BaseCommand, CommandParser

from projects.progress import ProgressCallback


class _Summary(Protocol):
    def line(self) -> str: ...


Summary = TypeVar("Summary", bound=_Summary)


def add_progress_argument(parser: CommandParser) -> None:
    """The ``--progress`` flag, which :func:`progress_bar` takes as ``wanted``."""
    parser.add_argument(
        "--progress", action="store_true", help="Draw a progress bar even when not a tty."
    )


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


def run_with_progress(
    command: BaseCommand,
    service: Callable[..., Summary],
    *,
    wanted: bool,
    description: str,
    **arguments: Any,
) -> Summary:
    """Call the long ``service`` with ``arguments`` and a :func:`progress_bar` as its
    ``progress``, then print the one-line summary it returns; returns that summary."""
    with progress_bar(command, wanted=wanted, description=description) as bar:
        summary = service(**arguments, progress=bar)
    command.stdout.write(summary.line())
    return summary
