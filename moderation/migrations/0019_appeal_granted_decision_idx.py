"""An index of granted appeals by the decision they ended.

Who uses it: the sellers' API list of decisions (``moderation.selectors.decisions``) asks,
for each delisting on a page, whether an appeal against it was granted; the appeal service
asks the same before a decision is appealed again. Only granted appeals are indexed: the
open ones have their own (unique) index, and the rest are never looked up by decision.

Plain SQL, the same on PostgreSQL and SQLite, and not declared on the model: the API's
performance work could not touch the models at the time. Declaring it in ``Appeal.Meta``
later takes a ``SeparateDatabaseAndState`` migration that adds it to the state only.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0018_access_verbs"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX appeal_granted_decision_idx ON moderation_appeal (decision_key) WHERE status = 'granted'",
            reverse_sql="DROP INDEX appeal_granted_decision_idx",
        ),
    ]
