"""Helpers for the deployment tests: MaskQC run as a deployment runs it (``manage.py`` and
gunicorn in a process of their own, with the environment a deployment would give them).

gunicorn listens on a socket this process binds on a port the system picks and hands over
(``--bind fd://N``): no port is shared between xdist workers, and none can be taken by
another program between its choice and gunicorn's start.
"""

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# The suite's own settings and the browser tests' switches must not leak into a deployment.
_NOT_PASSED = ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL")

PRODUCTION = {
    "MASKQC_ENV_FILE": os.devnull,
    "DEBUG": "false",
    "SECRET_KEY": "k3Vq-8fZ_w2Lr9Tn4Yb7Hs1Jc6Xp0Md5Ge8Ua3Qo2Wi7Rz4Ey-9Nf2Kd",
    "ALLOWED_HOSTS": "127.0.0.1,maskqc.example.org",
    # Plain HTTP on the loopback, as behind a proxy that ends TLS.
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "TASKS_BACKEND": "database",
}


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment less the suite's settings, with PRODUCTION and
    ``overrides`` on top."""
    env = {key: value for key, value in os.environ.items() if key not in _NOT_PASSED}
    env.update(PRODUCTION)
    env.update(overrides)
    return env


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def gunicorn_run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """gunicorn with the repository's configuration, to its end (a start that fails)."""
    return subprocess.run(
        [GUNICORN, "-c", "gunicorn.conf.py", "config.wsgi", *args],
        cwd=ROOT,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _listening_socket() -> socket.socket:
    """A TCP socket on 127.0.0.1, listening on a port the system picked (no other socket
    has it), inheritable by a child process."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


def get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` from 127.0.0.1:``port``: (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def gunicorn_serving(*args: str, log: Path | None = None, **env: str) -> Iterator[int]:
    """gunicorn serving MaskQC on a port of its own (its stderr to ``log``); yields the
    port once /healthz answers, stops gunicorn (SIGTERM, then SIGKILL) after.

    The listening socket is bound here and passed to gunicorn (``fd://``); this process
    keeps its copy open until gunicorn has ended, so the port stays this server's."""
    log = log or Path(os.devnull)
    with _listening_socket() as listener, log.open("w") as stderr:
        port = listener.getsockname()[1]
        server = subprocess.Popen(
            [
                GUNICORN,
                "-c",
                "gunicorn.conf.py",
                "config.wsgi",
                "--bind",
                f"fd://{listener.fileno()}",
                *args,
            ],
            cwd=ROOT,
            env=environment(**env),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(listener.fileno(),),
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    pytest.fail(f"gunicorn exited with {server.returncode}; its log: {log}")
                with contextlib.suppress(OSError):
                    if get(port, "/healthz", timeout=2)[0] == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not answer /healthz within 60 s; its log: {log}")
                time.sleep(0.2)
            yield port
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:
    """``collectstatic`` run once with the production storage (compressed, hashed names).
    Takes several seconds: whitenoise compresses every file."""
    root = tmp_path_factory.mktemp("static")
    result = manage(
        "collectstatic", "--noinput", "-v0", STATIC_ROOT=str(root), DATABASE_URL=_sqlite(root)
    )
    assert result.returncode == 0, result.stderr
    return root


def _sqlite(folder: Path) -> str:
    return f"sqlite:///{folder / 'maskqc.sqlite3'}"
