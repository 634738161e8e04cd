"""State changes of the catalog, one function per business action.

Each runs in a transaction, validates before it writes (a refused action changes nothing
and raises ``ValidationError`` with field-level messages) and records its audit event.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from moderation.models import AuditVerb
from moderation.services.audit import Actor, actor_label, record_event, snapshot
from sellers import versions
from sellers.limits import NOT_GIVEN, validate_listing_content
from sellers.models import Category, Listing, Marketplace, Merchant

LISTING_AUDITED_FIELDS = ["title", "description", "attributes", "price", "currency", "category", "status", "version"]
LISTING_CONTENT_FIELDS = ["title", "description", "attributes"]
# What an administrator may correct after creation. Not a marketplace's code (feeds and URLs name
# it), nor a merchant's marketplace (its policies, violations and sanctions are that
# marketplace's) or enforcement fields (only the sanction services write those).
MARKETPLACE_EDITABLE_FIELDS = ["name", "timezone"]
MERCHANT_EDITABLE_FIELDS = ["store_name", "company_name", "country", "contact_email", "language", "user"]

logger = logging.getLogger(__name__)


@transaction.atomic
def create_marketplace(*, actor: Actor, code: str, name: str, timezone_name: str) -> Marketplace:
    marketplace = Marketplace(code=code, name=name, timezone=timezone_name)
    marketplace.full_clean()
    marketplace.save()
    record_event(
        actor=actor,
        verb=AuditVerb.MARKETPLACE_CREATED,
        target=marketplace,
        after=snapshot(marketplace, ["code", "name", "timezone"]),
    )
    return marketplace


def _refuse_uneditable(changes: dict[str, Any], editable: list[str]) -> None:
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("This field cannot be edited.")))


def _apply_changes(instance: models.Model, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set the changed fields on ``instance``; returns (before, after) of only those, foreign keys as ids."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in changes.items():
        field = instance._meta.get_field(name)
        # The editable names are the model's own fields, never a reverse relation's.
        if not isinstance(field, models.Field):
            raise TypeError(f"{name!r} is not a field of {type(instance).__name__}")
        old = getattr(instance, field.attname)
        new = value.pk if isinstance(value, models.Model) else value
        if old != new:
            before[name], after[name] = old, new
            setattr(instance, name, value)
    return before, after


@transaction.atomic
def update_marketplace(*, actor: Actor, marketplace: Marketplace, **changes: Any) -> Marketplace:
    """Correct a marketplace's name or timezone; nothing is written when nothing changed."""
    _refuse_uneditable(changes, MARKETPLACE_EDITABLE_FIELDS)
    marketplace = Marketplace.objects.select_for_update().get(pk=marketplace.pk)
    before, after = _apply_changes(marketplace, changes)
    if not after:
        return marketplace
    marketplace.full_clean()
    marketplace.save(update_fields=list(after))
    record_event(actor=actor, verb=AuditVerb.MARKETPLACE_EDITED, target=marketplace, before=before, after=after)
    return marketplace


@transaction.atomic
def create_category(*, actor: Actor, name: str, parent: Category | None = None, slug: str | None = None) -> Category:
    """Add a node to the tree; its ``path`` is the parent's path plus its own slug."""
    if parent is not None:
        # Read it again under lock: a removal may have retired it since the caller loaded it.
        parent = Category.objects.select_for_update().get(pk=parent.pk)
    if parent is not None and parent.is_retired:
        raise ValidationError(
            {"parent": _("“%(category)s” is retired and takes no new subcategories.") % {"category": parent.name}}
        )
    segment = slug or slugify(name)
    if not segment:
        raise ValidationError({"name": _("The name must contain letters or digits to make a slug.")})
    if not slug:
        slug = segment
        if parent is not None and Category.objects.filter(slug=slug).exists():
            # Slugs are unique across the tree: "Accessories" under a second parent gets
            # that parent's slug in front; its path keeps the plain segment.
            slug = f"{parent.slug}-{segment}"
    category = Category(
        name=name,
        slug=slug,
        parent=parent,
        path=f"{parent.path if parent else '/'}{segment}/",
        depth=(parent.depth + 1) if parent else 0,
    )
    category.full_clean()
    category.save()
    record_event(
        actor=actor,
        verb=AuditVerb.CATEGORY_CREATED,
        target=category,
        after=snapshot(category, ["name", "slug", "parent", "path"]),
    )
    return category


