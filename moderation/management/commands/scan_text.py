"""Try a policy's detection rules on text: one line in, one JSON object out.

    $ printf '出售二手矿机\\nData Mining: Concepts and Techniques\\nＡＳＩＣ　ｍｉｎｅｒ\\n' \\
        | python manage.py scan_text --policy virtual-currency-mining
    {"score": 10, "flagged": true, "terms": ["矿机"], "signals": ["Chinese mining trade word"], "clause": 1}
    {"score": 0, "flagged": false, "terms": [], "signals": [], "clause": null}
    {"score": 20, "flagged": true, "terms": ["ＡＳＩＣ　ｍｉｎｅｒ", …], "signals": […], "clause": 1}

Each line is scored as a listing whose title and description are that line, so every rule
that looks at either field applies (a rule counts once however many fields match).
``terms`` are the words as the line wrote them, ``signals`` the labels of the rules that
matched (never their patterns), ``clause`` the clause the evidence points to. Reads
and writes UTF-8 whatever the locale says, so Chinese goes through a pipe unharmed.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from django.core.management import BaseCommand, CommandError

from moderation.models import Policy
from moderation.selectors.detection import policy_matcher
from moderation.selectors.policies import current_policy


def json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class Command(BaseCommand):
    help = "Score text with a policy's detection rules: one line per listing title on stdin, one JSON line out."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="The policy's slug, e.g. virtual-currency-mining.")

    def handle(self, *args, policy: str, **options):
        found = current_policy(policy)
        if found is None:
            known = ", ".join(sorted(set(Policy.objects.values_list("slug", flat=True)))) or "none yet"
            raise CommandError(f"No policy with the slug “{policy}” (known: {known}).")
        matcher = policy_matcher(found)
        # A pipe under LANG=C would otherwise be read and written as ASCII.
        reconfigure = getattr(self.stdout, "reconfigure", None)
        if callable(reconfigure):
            reconfigure(encoding="utf-8")
        for line in self._lines():
            text = line.rstrip("\r\n")
            result = matcher.score(title=text, description=text)
            payload = {
                "score": json_number(result.score),
                "flagged": result.flagged,
                "terms": result.words,
                "signals": result.labels,
                "clause": result.clause,
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
            self.stdout.flush()

    def _lines(self):
        binary = getattr(sys.stdin, "buffer", None)
        if binary is None:
            yield from sys.stdin  # Already text (a test's StringIO).
            return
        # Decode the bytes ourselves rather than wrap them: a wrapper would close stdin when collected.
        for raw in binary:
            yield raw.decode("utf-8", errors="replace")
