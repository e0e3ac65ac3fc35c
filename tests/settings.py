"""Settings for the test suite: the deployment settings with test-speed choices on top.

The database comes from DATABASE_URL as in any deployment (CI points it at PostgreSQL);
without it the suite runs on SQLite.
"""

import os
import tempfile
from pathlib import Path

# A developer's .env must not change what the tests see.
os.environ.setdefault("MASKQC_ENV_FILE", os.devnull)
os.environ.setdefault("SECRET_KEY", "maskqc-tests-only")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("TASKS_BACKEND", "immediate")

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Every report rebuild queued runs at once (deferring it is tested apart, with its own
# setting): a test reads the report its submissions asked for.
MASKQC_REPORT_INTERVAL_SECONDS = 0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
LOGGING = {"version": 1, "disable_existing_loggers": False}
# The demo command of a test must not overwrite the logins of the developer's own demo.
MASKQC_DEMO_LOGINS_FILE = (
    Path(tempfile.gettempdir()) / f"maskqc-tests-{os.getpid()}-demo-logins.json"
)
