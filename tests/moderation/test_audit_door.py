"""The door to the trail (``moderation.services.audit``): one event, many as rows, many from a SELECT.

Whatever the form, an event is an ordinary INSERT into the trail: the running app's role may
write it, and the seal's trigger sees it (an insert in flight holds the sealer back).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from moderation.models import AuditEvent, AuditVerb, Policy
from moderation.services import sealing
from moderation.services.audit import (
    EVENT_INSERT_COLUMNS,
    AnonymousActor,
    EventRow,
    SystemActor,
    events_insert_sql,
    record_event,
    record_events,
    record_events_from_select,
)
from sellers.models import Merchant

AT = datetime(2021, 10, 20, 3, 4, 5, 678901, tzinfo=UTC)


def test_it_writes_one_event_per_row_with_what_they_share(merchant_a, merchant_b, announced_policy, moderator):
    before = AuditEvent.objects.count()
    written = record_events(
        actor=moderator,
        verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED,
        target_type=Merchant,
        at=AT,
        rows=(
            EventRow(
                target_id=merchant.pk,
                target_repr=f"Merchant #{merchant.pk}",
                merchant_id=merchant.pk,
                policy_id=announced_policy.pk,
                before={"status": "active"},
                after={"status": "frozen", "until": AT},
                reason="Checked by hand.",
            )
            for merchant in (merchant_a, merchant_b)
        ),
    )
    assert written == 2 and AuditEvent.objects.count() == before + 2
    events = AuditEvent.objects.filter(verb=AuditVerb.ENFORCEMENT_STATUS_CHANGED).order_by("id")
    assert [(e.target_id, e.merchant_id, e.policy_id) for e in events] == [
        (merchant_a.pk, merchant_a.pk, announced_policy.pk),
        (merchant_b.pk, merchant_b.pk, announced_policy.pk),
    ]
    for event in events:
        assert (event.actor, event.actor_name, event.occurred_at) == (moderator, moderator.username, AT)
        assert event.target_type == ContentType.objects.get_for_model(Merchant)
        assert event.before == {"status": "active"}
        # Times in the JSON as Django's encoder writes them, as ``record_event`` stores them.
        assert event.after == {"status": "frozen", "until": "2021-10-20T03:04:05.678Z"}
        assert event.reason == "Checked by hand."


def test_no_rows_write_nothing_and_ask_nothing(db):
    with CaptureQueriesContext(connection) as queries:
        assert record_events(actor=SystemActor("tests"), verb=AuditVerb.LOGIN, target_type=Merchant, rows=[]) == 0
    assert len(queries) == 0


def test_a_long_text_is_cut_to_the_columns(merchant_a):
    record_events(
        actor=AnonymousActor("x" * 400),
        verb=AuditVerb.LOGIN_FAILED,
        target_type=Merchant,
        rows=[EventRow(target_id=merchant_a.pk, target_repr="名" * 300)],
    )
    event = AuditEvent.objects.get(verb=AuditVerb.LOGIN_FAILED)
    assert event.actor is None
    assert event.actor_name == ("anonymous:" + "x" * 400)[:150]
    assert event.target_repr == "名" * 200


def test_one_event_may_be_filed_under_ids(merchant_a, announced_policy, system):
    event = record_event(
        actor=system,
        verb=AuditVerb.MERCHANT_EDITED,
        target=merchant_a,
        merchant=merchant_a.pk,
        policy=announced_policy.pk,
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.merchant_id, stored.policy_id, stored.actor_name) == (
        merchant_a.pk,
        announced_policy.pk,
        "task:tests",
    )


def test_a_select_writes_one_event_per_row_it_gives(merchant_a, merchant_b, system):
    merchant_type = ContentType.objects.get_for_model(Merchant)
    select = (
        "SELECT %s, NULL, %s, %s, %s, id, store_name, id, NULL, NULL, NULL, '' "
        "FROM sellers_merchant WHERE id IN (%s, %s)"
    )
    params = [AT, "task:tests", int(AuditVerb.MERCHANT_EDITED), merchant_type.pk, merchant_a.pk, merchant_b.pk]
    assert record_events_from_select(select, params) == 2
    events = AuditEvent.objects.filter(verb=AuditVerb.MERCHANT_EDITED, target_type=merchant_type).order_by("target_id")
    assert [(e.target_id, e.target_repr, e.occurred_at) for e in events] == [
        (merchant_a.pk, merchant_a.store_name, AT),
        (merchant_b.pk, merchant_b.store_name, AT),
    ]


def test_the_insert_names_every_column_but_the_id():
    fields = {field.attname for field in AuditEvent._meta.concrete_fields} - {"id"}
    assert set(EVENT_INSERT_COLUMNS) == fields and len(EVENT_INSERT_COLUMNS) == len(fields)
    sql = events_insert_sql("SELECT 1")
    assert sql.startswith("INSERT INTO ") and sql.endswith(") SELECT 1")


# --- The seal sees every form ------------------------------------------------------------------


@pytest.fixture
def committed(transactional_db):
    """Rows committed for real, so that the sealer on its own connection sees them."""


def write_one_event(form: str) -> None:
    system = SystemActor("tests")
    policy = Policy.objects.order_by("pk").first()
    if form == "one":
        record_event(actor=system, verb=AuditVerb.POLICY_EDITED, target=policy)
    elif form == "rows":
        record_events(
            actor=system,
            verb=AuditVerb.POLICY_EDITED,
            target_type=Policy,
            rows=[EventRow(target_id=policy.pk, target_repr=str(policy))],
        )
    else:
        policy_type = ContentType.objects.get_for_model(Policy).pk
        record_events_from_select(
            "SELECT %s, NULL, 'task:tests', %s, %s, id, 'policy', NULL, id, NULL, NULL, '' "
            "FROM moderation_policy WHERE id = %s",
            [AT, int(AuditVerb.POLICY_EDITED), policy_type, policy.pk],
        )


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["one", "rows", "select"])
def test_an_event_in_flight_holds_the_seal_back_whatever_its_form(committed, announced_policy, monkeypatch, form):
    """Each form fires the trail's insert trigger, which takes the seal's lock until the writer commits."""
    inserted, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer():
        try:
            with transaction.atomic():
                write_one_event(form)
                inserted.set()
                finish.wait(timeout=10)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
            inserted.set()
        finally:
            connections.close_all()

    monkeypatch.setattr(sealing, "SEAL_LOCK_TIMEOUT_MS", 200)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inserted.wait(timeout=10)
        held_back = sealing.seal_audit_events(actor=SystemActor("sealer"))
    finally:
        finish.set()
        thread.join(timeout=20)
    assert errors == []
    assert (held_back.skipped, held_back.checkpoints) == ("busy", [])
    sealed = sealing.seal_audit_events(actor=SystemActor("sealer"))
    assert sealed.events == AuditEvent.objects.count()
    assert sealing.verify_audit_chain().ok
