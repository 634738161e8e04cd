"""Notices rendered in batches: what a batch renders is, notice by notice, what the template renders alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.template import engines
from django.utils import timezone, translation

from moderation.models import Notice, Sanction, Violation
from moderation.notice_batch import TemplateBatch
from moderation.services.notices import render_notice
from moderation.services.sanctions import (
    CountedViolation,
    counted_violations_by_merchant,
    ladder_of,
    run_escalation,
    sanction_notice,
    sanction_repr,
)
from sellers import services as catalog
from sellers.models import Merchant
from tests.moderation.sanctions_fixtures import *  # noqa: F403

# Every construct the notice templates use: if/elif/else with and/not/comparisons, for with
# forloop and empty, filters with arguments, autoescape off inside and on outside, a
# missing variable, values shared by many notices and values each notice has alone.
TEMPLATE = """{% autoescape off %}Subject: {% if sanction.kind == "block" %}blocked\
{% elif sanction.kind == "warning" %}warned{% else %}{{ sanction.label }}{% endif %}\
{% if ends %} until {{ ends|date:"j F Y, H:i" }}{% endif %}
Dear {{ merchant.name }} <{{ merchant.email }}>,
{% if previous and not sanction.manual %}  It follows {{ previous.kind }} #{{ previous.pk }} of \
{{ previous.starts|date:"j F Y" }}.
{% elif sanction.manual %}  A person decided: {{ sanction.reason }}
{% endif %}{% for v in violations %}    - {{ v.at|date:"j F Y, H:i" }}: {{ v.points }} point{{ v.points|pluralize }}\
{% if v.note %}: “{{ v.note }}”{% endif %}{% if forloop.last %} (last){% endif %}
{% empty %}    no violations
{% endfor %}{% for step in ladder %}  {{ step.threshold|stringformat:"3d" }}{% if step.threshold == sanction.step %}\
   <- this{% elif step.threshold <= sanction.points %}   <- reached{% endif %}
{% endfor %}  {{ missing.value }}{% if missing %}never{% endif %}{% endautoescape %}
{{ merchant.name }} & {{ sanction.points|add:"1" }}
"""

UTC = ZoneInfo("UTC")
AT = datetime(2021, 10, 20, 2, 0, tzinfo=UTC)


def contexts() -> list[dict]:
    """Forty notices: a few shapes shared by many, a store name and violations each of its own."""
    ladder = [SimpleNamespace(threshold=threshold) for threshold in (6, 12, 24)]
    result = []
    for n in range(40):
        kind = ["block", "warning", "freeze"][n % 3]
        manual = n % 7 == 0
        result.append(
            {
                "merchant": SimpleNamespace(name=f"Store {n} & Sons", email=f"s{n}@example.com"),
                "sanction": SimpleNamespace(
                    kind=kind,
                    label=kind.title(),
                    manual=manual,
                    reason=f"reason {n}",
                    points=[8, 12, 30][n % 3] + n % 2,
                    step=[6, 12, None][n % 3],
                ),
                "previous": None if n % 5 == 0 else SimpleNamespace(kind="warning", pk=100 + n, starts=AT),
                "ends": AT + timedelta(days=7) if kind != "warning" else None,
                "violations": [
                    SimpleNamespace(at=AT - timedelta(days=n, hours=j), points=j + 1, note="Antminer" if j else "")
                    for j in range(n % 4)
                ],
                "ladder": ladder,
            }
        )
    return result


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_batch_renders_each_notice_as_the_template_does_alone(language):
    template = engines["django"].from_string(TEMPLATE)
    with translation.override(language), timezone.override(ZoneInfo("Asia/Shanghai")):
        alone = [template.render(context) for context in contexts()]
        batch = TemplateBatch(template)
        assert batch.render(contexts()) == alone
    # What the notices share was rendered once per shape; what each has alone, per notice.
    assert {"merchant.name", "violations"} <= batch.volatile
    assert "ladder" not in batch.volatile


def test_a_variable_that_raises_raises_from_the_batch_too():
    template = engines["django"].from_string("{{ merchant.name }}: {% if merchant.broken %}x{% endif %}")

    class Broken:
        name = "Store"

        @property
        def broken(self):
            raise RuntimeError("the template raises this")

    with pytest.raises(RuntimeError):
        template.render({"merchant": Broken()})
    with pytest.raises(RuntimeError):
        TemplateBatch(template).render([{"merchant": Broken()}, {"merchant": Broken()}])


def test_every_notice_a_sweep_writes_is_what_its_template_renders_alone(
    after_grace, announced_policy, marketplace, system, violate
):
    """Two languages, warnings and store blocks, prior warnings: the batches of one sweep."""
    merchants = [
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Store {n}",
            company_name=f"Store {n} Co., Ltd.",
            country="CN",
            contact_email=f"store{n}@example.com",
            language=Merchant.Language.CHINESE if n % 2 else Merchant.Language.ENGLISH,
        )
        for n in range(8)
    ]
    for n, merchant in enumerate(merchants[:4]):
        violate(merchant, 8 + 4 * (n % 2))
    assert run_escalation()["issued"] == 4  # warnings
    after_grace.by(timedelta(days=4))
    for n, merchant in enumerate(merchants):
        violate(merchant, 4 if n < 4 else 12)
    at = after_grace.now()
    assert run_escalation()["issued"] == 8  # store blocks for the warned, prior warnings for the rest
    sanctions = list(Sanction.objects.filter(starts_at=at).select_related("merchant__marketplace", "step", "previous"))
    assert {s.kind for s in sanctions} == {"store_block", "warning"}
    violations = counted_violations_by_merchant(
        policy=announced_policy, at=at, merchant_ids=[s.merchant_id for s in sanctions]
    )
    for sanction in sanctions:
        draft = sanction_notice(
            sanction,
            policy=announced_policy,
            ladder=ladder_of(announced_policy),
            violations=violations[sanction.merchant_id],
        )
        notice = Notice.objects.get(dedupe_key=f"sanction:{sanction.pk}")
        assert (notice.subject, notice.body) == render_notice(merchant=sanction.merchant, draft=draft)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_sweeps_shortcuts_read_as_the_models_do(language):
    """The sweep names sanctions and violation kinds without the models' per-call choices lookup."""
    with translation.override(language):
        for kind in Sanction.Kind.values:
            sanction = Sanction(kind=kind, merchant_id=42)
            assert sanction_repr(sanction) == str(sanction)
        for kind in Violation.Kind.values:
            counted = CountedViolation(1, 42, None, kind, 4, AT, None, None, False, {})
            assert counted.get_kind_display() == Violation(kind=kind).get_kind_display()
