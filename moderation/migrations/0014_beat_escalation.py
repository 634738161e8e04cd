"""Beat: the escalation sweep (expiries, then each policy's ladder), every minute."""

from django.db import migrations

NAME = "Escalation sweep"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(name=NAME, defaults={"task": "moderation.run_escalation", "interval": interval})


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0013_points_ladder_sanctions")]

    operations = [migrations.RunPython(create_schedule, drop_schedule)]
