"""Notices: render the statement of reasons in the merchant's language, store it, e-mail it.

Notices are written in bulk (a removal may notify tens of thousands of merchants) and
de-duplicated on ``dedupe_key``, so a task delivered twice writes each notice once. The
e-mail goes out from a task queued after commit; a beat sweep picks up anything left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, prefetch_related_objects
from django.template.loader import get_template
from django.utils import timezone, translation

from moderation.models import AuditEvent, AuditVerb, Notice, Policy, PolicyClause
from moderation.services.audit import SystemActor, actor_label
from sellers.models import Merchant

# 1,000 notices are about 2 MB of rendered text in memory at once.
NOTICE_BATCH_SIZE = 1000
EMAIL_BATCH_SIZE = 200
# Longer than a task may live (hard time limit): a claim never lapses while its worker sends.
EMAIL_LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
MARK_SENT_EVERY = 20
EMAIL_MAX_ATTEMPTS = 5
EMAIL_RETRY_BASE = timedelta(minutes=1)
NOTICE_ACTOR = SystemActor("notices")


@dataclass
class NoticeDraft:
    """What a service wants to tell one merchant; ``create_notices`` renders and stores it."""

    merchant_id: int
    kind: str
    dedupe_key: str
    policy: Policy | None = None
    clause: PolicyClause | None = None
    context: dict[str, Any] = field(default_factory=dict)
    restricts: bool = False
    appeal_deadline: datetime | None = None
    transparency: dict[str, Any] = field(default_factory=dict)


def _notice_context(merchant: Merchant, draft: NoticeDraft, zone) -> dict[str, Any]:
    policy = draft.policy
    return {
        "merchant": merchant,
        "policy": policy,
        "clause": draft.clause,
        "appeal_deadline": draft.appeal_deadline.astimezone(zone) if draft.appeal_deadline else None,
        "effective_at": policy.local(policy.effective_at) if policy else None,
        "enforcement_starts_at": policy.local(policy.enforcement_starts_at) if policy else None,
        "announced_at": policy.local(policy.announced_at) if policy else None,
        "timezone": str(zone),
        **draft.context,
    }


def _split(text: str) -> tuple[str, str]:
    subject, _, body = text.strip().partition("\n")
    return subject.removeprefix("Subject:").strip()[:300], body.strip() + "\n"


def render_notice(*, merchant: Merchant, draft: NoticeDraft) -> tuple[str, str]:
    """Subject and body from ``templates/notices/<language>/<kind>.txt``."""
    return render_notices([(merchant, draft)])[0]


def render_notices(pairs: list[tuple[Merchant, NoticeDraft]]) -> list[tuple[str, str]]:
    """Render many notices: language, timezone and template are set up once per group.

    Dates print in the policy's timezone, the one its dates are meant in. Switching the
    active language and timezone per notice cost more than the rendering itself.
    """
    results: list[tuple[str, str] | None] = [None] * len(pairs)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, (merchant, draft) in enumerate(pairs):
        zone = draft.policy.timezone if draft.policy else "UTC"
        groups.setdefault((merchant.language, draft.kind, zone), []).append(index)
    for (language, kind, zone_name), indexes in groups.items():
        zone = ZoneInfo(zone_name)
        with translation.override(language), timezone.override(zone):
            template = get_template(f"notices/{language}/{kind}.txt")
            for index in indexes:
                merchant, draft = pairs[index]
                results[index] = _split(template.render(_notice_context(merchant, draft, zone)))
    return results


def create_notices(drafts: Iterable[NoticeDraft]) -> int:
    """Store one notice per draft whose ``dedupe_key`` is new, with its audit event; mail after commit.

    Call inside the service's transaction. Returns how many notices were new.
    """
    created = 0
    batch: list[NoticeDraft] = []
    prefetched: set[int] = set()
    for draft in drafts:
        if draft.policy is not None and id(draft.policy) not in prefetched:
            # Templates list the clauses and categories: fetch them once per policy, not per notice.
            prefetch_related_objects([draft.policy], "clauses", "categories")
            prefetched.add(id(draft.policy))
        batch.append(draft)
        if len(batch) >= NOTICE_BATCH_SIZE:
            created += _create_batch(batch)
            batch = []
    if batch:
        created += _create_batch(batch)
    if created:
        from moderation.tasks import send_pending_notices

        transaction.on_commit(send_pending_notices.delay)
    return created


def _create_batch(drafts: list[NoticeDraft]) -> int:
    existing = set(
        Notice.objects.filter(dedupe_key__in=[d.dedupe_key for d in drafts]).values_list("dedupe_key", flat=True)
    )
    drafts = [d for d in drafts if d.dedupe_key not in existing]
    if not drafts:
        return 0
    merchants = Merchant.objects.select_related("marketplace").in_bulk([d.merchant_id for d in drafts])
    now = timezone.now()
    notices = []
    rendered = render_notices([(merchants[draft.merchant_id], draft) for draft in drafts])
    for draft, (subject, body) in zip(drafts, rendered, strict=True):
        merchant = merchants[draft.merchant_id]
        puid = f"notice-{uuid.uuid4().hex}"
        transparency = {**draft.transparency, "puid": puid} if draft.transparency else {}
        notices.append(
            Notice(
                merchant=merchant,
                kind=draft.kind,
                policy=draft.policy,
                clause=draft.clause,
                language=merchant.language,
                subject=subject,
                body=body,
                restricts=draft.restricts,
                appeal_deadline=draft.appeal_deadline,
                transparency=transparency,
                puid=puid,
                dedupe_key=draft.dedupe_key,
                created_at=now,
            )
        )
    Notice.objects.bulk_create(notices)
    notice_type = ContentType.objects.get_for_model(Notice)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            occurred_at=now,
            actor_name=actor_label(NOTICE_ACTOR),
            verb=AuditVerb.NOTICE_CREATED,
            target_type=notice_type,
            target_id=notice.pk,
            target_repr=notice.subject[:200],
            merchant_id=notice.merchant_id,
            policy=notice.policy,
            after={"kind": notice.kind, "dedupe_key": notice.dedupe_key, "restricts": notice.restricts},
        )
        for notice in notices
    )
    return len(notices)


def claim_unsent_notices(*, limit: int = EMAIL_BATCH_SIZE) -> list[int]:
    """Take a batch of notices to e-mail; SKIP LOCKED lets several workers share the backlog.

    A claim is a lease: a worker that dies mid-batch leaves them ``sending`` until the
    lease passes, then another worker sends them (at least once, never lost).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Notice.objects.select_for_update(skip_locked=True)
            .filter(email_status__in=[Notice.EmailStatus.PENDING, Notice.EmailStatus.SENDING])
            # Not while another worker holds it, nor before a failed one's retry time.
            .exclude(email_claimed_until__gt=now)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Notice.objects.filter(pk__in=ids).update(
                email_status=Notice.EmailStatus.SENDING, email_claimed_until=now + EMAIL_LEASE
            )
    return ids


