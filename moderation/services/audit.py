"""The one door to the audit trail: ``record_event`` for one event, ``record_events`` for many.

Every write to ``AuditEvent`` in the project goes through this module (tests/test_one_audit_door.py
greps for any other): a change to the trail's columns is one edit here, and nothing can slip past
the seal. The trail is sealed (``moderation.services.sealing``): every INSERT statement into it
fires a statement-level trigger that takes the seal's advisory lock, so every form below is a
plain INSERT (no COPY, no trigger switched off), and the running app's role may only INSERT and
read there (``grant_runtime_role``). Three forms:

- ``record_event``: one event about one model instance, inside the service's transaction;
- ``record_events``: many events of one verb about one model, as rows, in one statement;
- ``events_insert_sql`` / ``record_events_from_select``: ``INSERT INTO <trail> … SELECT``, for
  set-based SQL that writes an event per row it changes (a removal chunk's delistings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone, translation

from moderation.bulk import insert_rows
from moderation.models import AuditEvent, AuditVerb
from moderation.models.audit import EVENT_COLUMNS


@dataclass(frozen=True)
class SystemActor:
    """The system acting on its own: a Celery task, a beat sweep, a management command."""

    name: str

    @property
    def label(self) -> str:
        return f"task:{self.name}"


@dataclass(frozen=True)
class AnonymousActor:
    """Someone not signed in, named by the username typed (failed sign-ins, lock-outs)."""

    username: str

    @property
    def label(self) -> str:
        return f"anonymous:{self.username}"[: AuditEvent._meta.get_field("actor_name").max_length]


# A person is the project's user model: ``settings.AUTH_USER_MODEL`` is Django's own ``auth.User``,
# which is what the actor columns (``AuditEvent.actor``, ``created_by``, ``decided_by``…) hold.
Actor = User | SystemActor | AnonymousActor


def actor_user(actor: Actor) -> User | None:
    return None if isinstance(actor, SystemActor | AnonymousActor) else actor


def actor_label(actor: Actor) -> str:
    return actor.label if isinstance(actor, SystemActor | AnonymousActor) else actor.get_username()


def record_event(
    *,
    actor: Actor,
    verb: AuditVerb,
    target: models.Model,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    merchant: models.Model | int | None = None,
    policy: models.Model | int | None = None,
) -> AuditEvent:
    """Append one event. Call it inside the service's transaction, after the change.

    ``merchant`` and ``policy`` are the rows the event is filed under, as instances or ids.
    """
    # The trail is written in one language whoever acts: a sanction's or a violation's name
    # carries a choice label, which a moderator's request would otherwise have in Chinese.
    with translation.override(settings.LANGUAGE_CODE):
        target_repr = str(target)[:200]
    return AuditEvent.objects.create(
        actor=actor_user(actor),
        actor_name=actor_label(actor),
        verb=verb,
        target_type=ContentType.objects.get_for_model(target),
        target_id=target.pk,
        target_repr=target_repr,
        before=before,
        after=after,
        reason=reason,
        **_filed_under("merchant", merchant),
        **_filed_under("policy", policy),
    )


def _filed_under(name: str, value: models.Model | int | None) -> dict[str, Any]:
    """An instance as the relation (what a caller passed stays cached on the event), an id as the column."""
    return {name: value} if value is None or isinstance(value, models.Model) else {f"{name}_id": value}


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of a ``record_events`` call: its target by id, and what it says."""

    target_id: int
    target_repr: str
    merchant_id: int | None = None
    policy_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str = ""


def record_events(
    *,
    actor: Actor,
    verb: AuditVerb,
    target_type: type[models.Model],
    rows: Iterable[EventRow],
    at: datetime | None = None,
) -> int:
    """Append one event per row, all by ``actor`` with ``verb`` about rows of ``target_type``, in one INSERT.

    ``at`` (default: now) is when they happened: a sweep passes the moment it decided at.
    The caller writes ``target_repr`` in the trail's language (``settings.LANGUAGE_CODE``).
    Returns how many were written.
    """
    rows = list(rows)
    if not rows:
        return 0
    at = at or timezone.now()
    user = actor_user(actor)
    common = {
        "occurred_at": at,
        "actor_id": user.pk if user is not None else None,
        "actor_name": actor_label(actor),
        "verb": verb,
        "target_type_id": ContentType.objects.get_for_model(target_type).pk,
    }
    insert_rows(
        AuditEvent,
        [
            {
                **common,
                "target_id": row.target_id,
                "target_repr": row.target_repr[:200],
                "merchant_id": row.merchant_id,
                "policy_id": row.policy_id,
                "before": row.before,
                "after": row.after,
                "reason": row.reason,
            }
            for row in rows
        ],
    )
    return len(rows)


# The columns a SELECT feeding ``events_insert_sql`` produces, in this order: every column of
# the trail but the id, which its sequence draws.
EVENT_INSERT_COLUMNS = EVENT_COLUMNS[1:]


def events_insert_sql(select: str) -> str:
    """``INSERT INTO <the trail> (EVENT_INSERT_COLUMNS) <select>``: one event per row the SELECT gives.

    For set-based SQL that composes it into a larger statement (a data-modifying CTE whose
    UPDATE … RETURNING feeds it); it is an ordinary INSERT, so the seal's trigger fires.
    """
    quote = connection.ops.quote_name
    # Every concrete field has a column (that is what concrete means): the condition only tells mypy.
    column_of = {field.attname: field.column for field in AuditEvent._meta.concrete_fields if field.column is not None}
    columns = ", ".join(quote(column_of[name]) for name in EVENT_INSERT_COLUMNS)
    return f"INSERT INTO {quote(AuditEvent._meta.db_table)} ({columns}) {select}"


def record_events_from_select(select: str, params: Sequence[Any] | dict[str, Any]) -> int:
    """Run ``events_insert_sql(select)`` with ``params``; returns how many events it wrote."""
    with connection.cursor() as cursor:
        cursor.execute(events_insert_sql(select), params)
        return cursor.rowcount


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of a row, for an event's before/after (foreign keys as ids)."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is a relation's reverse side, not a column"
        values[name] = getattr(instance, field.attname)
    return values
