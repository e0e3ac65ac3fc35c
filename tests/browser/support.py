"""What the browser tests share: the demo project in the live server, logging in, watching a
page for errors, and screenshots.

- :func:`demo_load` (the ``demo`` fixture of ``tests/browser/conftest.py``) puts the demo
  project (``qc.demo.demo_seed`` with :data:`DEMO_IMAGES` frames) in the test database the
  live server reads, plus a site admin ``admin``, and returns a :class:`Demo`: the project,
  every user's role and password, ``log_in`` as any of them. Seeding is done once per test
  process; later tests get a copy of the rows it made (and the image files), which is about
  three times quicker than seeding again.
- :func:`log_in` logs a page in through the login form and fails with the form's error if
  the site refused.
- :class:`PageWatch` records what a person would call broken: console errors (CSP violations
  among them), uncaught exceptions in the page, requests that failed and responses of status
  400 or more. Every ``page`` of the browser tests is watched; the test fails after its body
  with the list, unless it declared them with :meth:`PageWatch.expect_status` or
  :meth:`PageWatch.expect_console` (fixture ``page_watch``).
- :func:`shot` saves full-page screenshots under ``var/screenshots/`` at 1280 and 800 px
  wide and asserts that the page does not scroll sideways at either width.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.db import connection, models, transaction

from projects.models import Project
from qc.demo import demo_seed

DEMO_IMAGES = 12
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-demo-password"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

# Rows that migrating (and the flush after every transactional test) makes again by itself.
_REMADE_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission", "sessions.session"}


@dataclass(frozen=True)
class Demo:
    """The demo project as the live server serves it."""

    project: Project
    passwords: dict[str, tuple[str, str]]  # username -> (role, password)
    url: str  # the live server's

    def password(self, username: str) -> str:
        return self.passwords[username][1]

    def role(self, username: str) -> str:
        return self.passwords[username][0]

    def usernames(self, role: str) -> list[str]:
        """The users of ``role`` ("admin", "lead", "reviewer", "annotator"), by name."""
        return sorted(
            name for name, (their_role, _) in self.passwords.items() if their_role == role
        )

    def page_url(self, path: str) -> str:
        """The live server's URL of ``path`` ("/p/pool-boiling/review/")."""
        return self.url + path

    def log_in(self, page: Any, username: str) -> None:
        log_in(page, self.url, username, self.password(username))


@dataclass
class _Snapshot:
    tables: list[tuple[type[models.Model], list[models.Model]]]
    files: dict[str, bytes]
    passwords: dict[str, tuple[str, str]]


_snapshot: _Snapshot | None = None


def _seed() -> dict[str, tuple[str, str]]:
    result = demo_seed(images=DEMO_IMAGES)
    get_user_model().objects.create_superuser(
        ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.org", ADMIN_PASSWORD
    )
    return {**result.passwords, ADMIN_USERNAME: ("admin", ADMIN_PASSWORD)}


def _copied_models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed
        and not model._meta.proxy
        and model._meta.label_lower not in _REMADE_BY_MIGRATE
    ]


def _take(passwords: dict[str, tuple[str, str]]) -> _Snapshot:
    tables = []
    files = {}
    for model in _copied_models():
        rows = list(model._base_manager.order_by("pk"))
        if not rows:
            continue
        tables.append((model, rows))
        for file_field in (f for f in model._meta.fields if isinstance(f, models.FileField)):
            for row in rows:
                name = getattr(row, file_field.name).name
                if name:
                    with default_storage.open(name, "rb") as stored:
                        files[name] = stored.read()
    return _Snapshot(tables=tables, files=files, passwords=passwords)


def _restore(snapshot: _Snapshot) -> None:
    """Insert the snapshot's rows as they were: ``raw`` inserts (what ``loaddata`` does)
    keep every value, where ``bulk_create`` would stamp auto_now fields anew and reorder
    rows that tie on them. Foreign keys are deferred to the commit, so the order of the
    tables does not matter."""
    with transaction.atomic():
        for model, rows in snapshot.tables:
            fields = model._meta.local_concrete_fields
            size = connection.ops.bulk_batch_size(fields, rows) or len(rows)
            for start in range(0, len(rows), size):
                model._base_manager._insert(rows[start : start + size], fields=fields, raw=True)
        # Explicit keys leave PostgreSQL's sequences behind: move them past the copied rows.
        statements = connection.ops.sequence_reset_sql(
            no_style(), [model for model, _ in snapshot.tables]
        )
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    # The in-memory storage of the tests outlives the rows, unless a test replaced it.
    for name, content in snapshot.files.items():
        if not default_storage.exists(name):
            assert default_storage.save(name, ContentFile(content)) == name


