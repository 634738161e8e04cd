"""Beat: every minute, the windows of failed sign-ins that have closed get their summary in the
audit trail and their counters deleted (backoffice.tasks.summarize_sign_in_failures)."""

from django.db import migrations

NAME = "Summarize failed sign-ins"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": "backoffice.summarize_sign_in_failures", "interval": interval}
    )


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0003_sign_in_failures"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, drop_schedule)]
