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
