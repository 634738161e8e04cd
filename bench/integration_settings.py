"""Settings of the gunicorn that bench/integration.py loads: the real settings, plus the baseline endpoint's URLconf."""

from backoffice.settings import *  # noqa: F403

ROOT_URLCONF = "bench.integration_urls"
