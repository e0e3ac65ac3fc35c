"""Progress of long services (imports, exports, recomputes): the callback they report to,
and the throttle between them.

Pure module: no Django. A service calls its throttle as often as it likes; the callback (a
command's terminal bar, a job row's progress column) hears about every 2 % of the work and
every new message, and always hears the end.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressCallback", "ProgressThrottle"]

ProgressCallback = Callable[[float, str], None]
"""``progress(fraction, message)``: fraction of the work done (0 to 1) and what is going on."""

STEP = 0.02


class ProgressThrottle:
    """Forwards ``(fraction, message)`` to ``callback`` (if any) when the message changes,
    the fraction moved by :data:`STEP` since the last report, or the work is done; the
    fraction is clamped to [0, 1]."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.fraction = -1.0
        self.message = ""

    def __call__(self, fraction: float, message: str) -> None:
        if self.callback is None:
            return
        fraction = min(1.0, max(0.0, fraction))
        if (
            message != self.message
            or fraction - self.fraction >= STEP
            or (fraction == 1.0 and self.fraction < 1.0)
        ):
            self.fraction, self.message = fraction, message
            self.callback(fraction, message)
