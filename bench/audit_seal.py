"""Benchmark: seal a million audit events in chained checkpoints, then verify the chain.

    DATABASE_URL=postgres://user:password@127.0.0.1:5432/postgres python bench/audit_seal.py --events 1000000

1. Writes ``--events`` audit events as a category removal writes them (not timed, but
   reported): one ``INSERT … SELECT`` per chunk of ``--chunk-size`` listings, each in its own
   transaction, every statement through the trail's insert trigger (the shared seal lock).
   The rows are a removal's: "listing delisted by removal", the listing's title as its name,
   its merchant and policy, the status before and after as JSON.
2. Times ``seal_audit_events`` as the beat task runs it (no time budget): the bound under
   the exclusive seal lock, then every event read with a raw cursor in id-range pages,
   hashed, and written as checkpoints of ``--checkpoint-events`` events, each committed.
   A second run must write nothing.
3. Times ``verify_audit_chain``: every batch recomputed and the chain followed; it must
   find nothing wrong and count no event unsealed.

Last line: ``{"benchmark": "audit_seal", "events": …, "seconds": …, "events_per_second": …,
"verify_seconds": …}``; ``seconds`` is the sealing. The goal is ``seconds`` ≤ 30 for a
million events on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
os.environ["EMAIL_URL"] = "dummy://"

from bench._common import print_result, settle_database, throwaway_database  # noqa: E402


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def write_events(events: int, chunk_size: int) -> float:
    """``events`` removal events in chunks, one transaction each; returns the seconds it took."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from moderation.models import AuditVerb
    from sellers.models import Listing

    params = {
        "verb": int(AuditVerb.LISTING_DELISTED_BY_REMOVAL),
        "ct": ContentType.objects.get_for_model(Listing).pk,
        "actor": "task:run_removal_chunk",
    }
    started = time.perf_counter()
    for first in range(1, events + 1, chunk_size):
        last = min(first + chunk_size - 1, events)
        with transaction.atomic(), connection.cursor() as cursor:
            # The removal's INSERT (moderation.services.removals), fed by a series instead of
            # the UPDATE … RETURNING of the listings it delists.
            cursor.execute(
                """
                INSERT INTO moderation_auditevent
                    (occurred_at, actor_id, actor_name, verb, target_type_id, target_id, target_repr,
                     merchant_id, policy_id, before, after, reason)
                SELECT now(), NULL, %(actor)s, %(verb)s, %(ct)s, n,
                       LEFT('Antminer S19 Pro 110TH/s Bitcoin miner, 3250W, with PSU #' || n, 200),
                       1 + n %% 10000, 1, '{"status": "live"}'::jsonb,
                       jsonb_build_object('status', 'delisted', 'removal', 1 + n / 500000), ''
                FROM generate_series(%(first)s, %(last)s) AS n
                """,
                {**params, "first": first, "last": last},
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="audit events to write and seal")
    parser.add_argument("--chunk-size", type=int, default=20_000, help="events per INSERT, as a removal chunk")
    parser.add_argument("--checkpoint-events", type=int, default=None, help="default: sealing.CHECKPOINT_EVENTS")
    args = parser.parse_args()
    if args.events < 1 or args.chunk_size < 1:
        raise SystemExit("--events and --chunk-size must be at least 1")

    with throwaway_database("bench_audit_seal"):
        from django.db import connection

        from moderation.models import AuditCheckpoint
        from moderation.services import sealing
        from moderation.services.audit import SystemActor

        checkpoint_events = args.checkpoint_events or sealing.CHECKPOINT_EVENTS
        with connection.cursor() as cursor:
            # The migrations' own events (none today) go: the trail holds exactly the generated ones.
            cursor.execute("TRUNCATE moderation_auditevent")
        write_seconds = write_events(args.events, args.chunk_size)
        log(f"wrote {args.events} events in {write_seconds:.1f} s (chunks of {args.chunk_size})")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE moderation_auditevent")
        settle_database()

        actor = SystemActor("bench")
        started = time.perf_counter()
        sealed = sealing.seal_audit_events(actor=actor, checkpoint_events=checkpoint_events)
        seconds = time.perf_counter() - started
        expected_checkpoints = -(-args.events // checkpoint_events)
        if sealed.events != args.events or len(sealed.checkpoints) != expected_checkpoints or sealed.skipped:
            raise SystemExit(
                f"sealed {sealed.events} events in {len(sealed.checkpoints)} checkpoints ({sealed.skipped or 'ok'}); "
                f"expected {args.events} in {expected_checkpoints}"
            )
        log(f"sealed in {seconds:.2f} s: {len(sealed.checkpoints)} checkpoints")
        again = sealing.seal_audit_events(actor=actor, checkpoint_events=checkpoint_events)
        if again.checkpoints or AuditCheckpoint.objects.count() != expected_checkpoints:
            raise SystemExit("a second run with nothing new wrote checkpoints")

        started = time.perf_counter()
        verified = sealing.verify_audit_chain()
        verify_seconds = time.perf_counter() - started
        if not verified.ok or verified.events_checked != args.events or verified.events_unsealed:
            raise SystemExit(f"verification failed: {verified.problems[:3]}, {verified.events_unsealed} unsealed")
        log(f"verified in {verify_seconds:.2f} s")

    print_result(
        {
            "benchmark": "audit_seal",
            "events": args.events,
            "seconds": round(seconds, 2),
            "events_per_second": round(args.events / seconds),
            "verify_seconds": round(verify_seconds, 2),
        }
    )


if __name__ == "__main__":
    main()
