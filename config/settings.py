"""MaskQC settings.

Every value that varies between deployments comes from the environment; `.env.example`
lists them all. Development defaults apply only when DEBUG is on.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def load_env_file(path: Path) -> None:
    """Read KEY=VALUE lines (comments after " #") into the environment; set variables win."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.split(" #", 1)[0].strip().strip("'\"")
        os.environ.setdefault(key.strip(), value)


load_env_file(Path(os.environ.get("MASKQC_ENV_FILE", BASE_DIR / ".env")))


def envstr(name: str, default: str | None = None) -> str | None:
    """A string from the environment; `NAME_FILE` (a path to a secret file) wins over `NAME`."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (os.environ.get(name) or default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)

SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "maskqc-development-only-secret-key-do-not-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "django_htmx",
    "projects",
    "qc",
]

MIDDLEWARE = [
    # Outermost, so that its time and status are those the client gets.
    "config.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Ahead of whitenoise, so that static files carry the policy too.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A view's database outage answers 503 (config/urls.py's handler500 catches the rest).
    "config.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite at var/maskqc.sqlite3 unless DATABASE_URL says otherwise.
VAR_DIR = Path(envstr("MASKQC_VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = envstr("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'maskqc.sqlite3'}"
_DATABASE_ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")


def database_url_parsed(name: str, url: str) -> dict:
    """The Django settings of the database at ``url`` (PostgreSQL or SQLite), or one clear
    line naming the variable ``name`` (the URL's scheme only: never its password)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    try:
        parsed = dj_database_url.parse(url)
    except dj_database_url.UnknownSchemeError:
        raise ImproperlyConfigured(
            f"{name} has an unknown scheme {scheme + '://' if scheme else '(none)'}: "
            "use postgres://user@host:5432/name or sqlite:////path/to/file.sqlite3"
        ) from None
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} is not a URL MaskQC can read (a port that is not a number, or a "
            "character in the password to %-quote?)"
        ) from None
    if parsed["ENGINE"] not in _DATABASE_ENGINES:
        raise ImproperlyConfigured(
            f"{name} is a {scheme}:// URL: MaskQC runs on PostgreSQL (postgres://) or SQLite "
            "(sqlite://)"
        )
    if not parsed["NAME"]:
        raise ImproperlyConfigured(f"{name} names no database: postgres://user@host:5432/name")
    return parsed


DATABASES = {"default": database_url_parsed("DATABASE_URL", DATABASE_URL)}
# Connection reuse: DB_CONN_MAX_AGE keeps each thread's connection that many seconds;
# DB_POOL=true hands connections out of psycopg's pool in each process instead (PostgreSQL).
# Health checks (on whenever connections are reused) test a reused connection before a
# request's first query, so a connection the server dropped is replaced rather than failing.
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", 0)
DB_POOL = envbool("DB_POOL", False)
DATABASES["default"]["CONN_MAX_AGE"] = DB_CONN_MAX_AGE
DATABASES["default"]["CONN_HEALTH_CHECKS"] = envbool(
    "DB_CONN_HEALTH_CHECKS", DB_CONN_MAX_AGE != 0 or DB_POOL
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DB_POOL:
        raise ImproperlyConfigured("DB_POOL=true needs PostgreSQL: DATABASE_URL is SQLite")
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL and a busy timeout let the web server and the task worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"}
    )
else:
    options = DATABASES["default"].setdefault("OPTIONS", {})
    # libpq waits for an unreachable server as long as TCP does (minutes); a request
    # rather answers 503 after these seconds.
    options.setdefault("connect_timeout", envint("DB_CONNECT_TIMEOUT", 5))
    if not envbool("DB_JIT", False):
        # The pages' queries are short; PostgreSQL's JIT compiler, triggered by the
        # planner's cost estimate alone (before ANALYZE has run, say), cost one grouped
        # queue query ~0.8 s of compiling against milliseconds of running. DB_JIT=true
        # leaves the server's setting.
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    if DB_POOL:
        if DB_CONN_MAX_AGE:
            raise ImproperlyConfigured(
                "DB_POOL=true needs DB_CONN_MAX_AGE=0 (the pool keeps the connections), "
                f"not {DB_CONN_MAX_AGE}"
            )
        # Per process: a request waits up to DB_POOL_TIMEOUT seconds for a free connection
        # (then answers 503); the pool grows to DB_POOL_MAX_SIZE under load.
        options["pool"] = {
            "min_size": 1,
            "max_size": envint("DB_POOL_MAX_SIZE", 4),
            "timeout": envint("DB_POOL_TIMEOUT", 10),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# The demo's seeded passwords, kept (mode 0600) so that a second `manage.py demo` can print
# them again without re-seeding.
MASKQC_DEMO_LOGINS_FILE = Path(
    envstr("MASKQC_DEMO_LOGINS_FILE") or str(VAR_DIR / "demo-logins.json")
)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))
# Private files (image pixels, uploaded imports, exports) are sent only after a permission
# check, by django-sendfile2: by default streamed by Django; a deployment behind nginx
# sets django_sendfile.backends.nginx, SENDFILE_URL and an internal location.
SENDFILE_BACKEND = envstr("SENDFILE_BACKEND", "projects.sendfile_backend")
SENDFILE_ROOT = str(MEDIA_ROOT)
SENDFILE_URL = envstr("SENDFILE_URL", "/protected")

