"""The periodic tasks, stored in django-celery-beat's tables so operators can edit them in the admin."""

from django.db import migrations

SCHEDULES = [
    # (name, task, every seconds)
    ("Start due category removals", "moderation.start_due_removals", 10),
    ("Re-queue stalled category removals", "moderation.requeue_stalled_removals", 60),
    ("Send pending notices", "moderation.send_pending_notices", 60),
]


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, seconds in SCHEDULES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval})


def drop_schedules(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[name for name, _, _ in SCHEDULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("moderation", "0005_notice_append_only"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, drop_schedules)]
