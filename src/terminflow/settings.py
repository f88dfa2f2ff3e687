"""Django settings: the one place that reads ``TERMINFLOW_*`` environment variables.

Everything a deployment can change is a ``TERMINFLOW_*`` variable; nothing else in the code reads
the environment.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"TERMINFLOW_{name}", default)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(name: str, default: bool = False) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off; anything else is refused by name."""
    value = _env(name, "1" if default else "0").strip().lower()
    if value not in _TRUE | _FALSE:
        raise ImproperlyConfigured(
            f"TERMINFLOW_{name}={_env(name)!r} is not a yes/no value; "
            "use 1/true/yes/on or 0/false/no/off"
        )
    return value in _TRUE


def _number(
    name: str, default: str, kind: type[int] | type[float] = float, *, allow_zero: bool = False
) -> Any:
    """A positive number setting, refused by name (not with a traceback) when it is not one."""
    text = _env(name, default).strip()
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < 0 or (value == 0 and not allow_zero):
        noun = "whole number" if kind is int else "number"
        adjective = "non-negative" if allow_zero else "positive"
        raise ImproperlyConfigured(f"TERMINFLOW_{name}={text!r} is not a {adjective} {noun}")
    return value


def _private_dir(path: Path) -> Path:
    """The data folder, readable by this user only: it holds the database and the key."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = path.stat()
    # A folder someone else owns (set up by an administrator) is left as they made it.
    if folder.st_mode & 0o077 and folder.st_uid == os.getuid():
        path.chmod(0o700)
    return path


DATA_DIR = _private_dir(Path(_env("DATA_DIR", "./terminflow-data")).resolve())


def _secret_key() -> str:
    """The key from the environment, else one generated once and kept in the data folder."""
    explicit = _env("SECRET_KEY")
    if explicit:
        return explicit
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written with O_EXCL so two processes starting at once cannot end up with two keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    key_file = path.stat()
    if key_file.st_mode & 0o077 and key_file.st_uid == os.getuid():
        path.chmod(0o600)  # a key file from before it was created private
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _flag("DEBUG")
BASE_URL = _env("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ETERMIN_API_URL = _env("ETERMIN_API_URL", "https://www.etermin.net/api").rstrip("/")
ETERMIN_TIMEOUT_SECONDS = _number("ETERMIN_TIMEOUT_SECONDS", "10")
# Reconciliation with eTermin's API catches pushes that never arrived; 0 turns the sweep off.
ETERMIN_SYNC_MINUTES = _number("ETERMIN_SYNC_MINUTES", "15", allow_zero=True)
ETERMIN_SYNC_DAYS_BACK = _number("ETERMIN_SYNC_DAYS_BACK", "2", int, allow_zero=True)
ETERMIN_SYNC_DAYS_AHEAD = _number("ETERMIN_SYNC_DAYS_AHEAD", "180", int)
SMTP_URL = _env("SMTP_URL")
DEFAULT_FROM_EMAIL = _env("FROM_EMAIL", "terminflow@localhost")
# Email links and signing: confirmation links expire after days; DKIM key as PEM or a file path.
DOI_LINK_MAX_AGE_DAYS = _number("DOI_LINK_MAX_AGE_DAYS", "7")
UNSUBSCRIBE_LINK_MAX_AGE_DAYS = _number("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", "365")
DKIM_DOMAIN = _env("DKIM_DOMAIN")
DKIM_SELECTOR = _env("DKIM_SELECTOR")
DKIM_PRIVATE_KEY = _env("DKIM_PRIVATE_KEY")
# Late bounces: every message's return path is bounce+<token>@BOUNCE_DOMAIN, and the mailbox
# that receives them is polled over IMAPS (imaps://user:password@host:993/INBOX).
BOUNCE_DOMAIN = _env("BOUNCE_DOMAIN").strip().lower()
BOUNCE_IMAP_URL = _env("BOUNCE_IMAP_URL")
# Sending limits (mail/limits.py): "gmail.com=600,outlook.com=300" emails per minute per
# recipient domain; a new sending domain's warm-up: from WARMUP_SINCE (YYYY-MM-DD), at most
# WARMUP_FIRST_DAY emails on the first day, doubling every day.
DOMAIN_LIMITS = _env("DOMAIN_LIMITS")
WARMUP_SINCE = date.fromisoformat(_env("WARMUP_SINCE")) if _env("WARMUP_SINCE") else None
WARMUP_FIRST_DAY = _number("WARMUP_FIRST_DAY", "0", int, allow_zero=True)
# Raw web push bodies and rendered email bodies are pruned after this many days; 0 keeps them.
RETENTION_DAYS = _number("RETENTION_DAYS", "90", int, allow_zero=True)
# Cap on one web push body; eTermin's pushes are a few KiB at most.
WEB_PUSH_MAX_BYTES = _number("WEB_PUSH_MAX_BYTES", str(64 * 1024), int)
# Sign-up forms (/f/<id>): the largest posted form, and sign-ups per hour from one client
# address (all forms) and for one email address (per workspace), counted across processes.
FORM_MAX_BYTES = _number("FORM_MAX_BYTES", str(16 * 1024), int)
FORM_SUBMISSIONS_PER_ADDRESS = _number("FORM_SUBMISSIONS_PER_ADDRESS", "20", int)
FORM_SUBMISSIONS_PER_EMAIL = _number("FORM_SUBMISSIONS_PER_EMAIL", "5", int)
# Off for web processes when separate ``terminflow worker`` processes do the work.
EMBEDDED_WORKER = _flag("EMBEDDED_WORKER", True)
# Slow clients (docs/deployment.md): how long a request may take to arrive before the connection
# is answered 408 and closed, and how long an idle keep-alive connection stays open.
HEADER_TIMEOUT_SECONDS = _number("HEADER_TIMEOUT_SECONDS", "10")
BODY_TIMEOUT_SECONDS = _number("BODY_TIMEOUT_SECONDS", "60")
# The largest request body the pages and the API take (413 above): the contact import's 20 MB
# file and its form around it fit.
MAX_BODY_BYTES = _number("MAX_BODY_BYTES", str(25 * 1024 * 1024), int)
WEB_PUSH_BODY_TIMEOUT_SECONDS = _number("WEB_PUSH_BODY_TIMEOUT_SECONDS", "10")
KEEP_ALIVE_SECONDS = _number("KEEP_ALIVE_SECONDS", "5", int)
# Wall-clock seconds one email may take to render; over it, that email fails with the reason.
RENDER_BUDGET_SECONDS = _number("RENDER_BUDGET_SECONDS", "2")
# Images uploaded for emails (mail/images.py): the largest file accepted, and the most pixels
# (width x height x frames) one may decode to, against decompression bombs.
IMAGE_MAX_BYTES = _number("IMAGE_MAX_BYTES", str(5 * 1024 * 1024), int)
IMAGE_MAX_PIXELS = _number("IMAGE_MAX_PIXELS", "25000000", int)
# Opens and clicks this many seconds after an email was sent are counted as a mail scanner's,
# not a person's (docs/tracking.md); 0 turns this rule off.
TRACKING_BOT_SECONDS = _number("TRACKING_BOT_SECONDS", "10", allow_zero=True)

_base = urlparse(BASE_URL)
ALLOWED_HOSTS = [h for h in _env("ALLOWED_HOSTS", "").split(",") if h] or [
    "127.0.0.1",
    "localhost",
    "testserver",
    _base.hostname or "localhost",
]
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]


def _proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``X-Forwarded-Proto`` (meaning ``: https``) or ``Header-Name: value`` → Django's form."""
    if not value.strip():
        return None
    name, _, expected = value.partition(":")
    meta = "HTTP_" + name.strip().upper().replace("-", "_")
    return (meta, expected.strip() or "https")


