"""Django settings: the one place that reads ``TERMINFLOW_*`` environment variables.

Everything a deployment can change is a ``TERMINFLOW_*`` variable; nothing else in the code reads
the environment.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"TERMINFLOW_{name}", default)


def _flag(name: str, default: bool = False) -> bool:
    value = _env(name, "1" if default else "0").strip().lower()
    return value in {"1", "true", "yes", "on"}


DATA_DIR = Path(_env("DATA_DIR", "./terminflow-data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


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
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _flag("DEBUG")
BASE_URL = _env("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ETERMIN_API_URL = _env("ETERMIN_API_URL", "https://www.etermin.net/api").rstrip("/")
ETERMIN_TIMEOUT_SECONDS = float(_env("ETERMIN_TIMEOUT_SECONDS", "10"))
# Reconciliation with eTermin's API catches pushes that never arrived; 0 turns the sweep off.
ETERMIN_SYNC_MINUTES = float(_env("ETERMIN_SYNC_MINUTES", "15"))
ETERMIN_SYNC_DAYS_BACK = int(_env("ETERMIN_SYNC_DAYS_BACK", "2"))
ETERMIN_SYNC_DAYS_AHEAD = int(_env("ETERMIN_SYNC_DAYS_AHEAD", "180"))
SMTP_URL = _env("SMTP_URL")
DEFAULT_FROM_EMAIL = _env("FROM_EMAIL", "terminflow@localhost")
# Email links and signing: confirmation links expire after days; DKIM key as PEM or a file path.
DOI_LINK_MAX_AGE_DAYS = float(_env("DOI_LINK_MAX_AGE_DAYS", "7"))
UNSUBSCRIBE_LINK_MAX_AGE_DAYS = float(_env("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", "365"))
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
WARMUP_FIRST_DAY = int(_env("WARMUP_FIRST_DAY", "0"))
# Raw web push bodies and rendered email bodies are pruned after this many days; 0 keeps them.
RETENTION_DAYS = int(_env("RETENTION_DAYS", "90"))
# Cap on one web push body; eTermin's pushes are a few KiB at most.
WEB_PUSH_MAX_BYTES = int(_env("WEB_PUSH_MAX_BYTES", str(64 * 1024)))

_base = urlparse(BASE_URL)
ALLOWED_HOSTS = [h for h in _env("ALLOWED_HOSTS", "").split(",") if h] or [
    "127.0.0.1",
    "localhost",
    "testserver",
    _base.hostname or "localhost",
]
CSRF_TRUSTED_ORIGINS = [f"{_base.scheme}://{_base.netloc}"]


# FULL makes every committed web push survive a power cut, not only a crash; tests may relax it.
SQLITE_SYNCHRONOUS = _env("SQLITE_SYNCHRONOUS", "FULL").upper()
if SQLITE_SYNCHRONOUS not in {"FULL", "NORMAL", "EXTRA"}:
    raise ValueError("TERMINFLOW_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")


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
    raise ValueError(f"TERMINFLOW_DATABASE_URL: unsupported scheme {parsed.scheme!r}")


DATABASES = {"default": _database(_env("DATABASE_URL"))}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "terminflow.workspaces",
    "terminflow.contacts",
    "terminflow.campaigns",
    "terminflow.mail",
    "terminflow.etermin",
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

# Every password a person sets (accepting an invitation, ...) must pass these.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if _flag("FAST_PASSWORD_HASHER"):
    # Tests only: argon2 costs ~50 ms a hash, which adds up over hundreds of test users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "de"
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]

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
WORKER_LEASE_SECONDS = float(_env("WORKER_LEASE_SECONDS", "60"))
SEND_LEASE_SECONDS = float(_env("SEND_LEASE_SECONDS", "300"))
# /readyz wants a worker sweep at most this long ago.
READY_WORKER_SECONDS = float(_env("READY_WORKER_SECONDS", "60"))

LOG_FORMAT = _env("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ValueError("TERMINFLOW_LOG_FORMAT must be plain or json")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "terminflow.kit.logs.PlainFormatter"},
        "json": {"()": "terminflow.kit.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": _env("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},
}