# Background work: the database backend is the embedded default (run `manage.py db_worker`);
# "rq" spreads work over many machines through Redis; "immediate" runs tasks inline (tests).
TASKS_BACKEND = envstr("TASKS_BACKEND", "database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be one of {sorted(_TASK_BACKENDS)}")
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND], "QUEUES": ["default"]}}
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url_checked(name: str, url: str) -> str:
    """``url`` if redis-py can connect with it (scheme, port, database number), else one
    clear line naming the setting (the password, if any, left out)."""
    import re

    from redis.connection import parse_url

    try:
        parse_url(url)
        database = url.split("?", 1)[0].partition("://")[2].partition("/")[2].strip("/")
        if not url.startswith("unix:") and database and not database.isdigit():
            raise ValueError(f"the database must be a number, not {database!r}")
    except ValueError as error:
        shown = re.sub(r"(://[^:@/]*):[^@/]*@", r"\1:***@", url)
        raise ImproperlyConfigured(
            f"{name} is not a Redis URL (redis://host:6379/0): {shown!r}: {error}"
        ) from None
    return url


# Seconds an RQ job may run before its worker kills it. RQ's own default (180 s) would kill
# the import of a large archive; a killed job's row is left running for the stuck-job
# watcher (`manage.py jobs_watch`). -1: no limit.
RQ_JOB_TIMEOUT = envint("RQ_JOB_TIMEOUT", 6 * 60 * 60)
if RQ_JOB_TIMEOUT <= 0 and RQ_JOB_TIMEOUT != -1:
    raise ImproperlyConfigured(
        f"RQ_JOB_TIMEOUT must be a positive number of seconds (or -1), not {RQ_JOB_TIMEOUT}"
    )
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
    # A Redis host that drops packets, or accepts and then never answers, must not hang a
    # request that queues work for as long as TCP would: connecting gives up after 2 s and
    # a reply after 5 s, unless REDIS_URL sets its own. (An RQ worker raises its own
    # connection's reply timeout above its blocking wait for jobs.)
    _rq_url = redis_url_checked("REDIS_URL", REDIS_URL)
    for _name, _seconds in (("socket_connect_timeout", 2), ("socket_timeout", 5)):
        if f"{_name}=" not in _rq_url:
            _rq_url += ("&" if "?" in _rq_url else "?") + f"{_name}={_seconds}"
    RQ_QUEUES = {
        name: {"URL": _rq_url, "DEFAULT_TIMEOUT": RQ_JOB_TIMEOUT}
        for name in TASKS["default"]["QUEUES"]
    }
    # Workers run each job as a django-tasks task (so `manage.py rqworker` needs no
    # --job-class). RQ keeps a finished job's result 500 s and a failed one's a year (its
    # defaults); MaskQC reads neither: the job rows (imports, exports, recomputes) hold
    # each outcome and error.
    RQ = {"JOB_CLASS": "django_tasks_rq.Job"}

