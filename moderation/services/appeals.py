"""Appeals: a merchant files one against a decision, a moderator who did not take it grants or rejects it.

Granting reverses completely (DESIGN §3, rule 4), in one transaction: the listing goes
back to its previous status (unless its category is closed), the violation stops
counting and its points go, a sanction resting on them or appealed itself is
overturned, and the merchant's status is recomputed; every step is audited and the
merchant is told. Claims are leases, as in the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from backoffice.text import INVISIBLE_ONLY_MESSAGE, has_visible_text
from moderation.models import (
    Appeal,
    AuditVerb,
    CategoryRemoval,
    Notice,
    Policy,
    ReviewItem,
    Sanction,
    SanctionKind,
    Violation,
)
from moderation.models.appeals import OPEN_STATUSES
from moderation.selectors.ledger import merchant_points
from moderation.services import outbox
from moderation.services.audit import Actor, SystemActor, record_event, snapshot
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.sanctions import recompute_enforcement_status
from moderation.tiers import may_work_tier, tiers_for
from sellers.models import Category, Listing, Merchant
from sellers.versions import record_version, version_content

APPEALS_ACTOR = SystemActor("appeals")
GROUNDS_MIN, GROUNDS_MAX = 20, 5000
PLAN_MAX = 5000


class DecisionNotFound(ObjectDoesNotExist):
    """No such decision against this merchant (answered as 404: never say whose it is)."""


class AppealConflict(ValidationError):
    """The appeal collides with the current state (answered as 409): one open already, decided meanwhile."""


def appeal_lease() -> timedelta:
    return timedelta(minutes=settings.REVIEW_CLAIM_LEASE_MINUTES)


# --- What is appealed ---------------------------------------------------------------------


@dataclass
class Decision:
    """One decision against a merchant, as an appeal needs it."""

    kind: str
    key: str
    policy: Policy
    decided_at: datetime
    original_decider: User | None = None
    senior: bool = False
    listing: Listing | None = None
    removal: CategoryRemoval | None = None
    violation: Violation | None = None
    sanction: Sanction | None = None
    reversed: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def appeal_deadline(self) -> datetime:
        return self.policy.appeal_deadline(self.decided_at)


def resolve_decision(*, merchant: Merchant, kind: str, object_id: int) -> Decision:
    """The merchant's decision of that kind and id; ``DecisionNotFound`` for anything else.

    A decision a granted appeal ended counts as reversed even when nothing could be put
    back (a listing whose category is closed): it cannot be appealed again.
    """
    decision = _resolve(merchant=merchant, kind=kind, object_id=object_id)
    decision.reversed = (
        decision.reversed or Appeal.objects.filter(decision_key=decision.key, status=Appeal.Status.GRANTED).exists()
    )
    return decision


def _resolve(*, merchant: Merchant, kind: str, object_id: int) -> Decision:
    if kind == Appeal.Kind.DELISTING:
        listing = (
            Listing.objects.select_related("delisted_by_removal__policy", "category")
            .filter(pk=object_id, merchant=merchant, delisted_by_removal__isnull=False)
            .first()
        )
        if listing is None:
            raise DecisionNotFound("No such decision.")
        removal = listing.delisted_by_removal
        assert removal is not None  # the query asked for a listing a removal delisted
        return Decision(
            kind=kind,
            key=f"delisting-{listing.pk}",
            policy=removal.policy,
            decided_at=listing.delisted_at or removal.finished_at or removal.scheduled_for,
            original_decider=removal.created_by,
            listing=listing,
            removal=removal,
            reversed=listing.status != Listing.Status.DELISTED,
        )
    if kind == Appeal.Kind.VIOLATION:
        violation = (
            Violation.objects.select_related("policy", "listing", "review_item", "decided_by")
            .filter(pk=object_id, merchant=merchant)
            .first()
        )
        if violation is None:
            raise DecisionNotFound("No such decision.")
        item = violation.review_item
        return Decision(
            kind=kind,
            key=f"violation-{violation.pk}",
            policy=violation.policy,
            decided_at=violation.decided_at,
            original_decider=violation.decided_by,
            senior=bool(item and item.tier == ReviewItem.Tier.SENIOR),
            listing=violation.listing,
            violation=violation,
            reversed=violation.status == Violation.Status.OVERTURNED,
        )
    if kind == Appeal.Kind.SANCTION:
        sanction = (
            Sanction.objects.select_related("policy", "issued_by").filter(pk=object_id, merchant=merchant).first()
        )
        if sanction is None:
            raise DecisionNotFound("No such decision.")
        return Decision(
            kind=kind,
            key=f"sanction-{sanction.pk}",
            policy=sanction.policy,
            decided_at=sanction.starts_at,
            original_decider=sanction.issued_by,
            # A person's sanction, and any suspension of the account, go to a senior moderator.
            senior=not sanction.automated
            or sanction.kind in {SanctionKind.ACCOUNT_FREEZE, SanctionKind.ACCOUNT_CLOSURE},
            sanction=sanction,
            reversed=sanction.status in {Sanction.Status.OVERTURNED, Sanction.Status.LIFTED},
        )
    raise DecisionNotFound("No such decision.")


# --- The merchant's side ------------------------------------------------------------------


def _audit(appeal: Appeal, *, actor: Actor, verb: AuditVerb, before=None, after=None, reason: str = ""):
    return record_event(
        actor=actor,
        verb=verb,
        target=appeal,
        merchant=appeal.merchant,
        policy=appeal.policy,
        before=before,
        after=after,
        reason=reason,
    )


def _appeal_notice(appeal: Appeal, kind: str, *, key: str, **context) -> NoticeDraft:
    return NoticeDraft(
        merchant_id=appeal.merchant_id,
        kind=kind,
        dedupe_key=f"appeal:{appeal.pk}:{key}",
        policy=appeal.policy,
        context={"appeal": appeal, "filed_at": appeal.policy.local(appeal.filed_at), **context},
    )


def validate_grounds(*, kind: str, grounds: str, plan: dict[str, str]) -> dict[str, str]:
    """The problems with an appeal's grounds and plan, by field.

    Zero-width spaces, joiners and bidi controls pass ``strip()`` and count toward the length:
    grounds (or a plan's part) made only of them say nothing and are refused as such.
    """
    errors = {}
    length = len(grounds.strip())
    if length and not has_visible_text(grounds):
        errors["grounds"] = str(INVISIBLE_ONLY_MESSAGE)
    elif length < GROUNDS_MIN:
        errors["grounds"] = _(
            "Explain why the decision is wrong in at least %(minimum)s characters (%(length)s given)."
        ) % {"minimum": GROUNDS_MIN, "length": length}
    elif length > GROUNDS_MAX:
        errors["grounds"] = _("Keep the grounds to %(maximum)s characters (%(length)s given).") % {
            "maximum": GROUNDS_MAX,
            "length": length,
        }
    for name, text in plan.items():
        if text and kind != Appeal.Kind.SANCTION:
            errors[name] = _("A plan of action is for an appeal against a sanction.")
        elif len(text) > PLAN_MAX:
            errors[name] = _("Keep it to %(maximum)s characters.") % {"maximum": PLAN_MAX}
        elif text.strip() and not has_visible_text(text):
            errors[name] = str(INVISIBLE_ONLY_MESSAGE)
    return errors


def file_appeal(
    *,
    actor,
    merchant: Merchant,
    kind: str,
    object_id: int,
    grounds: str,
    plan_root_cause: str = "",
    plan_corrections: str = "",
    plan_prevention: str = "",
) -> Appeal:
    """File an appeal. ``DecisionNotFound`` (404), ``ValidationError`` (400) or ``AppealConflict`` (409)
    leave nothing behind. A frozen or closed account can still appeal."""
    plan = {
        "plan_root_cause": plan_root_cause,
        "plan_corrections": plan_corrections,
        "plan_prevention": plan_prevention,
    }
    if kind not in Appeal.Kind.values:
        raise ValidationError({"kind": _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(Appeal.Kind.values)}})
    errors = validate_grounds(kind=kind, grounds=grounds, plan=plan)
    decision = resolve_decision(merchant=merchant, kind=kind, object_id=object_id)
    now = timezone.now()
    if decision.reversed:
        errors["decision"] = _("This decision has been reversed already: there is nothing to appeal.")
    elif now > decision.appeal_deadline:
        errors["decision"] = _("The time to appeal this decision ended on %(deadline)s UTC.") % {
            "deadline": f"{decision.appeal_deadline:%Y-%m-%d %H:%M}"
        }
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            if Appeal.objects.filter(decision_key=decision.key, status__in=OPEN_STATUSES).exists():
                raise AppealConflict({"decision": _("An appeal against this decision is open already.")})
            appeal = Appeal.objects.create(
                merchant=merchant,
                kind=kind,
                decision_key=decision.key,
                policy=decision.policy,
                listing=decision.listing,
                removal=decision.removal,
                violation=decision.violation,
                sanction=decision.sanction,
                decided_originally_at=decision.decided_at,
                original_decider=decision.original_decider,
                grounds=grounds.strip(),
                tier=Appeal.Tier.SENIOR if decision.senior else Appeal.Tier.MODERATOR,
                filed_by=actor,
                filed_at=now,
                due_at=now + timedelta(hours=settings.APPEAL_DUE_HOURS),
                **{name: text.strip() for name, text in plan.items()},
            )
            _audit(
                appeal, actor=actor, verb=AuditVerb.APPEAL_FILED, after={"decision": decision.key, "tier": appeal.tier}
            )
            create_notices([_appeal_notice(appeal, Notice.Kind.APPEAL_RECEIVED, key="received")])
    except IntegrityError as error:
        # Two identical submissions raced past the check: the partial unique index kept one.
        raise AppealConflict({"decision": _("An appeal against this decision is open already.")}) from error
    return appeal


@transaction.atomic
def withdraw_appeal(*, actor, appeal: Appeal) -> Appeal:
    """The merchant takes the appeal back, any time before a moderator decides it."""
    now = timezone.now()
    withdrawn = Appeal.objects.filter(pk=appeal.pk, status__in=OPEN_STATUSES).update(
        status=Appeal.Status.WITHDRAWN, withdrawn_at=now, claimed_by=None, claimed_until=None
    )
    appeal.refresh_from_db()
    if withdrawn != 1:
        raise AppealConflict(
            {
                "status": _("This appeal is %(status)s: it cannot be withdrawn.")
                % {"status": appeal.get_status_display().lower()}
            }
        )
    _audit(appeal, actor=actor, verb=AuditVerb.APPEAL_WITHDRAWN, after={"status": appeal.status})
    create_notices([_appeal_notice(appeal, Notice.Kind.APPEAL_WITHDRAWN, key="withdrawn")])
    return appeal


# --- The appeal queue ----------------------------------------------------------------------


def _tiers_for(user) -> list[str]:
    return tiers_for(user)


def _claimable(now: datetime) -> Q:
    return Q(status__in=OPEN_STATUSES) & (Q(claimed_by__isnull=True) | Q(claimed_until__lt=now))


def _mark_claimed(appeal: Appeal, *, actor, now: datetime) -> Appeal:
    first_review = appeal.status == Appeal.Status.SUBMITTED
    Appeal.objects.filter(pk=appeal.pk).update(
        status=Appeal.Status.IN_REVIEW, claimed_by=actor, claimed_until=now + appeal_lease()
    )
    appeal.refresh_from_db()
    _audit(
        appeal,
        actor=actor,
        verb=AuditVerb.APPEAL_CLAIMED,
        after={"claimed_by": actor.pk, "claimed_until": appeal.claimed_until},
    )
    if first_review:
        create_notices([_appeal_notice(appeal, Notice.Kind.APPEAL_IN_REVIEW, key="in_review")])
    return appeal


@transaction.atomic
def claim_next_appeal(*, actor, filters: dict | None = None) -> Appeal | None:
    """The open appeal due first that this moderator may decide (not their own decisions), or None."""
    now = timezone.now()
    appeal = (
        Appeal.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(_claimable(now), tier__in=_tiers_for(actor), **(filters or {}))
        .exclude(original_decider=actor)
        .order_by("due_at", "id")
        .first()
    )
    return _mark_claimed(appeal, actor=actor, now=now) if appeal else None


def _claimed_by_other(appeal: Appeal) -> str:
    return _("%(moderator)s is working on this appeal until %(until)s UTC.") % {
        "moderator": appeal.claimed_by,
        "until": f"{appeal.claimed_until:%H:%M}",
    }


def _check_may_decide(actor, appeal: Appeal) -> None:
    if not may_work_tier(actor, appeal.tier):
        raise ValidationError(_("This appeal is for the senior moderators."))
    if appeal.original_decider_id and appeal.original_decider_id == actor.pk:
        raise ValidationError(_("You took the decision under appeal: another moderator must decide it."))


@transaction.atomic
def claim_appeal(*, actor, appeal: Appeal) -> Appeal:
    now = timezone.now()
    appeal = Appeal.objects.select_for_update().get(pk=appeal.pk)
    _check_may_decide(actor, appeal)
    if not appeal.is_open:
        raise ValidationError(_("This appeal is %(status)s.") % {"status": appeal.get_status_display().lower()})
    if appeal.claimed_by_id not in (None, actor.pk) and appeal.claimed_until and appeal.claimed_until >= now:
        raise ValidationError(_claimed_by_other(appeal))
    return _mark_claimed(appeal, actor=actor, now=now)


def _lock_for_decision(*, actor, appeal: Appeal) -> Appeal:
    now = timezone.now()
    appeal = (
        Appeal.objects.select_for_update(of=("self",))
        .select_related("merchant", "policy", "listing__category", "violation", "sanction__policy")
        .get(pk=appeal.pk)
    )
    if appeal.status == Appeal.Status.WITHDRAWN:
        raise AppealConflict(_("The merchant withdrew this appeal."))
    if not appeal.is_open:
        raise AppealConflict(_("This appeal was %(status)s already.") % {"status": appeal.get_status_display().lower()})
    _check_may_decide(actor, appeal)
    if appeal.claimed_by_id not in (None, actor.pk) and appeal.claimed_until and appeal.claimed_until >= now:
        raise ValidationError(_claimed_by_other(appeal))
    return appeal


def _require_reason(reason: str) -> str:
    if len(reason.strip()) < 10:
        raise ValidationError({"reason": _("Write the reason the merchant will read (at least 10 characters).")})
    return reason.strip()


def _close(appeal: Appeal, *, actor, status: str, reason: str, now: datetime) -> None:
    Appeal.objects.filter(pk=appeal.pk).update(
        status=status, decided_by=actor, decided_at=now, decision_note=reason, claimed_by=None, claimed_until=None
    )
    appeal.refresh_from_db()


@transaction.atomic
def reject_appeal(*, actor, appeal: Appeal, reason: str) -> Appeal:
    reason = _require_reason(reason)
    appeal = _lock_for_decision(actor=actor, appeal=appeal)
    now = timezone.now()
    _close(appeal, actor=actor, status=Appeal.Status.REJECTED, reason=reason, now=now)
    _audit(appeal, actor=actor, verb=AuditVerb.APPEAL_REJECTED, after={"status": appeal.status}, reason=reason)
    create_notices(
        [_appeal_notice(appeal, Notice.Kind.APPEAL_DECIDED, key="decided", granted=False, reason=reason, restored=[])]
    )
    return appeal


# --- Granting: the reversal -----------------------------------------------------------------


@dataclass(frozen=True)
class Reversal:
    """What reverses a decision, as each step of the reversal cites it: a granted appeal, or
    the moderator who took the decision undoing it within minutes (``services.undo``)."""

    merchant: Merchant
    policy: Policy
    cites: dict  # merged into each audit row's "after": {"appeal": 7}
    because: str  # an overturned sanction's end reason: "Appeal #7 granted."
    appeal: Appeal | None = None  # a granted appeal: a restored listing may wait for review on it

    @classmethod
    def of_appeal(cls, appeal: Appeal) -> Reversal:
        return cls(
            merchant=appeal.merchant,
            policy=appeal.policy,
            cites={"appeal": appeal.pk},
            because=f"Appeal #{appeal.pk} granted.",
            appeal=appeal,
        )


# What one step of a reversal did, as data: ``{"what": "violation_overturned", "violation": 7, "points": 4}``.
# The merchant's notice words each kind in the merchant's language (templates/notices/<language>/
# appeal_decided.txt); the audit trail keeps them as English sentences (``step_in_english``).
# Only ids, names and choice values: a notice's context and an audit row's JSON both take them.
Step = dict[str, Any]

# The sanctions by name, in the audit trail's English ("store blocked" is the merchant's status, not a measure).
SANCTION_NAMES = {
    SanctionKind.WARNING: "warning",
    SanctionKind.LISTING_RESTRICTION: "listing restriction",
    SanctionKind.STORE_BLOCK: "store block",
    SanctionKind.ACCOUNT_FREEZE: "account freeze",
    SanctionKind.ACCOUNT_CLOSURE: "account closure",
}


def _in_english(label) -> str:
    """A choice label in English, whatever the moderator reads the back office in: the audit
    trail is written in English, and a label in the request's language would mix two."""
    with translation.override("en"):
        return str(label)


def step_in_english(step: Step) -> str:
    """One step of a reversal as the English sentence the audit trail keeps (and the English notice says)."""
    what = step["what"]
    if what == "violation_overturned":
        points = f": its {step['points']} points are removed." if step["points"] else "."
        return f"Violation #{step['violation']} no longer counts{points}"
    if what == "sanction_overturned":
        name = SANCTION_NAMES.get(step["kind"], step["kind"])
        return f"The {name} (sanction #{step['sanction']}) is overturned."
    status = _in_english(Listing.Status(step["status"]).label).lower() if step.get("status") else ""
    if what == "listing_restored":
        moved = f" in “{step['category']}”" if step["category"] else ""
        return f"Listing #{step['listing']} “{step['title']}” is {status} again{moved}."
    if what == "listing_not_delisted":
        return f"Listing #{step['listing']} is not delisted (it is {status})."
    if what == "listing_stays_down":
        return (
            f"Listing #{step['listing']} stays down: its category “{step['category']}” is closed under the policy. "
            "You may list the product again in an open category if it is not banned."
        )
    if what == "listing_back_to_review":
        why = "it changed after the decision" if step["changed"] else "the marketplace's checks flag it"
        return (
            f"Listing #{step['listing']} “{step['title']}” goes back to review before it is live again: {why}. "
            "A moderator will look at it; you will see it live again if it breaks no rule."
        )
    raise ValueError(f"Unknown reversal step: {what!r}")


def _restore_listing(listing: Listing, *, actor, reversal: Reversal, now: datetime, move_to: Category | None) -> Step:
    """Put a delisted listing back as it was. Returns what happened (a ``Step``).

    An undo does not re-check: it puts back, minutes later, what was live before.
    """
    listing = Listing.objects.select_for_update().select_related("category").get(pk=listing.pk)
    if listing.status != Listing.Status.DELISTED:
        return {"what": "listing_not_delisted", "listing": listing.pk, "title": listing.title, "status": listing.status}
    category = listing.category
    if move_to is not None and move_to.pk != category.pk:
        category = Category.objects.select_for_update().get(pk=move_to.pk)
        if category.is_retired:
            raise ValidationError(
                {"move_to": _("“%(category)s” is retired too: choose an open category.") % {"category": category.name}}
            )
    if category.is_retired:
        return {"what": "listing_stays_down", "listing": listing.pk, "title": listing.title, "category": category.name}
    before = {"status": listing.status, "category": listing.category_id}
    held = reversal.appeal and _hold_for_review(
        listing, actor=actor, appeal=reversal.appeal, now=now, category=category
    )
    if held:
        return held
    changed = listing.relist(at=now)
    listing.category = category
    listing.save(update_fields=[*changed, "category"])
    outbox.listing_reinstated(
        listing, reason="appeal_granted" if reversal.appeal else "decision_undone", policy=reversal.policy, at=now
    )
    record_event(
        actor=actor,
        verb=AuditVerb.LISTING_RESTORED,
        target=listing,
        merchant=reversal.merchant,
        policy=reversal.policy,
        before=before,
        after={"status": listing.status, "category": listing.category_id, **reversal.cites},
    )
    return {
        "what": "listing_restored",
        "listing": listing.pk,
        "title": listing.title,
        "status": listing.status,
        "category": category.name if category.pk != before["category"] else "",  # moved by the moderator
    }


def _hold_for_review(listing: Listing, *, actor, appeal: Appeal, now: datetime, category: Category) -> Step | None:
    """Reinstatement re-checks: restore the version decided on, and queue it instead of going live
    when the listing changed since the decision or the policies in effect flag it now.

    1. A merchant may edit (or move) a delisted listing; a grant puts back the version that
       was decided on, never an edit nobody judged (the edits stay in the version history).
    2. If it changed since, or its restored content is flagged now, it waits in the review
       queue ("reinstated on appeal", the appeal linked); dismissing that item puts it live.
    Returns what happened (a ``Step``); None when the listing may go live.
    """
    from moderation.services.queue import Detection, open_review_items, refresh_search_text
    from moderation.services.violations import flagging_policy

    decided = listing.delisted_version or listing.version
    changed = listing.version != decided
    if changed:
        content = version_content(listing, decided)
        if content is not None:
            before = snapshot(listing, ["title", "description", "attributes", "category", "version"])
            listing.title, listing.description = content["title"], content["description"]
            listing.attributes = content["attributes"]
            if category.pk == listing.category_id:  # not moved by the moderator: its decided category
                restored_category = Category.objects.get(pk=content["category"])
                category = restored_category if not restored_category.is_retired else category
            listing.category = category
            listing.version += 1
            listing.updated_at = now
            listing.save(update_fields=["title", "description", "attributes", "category", "version", "updated_at"])
            record_version(listing, created_by=f"appeal #{appeal.pk}")
            refresh_search_text(listing=listing)
            record_event(
                actor=actor,
                verb=AuditVerb.LISTING_EDITED,
                target=listing,
                merchant=appeal.merchant,
                policy=appeal.policy,
                before=before,
                after=snapshot(listing, ["title", "description", "attributes", "category", "version"]),
                reason=f"The version decided on (v{decided}) restored on appeal #{appeal.pk}.",
            )
    texts = {"title": listing.title, "description": listing.description, "attributes": listing.attributes}
    policy, result = flagging_policy(merchant=appeal.merchant, texts=texts)
    if not changed and policy is None:
        return None
    policy = policy or appeal.policy
    listing.delisted_reason = f"Back to review after appeal #{appeal.pk} before it is live again."
    listing.delisted_version = listing.version
    listing.category = category
    listing.save(update_fields=["delisted_reason", "delisted_version", "category"])
    found = Detection(
        score=result.score if result else Decimal(0),
        terms=result.terms if result else [],
        spans={name: [list(span) for span in spans] for name, spans in result.spans.items()} if result else {},
        rule_ids=result.rule_ids if result else [],
        clause=result.clause if result else None,
        appeal=appeal,
    )
    listing = Listing.objects.select_related("merchant").get(pk=listing.pk)
    opened = open_review_items(
        policy=policy, detections=[(listing, found)], source=ReviewItem.Source.REINSTATEMENT, actor=actor
    )
    if not opened:  # an item on it is open already: it decides the reinstatement too
        ReviewItem.objects.filter(
            listing=listing, policy=policy, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED]
        ).update(appeal=appeal)
    return {"what": "listing_back_to_review", "listing": listing.pk, "title": listing.title, "changed": changed}


