"""gunicorn as deployed (DEBUG off, ``collectstatic`` run): whitenoise serves the static
files compressed, the hashed names cached for a year, and the request log is JSON.

Starts gunicorn once (a few seconds), after the session's ``collectstatic``.
"""

import gzip
import json

from tests.deploy.conftest import get, gunicorn_serving


def test_gunicorn_serves_static_files_compressed_and_cached(static_root, tmp_path):
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"]["css/maskqc.css"]
    source = (static_root / "css" / "maskqc.css").read_bytes()
    log = tmp_path / "gunicorn.log"
    gzip_only = {"Accept-Encoding": "gzip"}

    with gunicorn_serving(
        "--workers",
        "1",
        log=log,
        STATIC_ROOT=str(static_root),
        DATABASE_URL=f"sqlite:///{tmp_path / 'maskqc.sqlite3'}",
        TASKS_BACKEND="immediate",
        LOG_FORMAT="json",
    ) as port:
        status, headers, body = get(port, f"/static/{hashed}", gzip_only)
        plain_status, plain_headers, _ = get(port, "/static/css/maskqc.css", gzip_only)
        page_status, _, page = get(port, "/login/?next=/p/x/")

    assert (status, plain_status, page_status) == (200, 200, 200)
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == source
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert "Accept-Encoding" in headers["Vary"]
    # The name without its hash may change under the same URL: a minute only.
    assert plain_headers["Cache-Control"] == "max-age=60, public"
    assert f'href="/static/{hashed}"' in page.decode()

    lines = log.read_text().splitlines()
    requests = [json.loads(line) for line in lines if '"maskqc.request"' in line]
    # Static files and probes log at DEBUG; the level is INFO.
    assert [(r["level"], r["method"], r["path"], r["status"]) for r in requests] == [
        ("INFO", "GET", "/login/?next", 200)
    ]
    assert not [line for line in lines if "HTTP/1.1" in line]  # no access log beside it
