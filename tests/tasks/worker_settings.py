"""Settings of a worker process started by a test (:func:`tests.tasks.workers.worker_process`):
the test suite's settings on the test's database (``MASKQC_TEST_DATABASE_NAME``), media
folder (``MASKQC_TEST_MEDIA_ROOT``, on disk: the test reads what the worker writes) and,
for ``TASKS_BACKEND=rq``, the test's queues (``MASKQC_TEST_RQ_PREFIX``). Everything else,
the task backend's configuration among it, is what ``config.settings`` makes of the
environment.
"""

import os
from pathlib import Path

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, STORAGES, TASKS, TASKS_BACKEND
from tests.tasks.rq_config import rq_queues_prefixed

DATABASES["default"]["NAME"] = os.environ["MASKQC_TEST_DATABASE_NAME"]
MEDIA_ROOT = Path(os.environ["MASKQC_TEST_MEDIA_ROOT"])
SENDFILE_ROOT = str(MEDIA_ROOT)
STORAGES = {**STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}

if TASKS_BACKEND == "rq":
    from tests.settings import RQ_QUEUES

    MASKQC_TEST_RQ_PREFIX = os.environ["MASKQC_TEST_RQ_PREFIX"]
    RQ_QUEUES = rq_queues_prefixed(queues=RQ_QUEUES, prefix=MASKQC_TEST_RQ_PREFIX)
    # A job's task is rebuilt on the queue it came from, the prefixed one: valid here too.
    TASKS = {"default": {**TASKS["default"], "QUEUES": list(RQ_QUEUES)}}
