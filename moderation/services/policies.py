"""Policy life cycle: draft → announced → in effect → retired, with versions after announcement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text
from moderation.models import AuditVerb, EscalationStep, Notice, PointsRule, Policy, PolicyClause, SanctionKind
from moderation.selectors.policies import merchants_hit_by_policy
from moderation.services import outbox
from moderation.services.audit import Actor, actor_user, record_event, snapshot
from moderation.services.notices import NoticeDraft, create_notices

POLICY_AUDITED_FIELDS = [
    "slug",
    "version",
    "title",
    "body",
    "timezone",
    "status",
    "announced_at",
    "effective_at",
    "enforcement_starts_at",
    "appeal_window_days",
    "review_due_hours",
    "detection_threshold",
    "flagged_listings",
]


@dataclass(frozen=True)
class ClauseText:
    number: int
    title: str
    text: str


def policy_snapshot(policy: Policy) -> dict:
    data = snapshot(policy, POLICY_AUDITED_FIELDS)
    data["marketplaces"] = sorted(policy.marketplaces.values_list("code", flat=True))
    data["categories"] = sorted(policy.categories.values_list("slug", flat=True))
    data["clauses"] = [
        {"number": c.number, "title": c.title, "text": c.text} for c in policy.clauses.order_by("number")
    ]
    return data


def validate_policy_dates(
    *, effective_at: datetime, enforcement_starts_at: datetime, announced_at: datetime | None = None
) -> None:
    """Dates in order: announced ≤ effective ≤ end of grace. The database checks it too."""
    errors = {}
    if enforcement_starts_at < effective_at:
        errors["enforcement_starts_at"] = _("The end of grace cannot come before the effective date.")
    if announced_at is not None and announced_at > effective_at:
        errors["effective_at"] = _("The effective date cannot come before the announcement.")
    if errors:
        raise ValidationError(errors)


def _set_relations(policy: Policy, *, marketplaces, categories, clauses: Sequence[ClauseText]) -> None:
    if not marketplaces:
        raise ValidationError({"marketplaces": _("A policy applies to at least one marketplace.")})
    numbers = [clause.number for clause in clauses]
    if len(numbers) != len(set(numbers)):
        raise ValidationError({"clauses": _("Each clause needs its own number.")})
    policy.marketplaces.set(marketplaces)
    policy.categories.set(categories)
    # Clauses are kept by number and edited in place: detection rules cite them.
    existing = {clause.number: clause for clause in policy.clauses.all()}
    dropped = [existing[number] for number in existing if number not in numbers]
    cited = sorted(clause.number for clause in dropped if clause.detection_rules.exists())
    if cited:
        raise ValidationError(
            {
                "clauses": _("Detection rules cite clause %(numbers)s: point them at another clause first.")
                % {"numbers": ", ".join(f"§{number}" for number in cited)}
            }
        )
    PolicyClause.objects.filter(pk__in=[clause.pk for clause in dropped]).delete()
    for text in clauses:
        clause = existing.get(text.number)
        if clause is None:
            PolicyClause.objects.create(policy=policy, number=text.number, title=text.title, text=text.text)
        elif (clause.title, clause.text) != (text.title, text.text):
            clause.title, clause.text = text.title, text.text
            clause.save(update_fields=["title", "text"])


@transaction.atomic
def create_policy(
    *,
    actor: Actor,
    slug: str,
    title: str,
    body: str,
    marketplaces,
    effective_at: datetime,
    enforcement_starts_at: datetime,
    categories=(),
    clauses: Sequence[ClauseText] = (),
    timezone_name: str = "Asia/Shanghai",
    appeal_window_days: int = 180,
    review_due_hours: int = 24,
    detection_threshold=10,
    flagged_listings: str = Policy.FlaggedListings.REFUSE,
) -> Policy:
    if Policy.objects.filter(slug=slug).exists():
        raise ValidationError(
            {"slug": _("A policy “%(slug)s” exists already: make a new version of it instead.") % {"slug": slug}}
        )
    validate_policy_dates(effective_at=effective_at, enforcement_starts_at=enforcement_starts_at)
    policy = Policy(
        slug=slug,
        title=title,
        body=body,
        timezone=timezone_name,
        effective_at=effective_at,
        enforcement_starts_at=enforcement_starts_at,
        appeal_window_days=appeal_window_days,
        review_due_hours=review_due_hours,
        detection_threshold=detection_threshold,
        flagged_listings=flagged_listings,
        created_by=actor_user(actor),
    )
    policy.full_clean()
    policy.save()
    _set_relations(policy, marketplaces=marketplaces, categories=categories, clauses=list(clauses))
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_CREATED,
        target=policy,
        policy=policy,
        after=policy_snapshot(policy),
    )
    return policy


@transaction.atomic
def edit_policy(*, actor: Actor, policy: Policy, marketplaces=None, categories=None, clauses=None, **fields) -> Policy:
    """Change a draft. An announced policy is never edited in place: see ``new_policy_version``."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if not policy.is_editable:
        raise ValidationError(
            _("“%(policy)s” was announced on %(day)s: it cannot be edited; make a new version.")
            % {"policy": policy, "day": f"{policy.local(policy.announced_at):%Y-%m-%d}"}
        )
    editable = {
        "title",
        "body",
        "timezone",
        "effective_at",
        "enforcement_starts_at",
        "appeal_window_days",
        "review_due_hours",
        "detection_threshold",
        "flagged_listings",
    }
    unknown = set(fields) - editable
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), _("This field cannot be edited.")))
    before = policy_snapshot(policy)
    for name, value in fields.items():
        setattr(policy, name, value)
    validate_policy_dates(effective_at=policy.effective_at, enforcement_starts_at=policy.enforcement_starts_at)
    policy.updated_at = timezone.now()
    policy.full_clean()
    policy.save()
    _set_relations(
        policy,
        marketplaces=marketplaces if marketplaces is not None else list(policy.marketplaces.all()),
        categories=categories if categories is not None else list(policy.categories.all()),
        clauses=clauses
        if clauses is not None
        else [ClauseText(c.number, c.title, c.text) for c in policy.clauses.all()],
    )
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_EDITED,
        target=policy,
        policy=policy,
        before=before,
        after=policy_snapshot(policy),
    )
    return policy


