"""The table behind the default cache (settings.CACHES without CACHE_URL): counters that every
web and worker process shares, such as the API's throttles.

Created whatever the cache setting is at migrate time, so that switching CACHE_URL from Redis
back to the default needs no extra command, and the runtime role's grants always find it.
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "backoffice_cache"  # settings.CACHES["default"]["LOCATION"] without CACHE_URL


def create_cache_table(apps, schema_editor):
    # Skips a table that exists: safe on a database where createcachetable already ran.
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table, elidable=False)]
