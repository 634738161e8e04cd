"""Operators' twin of the beat sweep: expire ended sanctions and apply every policy's ladder, here and now."""

from django.core.management import BaseCommand

from moderation.services.audit import SystemActor
from moderation.services.sanctions import run_escalation


class Command(BaseCommand):
    help = "Expire ended sanctions and apply each policy's escalation ladder to the merchants due (idempotent)."

    def handle(self, *args, **options):
        result = run_escalation(actor=SystemActor("run_escalation"))
        self.stdout.write(f"Sanctions expired: {result['expired']}; sanctions issued: {result['issued']}.")
