"""A terminal progress bar for commands that run long services (imports, exports)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from django.core.management.base import BaseCommand

from projects.progress import ProgressCallback


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
