"""bin/worker (`make worker`) where there is no worker to run (TASKS_BACKEND=immediate)
or no such backend: it says so and exits. The workers it starts for database and rq run
the agreement test of test_backends.py."""

import os
import subprocess

from tests.tasks.workers import ROOT


def _bin_worker(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    clean.update(MASKQC_ENV_FILE=os.devnull, DEBUG="true", **env)
    return subprocess.run(
        [str(ROOT / "bin" / "worker")], env=clean, capture_output=True, text=True, timeout=120
    )


def test_bin_worker_for_the_immediate_backend_says_there_is_nothing_to_run():
    done = _bin_worker(TASKS_BACKEND="immediate")

    assert (done.returncode, done.stdout) == (
        0,
        "bin/worker: nothing to run: TASKS_BACKEND=immediate runs background work inline.\n",
    )


def test_bin_worker_for_an_unknown_backend_fails_naming_it():
    done = _bin_worker(TASKS_BACKEND="celery")

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "MaskQC cannot start: TASKS_BACKEND must be one of ['database', 'immediate', 'rq']"
    )
