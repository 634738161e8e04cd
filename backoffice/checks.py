"""System checks for settings that work but would quietly weaken the back office in production."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    """Throttles and counters live in the default cache: in one process's memory each web and
    worker process counts on its own, so a limit of 30 an hour becomes 30 per process."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            checks.Warning(
                "The default cache is not shared between processes: throttles count once per process.",
                hint="Leave CACHE_URL empty (the database cache) or point it at Redis (redis://…).",
                id="backoffice.W001",
            )
        ]
    return []
