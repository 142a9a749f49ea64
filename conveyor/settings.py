"""Conveyor settings. Everything a deployment changes comes from the environment, read here only.

Defaults give the embedded mode: SQLite in ./var, DEBUG on, a throwaway secret. Setting
CONVEYOR_ENV=production turns DEBUG off, requires SECRET_KEY and ALLOWED_HOSTS, and enables the
secure-cookie / HSTS settings that `manage.py check --deploy` asks for.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

# Lets admin and other generic classes be subscripted at run time (ModelAdmin[Deal]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CONVEYOR_DATA_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


PRODUCTION = os.environ.get("CONVEYOR_ENV", "development") == "production"
DEBUG = env_bool("DEBUG", not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when CONVEYOR_ENV=production.")
    SECRET_KEY = "insecure-development-key-change-me-" + "x" * 20

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when CONVEYOR_ENV=production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "conveyor.core",
    "conveyor.accounts",
    "conveyor.people",
    "conveyor.pipelines",
    "conveyor.touches",
    "conveyor.intake",
    "conveyor.automation",
    "conveyor.analytics",
    "conveyor.dataset",
    "conveyor.web",
    "conveyor.api",
    "ninja",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything can read a multipart body (CSRF, idempotency): see core/uploads.py.
    "conveyor.core.uploads.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "conveyor.web.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "conveyor.web.login.TotpPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "conveyor.api.idempotency.IdempotencyMiddleware",
    "conveyor.core.csp.ContentSecurityPolicyMiddleware",
]

if PRODUCTION:
    # Serves compressed, hashed static files from STATIC_ROOT; runserver serves them in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "conveyor.urls"
WSGI_APPLICATION = "conveyor.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite (WAL) by default, PostgreSQL (or anything dj-database-url reads) by URL.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # JIT compiling pays off only for long analytic scans; for a CRM's short queries and
        # even for the reports (one compile per query, 0.1-0.4 s each at a million deals) it
        # costs more than it saves. Options given in the URL come after, so they win.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"-c jit=off {options.get('options', '')}".strip()
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("CONVEYOR_SQLITE_PATH", str(DATA_DIR / "conveyor.sqlite3")),
            "OPTIONS": {
                # IMMEDIATE makes every write transaction take the write lock up front, which is
                # SQLite's equivalent of the row locks the services take on PostgreSQL.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (optional): atomic rate-limit counters shared by every server process. Without it
# the counters live in the database (table core_ratecounter).
REDIS_URL = os.environ.get("REDIS_URL", "")

# --- Background jobs: Django's tasks API (the django-tasks backport). `database` (default) keeps
# the queue in the application's own database and needs no other server; `rq` puts it in Redis
# for RQ workers on any number of machines; `immediate` runs each job at enqueue (tests, scripts).
# `conveyor worker` runs whichever is configured, plus the periodic checks.
CONVEYOR_TASKS_BACKEND = os.environ.get("CONVEYOR_TASKS_BACKEND", "database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
if CONVEYOR_TASKS_BACKEND not in _TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"CONVEYOR_TASKS_BACKEND must be one of {', '.join(_TASK_BACKENDS)}."
    )
if CONVEYOR_TASKS_BACKEND == "rq":
    # Its dashboard and commands (rqworker); the database backend needs neither.
    INSTALLED_APPS.append("django_rq")
TASKS = {
    "default": {
        "BACKEND": _TASK_BACKENDS[CONVEYOR_TASKS_BACKEND],
        "QUEUES": ["default"],
    }
}
RQ_QUEUES = {
    "default": {
        "URL": os.environ.get("CONVEYOR_RQ_URL", REDIS_URL or "redis://127.0.0.1:6379/0"),
        "DEFAULT_TIMEOUT": 300,
    }
}
# How often the worker runs the periodic checks (no touch, overdue tasks, rotting deals) and
# re-enqueues jobs whose enqueue was lost (e.g. the process died between commit and enqueue).
CONVEYOR_PERIODIC_SECONDS = int(os.environ.get("CONVEYOR_PERIODIC_SECONDS", "300"))
# Retries of a failed automation run, e-mail or webhook delivery: attempt n waits
# base * 4**(n-1) seconds (1 min, 4 min, 16 min, ... by default), up to max attempts.
CONVEYOR_RETRY_BASE_SECONDS = int(os.environ.get("CONVEYOR_RETRY_BASE_SECONDS", "60"))
CONVEYOR_RETRY_MAX_ATTEMPTS = int(os.environ.get("CONVEYOR_RETRY_MAX_ATTEMPTS", "6"))
# Working days of the account's calendar (ISO weekday numbers, Monday = 1); holidays are
# entered in the app. Cadence steps and task due dates skip the rest.
CONVEYOR_WORKDAYS = [int(day) for day in env_list("CONVEYOR_WORKDAYS", ["1", "2", "3", "4", "5"])]
if not CONVEYOR_WORKDAYS or not set(CONVEYOR_WORKDAYS) <= set(range(1, 8)):
    # Checked here: a calendar without working days would search forever for the next one.
    raise ImproperlyConfigured(
        "CONVEYOR_WORKDAYS must list ISO weekdays 1 (Monday) to 7, e.g. 1,2,3,4,5"
    )
# --- E-mail out (templates sent to clients by rules and by hand), through SMTP.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "conveyor@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Outgoing webhooks. Targets on private, loopback, link-local (and other non-public)
# addresses are refused, after DNS resolution and on every redirect, unless their network is
# listed here (e.g. "10.0.0.0/8,127.0.0.1/32" for an integration inside the company network).
CONVEYOR_WEBHOOK_ALLOWED_NETWORKS = env_list("CONVEYOR_WEBHOOK_ALLOWED_NETWORKS", [])
CONVEYOR_WEBHOOK_TIMEOUT = int(os.environ.get("CONVEYOR_WEBHOOK_TIMEOUT", "10"))

# The hour (local time) a cadence task is due on its day.
CONVEYOR_TASK_HOUR = int(os.environ.get("CONVEYOR_TASK_HOUR", "10"))

# --- Web-to-lead forms: submissions per minute from one IP address and into one form. Going
# over marks the lead as suspected spam; it is still recorded.
CONVEYOR_FORM_RATE_PER_IP = int(os.environ.get("CONVEYOR_FORM_RATE_PER_IP", "20"))
CONVEYOR_FORM_RATE_PER_FORM = int(os.environ.get("CONVEYOR_FORM_RATE_PER_FORM", "600"))
CONVEYOR_FORM_RATE_WINDOW = 60
# API calls per token per minute.
CONVEYOR_API_RATE_PER_MINUTE = int(os.environ.get("CONVEYOR_API_RATE_PER_MINUTE", "600"))

# --- E-mail intake: messages to these addresses become leads (`conveyor intake-smtp` refuses
# others with 550; `conveyor intake-mail` polls the IMAP mailbox below). Attachments over the
# per-file or per-message limit are not stored, only listed on the lead.
CONVEYOR_INTAKE_ADDRESSES = [
    address.lower() for address in env_list("CONVEYOR_INTAKE_ADDRESSES", ["leads@localhost"])
]
CONVEYOR_MAIL_MAX_ATTACHMENT_BYTES = int(
    os.environ.get("CONVEYOR_MAIL_MAX_ATTACHMENT_BYTES", str(10 * 1024 * 1024))
)
CONVEYOR_MAIL_MAX_TOTAL_BYTES = int(
    os.environ.get("CONVEYOR_MAIL_MAX_TOTAL_BYTES", str(25 * 1024 * 1024))
)
# The SMTP listener refuses bigger messages outright (552) before reading them whole.
CONVEYOR_MAIL_MAX_MESSAGE_BYTES = int(
    os.environ.get("CONVEYOR_MAIL_MAX_MESSAGE_BYTES", str(40 * 1024 * 1024))
)
CONVEYOR_IMAP_SSL = env_bool("CONVEYOR_IMAP_SSL", True)
CONVEYOR_IMAP_HOST = os.environ.get("CONVEYOR_IMAP_HOST", "")
CONVEYOR_IMAP_PORT = int(
    os.environ.get("CONVEYOR_IMAP_PORT", "993" if CONVEYOR_IMAP_SSL else "143")
)
CONVEYOR_IMAP_USER = os.environ.get("CONVEYOR_IMAP_USER", "")
CONVEYOR_IMAP_PASSWORD = os.environ.get("CONVEYOR_IMAP_PASSWORD", "")
CONVEYOR_IMAP_MAILBOX = os.environ.get("CONVEYOR_IMAP_MAILBOX", "INBOX")

# --- Imports from other CRMs (`conveyor import-crm`, Settings → Import): bigger files are
# refused before they are read.
CONVEYOR_IMPORT_MAX_BYTES = int(os.environ.get("CONVEYOR_IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))

# --- Qualification: a lead scoring at least this many points is warm / hot (else cold).
CONVEYOR_WARM_SCORE = int(os.environ.get("CONVEYOR_WARM_SCORE", "10"))
CONVEYOR_HOT_SCORE = int(os.environ.get("CONVEYOR_HOT_SCORE", "20"))

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Account-wide time zone and currency (DESIGN §4).
TIME_ZONE = os.environ.get("CONVEYOR_TIME_ZONE", "UTC")
try:
    ZoneInfo(TIME_ZONE)
except Exception as exc:  # pragma: no cover - configuration error path
    raise ImproperlyConfigured(f"CONVEYOR_TIME_ZONE={TIME_ZONE!r} is not an IANA zone") from exc
USE_TZ = True
CONVEYOR_CURRENCY = os.environ.get("CONVEYOR_CURRENCY", "EUR").upper()
if len(CONVEYOR_CURRENCY) != 3 or not CONVEYOR_CURRENCY.isalpha():
    raise ImproperlyConfigured("CONVEYOR_CURRENCY must be an ISO 4217 code such as EUR")

# Region for phone numbers written without a country code (ISO 3166 alpha-2, e.g. BG, RU).
CONVEYOR_PHONE_REGION = os.environ.get("CONVEYOR_PHONE_REGION", "").upper()

# --- Languages: English, Russian, Bulgarian from day one.
LANGUAGE_CODE = os.environ.get("CONVEYOR_LANGUAGE", "en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian")), ("bg", _("Bulgarian"))]
LOCALE_PATHS = [BASE_DIR / "conveyor" / "locale"]
USE_I18N = True
FORMAT_MODULE_PATH = ["conveyor.formats"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Front-end packages from the npm registry (frontend/package-lock.json, installed by
# `make install`), served from their own dist folders; collectstatic copies them for whitenoise.
FRONTEND_PACKAGES = BASE_DIR / "frontend" / "node_modules"
STATICFILES_DIRS = [
    ("vendor/htmx", FRONTEND_PACKAGES / "htmx.org" / "dist"),
    ("vendor/sortablejs", FRONTEND_PACKAGES / "sortablejs"),
]
# Uploaded and received files (e-mail attachments under media/leads/<lead id>/); not served.
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security. Secure-by-default cookies; the HTTPS-only parts switch on in production.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every response (conveyor/core/csp.py); off only for debugging.
CONVEYOR_CSP = env_bool("CONVEYOR_CSP", True)

# Chromium that prints the dashboard to PDF/PNG (conveyor/core/snapshot.py); empty: `chromium`
# on the PATH. Without one, those two exports say so and the others still work.
CONVEYOR_CHROMIUM = os.environ.get("CONVEYOR_CHROMIUM", "")
# Failed logins allowed per 15 minutes from one address and for one account.
CONVEYOR_LOGIN_FAILURES_PER_IP = int(os.environ.get("CONVEYOR_LOGIN_FAILURES_PER_IP", "20"))
CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT = int(
    os.environ.get("CONVEYOR_LOGIN_FAILURES_PER_ACCOUNT", "8")
)
CONVEYOR_LOGIN_WINDOW = 15 * 60
# Two-factor login (TOTP) is each user's choice; when this is on, staff, owners and heads must
# turn it on before they can use the app (conveyor/web/login.py, TotpPolicyMiddleware).
CONVEYOR_TOTP_REQUIRED_FOR_STAFF = env_bool("CONVEYOR_TOTP_REQUIRED_FOR_STAFF", False)
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