@transaction.atomic
def new_policy_version(*, actor: Actor, policy: Policy) -> Policy:
    """Copy an announced policy into a new draft version; announcing it retires the old one."""
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if policy.is_editable:
        raise ValidationError(_("This version is still a draft: edit it directly."))
    if Policy.objects.filter(slug=policy.slug, version__gt=policy.version).exists():
        raise ValidationError(_("“%(slug)s” already has a newer version.") % {"slug": policy.slug})
    draft = Policy.objects.create(
        slug=policy.slug,
        version=policy.version + 1,
        supersedes=policy,
        title=policy.title,
        body=policy.body,
        timezone=policy.timezone,
        effective_at=policy.effective_at,
        enforcement_starts_at=policy.enforcement_starts_at,
        appeal_window_days=policy.appeal_window_days,
        review_due_hours=policy.review_due_hours,
        detection_threshold=policy.detection_threshold,
        flagged_listings=policy.flagged_listings,
        daily_points_cap=policy.daily_points_cap,
        points_valid_days=policy.points_valid_days,
        created_by=actor_user(actor),
    )
    _set_relations(
        draft,
        marketplaces=list(policy.marketplaces.all()),
        categories=list(policy.categories.all()),
        clauses=[ClauseText(c.number, c.title, c.text) for c in policy.clauses.all()],
    )
    from moderation.services.detection import copy_detection_rules  # rules belong to a version too

    if policy.detection_rules.exists():
        copy_detection_rules(actor=actor, source=policy, target=draft)
    if policy.points_rules.exists() or policy.escalation_steps.exists():  # and so do its points and ladder
        copy_penalty_rules(actor=actor, source=policy, target=draft)
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_VERSIONED,
        target=draft,
        policy=draft,
        before={"version": policy.version, "policy_id": policy.pk},
        after=policy_snapshot(draft),
    )
    return draft


