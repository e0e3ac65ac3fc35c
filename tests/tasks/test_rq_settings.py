"""The settings of TASKS_BACKEND=rq: what production's queues and workers are given, and a
REDIS_URL that cannot work refused at start-up with one line naming it."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import redis_url_checked
from tests.tasks.workers import ROOT

RQ_DEPLOYMENT = {
    "MASKQC_ENV_FILE": os.devnull,
    "DEBUG": "true",
    "TASKS_BACKEND": "rq",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``manage.py`` with the deployment settings (not the tests') and ``env``."""
    skip = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL")
    clean = {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("RQ_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rq_settings_pass_the_checks_and_give_jobs_six_hours():
    shown = (
        "from django.core.management import call_command; call_command('check'); "
        "import django_rq; from django_rq.jobs import get_job_class; "
        "queue = django_rq.get_queue('default'); "
        "print(queue.name, queue._default_timeout, get_job_class().__module__)"
    )

    done = _manage("shell", "-v", "0", "-c", shown, env=RQ_DEPLOYMENT)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "System check identified no issues (0 silenced).",
        "default 21600 django_tasks_rq.backend",
    ]


def test_rq_job_timeout_is_read_and_checked():
    shown = "import django_rq; print(django_rq.get_queue('default')._default_timeout)"

    longer = _manage("shell", "-v", "0", "-c", shown, env={**RQ_DEPLOYMENT, "RQ_JOB_TIMEOUT": "-1"})
    zero = _manage("check", env={**RQ_DEPLOYMENT, "RQ_JOB_TIMEOUT": "0"})

    assert longer.stdout.splitlines()[-1:] == ["-1"], longer.stderr
    assert zero.returncode == 1
    assert zero.stderr.strip() == (
        "MaskQC cannot start: RQ_JOB_TIMEOUT must be a positive number of seconds (or -1), not 0"
    )


def test_a_malformed_redis_url_stops_start_up_with_one_line_without_its_password():
    done = _manage("check", env={**RQ_DEPLOYMENT, "REDIS_URL": "redis://:s3cret@cache:6380x/0"})

    assert done.returncode == 1
    assert done.stderr.strip() == (
        "MaskQC cannot start: REDIS_URL is not a Redis URL "
        "(redis://host:6379/0): 'redis://:***@cache:6380x/0': "
        "Port could not be cast to integer value as '6380x'"
    )
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://cache",
        "rediss://user:pw@cache.example.org:6380/3",
        "unix:///run/redis.sock?db=2",
    ],
)
def test_redis_urls_redis_can_use_are_accepted(url):
    assert redis_url_checked("REDIS_URL", url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "Redis URL must specify one of the following schemes"),
        ("127.0.0.1:6379", "Redis URL must specify one of the following schemes"),
        ("http://cache:6379/0", "Redis URL must specify one of the following schemes"),
        ("redis://cache:port/0", "Port could not be cast to integer value as 'port'"),
        ("redis://cache:6379/zero", "the database must be a number, not 'zero'"),
        ("redis://[::1:6379/0", "Invalid IPv6 URL"),
    ],
)
def test_redis_urls_redis_cannot_use_are_refused_naming_the_setting(url, why):
    with pytest.raises(ImproperlyConfigured) as refused:
        redis_url_checked("REDIS_URL", url)

    message = str(refused.value)
    assert message.startswith(f"REDIS_URL is not a Redis URL (redis://host:6379/0): {url!r}: ")
    assert why in message
