"""Notices: render the statement of reasons in the merchant's language, store it, e-mail it.

Notices are written in bulk (a removal may notify tens of thousands of merchants) and
de-duplicated on ``dedupe_key``, so a task delivered twice writes each notice once. The
e-mail goes out from a task queued after commit; a beat sweep picks up anything left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, prefetch_related_objects
from django.template.base import VariableNode
from django.template.loader import get_template
from django.utils import timezone, translation

from backoffice.text import email_subject, neutralise_text, one_line
from moderation.bulk import insert_rows
from moderation.models import AuditVerb, Notice, Policy, PolicyClause
from moderation.notice_batch import TemplateBatch
from moderation.services.audit import EventRow, SystemActor, record_event, record_events
from sellers.models import Merchant

# 1,000 notices are about 2 MB of rendered text in memory at once.
NOTICE_BATCH_SIZE = 1000
EMAIL_BATCH_SIZE = 200
# Longer than a task may live (hard time limit): a claim never lapses while its worker sends.
EMAIL_LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
# Each notice is marked sent as soon as the mail server took it: a worker killed mid-batch
# e-mails again, once its lease lapses, only the one message it sent and had not marked yet
# (marking every 20 re-sent up to 19: the chaos tests saw it). One UPDATE per message is
# well under an SMTP round trip.
MARK_SENT_EVERY = 1
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
    """Subject and body of a rendered notice, as they may be stored and e-mailed (``backoffice.text``).

    The subject is the first line: one line of at most SUBJECT_MAX_LENGTH characters. Control
    characters and bidi overrides, which a merchant can put in a listing's title or a store's
    name to make a notice read otherwise than it says, leave both.
    """
    subject, _, body = text.strip().partition("\n")
    return email_subject(subject.removeprefix("Subject:")), neutralise_text(body).strip() + "\n"


# --- The subject line --------------------------------------------------------------------------------
#
# A notice template's first line is its subject. A value printed there may hold a line break (a
# listing's title may: the limits allow them in texts), which would end the subject in the middle
# of the value and start the body with the rest of it ("\r\nBcc: x@evil.example" in a title). So
# each value printed on that line is put on one line before it is printed: the text around it, which
# is ours, decides where the subject ends.


def _printed_on_one_line(value):
    """A filter for the values of the subject line: text on one line, dates and numbers as they are."""
    if value is None or isinstance(value, int | float | Decimal | date | datetime | time):
        return value  # printed by the template's own localisation, which writes no line break
    return one_line(str(value))


# It only takes characters out. Django reads ``is_safe`` off the filter function (where
# ``register.filter(is_safe=True)`` would set it); mypy allows no attribute set on a function.
_printed_on_one_line.is_safe = True  # type: ignore[attr-defined]


def _subject_kept_on_its_line(template):
    """``template``, every value printed on its first line passed through ``_printed_on_one_line``.

    The compiled template is the cached one, changed once: its nodes remember their line.
    """
    base = getattr(template, "template", template)  # the backend's wrapper, or a base Template
    if getattr(base, "subject_on_one_line", False):
        return template
    for node in base.nodelist.get_nodes_by_type(VariableNode):
        token = getattr(node, "token", None)
        filters = node.filter_expression.filters
        if token is not None and token.lineno == 1 and (_printed_on_one_line, []) not in filters:
            filters.append((_printed_on_one_line, []))
    base.subject_on_one_line = True
    return template


def render_notice(*, merchant: Merchant, draft: NoticeDraft) -> tuple[str, str]:
    """Subject and body from ``templates/notices/<language>/<kind>.txt``."""
    return render_notices([(merchant, draft)])[0]


def render_notices(pairs: list[tuple[Merchant, NoticeDraft]]) -> list[tuple[str, str]]:
    """Render many notices: language, timezone and template are set up once per group.

    Dates print in the policy's timezone, the one its dates are meant in. Switching the
    active language and timezone per notice cost more than the rendering itself; a group
    of notices is rendered as one ``TemplateBatch`` (what they share is rendered once).
    """
    results: list[tuple[str, str] | None] = [None] * len(pairs)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, (merchant, draft) in enumerate(pairs):
        zone_name = draft.policy.timezone if draft.policy else "UTC"
        groups.setdefault((merchant.language, draft.kind, zone_name), []).append(index)
    for (language, kind, zone_name), indexes in groups.items():
        zone = ZoneInfo(zone_name)
        with translation.override(language), timezone.override(zone):
            template = _subject_kept_on_its_line(get_template(f"notices/{language}/{kind}.txt"))
            contexts = [_notice_context(*pairs[index], zone) for index in indexes]
            for index, text in zip(indexes, TemplateBatch(template).render(contexts), strict=True):
                results[index] = _split(text)
    return cast(list[tuple[str, str]], results)  # every index is in one group: none is left None


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
    rows: list[dict[str, Any]] = []
    rendered = render_notices([(merchants[draft.merchant_id], draft) for draft in drafts])
    for draft, (subject, body) in zip(drafts, rendered, strict=True):
        puid = f"notice-{uuid.uuid4().hex}"
        rows.append(
            {
                "merchant_id": draft.merchant_id,
                "kind": draft.kind,
                "policy_id": draft.policy.pk if draft.policy else None,
                "clause_id": draft.clause.pk if draft.clause else None,
                "language": merchants[draft.merchant_id].language,
                "subject": subject,
                "body": body,
                "restricts": draft.restricts,
                "appeal_deadline": draft.appeal_deadline,
                "transparency": {**draft.transparency, "puid": puid} if draft.transparency else {},
                "puid": puid,
                "dedupe_key": draft.dedupe_key,
                "created_at": now,
            }
        )
    by_key = {row["dedupe_key"]: row for row in rows}
    inserted = insert_rows(Notice, rows, returning=("id", "dedupe_key"))
    record_events(
        actor=NOTICE_ACTOR,
        verb=AuditVerb.NOTICE_CREATED,
        target_type=Notice,
        at=now,
        rows=(
            EventRow(
                target_id=notice_id,
                target_repr=by_key[key]["subject"],
                merchant_id=by_key[key]["merchant_id"],
                policy_id=by_key[key]["policy_id"],
                after={"kind": by_key[key]["kind"], "dedupe_key": key, "restricts": by_key[key]["restricts"]},
            )
            for notice_id, key in inserted
        ),
    )
    return len(inserted)


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

    Each sent notice is marked at once: a worker that dies mid-batch leaves the rest of its
    batch ``sending`` and their lease brings them back (e-mail is at least once: at most the
    one message sent but not yet marked goes out twice).
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
                    # Stored neutralised (``_split``); again here for notices stored before that.
                    subject=email_subject(notice.subject),
                    body=neutralise_text(notice.body),
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
        record_event(
            actor=NOTICE_ACTOR,
            verb=AuditVerb.NOTICE_DELIVERY_FAILED,
            target=notice,
            merchant=notice.merchant_id,
            policy=notice.policy_id,
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
