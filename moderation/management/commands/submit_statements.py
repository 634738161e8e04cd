"""Operators' twin of the beat task: submit the statements of reasons due to the DSA Transparency Database,
count them (--dry-run), or export a period's statements as JSON lines (--export)."""

import json
from contextlib import nullcontext
from datetime import UTC, datetime, time

from django.core.management import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from moderation.services.audit import SystemActor
from moderation.services.statements import (
    MAX_BATCH_SIZE,
    count_statements_due,
    export_statements,
    submit_pending_statements,
)


def moment(value: str) -> datetime:
    """A date (midnight UTC) or a date and time (UTC unless it names its offset)."""
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = datetime.combine(day, time.min)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(f"Not a date or a date and time: {value!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM).")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Submit the statements of reasons due to the DSA Transparency Database in batches of at most 100 "
        "(idempotent on puid), or count them (--dry-run), or export a period's statements (--export)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print how many statements would be sent.")
        parser.add_argument(
            "--export", metavar="PATH", help="Write the statements as JSON lines to PATH ('-': standard output)."
        )
        parser.add_argument("--since", help="With --export: notices written from this date or time (UTC), inclusive.")
        parser.add_argument("--until", help="With --export: notices written before this date or time (UTC).")
        parser.add_argument("--batch-size", type=int, default=MAX_BATCH_SIZE, help="Statements per request (≤ 100).")

    def handle(self, *args, **options):
        since = moment(options["since"]) if options["since"] else None
        until = moment(options["until"]) if options["until"] else None
        if options["export"]:
            self.export(options["export"], since, until)
            return
        if since or until:
            raise CommandError("--since and --until choose the period of an --export.")
        if options["dry_run"]:
            self.stdout.write(f"Statements that would be sent: {count_statements_due()}.")
            return
        if not 1 <= options["batch_size"] <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}.")
        result = submit_pending_statements(actor=SystemActor("submit_statements"), batch_size=options["batch_size"])
        if not result["configured"]:
            self.stdout.write("DSA_TRANSPARENCY_URL is not set: nothing was sent.")
            return
        self.stdout.write(
            f"Statements queued: {result['queued']}; requests: {result['requests']}; accepted: {result['submitted']}; "
            f"already there: {result['duplicates']}; invalid: {result['invalid']}; "
            f"to retry: {result['retry_later']}; given up: {result['gave_up']}."
        )
        if result["stopped_on_error"]:
            self.stderr.write("The Transparency Database did not answer well: the rest waits for the next run.")

    def export(self, path: str, since: datetime | None, until: datetime | None) -> None:
        if since and until and since >= until:
            raise CommandError("--since must be before --until.")
        written = 0
        # "-" goes through the command's own stdout, so call_command(stdout=...) captures it.
        with open(path, "w", encoding="utf-8") if path != "-" else nullcontext() as file:
            for statement in export_statements(since, until):
                line = json.dumps(statement, cls=DjangoJSONEncoder, ensure_ascii=False)
                if file is None:
                    self.stdout.write(line)
                else:
                    file.write(line + "\n")
                written += 1
        (self.stderr if path == "-" else self.stdout).write(f"Statements exported: {written} to {path}.")
