"""Settings of the chaos tests' Celery workers: the test settings, with a short visibility timeout.

``backoffice.settings`` keeps Redis's visibility timeout at an hour or more (a slow task must
never run twice while it still runs). A worker killed with SIGKILL leaves its task unacknowledged,
and Redis hands it to another worker only once that timeout has passed: the chaos tests cannot
wait an hour, so their workers take the task back after a few seconds, and look for such tasks
every second (kombu looks every 10 × 10 seconds by default). Tasks here last milliseconds; one
that ran longer than the timeout would be delivered a second time while it runs, one more
duplicate the tasks are built to survive.
"""

from backoffice.settings_test import *  # noqa: F403
from backoffice.settings_test import CELERY_BROKER_TRANSPORT_OPTIONS

VISIBILITY_TIMEOUT = 5

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "visibility_timeout": VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

# Each worker writes its e-mail to its own folder (EMAIL_URL=file://…), at an SMTP server's pace.
EMAIL_BACKEND = "tests.chaos.slow_mail.SlowFileBackend"
