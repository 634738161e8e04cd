"""Operators' twin of the beat task: start every due removal now and run its chunks here."""

from django.core.management import BaseCommand

from moderation.models import CategoryRemoval, RemovalChunk
from moderation.services import policies, removals
from moderation.services.audit import SystemActor


class Command(BaseCommand):
    help = "Start the category removals whose time has come and delist their listings (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue the chunks for the Celery workers instead of running them in this process.",
        )

    def handle(self, *args, queue: bool, **options):
        actor = SystemActor("run_due_removals")
        policies.put_due_policies_in_effect(actor=actor)
        started = [rid for rid in removals.due_removal_ids() if removals.start_removal(removal_id=rid, actor=actor)]
        self.stdout.write(f"Started {len(started)} removal(s): {started or 'none due'}.")
        if queue:
            return
        # Run here every pending chunk of every running removal: this also resumes one
        # whose worker died. A chunk another worker holds is waited for, then skipped.
        running = CategoryRemoval.objects.filter(status=CategoryRemoval.Status.RUNNING).values_list("pk", flat=True)
        for removal_id in running:
            chunk_ids = RemovalChunk.objects.filter(
                removal_id=removal_id, status=RemovalChunk.Status.PENDING
            ).values_list("pk", flat=True)
            delisted = sum(removals.run_removal_chunk(chunk_id=cid, actor=actor) for cid in chunk_ids)
            removals.finish_removal_if_done(removal_id=removal_id, actor=actor)
            removal = CategoryRemoval.objects.get(pk=removal_id)
            self.stdout.write(
                f"Removal #{removal_id}: {removal.get_status_display().lower()}, {delisted} delisted now, "
                f"{removal.listings_done}/{removal.listings_total} in all, "
                f"{removal.merchants_notified} merchants notified."
            )
