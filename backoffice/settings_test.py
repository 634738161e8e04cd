"""Settings for the test suite: the real settings, with a throwaway secret and no DEBUG."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("EMAIL_URL", "locmem://")

from backoffice.env import env_bool, env_str  # noqa: E402
from backoffice.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast fixtures, tests only

# Tasks run inline where they are queued (after commit), unless a test starts a real worker
# (tests marked `broker` switch this off on the Celery app for their duration).
# A worker started by the tests (the `celery_worker_process` fixture) sets both variables:
# it must really queue the tasks it starts, on its own queue.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