@transaction.atomic
def announce_policy(*, actor: Actor, policy: Policy, announced_at: datetime | None = None) -> Policy:
    """Publish a draft and tell every merchant whose live listings it would hit.

    1. Claim the draft with a conditional UPDATE (two clicks announce once).
    2. Retire the version it supersedes, if any.
    3. One notice per merchant with live listings in the policy's categories, in the
       policy's marketplaces; e-mailed by a task after commit.

    ``announced_at`` records an announcement made earlier (e.g. published on the site);
    it defaults to now.
    """
    announced_at = announced_at or timezone.now()
    policy = Policy.objects.get(pk=policy.pk)
    if policy.status != Policy.Status.DRAFT:
        raise ValidationError(
            _("“%(policy)s” is %(status)s, not a draft.")
            % {"policy": policy, "status": policy.get_status_display().lower()}
        )
    if not policy.clauses.exists():
        raise ValidationError({"clauses": _("A policy needs at least one clause before it is announced.")})
    if announced_at > policy.effective_at:
        raise ValidationError(
            {"effective_at": _("The effective date has passed: move it after the announcement first.")}
        )
    previous = policy.supersedes
    if previous is not None and previous.status == Policy.Status.ANNOUNCED:
        # The version it replaces never applied: the new one replaces it at once. A version
        # in effect stays in effect until the new one's effective date (no gap in the ban).
        _retire_superseded(previous, by=policy, actor=actor)
    claimed = Policy.objects.filter(pk=policy.pk, status=Policy.Status.DRAFT).update(
        status=Policy.Status.ANNOUNCED, announced_at=announced_at, updated_at=timezone.now()
    )
    if claimed != 1:
        raise ValidationError(_("“%(policy)s” was announced by someone else a moment ago.") % {"policy": policy})
    policy.refresh_from_db()
    hits = merchants_hit_by_policy(policy)
    notices = create_notices(
        NoticeDraft(
            merchant_id=row["merchant_id"],
            kind=Notice.Kind.POLICY_ANNOUNCED,
            policy=policy,
            dedupe_key=f"policy:{policy.pk}:announced:merchant:{row['merchant_id']}",
            context={"listings_hit": row["listings"]},
        )
        for row in hits
    )
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_ANNOUNCED,
        target=policy,
        policy=policy,
        before={"status": Policy.Status.DRAFT},
        after={"status": policy.status, "announced_at": policy.announced_at, "merchants_notified": notices},
    )
    outbox.policy_changed(policy, event_type=outbox.EventType.POLICY_ANNOUNCED)
    return policy


def put_due_policies_in_effect(*, actor: Actor) -> list[int]:
    """Mark announced policies whose effective date has passed as in effect (beat, idempotent)."""
    now = timezone.now()
    changed = []
    for policy_id in Policy.objects.filter(status=Policy.Status.ANNOUNCED, effective_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Conditional UPDATE: two beat ticks record one transition.
            policy = Policy.objects.select_related("supersedes").get(pk=policy_id)
            if policy.supersedes is not None:
                # The version it replaces stops when this one starts, in the same transaction.
                _retire_superseded(policy.supersedes, by=policy, actor=actor)
            if Policy.objects.filter(pk=policy_id, status=Policy.Status.ANNOUNCED).update(
                status=Policy.Status.IN_EFFECT, updated_at=now
            ):
                policy.refresh_from_db()
                # The bulk scan of every live listing starts once the policy applies.
                transaction.on_commit(partial(_queue_policy_scan, policy_id))
                record_event(
                    actor=actor,
                    verb=AuditVerb.POLICY_TOOK_EFFECT,
                    target=policy,
                    policy=policy,
                    before={"status": Policy.Status.ANNOUNCED},
                    after={"status": Policy.Status.IN_EFFECT},
                )
                outbox.policy_changed(policy, event_type=outbox.EventType.POLICY_IN_EFFECT)
                changed.append(policy_id)
    return changed


def _retire_superseded(previous: Policy, *, by: Policy, actor: Actor) -> None:
    before = previous.status
    if Policy.objects.filter(pk=previous.pk, status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT]).update(
        status=Policy.Status.RETIRED, updated_at=timezone.now()
    ):
        record_event(
            actor=actor,
            verb=AuditVerb.POLICY_RETIRED,
            target=previous,
            policy=previous,
            before={"status": before},
            after={"status": Policy.Status.RETIRED, "superseded_by": by.pk},
            reason=f"Superseded by version {by.version}.",
        )


