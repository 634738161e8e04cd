"""Settings for the test suite: the real settings, with a throwaway secret and no DEBUG."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("EMAIL_URL", "locmem://")

from backoffice.env import env_bool, env_str  # noqa: E402
from backoffice.settings import *  # noqa: E402,F403

# One process: its memory is the cache, so the query counts tests assert stay the pages' own
# (tests/backoffice/test_shared_cache.py runs the real default, the database cache, across processes).
# Subprocesses the tests start (deploy check, workers) read the environment, not this.
if not os.environ.get("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures, tests only

# Tasks run inline where they are queued (after commit), unless a test starts a real worker
# (tests marked `broker` switch this off on the Celery app for their duration).
# A worker started by the tests (the `celery_worker_process` fixture) sets both variables:
# it must really queue the tasks it starts, on its own queue.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True

# The test client and the live server speak plain HTTP; the deploy check (tests/test_security.py)
# runs the real settings in a subprocess instead. Static files come from the source folders
# (no collectstatic before tests), as in the demo.
SECURE_SSL_REDIRECT = False
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
LOG_FORMAT = "plain"
LOGGING["handlers"]["console"]["formatter"] = "plain"  # noqa: F405
# The outbox's tests post to receivers on the loopback; tests of the address check turn it off.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
