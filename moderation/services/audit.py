"""Writing the audit trail. Every service calls ``record_event`` inside its transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import translation

from moderation.models import AuditEvent, AuditVerb


@dataclass(frozen=True)
class SystemActor:
    """The system acting on its own: a Celery task, a beat sweep, a management command."""

    name: str

    @property
    def label(self) -> str:
        return f"task:{self.name}"


Actor = AbstractBaseUser | SystemActor


def actor_user(actor: Actor) -> AbstractBaseUser | None:
    return None if isinstance(actor, SystemActor) else actor


def actor_label(actor: Actor) -> str:
    return actor.label if isinstance(actor, SystemActor) else actor.get_username()


def record_event(
    *,
    actor: Actor,
    verb: AuditVerb,
    target: models.Model,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    merchant=None,
    policy=None,
) -> AuditEvent:
    """Append one event. Call it inside the service's transaction, after the change."""
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
        merchant=merchant,
        policy=policy,
        before=before,
        after=after,
        reason=reason,
    )


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of a row, for an event's before/after (foreign keys as ids)."""
    values = {}
    for name in fields:
        field = instance._meta.get_field(name)
        values[name] = getattr(instance, field.attname)
    return values