# Served over TLS (directly or behind a proxy): cookies only over TLS, and browsers told to
# come back only over TLS (HSTS). Django sends HSTS only on requests it sees as secure, so
# behind a proxy that terminates TLS it needs the proxy's header (docs/deployment.md).
HTTPS = _base.scheme == "https"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = _number("HSTS_SECONDS", "31536000", int, allow_zero=True) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("HSTS_INCLUDE_SUBDOMAINS")
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(_env("PROXY_SSL_HEADER"))
# Addresses whose X-Forwarded-For/-Proto the server believes (uvicorn's --forwarded-allow-ips).
FORWARDED_ALLOW_IPS = _env("FORWARDED_ALLOW_IPS", "127.0.0.1")


# FULL makes every committed web push survive a power cut, not only a crash; tests may relax it.
SQLITE_SYNCHRONOUS = _env("SQLITE_SYNCHRONOUS", "FULL").upper()
if SQLITE_SYNCHRONOUS not in {"FULL", "NORMAL", "EXTRA"}:
    raise ImproperlyConfigured("TERMINFLOW_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")


def _database(url: str) -> dict:
    if not url:
        url = f"sqlite:///{DATA_DIR / 'terminflow.sqlite3'}"
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        name = unquote(parsed.path)
        if name.startswith("//"):
            name = name[1:]
        return {
            # Django's backend, waiting for the write lock in finer steps (kit/sqlite/base.py).
            "ENGINE": "terminflow.kit.sqlite",
            "NAME": name,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
                # instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    f"PRAGMA synchronous={SQLITE_SYNCHRONOUS};"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=30000;"
                    "PRAGMA cache_size=-64000;"
                ),
            },
            # A file, not memory, so servers started by tests in a subprocess see the same data.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    if parsed.scheme in {"postgres", "postgresql"}:
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 0,
            "TEST": {"NAME": _env("TEST_DATABASE_NAME") or None},
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"TERMINFLOW_DATABASE_URL: unsupported scheme {parsed.scheme!r}; "
        "use sqlite:////absolute/path.sqlite3 or postgresql://user:pass@host:5432/db"
    )