def demo_load(live_server_url: str) -> Demo:
    """The demo project in the (empty) test database, seeded or copied (see the module's
    docstring)."""
    global _snapshot
    if get_user_model().objects.exists() or Project.objects.exists():
        # The copy reuses the seeding's keys, and the seeding replaces the demo project.
        raise RuntimeError("the demo goes into an empty database: request `demo` first")
    if _snapshot is None:
        _snapshot = _take(_seed())
    else:
        _restore(_snapshot)
    return Demo(
        project=Project.objects.get(slug="pool-boiling"),
        passwords=dict(_snapshot.passwords),
        url=live_server_url,
    )


def log_in(page: Any, live_server: Any, username: str, password: str) -> None:
    """Log ``page`` in through the login form; ``live_server`` is the fixture or its URL.
    Fails with the form's message when the site did not log the user in."""
    base = live_server if isinstance(live_server, str) else live_server.url
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    if "/login/" in page.url:
        errors = page.locator("p.error, .errorlist").all_inner_texts()
        raise AssertionError(f"{username} was not logged in: {errors or page.title()}")


@dataclass
class PageWatch:
    """What went wrong in a page while a test drove it (see the module's docstring)."""

    problems: list[str] = field(default_factory=list)
    _statuses: list[tuple[int, str | None]] = field(default_factory=list)
    _console: list[re.Pattern[str]] = field(default_factory=list)
    # URLs answered with an error status, reported or expected: the browser's console line
    # about them ("Failed to load resource ...") says nothing more.
    _error_urls: set[str] = field(default_factory=set)

    def attach(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def expect_status(self, status: int, url: str | None = None) -> None:
        """Responses of ``status`` (to URLs containing ``url``, or any) are expected."""
        self._statuses.append((status, url))

    def expect_console(self, pattern: str) -> None:
        """Console errors matching the regular expression ``pattern`` are expected."""
        self._console.append(re.compile(pattern))

    def assert_clean(self) -> None:
        if self.problems:
            listed = "\n  ".join(self.problems)
            raise AssertionError(f"the page reported {len(self.problems)} problem(s):\n  {listed}")

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        text = message.text
        where = message.location.get("url", "")
        if where in self._error_urls and text.startswith("Failed to load resource"):
            return
        if any(pattern.search(text) for pattern in self._console):
            return
        self.problems.append(f"console error: {text} ({where})")

    def _on_request_failed(self, request: Any) -> None:
        failure = request.failure or ""
        # The browser abandons what is still loading when the test moves to the next page.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _on_response(self, response: Any) -> None:
        status = response.status
        if status < 400:
            return
        self._error_urls.add(response.url)
        if any(s == status and (url is None or url in response.url) for s, url in self._statuses):
            return
        self.problems.append(f"HTTP {status}: {response.request.method} {response.url}")


_SETTLE = """() => Promise.all([
  document.fonts.ready,
  ...Array.from(document.images).filter((img) => !img.complete).map(
    (img) => new Promise((done) => {
      img.addEventListener('load', done);
      img.addEventListener('error', done);
    })
  ),
]).then(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))))"""

_SIDEWAYS = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"""


def shot(page: Any, name: str, *, widths: tuple[int, ...] = (1280, 800), height: int = 900) -> None:
    """Save ``var/screenshots/<name>.png`` (the first width) and ``<name>-<width>.png``
    (the others), full page; ``name`` may hold folders ("sweep/lead-queue"). Asserts at
    every width that the page does not scroll sideways. The viewport is left as it was."""
    before = page.viewport_size
    try:
        for position, width in enumerate(widths):
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate(_SETTLE)
            scroll, client = page.evaluate(_SIDEWAYS)
            suffix = "" if position == 0 else f"-{width}"
            path = SCREENSHOTS / f"{name}{suffix}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            assert scroll <= client + 1, (
                f"{page.url} scrolls sideways at {width} px: {scroll} px wide in {client} px"
            )
    finally:
        if before:
            page.set_viewport_size(before)
