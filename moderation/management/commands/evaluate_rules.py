"""Judge a policy's detection rules on a labelled corpus: precision, recall, F1, every error.

    $ python manage.py evaluate_rules --policy virtual-currency-mining tests/data/detection/corpus.jsonl

Prints the figures, then every miss (a banned row not flagged) and every false alarm (an
innocent row flagged) with its score and the signals that matched, then each rule's hits
on banned and on innocent rows, so an admin sees which rule to tighten or loosen. The
rules are the policy's active ones, shadow rules included in the hits but, as in
production, not in the score. ``--json`` prints one JSON object instead. The corpus
format is described in ``tests/data/detection/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from moderation.detection.evaluation import evaluate, load_corpus
from moderation.models import Policy
from moderation.selectors.detection import policy_matcher
from moderation.selectors.policies import current_policy


class Command(BaseCommand):
    help = "Evaluate a policy's detection rules on a labelled corpus (JSON Lines or CSV)."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="The policy's slug, e.g. virtual-currency-mining.")
        parser.add_argument("file", help="The labelled corpus: .jsonl (one listing a line) or .csv.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of the report.")

    def handle(self, *args, policy: str, file: str, **options):
        found = current_policy(policy)
        if found is None:
            known = ", ".join(sorted(set(Policy.objects.values_list("slug", flat=True)))) or "none yet"
            raise CommandError(f"No policy with the slug “{policy}” (known: {known}).")
        if not Path(file).is_file():
            raise CommandError(f"No such file: {file}")
        try:
            rows = load_corpus(file)
        except (ValueError, KeyError) as exc:
            raise CommandError(f"{file}: {exc}") from exc
        report = evaluate(policy_matcher(found), rows)
        reconfigure = getattr(self.stdout, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(encoding="utf-8")  # Chinese listings through a pipe under LANG=C
        if options["json"]:
            self.stdout.write(json.dumps(_summary(report, len(rows)), ensure_ascii=False))
            return
        self._print(report, len(rows))

    def _print(self, report, total: int) -> None:
        write = self.stdout.write
        write(
            f"{total} rows: {len(report.true_positives) + len(report.misses)} banned, "
            f"{len(report.false_alarms) + report.true_negatives} clean"
        )
        write(f"precision {report.precision:.3f}  recall {report.recall:.3f}  F1 {report.f1:.3f}")
        write(f"clause right on {report.clause_accuracy:.1%} of the flagged banned rows")
        write(f"\nMisses ({len(report.misses)}):")
        for row, result in report.misses:
            write(f"  {row.id} [{row.group}] score {result.score}: {', '.join(result.labels) or 'no signal'}")
            write(f"      {row.title[:120]}")
        write(f"\nFalse alarms ({len(report.false_alarms)}):")
        for row, result in report.false_alarms:
            write(f"  {row.id} [{row.group}] score {result.score}: {', '.join(result.labels)}")
            write(f"      {row.title[:120]}  ← {', '.join(result.words)}")
        write("\nRule hits (banned / clean rows):")
        for tally in sorted(report.rules.values(), key=lambda t: (-(t.on_banned + t.on_clean), t.label)):
            write(f"  {tally.on_banned:5d} / {tally.on_clean:<5d} {tally.label}")


def _summary(report, total: int) -> dict:
    return {
        "rows": total,
        "precision": round(report.precision, 4),
        "recall": round(report.recall, 4),
        "f1": round(report.f1, 4),
        "clause_accuracy": round(report.clause_accuracy, 4),
        "misses": [row.id for row, _ in report.misses],
        "false_alarms": [row.id for row, _ in report.false_alarms],
        "rules": {tally.label: [tally.on_banned, tally.on_clean] for tally in report.rules.values()},
    }
