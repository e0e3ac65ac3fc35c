"""The deployment settings: production values pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE must not leak into a deployment's check.
    skip = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in skip}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3Vq-8fZ_w2Lr9Tn4Yb7Hs1Jc6Xp0Md5Ge8Ua3Qo2Wi7Rz4Ey-9Nf2Kd",
    "SECURE_HSTS_PRELOAD": "true",
    "ALLOWED_HOSTS": "maskqc.example.org",
    "DATABASE_URL": "sqlite:////tmp/maskqc-deploy-check.sqlite3",
    "SECURE_SSL_REDIRECT": "",
    "SESSION_COOKIE_SECURE": "",
    "CSRF_COOKIE_SECURE": "",
}


def test_check_deploy_with_production_values_reports_nothing(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_settings_without_secret_key_refuse_to_start():
    result = _manage("check", env={**PRODUCTION, "SECRET_KEY": ""})

    assert result.returncode == 1
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_settings_bad_boolean_is_named():
    result = _manage("check", env={**PRODUCTION, "DEBUG": "maybe"})

    assert "DEBUG must be true or false, not 'maybe'" in result.stderr


def test_env_file_fills_unset_variables_only(tmp_path, monkeypatch):
    from config.settings import load_env_file

    env = tmp_path / ".env"
    env.write_text("# comment\nMASKQC_T1=from-file   # why\nMASKQC_T2='quoted'\nMASKQC_T3=file\n")
    monkeypatch.delenv("MASKQC_T1", raising=False)
    monkeypatch.delenv("MASKQC_T2", raising=False)
    monkeypatch.setenv("MASKQC_T3", "from-environment")

    load_env_file(env)

    assert (os.environ["MASKQC_T1"], os.environ["MASKQC_T2"], os.environ["MASKQC_T3"]) == (
        "from-file",
        "quoted",
        "from-environment",
    )
    monkeypatch.delenv("MASKQC_T1")
    monkeypatch.delenv("MASKQC_T2")


# --------------------------------------------------------------------------- the admin


def test_admin_changes_nothing_for_a_superuser(client, admin_user):
    """Every model in the admin is read-only: the changelist shows, add, change and delete
    are refused, so no write bypasses the services' rules and audit events."""
    from django.contrib import admin

    request = type("Request", (), {"user": admin_user})()
    writable = {
        model._meta.label: [
            name
            for name, allowed in (
                ("add", model_admin.has_add_permission(request)),
                ("change", model_admin.has_change_permission(request)),
                ("delete", model_admin.has_delete_permission(request)),
            )
            if allowed
        ]
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in {"projects", "qc"}
    }

    assert {label: rights for label, rights in writable.items() if rights} == {}
    assert {"qc.Submission", "qc.Review", "qc.ImageLabel", "qc.LabelInstance"} <= set(writable)
    assert {"projects.GuidelineVersion", "projects.AuditEvent"} <= set(writable)


def test_admin_add_and_delete_pages_are_refused(client, admin_user, project):
    client.force_login(admin_user)

    listed = client.get("/admin/projects/project/")
    add = client.get("/admin/projects/project/add/")
    delete = client.post(f"/admin/projects/project/{project.pk}/delete/", {"post": "yes"})

    assert (listed.status_code, add.status_code, delete.status_code) == (200, 403, 403)
    assert type(project).objects.filter(pk=project.pk).exists()


def _database_options(url: str, **env: str) -> str:
    code = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))"
    result = _manage("shell", "-c", code, env={"DEBUG": "true", "DATABASE_URL": url, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_postgresql_sessions_run_without_jit_unless_asked():
    url = "postgres://postgres@127.0.0.1:5432/maskqc?options=-c%20statement_timeout%3D5000"

    assert "-c statement_timeout=5000 -c jit=off" in _database_options(url)
    assert "jit" not in _database_options(url, DB_JIT="true")


def _setting(name: str, **env: str) -> str:
    code = f"from django.conf import settings; print(settings.{name})"
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "true", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_demo_logins_file_is_read_from_the_environment(tmp_path):
    wanted = tmp_path / "logins" / "demo.json"
    var = tmp_path / "var"

    assert _setting("MASKQC_DEMO_LOGINS_FILE", MASKQC_DEMO_LOGINS_FILE=str(wanted)) == str(wanted)
    # Empty, as unset (a .env file fills only what the environment leaves unset): the default.
    assert _setting(
        "MASKQC_DEMO_LOGINS_FILE", MASKQC_VAR_DIR=str(var), MASKQC_DEMO_LOGINS_FILE=""
    ) == str(var / "demo-logins.json")
    assert "MASKQC_DEMO_LOGINS_FILE=" in (ROOT / ".env.example").read_text()


def test_cache_url_shares_the_login_counts_in_redis():
    script = (
        "from django.core.cache import caches; import uuid; key = uuid.uuid4().hex; "
        "cache = caches['default']; cache.set(key, 7, 30); "
        "print(type(cache).__name__, cache.get(key)); cache.delete(key)"
    )
    env = {"DEBUG": "true", "CACHE_URL": "redis://127.0.0.1:6379/10"}

    result = _manage("shell", "-v", "0", "-c", script, env=env)

    assert result.stdout.strip() == "FailSoftRedisCache 7", result.stderr


def test_cache_url_of_another_kind_is_refused_in_one_line():
    result = _manage("check", env={"DEBUG": "true", "CACHE_URL": "memcached://127.0.0.1"})

    assert result.returncode != 0
    assert "CACHE_URL must be empty (memory) or a redis:// URL" in result.stderr


def test_rq_gives_up_on_an_unanswering_redis_after_two_seconds_connecting_five_replying():
    script = (
        "import django_rq; kwargs = django_rq.get_connection('default')"
        ".connection_pool.connection_kwargs; "
        "print(kwargs.get('socket_connect_timeout'), kwargs.get('socket_timeout'))"
    )
    env = {"DEBUG": "true", "TASKS_BACKEND": "rq", "REDIS_URL": "redis://127.0.0.1:6379/0"}

    default = _manage("shell", "-v", "0", "-c", script, env=env)
    own = _manage(
        "shell",
        "-v",
        "0",
        "-c",
        script,
        env={**env, "REDIS_URL": "redis://127.0.0.1:6379/0?socket_connect_timeout=7"},
    )

    assert (default.stdout.strip(), own.stdout.strip()) == ("2.0 5.0", "7.0 5.0"), default.stderr


def test_a_login_while_the_cache_redis_is_down_still_answers(tmp_path):
    # Port 9 (discard) has no listener here: every cache call is refused.
    script = (
        "from django.test import Client; from django.test.utils import setup_test_environment; "
        "setup_test_environment(); "
        "r = Client().post('/login/', {'username': 'nobody', 'password': 'x'}); "
        "print(r.status_code)"
    )
    env = {
        "DEBUG": "true",
        "CACHE_URL": "redis://127.0.0.1:9/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ALLOWED_HOSTS": "testserver",
    }
    assert _manage("migrate", "-v", "0", env=env).returncode == 0

    result = _manage("shell", "-v", "0", "-c", script, env=env)

    assert result.stdout.strip().splitlines()[-1:] == ["200"], result.stderr
    assert "cache unavailable (ConnectionError" in result.stderr
