"""``jobs_watch [--once] [--interval SECONDS]``: the deployment's one watcher of background
work, run beside the workers (``bin/demo`` starts it with the worker)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import close_old_connections
from django.utils import timezone

from projects.management.base import ServiceCommand
from qc.services.agreement_backlog import agreement_backlog_queue
from qc.services.jobs import jobs_reap_stuck

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Command(ServiceCommand):
    help = (
        "Every round, queue again (or fail) the jobs whose worker was lost (silent longer "
        "than MASKQC_JOB_STUCK_SECONDS) and queue agreement for the images whose stored "
        "agreement is missing or older than their newest submission. Prints a line for a "
        "round that did something; stops on SIGTERM or SIGINT after the round under way. "
        "Run one per deployment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one round and exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=30.0,
            metavar="SECONDS",
            help="Seconds between rounds (default 30).",
        )

    def handle(self, *args: Any, once: bool, interval: float, **options: Any) -> None:
        if interval <= 0:
            raise CommandError(f"--interval must be more than 0 seconds, not {interval:g}.")
        if once:
            self._round()
            return
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
        try:
            while not stop.is_set():
                try:
                    self._round()
                except Exception as error:  # a database or queue outage: try next round
                    self.stderr.write(f"{_now()} round failed: {type(error).__name__}: {error}")
                # A connection the server dropped between rounds is opened anew.
                close_old_connections()
                stop.wait(interval)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _round(self) -> None:
        reaped = jobs_reap_stuck()
        queued = agreement_backlog_queue()
        done = [reaped.line()] if reaped else []
        if queued:
            done.append(f"agreement queued for {queued} image{'' if queued == 1 else 's'}")
        if done:
            self.stdout.write(f"{_now()} " + "; ".join(done))


def _now() -> str:
    return timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