def overturn_violation(violation: Violation, *, actor, reversal: Reversal, now: datetime) -> list[Step]:
    """The violation stops counting, and the ladder sanctions its points alone reached end.
    Returns what happened (``Step``s, the violation's first); [] if it was overturned already."""
    updated = Violation.objects.filter(pk=violation.pk, status=Violation.Status.ACTIVE).update(
        status=Violation.Status.OVERTURNED, overturned_at=now
    )
    if updated != 1:
        return []
    record_event(
        actor=actor,
        verb=AuditVerb.VIOLATION_OVERTURNED,
        target=violation,
        merchant=reversal.merchant,
        policy=violation.policy,
        before={"status": Violation.Status.ACTIVE, "points": violation.points},
        after={"status": Violation.Status.OVERTURNED, **reversal.cites},
    )
    done: list[Step] = [{"what": "violation_overturned", "violation": violation.pk, "points": violation.points}]
    # Ladder sanctions its points helped reach (not those escalated for non-compliance) go too,
    # when the points left no longer reach their step.
    points_now = merchant_points(violation.merchant_id, policy=violation.policy, at=now)
    resting = Sanction.objects.filter(
        violations=violation,
        status=Sanction.Status.ACTIVE,
        step__threshold__gt=points_now,
        step__threshold__lte=F("points"),
    ).select_related("policy")
    for sanction in resting:
        done += _overturn_sanction(sanction, actor=actor, reversal=reversal, now=now, restore=False)
    return done