DATABASES = {"default": _database(_env("DATABASE_URL"))}

INSTALLED_APPS = [
    "terminflow.web.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Only for its templates and static files: /api/v1/docs serves Swagger UI from here, no CDN.
    "ninja",
    "terminflow.workspaces",
    "terminflow.contacts",
    "terminflow.campaigns",
    "terminflow.mail",
    "terminflow.etermin",
    "terminflow.forms",
    "terminflow.segments",
    "terminflow.newsletters",
    "terminflow.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "terminflow.web.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "terminflow.urls"
AUTH_USER_MODEL = "workspaces.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    }
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Checked wherever a password is set: the CLI, the admin and every form that takes one.
AUTH_PASSWORD_VALIDATORS = [
    {
        # The username is the email address; naming it "email address" is what people know.
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "first_name", "last_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if _flag("FAST_PASSWORD_HASHER"):
    # Tests only: argon2 costs ~50 ms a hash, which adds up over hundreds of test users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "de"
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# kit is no app, so its catalogue (API input errors, stored reasons) is named here.
LOCALE_PATHS = [Path(__file__).resolve().parent / "kit" / "locale"]
# English pages use day-month-year and 24 h time (en-GB), as Swiss users expect.
FORMAT_MODULE_PATH = ["terminflow.web.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"


# Prometheus metrics at /metrics, only with a token (bearer auth). Every process of the
# deployment (web and worker) writes its counters to files in the data folder, and the web
# process that is scraped sums them: so the data folder must be shared by the processes of one
# machine. prometheus_client reads PROMETHEUS_MULTIPROC_DIR when first imported, which is after
# settings (django.setup) in every entry point.
METRICS_TOKEN = _env("METRICS_TOKEN")
if METRICS_TOKEN:
    _metrics_dir = DATA_DIR / "metrics"
    _metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_metrics_dir))
# How long a worker's claim on a run / on an email lasts: a worker killed mid-batch leaves its
# claims to lapse after this, and another worker takes them over. An email's lease must cover
# the slowest SMTP conversation of a batch, or it could be sent twice.
WORKER_LEASE_SECONDS = _number("WORKER_LEASE_SECONDS", "60")
SEND_LEASE_SECONDS = _number("SEND_LEASE_SECONDS", "300")
# How often the worker compares the segments that start campaigns with their members: a
# contact entering a segment starts the campaign within about this long.
SEGMENT_SWEEP_SECONDS = _number("SEGMENT_SWEEP_SECONDS", "30")
# /readyz wants a worker sweep at most this long ago.
READY_WORKER_SECONDS = _number("READY_WORKER_SECONDS", "60")

LOG_FORMAT = _env("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(
        f"TERMINFLOW_LOG_FORMAT={_env('LOG_FORMAT')!r} must be plain or json"
    )
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL = _env("LOG_LEVEL", "INFO").strip().upper()
if LOG_LEVEL not in LOG_LEVELS:
    raise ImproperlyConfigured(
        f"TERMINFLOW_LOG_LEVEL={_env('LOG_LEVEL')!r} is not a log level; use one of "
        + ", ".join(LOG_LEVELS)
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "terminflow.kit.logs.PlainFormatter"},
        "json": {"()": "terminflow.kit.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"httpx": {"level": "WARNING"}},
}