def deliver_notices(notice_ids: list[int]) -> tuple[int, int]:
    """E-mail the claimed notices over one connection. Returns (sent, failed).

    Sent notices are marked every few messages: a worker that dies mid-batch leaves only
    the last few ``sending``, and their lease brings them back (e-mail is at least once).
    """
    sent_ids: list[int] = []
    sent = failed = 0
    notices = Notice.objects.filter(pk__in=notice_ids, email_status=Notice.EmailStatus.SENDING).select_related(
        "merchant"
    )
    with get_connection() as connection:
        try:
            for notice in notices:
                message = EmailMessage(
                    subject=notice.subject,
                    body=notice.body,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[notice.merchant.contact_email],
                    connection=connection,
                    headers={"X-Notice-Id": notice.puid},
                )
                try:
                    message.send()
                except SoftTimeLimitExceeded:
                    raise  # the task's time is up: the rest of the batch waits for its lease
                except Exception as error:  # noqa: BLE001 - any SMTP failure: keep the notice, retry later
                    failed += 1
                    _record_delivery_failure(notice, error)
                    continue
                sent_ids.append(notice.pk)
                sent += 1
                if len(sent_ids) >= MARK_SENT_EVERY:
                    _mark_sent(sent_ids)
                    sent_ids = []

        finally:
            # Even when the task's time runs out mid-batch: what went out is marked sent.
            _mark_sent(sent_ids)
    return sent, failed


def _mark_sent(notice_ids: list[int]) -> None:
    if not notice_ids:
        return
    Notice.objects.filter(pk__in=notice_ids, email_status=Notice.EmailStatus.SENDING).update(
        email_status=Notice.EmailStatus.SENT,
        sent_at=timezone.now(),
        email_attempts=F("email_attempts") + 1,
        email_claimed_until=None,
    )


@transaction.atomic
def _record_delivery_failure(notice: Notice, error: Exception) -> None:
    attempts = notice.email_attempts + 1
    gave_up = attempts >= EMAIL_MAX_ATTEMPTS
    Notice.objects.filter(pk=notice.pk).update(
        email_status=Notice.EmailStatus.FAILED if gave_up else Notice.EmailStatus.PENDING,
        email_attempts=attempts,
        # Back off before the next try (1, 2, 4, 8 minutes): a mail server that is down
        # now should not use up every attempt within one sweep.
        email_claimed_until=None if gave_up else timezone.now() + EMAIL_RETRY_BASE * 2 ** (attempts - 1),
        last_error=str(error)[:2000],
    )
    if gave_up:
        AuditEvent.objects.create(
            actor_name=actor_label(NOTICE_ACTOR),
            verb=AuditVerb.NOTICE_DELIVERY_FAILED,
            target_type=ContentType.objects.get_for_model(Notice),
            target_id=notice.pk,
            target_repr=notice.subject[:200],
            merchant_id=notice.merchant_id,
            policy_id=notice.policy_id,
            reason=f"Gave up after {attempts} attempts: {error}",
        )


def send_pending_notices(*, limit_batches: int = 50) -> int:
    """Claim and send batches until none is left (or ``limit_batches``, so a task stays short)."""
    total = 0
    for _ in range(limit_batches):
        ids = claim_unsent_notices()
        if not ids:
            break
        sent, _failed = deliver_notices(ids)
        total += sent
    return total
