"""The RQ queues of one test (no Django import: the worker's settings module reads it).

Every test that runs tasks on RQ gets a prefix of its own; its queues live in Redis under
``<prefix><name>`` (:class:`tests.tasks.queues.PrefixedQueue`), so tests running at once
(xdist workers, other checkouts on the same Redis) never take each other's jobs.
"""

from __future__ import annotations

from typing import Any

QUEUE_CLASS = "tests.tasks.queues.PrefixedQueue"


def rq_queues_prefixed(*, queues: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    """``RQ_QUEUES`` with each of ``queues`` kept (its URL, timeout...) and made a
    :class:`~tests.tasks.queues.PrefixedQueue`, also under its prefixed name: a worker
    looks a job's queue up by the job's origin, which is the prefixed name."""
    prefixed: dict[str, Any] = {}
    for name, config in queues.items():
        for key in (name, f"{prefix}{name}"):
            prefixed[key] = {**config, "QUEUE_CLASS": QUEUE_CLASS}
    return prefixed