@transaction.atomic
def register_merchant(
    *,
    actor: Actor,
    marketplace: Marketplace,
    store_name: str,
    company_name: str,
    country: str,
    contact_email: str,
    language: str = Merchant.Language.ENGLISH,
    user=None,
) -> Merchant:
    merchant = Merchant(
        marketplace=marketplace,
        store_name=store_name,
        company_name=company_name,
        country=country,
        contact_email=contact_email,
        language=language,
        user=user,
    )
    merchant.full_clean()
    merchant.save()
    record_event(
        actor=actor,
        verb=AuditVerb.MERCHANT_REGISTERED,
        target=merchant,
        merchant=merchant,
        after=snapshot(merchant, ["marketplace", "store_name", "company_name", "country", "user"]),
    )
    return merchant


@transaction.atomic
def update_merchant(*, actor: Actor, merchant: Merchant, **changes: Any) -> Merchant:
    """Correct a merchant's store details, contact or seller account.

    1. Refuse fields that are not editable (``MERCHANT_EDITABLE_FIELDS`` says why).
    2. Lock the row, compare, validate and save only what changed; one ``MERCHANT_EDITED`` event
       holds the before and after of those fields. Nothing changed: nothing written.
    3. A new contact e-mail: after commit, the OLD address is told (every notice goes to the new one
       from now on, so a hijacked contact must not go unnoticed) and the new one gets a confirmation.
    """
    _refuse_uneditable(changes, MERCHANT_EDITABLE_FIELDS)
    merchant = Merchant.objects.select_for_update().select_related("marketplace").get(pk=merchant.pk)
    old_language = merchant.language
    before, after = _apply_changes(merchant, changes)
    if not after:
        return merchant
    merchant.full_clean()
    merchant.save(update_fields=list(after))
    if "store_name" in after:
        from moderation.services.queue import refresh_store_name_in_search_text  # the queue searches by it

        refresh_store_name_in_search_text(merchant=merchant)
    event = record_event(
        actor=actor, verb=AuditVerb.MERCHANT_EDITED, target=merchant, merchant=merchant, before=before, after=after
    )
    if "contact_email" in after:
        messages = _contact_change_mails(
            merchant=merchant,
            old_email=before["contact_email"],
            old_language=old_language,
            reference=event.pk,
        )
        transaction.on_commit(lambda: _send_mails(messages, reference=event.pk))
    return merchant


def mask_email(address: str) -> str:
    """``name@example.com`` as ``n***@example.com``: enough for its owner to recognise, not to copy."""
    local, _at, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


def one_line(text: str, *, limit: int = 150) -> str:
    """A merchant's text fit for a mail header: a CR or LF would end the header and start another, other
    control and format characters (bidi overrides) make it read differently from what it says."""
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category in {"Cc", "Zl", "Zp"}:
            kept.append(" ")
        elif category != "Cf":
            kept.append(char)
    return " ".join("".join(kept).split())[:limit]


