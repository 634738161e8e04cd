"""The pre-publication check: may this content go live on this marketplace, for this merchant, in this category?

``check_listing`` answers what the sellers' API would do with the same listing, by the same code,
without doing it: ``refuse`` where ``create_listing`` refuses (a sanction closes the store, a policy
in effect that refuses flagged listings bans the content, the category is retired), ``review`` where
it would save the listing held for a moderator (the content is flagged under a policy that holds
flagged listings: ``Policy.flagged_listings``), each naming the policy, its clause and the field,
never a rule's pattern or terms; ``allow`` otherwise. Nothing is recorded against the merchant:
a check is a question, not an attempt (the upsert that follows is judged, and recorded, again).

Each answer is stored (``ListingCheck``: the decision, what it names, a digest of the content) and
its id returned; an upsert citing it (``check_id``) carries it into the listing's audit event.
Answers are kept ``LISTING_CHECK_RETENTION_DAYS``, then purged (``sellers.integration.retention``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from sellers.integration.events import category_slug_message, external_id_message, is_category_slug, is_external_id
from sellers.limits import validate_listing_content
from sellers.models import Category, ListingCheck, MarketplaceServiceAccount, Merchant
from sellers.services import MerchantRestricted, ensure_category_accepts_listings, ensure_merchant_may_sell


@dataclass(frozen=True)
class CheckAnswer:
    check: ListingCheck
    policy: Any  # moderation.Policy | None
    clause: Any  # moderation.PolicyClause | None
    message: str

    @property
    def decision(self) -> str:
        return self.check.decision

    @property
    def field(self) -> str:
        return self.check.field


def content_digest(*, title: str, description: str, attributes: dict, category: str) -> str:
    """SHA-256 of the content as checked: an upsert's content can be compared with it later."""
    text = json.dumps(
        [title, description, attributes, category], ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class _Reads:
    """What a check reads, all in one round trip: enough to decide; full rows only on a refusal's path."""

    merchant_id: int
    merchant_may_be_restricted: bool  # not active, or a listing restriction in force
    category_id: int
    category_slug: str
    category_retired: bool
    # (id, threshold, rules' fingerprint or None: read the rules) in flagging_policy's order
    policies: list[tuple[int, str, str | None]]


# One statement for a check's three reads (the merchant of the account's marketplace with whether a
# listing restriction is in force on it, the category, flagging_policy's policies with a fingerprint of
# their active rules: id and revision of each), so a check costs two round trips and the key's read.
_READS_SQL = """
    SELECT
        (SELECT json_build_array(m.id, m.enforcement_status <> 'active' OR EXISTS (
                    SELECT 1 FROM moderation_sanction AS s
                    WHERE s.merchant_id = m.id AND s.status = 'active' AND s.kind = 'listing_restriction'))
         FROM sellers_merchant AS m WHERE m.marketplace_id = %(marketplace)s AND m.external_id = %(merchant)s
        )::text,
        (SELECT json_build_array(c.id, c.slug, c.status = 'retired')
         FROM sellers_category AS c WHERE c.slug = %(category)s
        )::text,
        (SELECT json_agg(json_build_array(p.id, p.detection_threshold::text, (
                    SELECT string_agg(r.id::text || '.' || r.revision::text, ',' ORDER BY r.id)
                    FROM moderation_detectionrule AS r WHERE r.policy_id = p.id AND r.is_active
                )) ORDER BY p.id)
         FROM moderation_policy AS p
         WHERE p.status IN ('announced', 'in_effect') AND p.effective_at <= %(now)s
           AND EXISTS (SELECT 1 FROM moderation_policy_marketplaces AS pm
                       WHERE pm.policy_id = p.id AND pm.marketplace_id = %(marketplace)s)
        )::text
"""


def _read(account: MarketplaceServiceAccount, merchant_id: Any, category_slug: Any) -> _Reads:
    """The check's reads, or field errors for the merchant (of the account's marketplace only) and the category."""
    errors: dict[str, list[str]] = {}
    if not is_external_id(merchant_id):
        errors["merchant"] = [external_id_message()]
        merchant_id = ""
    if not is_category_slug(category_slug):
        errors["category"] = [category_slug_message()]
        category_slug = ""
    merchant, category, policies = _fetch(account.marketplace_id, merchant_id, category_slug)
    if merchant is None and "merchant" not in errors:
        errors["merchant"] = [_("No merchant of this marketplace has this id: sync the merchant first.")]
    if category is None and "category" not in errors:
        errors["category"] = [_("No category has this slug.")]
    if errors:
        raise ValidationError(errors)
    assert merchant is not None and category is not None
    return _Reads(merchant[0], merchant[1], category[0], category[1], category[2], policies)


def _fetch(marketplace_id: int, merchant_id: str, category_slug: str) -> tuple[list | None, list | None, list]:
    if connection.vendor == "postgresql":
        params: dict[str, Any] = {
            "marketplace": marketplace_id,
            "merchant": merchant_id,
            "category": category_slug,
            "now": timezone.now(),
        }
        with connection.cursor() as cursor:
            cursor.execute(_READS_SQL, params)
            merchant, category, policies = (json.loads(value) if value else None for value in cursor.fetchone())
        return merchant, category, [tuple(policy) for policy in policies or []]
    # SQLite (the demo): the same reads through the ORM; no fingerprint, so every matcher is asked again.
    from moderation.services.scanning import effective_policies_for_marketplace

    found = Merchant.objects.filter(marketplace=marketplace_id, external_id=merchant_id).first()
    row = Category.objects.filter(slug=category_slug).first()
    return (
        [found.pk, True] if found else None,
        [row.pk, row.slug, row.is_retired] if row else None,
        [
            (policy.pk, str(policy.detection_threshold), None)
            for policy in effective_policies_for_marketplace(marketplace_id)
        ],
    )


# policy id → (threshold, policy): see ``_policies_in_effect``.
_policies: dict[int, tuple[str, Any]] = {}


def _policies_in_effect(policies: Sequence[tuple[int, str, str | None]]) -> list[tuple[Any, Any]]:
    """(policy, matcher) of each policy read, in its order.

    The policy's row is kept between checks (an announced policy's title, slug, threshold and clauses
    never change: a change is a new version, a new row); its matcher is ``policy_matcher``'s, asked
    with the fingerprint of the rules read with the check's other reads, so an unchanged policy costs
    no query (SQLite, without a fingerprint, reads both again each time).
    """
    from moderation.models import Policy
    from moderation.selectors.detection import policy_matcher

    found = []
    for policy_id, threshold, rules in policies:
        cached = _policies.get(policy_id)
        if cached is None or cached[0] != threshold or rules is None:
            cached = (threshold, Policy.objects.get(pk=policy_id))
            if rules is not None:
                _policies[policy_id] = cached
        policy = cached[1]
        found.append((policy, policy_matcher(policy, rules_fingerprint=rules)))
    return found


# (policy id, clause number) → the clause ``clause_that_applies`` gives: a policy in effect is announced,
# and an announced policy's clauses never change (a change is a new version, a new policy row).
_clauses: dict[tuple[int, int | None], Any] = {}


def _clause(policy, number: int | None):
    from moderation.services.violations import clause_that_applies

    if connection.vendor != "postgresql":  # SQLite gives a rolled-back id again: nothing to key a cache by
        return clause_that_applies(policy, number)
    key = (policy.pk, number)
    if key not in _clauses:
        _clauses[key] = clause_that_applies(policy, number)
    return _clauses[key]


def _store(check: ListingCheck) -> None:
    """Insert the check's row, without waiting for its WAL flush: it records an answer given, not a
    decision, and a crash may lose the last few (an upsert citing one is then refused, naming check_id,
    and the check is asked again). On a disk that flushes in milliseconds, the wait was most of a check.

    PostgreSQL: one statement, ``set_config(…, true)`` making the commit of its own transaction
    asynchronous (``SET LOCAL`` would take three more round trips: a transaction around it).
    """
    if connection.vendor != "postgresql":
        check.save(force_insert=True)
        return
    fields = list(ListingCheck._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [field.get_db_prep_save(getattr(check, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ListingCheck._meta.db_table} ({columns}) SELECT {placeholders} "
            "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous_commit",
            values,
        )


def _banned_message(policy, clause, field: str) -> str:
    from moderation.services.violations import FIELD_NAMES

    values = {"policy": policy, "field": FIELD_NAMES[field]}
    if clause is not None:
        return _(
            "This listing offers a product banned under the policy “%(policy)s”, clause %(number)s "
            "(“%(clause)s”): see its %(field)s."
        ) % {**values, "number": clause.number, "clause": clause.title}
    return _("This listing offers a product banned under the policy “%(policy)s”: see its %(field)s.") % values


def check_listing(
    *,
    account: MarketplaceServiceAccount,
    merchant: Any,
    category: Any,
    title: Any,
    description: Any = "",
    attributes: Any = None,
) -> CheckAnswer:
    """Whether this content may go live: ``allow``, ``refuse`` or ``review`` (with the policy, clause and field).

    Raises ``ValidationError`` (field errors, nothing stored) for content past the sellers' API's
    limits, an id or slug of the wrong shape, a merchant not of the account's marketplace, a
    category that does not exist. Checks in the sellers' API's order: the sanction, the content,
    the category; a hold for review only once nothing refuses the listing.
    """
    from moderation.services.holds import held_message
    from moderation.services.violations import first_flagging

    description = "" if description is None else description
    attributes = {} if attributes is None else attributes
    validate_listing_content(title=title, description=description, attributes=attributes)
    reads = _read(account, merchant, category)
    policy = clause = None
    field, message, decision = "", "", ListingCheck.Decision.ALLOW
    if reads.merchant_may_be_restricted:
        # ensure_merchant_may_sell's own answer, for a merchant it could refuse (read in full for it).
        merchant_row = Merchant.objects.get(pk=reads.merchant_id)
        try:
            ensure_merchant_may_sell(merchant_row)
        except MerchantRestricted as error:
            from moderation.selectors.sanctions import restricting_sanction

            sanction = restricting_sanction(merchant_row)
            policy = sanction.policy if sanction else None
            field, message, decision = "merchant", str(error), ListingCheck.Decision.REFUSE
    held = None
    if decision == ListingCheck.Decision.ALLOW:
        texts = {"title": title, "description": description or "", "attributes": attributes}
        # flagging_policy's choice (a refusing policy before a holding one), on the matchers above.
        flagging, result = first_flagging(_policies_in_effect(reads.policies))(**texts)
        if flagging is not None and result is not None:
            policy = flagging
            clause = _clause(flagging, result.clause)
            field = result.fields[0] if result.fields else "title"
            if flagging.holds_flagged_listings:
                held = (flagging, clause, field)  # unless the category refuses it first, below
            else:
                message = _banned_message(flagging, clause, field)
                decision = ListingCheck.Decision.REFUSE
    if decision == ListingCheck.Decision.ALLOW and reads.category_retired:
        category_row = Category.objects.select_related("retired_by_removal__policy").get(pk=reads.category_id)
        try:
            ensure_category_accepts_listings(category_row)
        except ValidationError as error:
            removal = category_row.retired_by_removal
            policy, clause = (removal.policy if removal else None), None
            field, message, decision = "category", error.message_dict["category"][0], ListingCheck.Decision.REFUSE
    if decision == ListingCheck.Decision.ALLOW and held is not None:
        policy, clause, field = held
        message = held_message(policy, clause, field)
        decision = ListingCheck.Decision.REVIEW
    check = ListingCheck(
        account=account,
        marketplace_id=account.marketplace_id,
        merchant_id=reads.merchant_id,
        category_id=reads.category_id,
        content_sha256=content_digest(
            title=title, description=description, attributes=attributes, category=reads.category_slug
        ),
        decision=decision,
        policy=policy,
        clause=clause,
        field=field,
        created_at=timezone.now(),
    )
    _store(check)
    return CheckAnswer(check=check, policy=policy, clause=clause, message=message)