def _overturn_sanction(
    sanction: Sanction, *, actor, reversal: Reversal, now: datetime, restore: bool = True
) -> list[Step]:
    was = sanction.status
    if was in {Sanction.Status.OVERTURNED, Sanction.Status.LIFTED}:
        return []
    changes = {
        "status": Sanction.Status.OVERTURNED,
        "ended_by_name": actor.get_username(),
        "end_reason": reversal.because,
    }
    if was == Sanction.Status.ACTIVE:
        changes["ended_at"] = now
    Sanction.objects.filter(pk=sanction.pk).update(**changes)
    record_event(
        actor=actor,
        verb=AuditVerb.SANCTION_OVERTURNED,
        target=sanction,
        merchant=reversal.merchant,
        policy=sanction.policy,
        before={"status": was},
        after={"status": Sanction.Status.OVERTURNED, **reversal.cites},
    )
    done: list[Step] = [{"what": "sanction_overturned", "sanction": sanction.pk, "kind": sanction.kind}]
    if restore or sanction.delists_all:
        for listing in Listing.objects.filter(merchant_id=sanction.merchant_id, delisted_by_sanction=sanction):
            done.append(_restore_listing(listing, actor=actor, reversal=reversal, now=now, move_to=None))
    return done


@transaction.atomic
def grant_appeal(*, actor, appeal: Appeal, reason: str, move_to: Category | None = None) -> Appeal:
    """The decision was wrong: undo all it took, in this one transaction, and tell the merchant."""
    reason = _require_reason(reason)
    appeal = _lock_for_decision(actor=actor, appeal=appeal)
    now = timezone.now()
    Merchant.objects.select_for_update().filter(pk=appeal.merchant_id).values_list("pk", flat=True).first()
    restored: list[Step] = []
    reversal = Reversal.of_appeal(appeal)
    # An appeal names the decision of its kind (the constraint appeal_names_its_decision).
    if appeal.kind == Appeal.Kind.DELISTING:
        assert appeal.listing is not None
        restored.append(_restore_listing(appeal.listing, actor=actor, reversal=reversal, now=now, move_to=move_to))
    elif appeal.kind == Appeal.Kind.VIOLATION:
        assert appeal.violation_id is not None
        violation = Violation.objects.select_related("listing").get(pk=appeal.violation_id)
        restored += overturn_violation(violation, actor=actor, reversal=reversal, now=now)
        taken_down_by_it = (
            violation.listing is not None
            and violation.listing.delisted_by_removal_id is None
            and violation.listing.delisted_by_sanction_id is None
        )
        if taken_down_by_it:
            assert violation.listing is not None  # taken_down_by_it says so
            restored.append(
                _restore_listing(violation.listing, actor=actor, reversal=reversal, now=now, move_to=move_to)
            )
    else:
        assert appeal.sanction_id is not None
        sanction = Sanction.objects.select_related("policy").get(pk=appeal.sanction_id)
        restored += _overturn_sanction(sanction, actor=actor, reversal=reversal, now=now)
    recompute_enforcement_status([appeal.merchant_id], actor=actor, reason=f"Appeal #{appeal.pk} granted.")
    _close(appeal, actor=actor, status=Appeal.Status.GRANTED, reason=reason, now=now)
    _audit(
        appeal,
        actor=actor,
        verb=AuditVerb.APPEAL_GRANTED,
        after={"status": appeal.status, "restored": [step_in_english(step) for step in restored]},
        reason=reason,
    )
    create_notices(
        [
            _appeal_notice(
                appeal,
                Notice.Kind.APPEAL_DECIDED,
                key="decided",
                granted=True,
                reason=reason,
                restored=restored,
                points_now=merchant_points(appeal.merchant_id, policy=appeal.policy, at=now),
            )
        ]
    )
    return appeal


def release_expired_appeal_claims(*, actor: Actor = APPEALS_ACTOR) -> int:
    """Beat: claims whose lease ran out go back to the queue (still in review for the merchant)."""
    now = timezone.now()
    with transaction.atomic():
        expired = list(
            Appeal.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=OPEN_STATUSES, claimed_by__isnull=False, claimed_until__lt=now)
            .select_related("merchant", "policy")[:1000]
        )
        for appeal in expired:
            Appeal.objects.filter(pk=appeal.pk).update(claimed_by=None, claimed_until=None)
            _audit(
                appeal,
                actor=actor,
                verb=AuditVerb.APPEAL_RELEASED,
                before={"claimed_by": appeal.claimed_by_id},
                reason="The claim's lease ran out.",
            )
    return len(expired)