# The cache holds the login page's failure counts: in each process's memory by default,
# which suits one web process; several web processes or machines share them in Redis
# (CACHE_URL=redis://host:6379/1), or each would count a guesser's failures apart.
CACHE_URL = envstr("CACHE_URL", "")
if not CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif CACHE_URL.split("://", 1)[0] in ("redis", "rediss", "unix"):
    CACHES = {
        "default": {
            "BACKEND": "config.cache.FailSoftRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "maskqc",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    raise ImproperlyConfigured("CACHE_URL must be empty (memory) or a redis:// URL")

# Limits that guard against hostile uploads and imports.
MASKQC_MAX_UPLOAD_BYTES = envint("MASKQC_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
# What the members an import reads from one zip may inflate to, together (counted as they
# inflate, whatever their headers say).
MASKQC_MAX_ARCHIVE_BYTES = envint("MASKQC_MAX_ARCHIVE_BYTES", 1024 * 1024 * 1024)
MASKQC_MAX_DECOMPRESSED_BYTES = envint("MASKQC_MAX_DECOMPRESSED_BYTES", 256 * 1024 * 1024)
MASKQC_MAX_IMAGE_PIXELS = envint("MASKQC_MAX_IMAGE_PIXELS", 100_000_000)
MASKQC_MAX_INSTANCES_PER_IMAGE = envint("MASKQC_MAX_INSTANCES_PER_IMAGE", 10_000)
# Worker processes an import reads and measures a large source with (0: one per CPU).
MASKQC_IMPORT_WORKERS = envint("MASKQC_IMPORT_WORKERS", 0)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 50 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = envint("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# Sign-in limits against password guessing: the token endpoint (DRF throttling, per client
# address) and the login page (failed attempts per address and per username, in the cache).
MASKQC_LOGIN_RATE = envstr("MASKQC_LOGIN_RATE", "10/minute")
MASKQC_LOGIN_FAILURES = envint("MASKQC_LOGIN_FAILURES", 10)
MASKQC_LOGIN_WINDOW_SECONDS = envint("MASKQC_LOGIN_WINDOW_SECONDS", 300)
# Bounded work: imports and exports a project may have queued or running at once, and the
# wait a refused client is told to try again after.
MASKQC_MAX_PENDING_JOBS = envint("MASKQC_MAX_PENDING_JOBS", 5)
MASKQC_JOB_RETRY_AFTER_SECONDS = envint("MASKQC_JOB_RETRY_AFTER_SECONDS", 60)
# A running job records a sign of life this often; one silent for longer than the stuck
# time lost its worker and is queued again (jobs_watch) until it was claimed the most
# attempts, then failed. A recompute is cut into parts of this many images, one task each.
MASKQC_JOB_HEARTBEAT_SECONDS = envint("MASKQC_JOB_HEARTBEAT_SECONDS", 10)
MASKQC_JOB_STUCK_SECONDS = envint("MASKQC_JOB_STUCK_SECONDS", 120)
MASKQC_JOB_MAX_ATTEMPTS = envint("MASKQC_JOB_MAX_ATTEMPTS", 3)
MASKQC_RECOMPUTE_PART_IMAGES = envint("MASKQC_RECOMPUTE_PART_IMAGES", 200)
# A project's agreement report is rebuilt at most this often while submissions stream in
# (one rebuild waits per project; at 10,000 images one takes seconds): the dashboards lag
# by about this much, and the workers spend their time on images.
MASKQC_REPORT_INTERVAL_SECONDS = envint("MASKQC_REPORT_INTERVAL_SECONDS", 30)
if not 0 < MASKQC_JOB_HEARTBEAT_SECONDS < MASKQC_JOB_STUCK_SECONDS:
    raise ImproperlyConfigured(
        "MASKQC_JOB_HEARTBEAT_SECONDS must be positive and below MASKQC_JOB_STUCK_SECONDS"
    )
if MASKQC_JOB_MAX_ATTEMPTS < 1 or MASKQC_RECOMPUTE_PART_IMAGES < 1:
    raise ImproperlyConfigured(
        "MASKQC_JOB_MAX_ATTEMPTS and MASKQC_RECOMPUTE_PART_IMAGES must be 1 or more"
    )

REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request with the first class's
    # WWW-Authenticate challenge, and so with 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "projects.api_errors.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"login": MASKQC_LOGIN_RATE},
    # Proxies in front that append to X-Forwarded-For: the client's address for the limits.
    # 0 trusts no proxy: the connection's address (a client chooses its own X-Forwarded-For).
    "NUM_PROXIES": envint("MASKQC_NUM_PROXIES", 0),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "projects.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MaskQC API",
    "DESCRIPTION": "Annotation workflow and agreement for image instance segmentation.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for each choice set that several serializers share.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "qc.models.JobStatus",
        "ReasonCodeEnum": "qc.models.ReasonCode",
        "ImportFormatEnum": "qc.formats.READERS",
    },
    # Every operation documents the errors it can answer with (400, 401, 403, 404, 409,
    # 413, 429), in the API's one error shape.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.error_responses",
    ],
}

# Content-Security-Policy on every response (pages, API, admin, static files): scripts,
# styles, fonts and requests from this site only, nothing inline, no plugins, no framing.
# A page's data reaches its script through json_script; htmx runs with its indicator
# styles and eval off (the htmx-config meta tag, static/vendor/README.md). With DEBUG on,
# django-csp leaves Django's technical 404 and 500 pages (inline styles) without a policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Production hardening; every switch can be turned off from the environment behind a proxy.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# A load balancer probes /healthz over plain HTTP on the private network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if envbool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# LOG_FORMAT=json: one JSON object per line (config/logging.py), for a log shipper;
# text otherwise. Each request is one line on logger maskqc.request (config/middleware.py).
LOG_FORMAT = envstr("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
}