def _render_mail(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of ``templates/emails/<language>/<kind>.txt`` (its first line is the subject)."""
    if language not in Merchant.Language.values:
        language = Merchant.Language.ENGLISH  # a row loaded in bulk with a language we have no text for
    with translation.override(language):
        text = render_to_string(f"emails/{language}/{kind}.txt", context)
    subject, _newline, body = text.strip().partition("\n")
    return one_line(subject.removeprefix("Subject:"), limit=300), body.strip() + "\n"


def _contact_change_mails(
    *, merchant: Merchant, old_email: str, old_language: str, reference: int
) -> list[EmailMessage]:
    """The two mails of a contact change, rendered inside the transaction (a broken template refuses the
    change instead of losing the warning); only their sending waits for the commit."""
    support = settings.DEFAULT_FROM_EMAIL
    context = {
        # Merchant-controlled texts on one line each: the store's name opens the subject.
        "store_name": one_line(merchant.store_name),
        "marketplace": one_line(merchant.marketplace.name),
        "new_email_masked": mask_email(merchant.contact_email),
        "old_email_masked": mask_email(old_email),
        "changed_at": f"{timezone.now():%Y-%m-%d %H:%M} UTC",
        "support": support,
        "reference": reference,
    }
    messages = []
    for kind, language, address in (
        ("contact_email_changed", old_language, old_email),
        ("contact_email_confirmed", merchant.language, merchant.contact_email),
    ):
        subject, body = _render_mail(kind, language, context)
        messages.append(
            EmailMessage(
                subject=subject,
                body=body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[address],
                reply_to=[support],
                headers={"X-Audit-Event": str(reference)},
            )
        )
    return messages


def _send_mails(messages: list[EmailMessage], *, reference: int) -> None:
    try:
        with get_connection() as connection:
            connection.send_messages(messages)
    except Exception:  # noqa: BLE001 - any mail failure: the change stands, the log names it
        logger.exception("The mails about the contact change of audit event %s were not sent.", reference)


def ensure_category_accepts_listings(category: Category) -> None:
    """Refuse a retired category, naming the policy under which it was closed."""
    if not category.is_retired:
        return
    from moderation.selectors.policies import retiring_policy_title  # a read; enforcement owns the answer

    policy_title = retiring_policy_title(category)
    if policy_title:
        message = _("The category “%(category)s” was retired under the policy “%(policy)s” and accepts no listings.")
    else:
        message = _("The category “%(category)s” was retired and accepts no listings.")
    raise ValidationError({"category": message % {"category": category.name, "policy": policy_title}})


def ensure_not_synced(listing: Listing) -> None:
    """Refuse a change here to a listing its marketplace syncs in (``sellers.integration.sync``): the
    marketplace's copy is what buyers see, so a change made here alone would have moderation judge
    content the marketplace does not show (or stop judging a listing it still shows)."""
    if listing.external_marketplace_id is not None:
        raise ValidationError(
            _("This listing is synced from its marketplace's own systems: change or remove it there.")
        )


class MerchantRestricted(PermissionDenied):
    """The merchant's active sanction closes the seller tools asked for (an HTTP 403)."""


def ensure_merchant_may_sell(merchant: Merchant) -> None:
    """Refuse listing work while a sanction blocks the store, freezes or closes the account, naming it."""
    from moderation.selectors.sanctions import restricting_sanction  # a read; enforcement owns the answer

    sanction = restricting_sanction(merchant)
    if sanction is None:
        return
    values = {"sanction": sanction.get_kind_display(), "policy": sanction.policy, "number": sanction.pk}
    if sanction.ends_at:
        message = _(
            "%(sanction)s until %(until)s UTC under the policy “%(policy)s” (sanction #%(number)s): "
            "listings cannot be created or edited. You may appeal the sanction."
        )
        values["until"] = f"{sanction.ends_at:%Y-%m-%d %H:%M}"
    else:
        message = _(
            "%(sanction)s under the policy “%(policy)s” (sanction #%(number)s): "
            "listings cannot be created or edited. You may appeal the sanction."
        )
    raise MerchantRestricted(message % values)


def _judge_listing_content(*, actor: Actor, merchant: Merchant, listing: Listing | None = None, **texts):
    """None (allowed), a hold for review (``ContentHold``), or a refusal raised, naming the policy."""
    from moderation.services.violations import judge_listing_content  # enforcement decides, and records the attempt

    return judge_listing_content(actor=actor, merchant=merchant, listing=listing, **texts)


def _hold(*, actor: Actor, listing: Listing, hold, previous_status: str) -> None:
    from moderation.services.holds import hold_listing  # enforcement opens the review and tells the merchant

    hold_listing(actor=actor, listing=listing, hold=hold, previous_status=previous_status, at=listing.updated_at)


def _scan_after_commit(listing_id: int) -> None:
    """Queue the detection scan of a new or edited listing once it is committed."""
    from moderation.tasks import scan_listing

    transaction.on_commit(lambda: scan_listing.delay(listing_id))


def create_listing(
    *,
    actor: Actor,
    merchant: Merchant,
    category: Category,
    title: str,
    price: Decimal,
    description: str = "",
    attributes: dict[str, Any] | None = None,
    currency: str = "USD",
) -> Listing:
    """A new listing. Refused past the limits on its texts, while a sanction closes the store, into a
    retired category, or with content a policy in effect bans (that refusal is recorded as an attempt,
    outside this transaction). Content a policy holds for review is saved unpublished (``held``)."""
    # The limits first: nothing else (detection above all) reads a text the merchant may not send.
    validate_listing_content(title=title, description=description, attributes=attributes)
    ensure_merchant_may_sell(merchant)
    # Content first: banned content is an attempt to re-list, whichever category it names.
    hold = _judge_listing_content(
        actor=actor, merchant=merchant, title=title, description=description, attributes=attributes
    )
    ensure_category_accepts_listings(category)
    with transaction.atomic():
        return _create_listing(
            actor=actor,
            merchant=merchant,
            category=category,
            title=title,
            price=price,
            description=description,
            attributes=attributes,
            currency=currency,
            hold=hold,
        )


def _create_listing(*, actor, merchant, category, title, price, description, attributes, currency, hold) -> Listing:
    # Read the category again under lock: a removal may have retired it since the caller loaded it.
    category = Category.objects.select_for_update().get(pk=category.pk)
    ensure_category_accepts_listings(category)
    now = timezone.now()
    listing = Listing(
        merchant=merchant,
        category=category,
        title=title,
        description=description,
        attributes=attributes or {},
        price=price,
        currency=currency,
        status=Listing.Status.HELD if hold else Listing.Status.LIVE,
        created_at=now,
        updated_at=now,
    )
    listing.full_clean()
    listing.save()
    versions.record_version(listing, created_by=actor_label(actor))
    if not hold:
        _scan_after_commit(listing.pk)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_CREATED,
        target=listing,
        merchant=merchant,
        after=snapshot(listing, LISTING_AUDITED_FIELDS),
    )
    if hold:
        _hold(actor=actor, listing=listing, hold=hold, previous_status="")
    return listing


