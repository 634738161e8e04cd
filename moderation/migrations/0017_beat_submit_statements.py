"""Beat: submit statements of reasons to the DSA Transparency Database, every five minutes."""

from django.db import migrations

NAME = "DSA statements submission"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.update_or_create(name=NAME, defaults={"task": "moderation.submit_statements", "interval": interval})


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0016_statement_submissions")]

    operations = [migrations.RunPython(create_schedule, drop_schedule)]
