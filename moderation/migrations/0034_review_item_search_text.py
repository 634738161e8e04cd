"""The queue's search column (``ReviewItem.search_text``, see moderation.search) and its index.

1. The column, filled for the items there are: store name, title and description folded as
   ``moderation.search.search_text`` folds them today, 2,000 items per UPDATE.
2. On PostgreSQL, a GIN trigram index over the open items' column, which the queue's search
   reads (``LIKE '%word%'``). It needs the pg_trgm extension: a trusted extension since
   PostgreSQL 13, so a role with CREATE on the database may create it. Where it is missing and
   the migrating role may not create it, the migration goes on without the index (and says so):
   the search gives the same rows, reading the open items' column instead; create the extension
   as a superuser, then unapply this migration and apply it again, to add the index.
"""

import logging

from django.db import DatabaseError, migrations, models, transaction

logger = logging.getLogger(__name__)

INDEX = "review_open_search_idx"
CREATE_INDEX = f"""
CREATE INDEX IF NOT EXISTS {INDEX} ON moderation_reviewitem USING gin (search_text gin_trgm_ops)
WHERE status IN ('open', 'claimed')
"""
DROP_INDEX = f"DROP INDEX IF EXISTS {INDEX}"
BATCH = 2000


def fill_search_text(apps, schema_editor):
    from moderation.search import search_text

    ReviewItem = apps.get_model("moderation", "ReviewItem")
    items = ReviewItem.objects.using(schema_editor.connection.alias).order_by("pk")
    last = 0
    while True:
        rows = list(
            items.filter(pk__gt=last).values_list(
                "pk", "merchant__store_name", "listing__title", "listing__description"
            )[:BATCH]
        )
        if not rows:
            return
        ReviewItem.objects.using(schema_editor.connection.alias).bulk_update(
            [
                ReviewItem(pk=pk, search_text=search_text(store_name=store, title=title, description=description))
                for pk, store, title, description in rows
            ],
            ["search_text"],
        )
        last = rows[-1][0]


def trigram_extension_ready(schema_editor) -> bool:
    """Whether pg_trgm is there, or could be created by the migrating role."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():
            return True
    try:
        with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint: the failure stays in it
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
    except DatabaseError as error:
        logger.warning(
            "pg_trgm could not be created (%s): the queue's search works without its index, reading "
            "every open item. Create the extension as a superuser, then unapply this migration and apply it again.",
            str(error).strip(),
        )
        return False
    return True


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql" and trigram_extension_ready(schema_editor):
        schema_editor.execute(CREATE_INDEX, params=None)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_INDEX, params=None)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0033_duplicate_groups")]

    operations = [
        migrations.AddField(
            model_name="reviewitem",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill_search_text, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_search_index, drop_search_index),
    ]
