"""Settings for the ban-enforcement back office.

Everything that differs between the demo, CI and production comes from the environment
through the typed helpers in ``backoffice.env``; the defaults run the demo with no server
at all (SQLite and kombu's filesystem transport under ``var/``).
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from backoffice.env import (
    env_bool,
    env_database,
    env_email,
    env_int,
    env_list,
    env_str,
    filesystem_broker_folder,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-demo-key-only-for-debug"  # noqa: S105 - never used with DEBUG off

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "backoffice",
    "sellers",
    "moderation",
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

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

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
                "backoffice.context_processors.roles",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'demo.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "backoffice:home"
LOGOUT_REDIRECT_URL = "login"

# One clock: stored in UTC, each policy says in which timezone its dates are meant.
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "backoffice" / "static"]

vars().update(env_email("EMAIL_URL", "console://"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "enforcement@marketplace.example")

# Celery: broker from the environment; the demo's default needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_folder = str(filesystem_broker_folder(VAR_DIR))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_folder,
        "data_folder_out": _broker_folder,
        "processed_folder": _broker_folder,
        "control_folder": _broker_folder + "/control",
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Tasks are idempotent, so they acknowledge after they finish: a worker that dies mid-task
# gets its task delivered again instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT.")
if CELERY_BROKER_URL != "filesystem://":
    # Redis redelivers an unacknowledged task after this long (acks_late): keep it well past
    # the hard time limit so a slow task is never run twice while it is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = max(3600, CELERY_TASK_TIME_LIMIT + 600)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Counters shared by every web worker (the API's throttling): Redis in production, this
# process's memory for the demo and tests.
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL.startswith(("redis://", "rediss://"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Appeals filed per merchant; the cache that counts them is shared by the web workers.
    "DEFAULT_THROTTLE_RATES": {"appeals": env_str("APPEAL_THROTTLE_RATE", "30/hour")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sellers' enforcement API",
    "DESCRIPTION": "Decisions, notices, sanctions and appeals for the merchant calling it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's assets come from the sidecar package, not a CDN: no network at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AppealStatusEnum": "moderation.models.appeals.Appeal.Status",
        "DecisionKindEnum": "moderation.models.appeals.Appeal.Kind",
        "SanctionStatusEnum": "moderation.models.sanctions.Sanction.Status",
        "ListingStatusEnum": "sellers.models.Listing.Status",
    },
}

# Enforcement knobs that are operations, not policy (policy numbers live on the Policy).
# 20,000 listings a chunk: about half a second of one transaction on PostgreSQL, fifty
# progress steps for a million listings; smaller chunks pay their fixed cost more often.
REMOVAL_CHUNK_SIZE = env_int("REMOVAL_CHUNK_SIZE", 20_000, minimum=1, maximum=100_000)
REMOVAL_CHUNK_MAX_RETRIES = env_int("REMOVAL_CHUNK_MAX_RETRIES", 3, minimum=0)
# How long a moderator's claim on a review item lasts before the item goes back to the queue.
REVIEW_CLAIM_LEASE_MINUTES = env_int("REVIEW_CLAIM_LEASE_MINUTES", 15, minimum=1, maximum=24 * 60)
# Service level of the appeal queue: hours from filing to a decision (marketplaces report 2-4 days).
APPEAL_DUE_HOURS = env_int("APPEAL_DUE_HOURS", 72, minimum=1, maximum=24 * 60)
# Queue page size (the queue never counts all its rows for a page: see moderation.views.queue).
REVIEW_QUEUE_PAGE_SIZE = env_int("REVIEW_QUEUE_PAGE_SIZE", 50, minimum=5, maximum=500)
# The DSA Transparency Database's batch endpoint (…/api/v1/statements) and its bearer token.
# Empty URL: statements are queued but nobody submits them (the submitter logs that it is off).
DSA_TRANSPARENCY_URL = env_str("DSA_TRANSPARENCY_URL", "")
DSA_TRANSPARENCY_TOKEN = env_str("DSA_TRANSPARENCY_TOKEN", "")
if DSA_TRANSPARENCY_URL and not DSA_TRANSPARENCY_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"DSA_TRANSPARENCY_URL must be an http(s) URL; got {DSA_TRANSPARENCY_URL!r}.")
if DSA_TRANSPARENCY_URL and not DSA_TRANSPARENCY_TOKEN:
    raise ImproperlyConfigured("DSA_TRANSPARENCY_TOKEN must be set when DSA_TRANSPARENCY_URL is.")
# Seconds to wait for one request's answer; a batch of 100 is well under a second when the API is well.
DSA_TRANSPARENCY_TIMEOUT = env_int("DSA_TRANSPARENCY_TIMEOUT", 30, minimum=1, maximum=300)
# Attempts per statement before it is marked failed; the wait doubles from the base each time
# (5, 10, 20 … 320 minutes: about ten and a half hours of outage before giving up, by default).
DSA_TRANSPARENCY_MAX_ATTEMPTS = env_int("DSA_TRANSPARENCY_MAX_ATTEMPTS", 8, minimum=1, maximum=30)
DSA_TRANSPARENCY_RETRY_MINUTES = env_int("DSA_TRANSPARENCY_RETRY_MINUTES", 5, minimum=1, maximum=24 * 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
