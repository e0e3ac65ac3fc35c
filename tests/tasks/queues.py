"""An RQ queue under a test's prefix (see :mod:`tests.tasks.rq_config`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_rq.queues import DjangoRQ


class PrefixedQueue(DjangoRQ):
    """django-rq's queue, named ``<MASKQC_TEST_RQ_PREFIX><name>`` in Redis.

    The tasks keep their queue name (``default``): the backend and ``rqworker default``
    ask for it, and get this test's queue. A name that already carries the prefix (a job's
    origin) is kept as it is.
    """

    def __init__(self, name: str = "default", *args: Any, **kwargs: Any) -> None:
        prefix = settings.MASKQC_TEST_RQ_PREFIX
        if not name.startswith(prefix):
            name = f"{prefix}{name}"
        super().__init__(name, *args, **kwargs)
