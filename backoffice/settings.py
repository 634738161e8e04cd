"""Settings for the ban-enforcement back office.

Everything that differs between the demo, CI and production comes from the environment
through the typed helpers in ``backoffice.env``; the defaults run the demo with no server
at all (SQLite and kombu's filesystem transport under ``var/``).
"""

from datetime import timedelta
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
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "backoffice",
    "sellers",
    "moderation",
]

MIDDLEWARE = [
    "backoffice.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "backoffice.security.IdleSessionMiddleware",
    "backoffice.security.TwoFactorMiddleware",
    "backoffice.security.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "backoffice.middleware.AdminQueryHygieneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lock-out raised during authentication into its page.
    "axes.middleware.AxesMiddleware",
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
# Every sign-in (the form, the API's token endpoint) is checked before the password is: first
# the address (blocked for password spraying) and the username's shape, then django-axes's lock
# of the pair of username and address.
AUTHENTICATION_BACKENDS = [
    "backoffice.security.SignInGuardBackend",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Sign-ins (the form and the API's token endpoint). Failed sign-ins are counted per pair of
# username and client address: after this many in a row that pair is locked out for the
# cool-off, so an attacker elsewhere cannot lock the owner out (an administrator can lift a
# lock sooner: `python manage.py axes_reset_username <name>`). One address failing for many
# usernames (password spraying) is throttled as a whole: backoffice.security.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "backoffice.security.locked_out"
AXES_VERBOSE = False
# A try refused while locked is not recorded again: it neither extends the lock nor appends
# to the attempt's row (axes concatenates every try's form data onto it).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Usernames cleaned and cut to 150 characters before axes stores them (a longer one failed its
# database write with a 500), and the client's address read as the audit trail reads it.
AXES_USERNAME_CALLABLE = "backoffice.security.axes_username"
AXES_CLIENT_IP_CALLABLE = "backoffice.security.client_address"
# Usernames one address may fail to sign in as within one window (AXES_COOLOFF_TIME long,
# aligned on the clock) before every sign-in from it is refused until the window ends.
LOGIN_ADDRESS_USERNAME_LIMIT = env_int("LOGIN_ADDRESS_USERNAME_LIMIT", 10, minimum=2, maximum=1000)
# The client's address (backoffice.security.client_address, which axes asks too: django-ipware
# is not installed). Behind a proxy (BEHIND_PROXY=1) it is read from X-Forwarded-For, trusting
# only the last TRUSTED_PROXY_HOPS entries (the proxies we run): whatever a client writes at the
# start of the header itself is ignored.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 1, minimum=1, maximum=10)
# Two-factor authentication (TOTP apps) is open to every staff user; policy admins, who can
# retire categories and close accounts, must use it when this is on.
TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS = env_bool("TWO_FACTOR_REQUIRED_FOR_POLICY_ADMINS", False)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Ban enforcement back office")
# Nobody reads another user's TOTP key, a superuser in the admin either.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A session ends after this long without a request (backoffice.security.IdleSessionMiddleware
# renews it while it is used).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30, minimum=1, maximum=7 * 24 * 60) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# One clock: stored in UTC, each policy says in which timezone its dates are meant.
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns at start-up when it is missing
STATICFILES_DIRS = [BASE_DIR / "backoffice" / "static"]
# WhiteNoise serves the files `collectstatic` gathered, under content-hashed names that may be
# cached for a year; the demo (DEBUG) serves them from the source folders as they change.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security headers and cookies. Everything below is on whenever DEBUG is off, so that
# `manage.py check --deploy` has nothing to say; SECURE_SSL_REDIRECT can be turned off where a
# proxy terminates TLS and redirects itself (it must then set X-Forwarded-Proto: BEHIND_PROXY).
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script or style anywhere: page scripts are static files, charts are SVG markup.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
# Task modules besides each app's tasks.py (all that autodiscovery finds): the marketplace webhooks.
CELERY_IMPORTS = ("moderation.tasks_webhooks",)
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through LOGGING below (JSON lines with the request id), not its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Counters shared by every web and worker process (the API's throttles, the queue header's
# counts): Redis when CACHE_URL names one (busy sites: no database writes per request), else a
# table in the database (created by backoffice's migrations), so that a limit of 30 an hour is
# 30 whatever the number of workers. `locmem://` (one process's memory) is for tests only.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif not CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "backoffice_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
else:
    raise ImproperlyConfigured(f"CACHE_URL must be redis://…, rediss://… or locmem://; got {CACHE_URL!r}.")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The sellers' API keys (below), read with the caller's merchant in one query.
        "moderation.api.authentication.MerchantTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Throttles keyed on the client's address read it as backoffice.security.client_address does.
    "NUM_PROXIES": TRUSTED_PROXY_HOPS if BEHIND_PROXY else 0,
    # DRF's three parsers, the JSON one answering a body nested too deep with a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "moderation.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Appeals filed per merchant; the cache that counts them is shared by the web workers.
    "DEFAULT_THROTTLE_RATES": {"appeals": env_str("APPEAL_THROTTLE_RATE", "30/hour")},
}
# The sellers' API keys (django-rest-knox, sellers.ApiToken): the database keeps a SHA-512
# digest and a 15-character lookup prefix, never the key; every key expires. The prefix makes
# a leaked key recognisable to secret scanners; the header stays "Authorization: Token <key>".
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30, minimum=1, maximum=366)
KNOX_TOKEN_MODEL = "sellers.ApiToken"
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "bo_",
    # Keys in force per account: enough for a few integrations, few enough to review on one page.
    "TOKEN_LIMIT_PER_USER": 10,
    "AUTO_REFRESH": False,
}
# knox's own migrations would create its AuthToken table even though the model is swapped out
# (they predate swapping and do not say so): an unused table with a key to auth_user, which also
# stops test flushes. Without migrations, no table is made for a swapped model.
MIGRATION_MODULES = {"knox": None}
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
# Demo only (make run sets it): seconds between a removal's chunks, so the bar can be watched filling.
REMOVAL_CHUNK_PAUSE_SECONDS = env_int("REMOVAL_CHUNK_PAUSE_SECONDS", 0, minimum=0, maximum=60)
# How long a moderator's claim on a review item lasts before the item goes back to the queue.
REVIEW_CLAIM_LEASE_MINUTES = env_int("REVIEW_CLAIM_LEASE_MINUTES", 15, minimum=1, maximum=24 * 60)
# How long a moderator may undo their own take-down or dismissal (after it, only an appeal can).
REVIEW_UNDO_MINUTES = env_int("REVIEW_UNDO_MINUTES", 10, minimum=1, maximum=24 * 60)
# Service level of the appeal queue: hours from filing to a decision (marketplaces report 2-4 days).
APPEAL_DUE_HOURS = env_int("APPEAL_DUE_HOURS", 72, minimum=1, maximum=24 * 60)
# Queue page size (the queue never counts all its rows for a page: see moderation.views.queue).
REVIEW_QUEUE_PAGE_SIZE = env_int("REVIEW_QUEUE_PAGE_SIZE", 50, minimum=5, maximum=500)
# The most items one bulk decision takes ("select all matching" stops there): each is decided in a
# transaction of its own within the confirming request, whose time grows with the count.
BULK_DECISION_LIMIT = env_int("BULK_DECISION_LIMIT", 500, minimum=1, maximum=5000)
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
# The marketplaces' integration. Days a pre-publication check's answer is kept (an upsert cites it
# right after asking); a daily task deletes older ones (sellers.integration.retention).
LISTING_CHECK_RETENTION_DAYS = env_int("LISTING_CHECK_RETENTION_DAYS", 30, minimum=1, maximum=3660)
# Webhooks may go to private, loopback and link-local addresses (moderation.services.webhook_addresses):
# the demo's receiver is on localhost; in production an endpoint is on the public internet only.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", DEBUG)
# verify_audit: an event sealed after an earlier sealing run's bound but dated more than this
# before that run is a back-dated insert (transactions that build events in Python before
# inserting them, such as a removal's chunk, stay well within it).
AUDIT_BACKDATE_TOLERANCE_MINUTES = env_int("AUDIT_BACKDATE_TOLERANCE_MINUTES", 15, minimum=1, maximum=24 * 60)
# Operations: a removal or scan that made no progress for this long is shown as stuck.
STUCK_AFTER_MINUTES = env_int("STUCK_AFTER_MINUTES", 15, minimum=1, maximum=24 * 60)
# /healthz: beat is down when its last tick is older than this (the database scheduler writes
# its ticks every few minutes, and the most frequent beat task runs every minute).
HEALTHZ_BEAT_STALE_SECONDS = env_int("HEALTHZ_BEAT_STALE_SECONDS", 600, minimum=30)
HEALTHZ_TIMEOUT_SECONDS = env_int("HEALTHZ_TIMEOUT_SECONDS", 2, minimum=1, maximum=30)

# JSON lines in production (what log shippers index), readable lines in the demo; both carry
# the request id, which follows a request into the Celery tasks it queues.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "backoffice.observability.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "backoffice.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Failed logins are audit events; axes's own lines would repeat them.
    "loggers": {"axes": {"level": "WARNING"}},
}