def edit_listing(*, actor: Actor, listing: Listing, **changes: Any) -> Listing:
    """Change a listing's content or category.

    Refused past the limits on the texts sent, while a sanction closes the store, into a retired
    category, and when the new content is something a policy in effect bans (recorded as an attempt).
    New content a policy holds for review is saved, and a live listing comes down until a moderator
    decides (``held``); a held listing stays held whatever it is changed to.
    """
    ensure_not_synced(listing)
    editable = {"title", "description", "attributes", "price", "currency", "category"}
    unknown = set(changes) - editable
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("This field cannot be edited.")))
    # The limits first: nothing else (detection above all) reads a text the merchant may not send.
    validate_listing_content(**{name: changes.get(name, NOT_GIVEN) for name in LISTING_CONTENT_FIELDS})
    ensure_merchant_may_sell(listing.merchant)
    hold = None
    if {"title", "description", "attributes"} & set(changes):
        hold = _judge_listing_content(
            actor=actor,
            merchant=listing.merchant,
            listing=listing,
            title=changes.get("title", listing.title),
            description=changes.get("description", listing.description),
            attributes=changes.get("attributes", listing.attributes),
        )
    with transaction.atomic():
        return _edit_listing(actor=actor, listing=listing, changes=changes, hold=hold)


def _edit_listing(*, actor: Actor, listing: Listing, changes: dict[str, Any], hold=None) -> Listing:
    listing = Listing.objects.select_for_update().select_related("category").get(pk=listing.pk)
    sent_category: Category | None = changes.get("category")
    # Sending the category it is in already is no move.
    moving_to = sent_category if sent_category is not None and sent_category.pk != listing.category_id else None
    if moving_to is not None and listing.category.is_retired and listing.status == Listing.Status.LIVE:
        # Its category is being closed: moving it out would slip it past the removal's chunks.
        raise ValidationError(
            {
                "category": _("“%(category)s” is being closed: its listings cannot be moved out of it.")
                % {"category": listing.category.name}
            }
        )
    if moving_to is not None:
        changes["category"] = moving_to = Category.objects.select_for_update().get(pk=moving_to.pk)
        ensure_category_accepts_listings(moving_to)
    before = snapshot(listing, LISTING_AUDITED_FIELDS)
    # A change of title, description, attributes or category makes a new content version.
    current = versions.content_of(listing)
    content_changed = any(
        current[name] != (value.pk if name == "category" else value)
        for name, value in changes.items()
        if name in current
    )
    if content_changed:
        versions.ensure_versions([listing])  # the version it replaces, if seeded without a row
    for name, value in changes.items():
        setattr(listing, name, value)
    if content_changed:
        listing.version += 1
    # Only what buyers could see, or what waits already, is held: a delisted listing stays down
    # (its appeal decides) and one its seller removed stays removed.
    previous_status = listing.status
    held = hold is not None and listing.status in {Listing.Status.LIVE, Listing.Status.HELD}
    if held:
        listing.status = Listing.Status.HELD
    listing.updated_at = timezone.now()
    # Texts not sent are not judged again: a listing stored before the limits (a title of 250
    # characters) can still have its price changed; a text sent was checked by edit_listing.
    listing.full_clean(exclude=[name for name in LISTING_CONTENT_FIELDS if name not in changes])
    listing.save()
    if content_changed:
        versions.record_version(listing, created_by=actor_label(actor))
    if {"title", "description"} & set(changes):
        from moderation.services.queue import refresh_search_text  # the queue searches by them

        refresh_search_text(listing=listing)
    if not held:
        _scan_after_commit(listing.pk)
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_EDITED,
        target=listing,
        merchant=listing.merchant,
        before=before,
        after=snapshot(listing, LISTING_AUDITED_FIELDS),
    )
    if held:
        _hold(actor=actor, listing=listing, hold=hold, previous_status=previous_status)
    return listing


