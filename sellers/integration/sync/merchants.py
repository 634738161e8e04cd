"""Merchants synced in: created and updated in one statement each, audited as the back office audits them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation.models import AuditVerb
from moderation.services.audit import EventRow, record_events
from sellers.integration.events import MerchantUpsert
from sellers.integration.sync.outcomes import (
    APPLIED,
    IGNORED,
    REFUSED,
    STALE,
    Outcome,
    event_type,
    stored_version,
    trail_repr,
)
from sellers.integration.sync.statements import bulk_update, one_of
from sellers.models import MarketplaceServiceAccount, Merchant

MERCHANT_SYNCED_FIELDS = ["store_name", "company_name", "country", "contact_email", "language"]


@dataclass(slots=True)
class _MerchantChange:
    event: MerchantUpsert
    merchant: Merchant
    created: bool
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    old_language: str = ""


class MerchantSync:
    def __init__(self, account: MarketplaceServiceAccount) -> None:
        self.marketplace = account.marketplace
        self.actor = account.user

    def apply(self, events: list[MerchantUpsert]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        existing = {
            merchant.external_id: merchant
            for merchant in Merchant.objects.select_for_update(of=("self",))
            .filter(
                one_of(Merchant, "external_id", [event.external_id for event in events]), marketplace=self.marketplace
            )
            .order_by("pk")
        }
        # Store names are unique per marketplace: who holds each name the batch asks for.
        holders: dict[str, object] = dict(
            Merchant.objects.filter(
                marketplace=self.marketplace, store_name__in=[event.store_name for event in events]
            ).values_list("store_name", "pk")
        )
        now = timezone.now()
        changes: list[_MerchantChange] = []
        for event in events:
            current = existing.get(event.external_id)
            if current is not None and event.version <= stored_version(current):
                outcomes[event.index] = Outcome(event.index, event_type(event), event.external_id, IGNORED, STALE)
                continue
            holder = holders.get(event.store_name)
            if holder is not None and (current is None or holder != current.pk):
                outcomes[event.index] = Outcome(
                    event.index,
                    event_type(event),
                    event.external_id,
                    REFUSED,
                    errors={"store_name": [_("This marketplace has a store of that name already.")]},
                )
                continue
            if current is None:
                merchant = Merchant(
                    marketplace=self.marketplace,
                    external_id=event.external_id,
                    external_version=event.version,
                    created_at=now,
                    **event.fields,
                )
                changes.append(_MerchantChange(event, merchant, created=True))
                holders[event.store_name] = event  # taken from here on, in this batch
            else:
                old = {name: getattr(current, name) for name in MERCHANT_SYNCED_FIELDS}
                change = _MerchantChange(
                    event,
                    current,
                    created=False,
                    before={name: value for name, value in old.items() if value != event.fields[name]},
                    old_language=current.language,
                )
                change.before["external_version"] = current.external_version
                change.after = {name: event.fields[name] for name in change.before if name in event.fields}
                change.after["external_version"] = event.version
                for name, value in event.fields.items():
                    setattr(current, name, value)
                current.external_version = event.version
                changes.append(change)
                holders.pop(old["store_name"], None)
                holders[event.store_name] = current.pk
            outcomes[event.index] = Outcome(event.index, event_type(event), event.external_id, APPLIED)
        self._write([change for change in changes if change.created], [c for c in changes if not c.created])
        return outcomes

    def _write(self, created: list[_MerchantChange], changed: list[_MerchantChange]) -> None:
        if created:
            Merchant.objects.bulk_create([change.merchant for change in created])
            record_events(
                actor=self.actor,
                verb=AuditVerb.MERCHANT_REGISTERED,
                target_type=Merchant,
                rows=[
                    EventRow(
                        target_id=change.merchant.pk,
                        target_repr=trail_repr(change.merchant),
                        merchant_id=change.merchant.pk,
                        after={
                            "marketplace": change.merchant.marketplace_id,
                            **change.event.fields,
                            "external_id": change.event.external_id,
                            "external_version": change.event.version,
                        },
                    )
                    for change in created
                ],
            )
        if not changed:
            return
        bulk_update(Merchant, [change.merchant for change in changed], [*MERCHANT_SYNCED_FIELDS, "external_version"])
        # A new contact e-mail is told to the old address, citing its audit event: those events one
        # by one (a handful), the others in one statement.
        mailing = [change for change in changed if "contact_email" in change.before]
        record_events(
            actor=self.actor,
            verb=AuditVerb.MERCHANT_EDITED,
            target_type=Merchant,
            rows=[
                EventRow(
                    target_id=change.merchant.pk,
                    target_repr=trail_repr(change.merchant),
                    merchant_id=change.merchant.pk,
                    before=change.before,
                    after=change.after,
                )
                for change in changed
                if "contact_email" not in change.before
            ],
        )
        from moderation.services.audit import record_event
        from moderation.services.queue import refresh_store_name_in_search_text
        from sellers.services import _contact_change_mails, _send_mails

        for change in changed:
            if "store_name" in change.before:
                refresh_store_name_in_search_text(merchant=change.merchant)
        for change in mailing:
            event = record_event(
                actor=self.actor,
                verb=AuditVerb.MERCHANT_EDITED,
                target=change.merchant,
                merchant=change.merchant,
                before=change.before,
                after=change.after,
            )
            # As update_merchant does: rendered now (a broken template refuses the change), sent after commit.
            messages = _contact_change_mails(
                merchant=change.merchant,
                old_email=change.before["contact_email"],
                old_language=change.old_language,
                reference=event.pk,
            )
            transaction.on_commit(functools.partial(_send_mails, messages, reference=event.pk))