def _queue_policy_scan(policy_id: int) -> None:
    from moderation.tasks import start_policy_scan

    start_policy_scan.delay(policy_id)


@transaction.atomic
def retire_policy(*, actor: Actor, policy: Policy, reason: str) -> Policy:
    if not has_visible_text(reason):
        raise ValidationError({"reason": _("Say why the policy is retired.")})
    before = policy.status
    if (
        not Policy.objects.filter(pk=policy.pk)
        .exclude(status=Policy.Status.RETIRED)
        .update(status=Policy.Status.RETIRED, updated_at=timezone.now())
    ):
        raise ValidationError(_("“%(policy)s” is retired already.") % {"policy": policy})
    policy.refresh_from_db()
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_RETIRED,
        target=policy,
        policy=policy,
        before={"status": before},
        after={"status": policy.status},
        reason=reason,
    )
    return policy


# --- The ladder and the points table, as policy data ----------------------------------------


@dataclass(frozen=True)
class PointsText:
    kind: str
    points: int
    daily_cap_applies: bool = True
    clause_number: int | None = None


@dataclass(frozen=True)
class StepText:
    threshold: int
    kind: str
    duration_days: int | None = None
    compliance_days: int | None = None
    delists_all: bool = False


@transaction.atomic
def set_penalty_rules(*, actor: Actor, policy: Policy, points: list[PointsText], ladder: list[StepText]) -> None:
    """Replace a draft policy's points table and ladder (announced policies change by a new version)."""
    if not policy.is_editable:
        raise ValidationError("Only a draft's penalty rules can change: announce a new version instead.")
    errors = {}
    thresholds = [step.threshold for step in ladder]
    if len(set(thresholds)) != len(thresholds) or any(t < 1 for t in thresholds):
        errors["ladder"] = "Each step needs its own threshold of at least 1 point."
    if any(step.kind not in SanctionKind.values for step in ladder):
        errors["ladder"] = "Each step needs a kind of sanction."
    clauses = {clause.number: clause for clause in policy.clauses.all()}
    if any(row.clause_number is not None and row.clause_number not in clauses for row in points):
        errors["points"] = "A points rule names a clause the policy does not have."
    if errors:
        raise ValidationError(errors)
    policy.points_rules.all().delete()
    policy.escalation_steps.all().delete()
    PointsRule.objects.bulk_create(
        PointsRule(
            policy=policy,
            kind=row.kind,
            clause=clauses.get(row.clause_number) if row.clause_number else None,
            points=row.points,
            daily_cap_applies=row.daily_cap_applies,
        )
        for row in points
    )
    EscalationStep.objects.bulk_create(
        EscalationStep(
            policy=policy,
            threshold=step.threshold,
            kind=step.kind,
            duration_days=step.duration_days,
            compliance_days=step.compliance_days,
            delists_all=step.delists_all,
        )
        for step in ladder
    )
    record_event(
        actor=actor,
        verb=AuditVerb.POLICY_EDITED,
        target=policy,
        policy=policy,
        after={
            "points": [
                f"{row.kind}{f' §{row.clause_number}' if row.clause_number else ''}: {row.points}" for row in points
            ],
            "ladder": [f"{step.threshold}: {step.kind} {step.duration_days or ''}".strip() for step in ladder],
        },
    )


def copy_penalty_rules(*, actor: Actor, source: Policy, target: Policy) -> None:
    set_penalty_rules(
        actor=actor,
        policy=target,
        points=[
            PointsText(rule.kind, rule.points, rule.daily_cap_applies, rule.clause.number if rule.clause else None)
            for rule in source.points_rules.select_related("clause")
        ],
        ladder=[
            StepText(step.threshold, step.kind, step.duration_days, step.compliance_days, step.delists_all)
            for step in source.escalation_steps.all()
        ],
    )
