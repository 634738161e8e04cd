"""Recompute the audit trail's seal: every checkpoint's batch and the chain. Exit status 1 on a mismatch.

The check is ``moderation.services.sealing.verify_audit_chain``; this prints what it found
and records the run (the Operations page shows the last one).
"""

from datetime import timedelta

from django.core.management import BaseCommand, CommandError

from moderation.services.audit import SystemActor
from moderation.services.sealing import backdate_tolerance, verify_audit_chain


class Command(BaseCommand):
    help = (
        "Recompute every sealed batch of audit events and the chain of checkpoints; name the first checkpoint "
        "that does not match and why, and count the events not sealed yet. Exits with status 1 on a mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tolerance-minutes",
            type=int,
            default=None,
            help="How far before the previous seal a newly sealed event may be dated "
            f"(default: AUDIT_BACKDATE_TOLERANCE_MINUTES, {int(backdate_tolerance().total_seconds() // 60)}).",
        )

    def handle(self, *args, **options):
        minutes = options["tolerance_minutes"]
        if minutes is not None and minutes < 0:
            raise CommandError("--tolerance-minutes cannot be negative.")
        tolerance = timedelta(minutes=minutes) if minutes is not None else None
        result = verify_audit_chain(actor=SystemActor("verify_audit"), tolerance=tolerance)

        self.stdout.write(f"Checkpoints checked: {result.checkpoints_checked}; events: {result.events_checked:,}.")
        if result.verified_through:
            self.stdout.write(f"Verified through checkpoint #{result.verified_through.sequence}.")
        self.stdout.write(f"Events not sealed yet: {result.events_unsealed:,}.")
        if result.ok:
            self.stdout.write(self.style.SUCCESS("The audit trail matches its seal."))
            return
        if result.first_failed_sequence is not None:
            self.stderr.write(
                self.style.ERROR(f"First checkpoint that does not match: #{result.first_failed_sequence}.")
            )
        for problem in result.problems:
            self.stderr.write(f"- {problem.message}.")
        count = len(result.problems)
        raise CommandError(f"The audit trail does not match its seal: {count} problem{'s' if count > 1 else ''}.")
