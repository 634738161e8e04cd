"""Beat: seal the audit trail's new events every minute; verify the whole chain once a day.

The verification recomputes every sealed event (about 10 s per million on the benchmark
machine): daily keeps its cost small beside the trail; ``manage.py verify_audit`` runs it
at any time.
"""

from django.db import migrations

SCHEDULES = [
    ("Audit trail sealing", "moderation.seal_audit_events", 60),
    ("Audit trail verification", "moderation.verify_audit_trail", 86400),
]


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval})


def drop_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, _task, _seconds in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0025_audit_checkpoints")]

    operations = [migrations.RunPython(create_schedules, drop_schedules)]