@transaction.atomic
def remove_listing_by_seller(*, actor: Actor, listing: Listing) -> Listing:
    """The seller takes a listing down (or withdraws one held for review). Allowed while the store is
    blocked (that is how it complies), not while the account is frozen or closed (its seller tools are
    closed). A held listing's review stays open: what was sent is judged all the same."""
    listing = Listing.objects.select_for_update().select_related("merchant").get(pk=listing.pk)
    ensure_not_synced(listing)
    if listing.merchant.enforcement_status in {Merchant.EnforcementStatus.FROZEN, Merchant.EnforcementStatus.CLOSED}:
        ensure_merchant_may_sell(listing.merchant)
    if listing.status not in {Listing.Status.LIVE, Listing.Status.HELD}:
        raise ValidationError(
            {"status": _("Only a live listing, or one held for review, can be removed by its seller.")}
        )
    before_status = listing.status
    listing.status = Listing.Status.REMOVED_BY_SELLER
    listing.updated_at = timezone.now()
    listing.save(update_fields=["status", "updated_at"])
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_REMOVED_BY_SELLER,
        target=listing,
        merchant=listing.merchant,
        before={"status": before_status},
        after={"status": listing.status},
    )
    return listing


def import_listings(*, actor: Actor, marketplace: Marketplace, rows: Iterable[Listing], batch_size: int = 5000) -> int:
    """Bulk-load listings from a catalog feed (the demo seed, a migration from another system).

    One ``bulk_create`` per batch, each batch in its own transaction with one audit event
    summarising it: a per-row event for a million imported rows would double the import
    and tell an auditor nothing more than "this feed was loaded".
    """
    total = 0
    batch: list[Listing] = []

    def flush() -> None:
        nonlocal total
        with transaction.atomic():
            created = Listing.objects.bulk_create(batch, batch_size=batch_size)
            record_event(
                actor=actor,
                verb=AuditVerb.LISTINGS_IMPORTED,
                target=marketplace,
                after={"rows": len(created), "first_id": created[0].pk, "last_id": created[-1].pk},
            )
        total += len(batch)
        batch.clear()

    for listing in rows:
        batch.append(listing)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return total
