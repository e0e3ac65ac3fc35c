"""gunicorn's configuration for MaskQC: ``gunicorn -c gunicorn.conf.py config.wsgi``.

Every value comes from the environment (``.env.example`` lists them); command-line flags
win over this file. Before anything is served, the settings are read and the database (and
Redis, with ``TASKS_BACKEND=rq``) must answer: a malformed ``DATABASE_URL``, an unreachable
server, any setting MaskQC refuses, stops gunicorn with one line on stderr naming it and a
non-zero exit, before it daemonizes (so ``--daemon`` reports it too).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        sys.exit(f"MaskQC cannot start: {name} must be an integer, not {value!r}")


# Seconds the start check waits for the database and Redis.
START_CHECK_TIMEOUT = 5


def _database_reachable(database: dict) -> str | None:
    """None when the database answers ``SELECT 1``, else why not (one line, no password)."""
    engine = database["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        import sqlite3

        try:
            sqlite3.connect(database["NAME"], timeout=START_CHECK_TIMEOUT).close()
        except sqlite3.Error as error:
            return f"DATABASE_URL: cannot open the SQLite file {database['NAME']}: {error}"
        return None
    import psycopg

    where = f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 5432}"
    options = {
        key: value
        for key, value in database.get("OPTIONS", {}).items()
        if key not in ("pool", "server_side_binding", "isolation_level", "assume_role")
    }
    options["connect_timeout"] = START_CHECK_TIMEOUT
    parameters = {
        "dbname": database["NAME"],
        "user": database.get("USER") or None,
        "password": database.get("PASSWORD") or None,
        "host": database.get("HOST") or None,
        "port": database.get("PORT") or None,
        **options,
    }
    try:
        with psycopg.connect(**{k: v for k, v in parameters.items() if v is not None}) as db:
            db.execute("SELECT 1")
    except psycopg.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"DATABASE_URL: cannot reach the database {database['NAME']} at {where}: {reason}"
    return None


def _redis_reachable(url: str) -> str | None:
    """None when Redis at ``url`` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=START_CHECK_TIMEOUT, socket_timeout=START_CHECK_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as error:
        pool = client.connection_pool.connection_kwargs
        where = pool.get("path") or f"{pool.get('host')}:{pool.get('port')}"
        return f"REDIS_URL: cannot reach Redis at {where}: {error}"
    finally:
        client.close()
    return None


def _start_check() -> None:
    """Read the settings and reach their services; on a problem, exit with one line."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        settings.DATABASES  # noqa: B018  (imports the settings module, which checks them)
    except ImproperlyConfigured as error:
        sys.exit(f"MaskQC cannot start: {error}")
    problem = _database_reachable(settings.DATABASES["default"])
    if problem is None and settings.TASKS_BACKEND == "rq":
        problem = _redis_reachable(settings.REDIS_URL)
    if problem is not None:
        sys.exit(f"MaskQC cannot start: {problem}")


# First: the settings also read the .env file into the environment, which the values
# below come from. gunicorn reads this file again on HUP; the settings are checked at the
# first start only (a reload must not stop a running server because the database blinked).
if "config.settings" not in sys.modules:
    _start_check()


# Sync workers, one request each, behind a proxy that buffers slow clients (nginx): 2 per
# CPU + 1 keeps the CPUs busy while others wait on the database. Past 12 a machine is better
# served by more machines (each worker holds a copy of its state and a database connection).
workers = _env_int("WEB_CONCURRENCY", min(2 * (os.cpu_count() or 1) + 1, 12))
# Threads > 1 switches to the gthread worker: requests that wait on I/O share a process
# (each thread then holds its own database connection, or draws from DB_POOL's pool).
threads = _env_int("GUNICORN_THREADS", 1)
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"
# A request running longer than this is killed with its worker; imports and exports run in
# the background, so only large uploads come near it.
timeout = _env_int("GUNICORN_TIMEOUT", 60)
# On SIGTERM (a restart, a deploy) requests in flight get this long to finish.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Each worker is replaced after about this many requests (jittered so they do not all
# restart at once), which bounds whatever memory a long-lived process accumulates.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = max(max_requests // 10, 0)
# The app is imported once in the master and forked, so workers share its memory and a
# replaced worker starts at once. Safe with the database: Django opens connections lazily
# in each worker and the master never opens one through Django (the start check uses
# a connection of its own, closed before any fork); psycopg's pool is created per worker on
# its first connection. Code changes therefore need a restart, not a HUP.
preload_app = True
# MaskQC's own request log (maskqc.request, one line per request) replaces the access log.
accesslog = None
errorlog = "-"
# With --error-logfile (and --daemon, which closes the terminal) MaskQC's own log lines,
# written to stderr, go to that file beside gunicorn's.
capture_output = True
proc_name = "maskqc"
# gunicorn's control socket has one default path per user: several servers on a machine
# (a second site, a benchmark, the tests) would take it from each other.
control_socket_disable = True
