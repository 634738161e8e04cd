"""Beat: put review items whose claim's lease ran out back in the queue, every minute."""

from django.db import migrations

NAME = "Release expired review claims"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=NAME, defaults={"task": "moderation.release_expired_claims", "interval": interval}
    )


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0008_detection_and_review_queue")]

    operations = [migrations.RunPython(create_schedule, drop_schedule)]
