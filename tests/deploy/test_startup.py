"""Start-up: a setting MaskQC cannot use, or a database or Redis it cannot reach, stops
``manage.py`` and gunicorn with one line naming the variable; production values pass
Django's deployment checks.

Each test runs ``manage.py`` or gunicorn in a process of its own (about a second each).
"""

import json

import pytest

from tests.deploy.conftest import gunicorn_run, manage

POSTGRES = "postgres://maskqc@127.0.0.1:5432/maskqc"

MALFORMED_DATABASE_URLS = [
    (
        "mysql://maskqc:hunter2@db/maskqc",
        "DATABASE_URL is a mysql:// URL: MaskQC runs on PostgreSQL (postgres://) or SQLite "
        "(sqlite://)",
    ),
    (
        "postgress://maskqc:hunter2@db/maskqc",
        "DATABASE_URL has an unknown scheme postgress://: use postgres://user@host:5432/name "
        "or sqlite:////path/to/file.sqlite3",
    ),
    (
        "maskqc:hunter2@db/maskqc",
        "DATABASE_URL has an unknown scheme (none): use postgres://user@host:5432/name "
        "or sqlite:////path/to/file.sqlite3",
    ),
    (
        "postgres://maskqc:hunter2@db:port/maskqc",
        "DATABASE_URL is not a URL MaskQC can read (a port that is not a number, or a "
        "character in the password to %-quote?)",
    ),
    (
        "postgres://maskqc:hunter2@db:5432/",
        "DATABASE_URL names no database: postgres://user@host:5432/name",
    ),
]


@pytest.mark.parametrize(("url", "line"), MALFORMED_DATABASE_URLS)
def test_manage_with_malformed_database_url_names_the_variable(url, line):
    result = manage("check", DATABASE_URL=url)

    assert result.returncode == 1
    assert result.stderr.strip() == f"MaskQC cannot start: {line}"
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(("url", "line"), MALFORMED_DATABASE_URLS[:2])
def test_gunicorn_with_malformed_database_url_stops_with_one_line(url, line, tmp_path):
    # --daemon as .ci/run starts it: the check runs before gunicorn leaves the terminal.
    result = gunicorn_run("--daemon", "--pid", str(tmp_path / "pid"), DATABASE_URL=url)

    assert (result.returncode, result.stderr) == (1, f"MaskQC cannot start: {line}\n")
    assert not (tmp_path / "pid").exists()


def test_gunicorn_without_secret_key_stops_with_one_line(tmp_path):
    result = gunicorn_run(SECRET_KEY="", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert (result.returncode, result.stderr) == (
        1,
        "MaskQC cannot start: SECRET_KEY must be set when DEBUG is off\n",
    )


def test_gunicorn_with_unreachable_database_stops_with_one_line():
    # Nothing listens on port 1.
    result = gunicorn_run(DATABASE_URL="postgres://maskqc:hunter2@127.0.0.1:1/maskqc")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "MaskQC cannot start: DATABASE_URL: cannot reach the database maskqc at 127.0.0.1:1: "
    )
    assert "Connection refused" in result.stderr
    assert "hunter2" not in result.stderr


def test_gunicorn_with_unreachable_redis_stops_with_one_line(tmp_path):
    result = gunicorn_run(
        TASKS_BACKEND="rq",
        REDIS_URL="redis://127.0.0.1:1/7",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "MaskQC cannot start: REDIS_URL: cannot reach Redis at 127.0.0.1:1: "
    )


def test_gunicorn_with_malformed_redis_url_stops_with_one_line(tmp_path):
    result = gunicorn_run(
        TASKS_BACKEND="rq",
        REDIS_URL="http://127.0.0.1:6379/7",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("MaskQC cannot start: REDIS_URL is not a Redis URL")


def test_check_deploy_with_postgresql_pool_and_json_logs_reports_nothing():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DATABASE_URL=POSTGRES,
        DB_POOL="true",
        LOG_FORMAT="json",
        SECURE_HSTS_PRELOAD="true",
        # Unset, as a deployment leaves them: on with DEBUG off.
        SECURE_SSL_REDIRECT="",
        SESSION_COOKIE_SECURE="",
        CSRF_COOKIE_SECURE="",
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def _database(**env: str) -> dict:
    code = (
        "import json; from django.conf import settings; d = settings.DATABASES['default']; "
        "print(json.dumps({k: d.get(k) for k in ('CONN_MAX_AGE', 'CONN_HEALTH_CHECKS')} "
        "| {'pool': d['OPTIONS'].get('pool'), "
        "'connect_timeout': d['OPTIONS'].get('connect_timeout')}))"
    )
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_database_connections_reused_are_health_checked():
    assert _database(DATABASE_URL=POSTGRES) == {
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "pool": None,
        "connect_timeout": 5,
    }
    assert _database(DATABASE_URL=POSTGRES, DB_CONN_MAX_AGE="60") == {
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "pool": None,
        "connect_timeout": 5,
    }
    assert _database(
        DATABASE_URL=POSTGRES + "?connect_timeout=2",
        DB_CONN_MAX_AGE="60",
        DB_CONN_HEALTH_CHECKS="false",
    ) == {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": False, "pool": None, "connect_timeout": 2}


def test_database_pool_is_psycopgs_with_health_checks():
    assert _database(DATABASE_URL=POSTGRES, DB_POOL="true", DB_POOL_MAX_SIZE="8") == {
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
        "pool": {"min_size": 1, "max_size": 8, "timeout": 10},
        "connect_timeout": 5,
    }


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DATABASE_URL": POSTGRES, "DB_POOL": "true", "DB_CONN_MAX_AGE": "60"},
            "DB_POOL=true needs DB_CONN_MAX_AGE=0 (the pool keeps the connections), not 60",
        ),
        ({"DB_POOL": "true"}, "DB_POOL=true needs PostgreSQL: DATABASE_URL is SQLite"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json, not 'xml'"),
    ],
)
def test_settings_refused_combinations_name_the_variables(env, line, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **env}

    result = manage("check", **env)

    assert result.returncode == 1
    assert result.stderr.strip() == f"MaskQC cannot start: {line}"
