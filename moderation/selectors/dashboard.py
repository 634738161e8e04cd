"""The enforcement dashboard's figures for one policy (all its versions) and a period.

Each figure is one grouped query over an indexed, bounded set (a removal's chunks, the
period's violations, the open queue), never a scan of the listings or of the audit
trail; the whole set is cached for ``DASHBOARD_CACHE_SECONDS``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import TypedDict
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from moderation.models import Appeal, Notice, Policy, RemovalChunk, ReviewItem, Sanction, SanctionKind, Violation
from moderation.models.appeals import OPEN_STATUSES
from moderation.selectors.periods import Period  # also imported from here by callers

# A trust-and-safety lead reloads the page often; a minute-old figure is fresh enough and
# spares the database the grouped queries on every reload.
DASHBOARD_CACHE_SECONDS = 60


class ModeratorDay(TypedDict):
    """How many items one moderator decided on one day."""

    moderator: str
    day: date
    n: int


@dataclass
class Dashboard:
    policy: Policy
    period: Period
    delisted_by_removal: dict[date, int] = field(default_factory=dict)
    taken_down: dict[date, int] = field(default_factory=dict)
    queue: dict = field(default_factory=dict)
    decisions_by_moderator: list[ModeratorDay] = field(default_factory=list)
    violations: dict[date, int] = field(default_factory=dict)
    points: dict[date, int] = field(default_factory=dict)
    sanctions_issued: dict[str, int] = field(default_factory=dict)
    sanctions_active: dict[str, int] = field(default_factory=dict)
    appeals: dict = field(default_factory=dict)
    detection_to_decision_hours: float | None = None

    def series(self, name: str) -> list[tuple[date, int]]:
        values = getattr(self, name)
        return [(day, values.get(day, 0)) for day in self.period.days()]


def default_policy() -> Policy | None:
    return (
        Policy.objects.filter(status__in=[Policy.Status.IN_EFFECT, Policy.Status.ANNOUNCED])
        .order_by("-effective_at")
        .first()
        or Policy.objects.order_by("-effective_at").first()
    )


def report_zone(policy: Policy | None) -> ZoneInfo:
    """The timezone a report's days are meant in: the policy's, or, for a report over every
    policy, that of the dashboard's default policy, so the download's days are the page's days."""
    policy = policy or default_policy()
    return policy.zone if policy else ZoneInfo("UTC")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _median_seconds(queryset, start_field: str, end_field: str) -> float | None:
    """The median of end - start in seconds: in the database on PostgreSQL, in Python elsewhere."""
    if connection.vendor == "postgresql":
        sql, params = queryset.values("pk").query.sql_with_params()
        table = queryset.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP "
                f"(ORDER BY EXTRACT(EPOCH FROM ({end_field} - {start_field}))) FROM {table} WHERE id IN ({sql})",
                params,
            )
            value = cursor.fetchone()[0]
        return float(value) if value is not None else None
    return _median([(end - begin).total_seconds() for begin, end in queryset.values_list(start_field, end_field)])


def dashboard(policy: Policy, period: Period) -> Dashboard:
    key = f"dashboard:{policy.pk}:{period.start.isoformat()}:{period.end.isoformat()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    figures = compute_dashboard(policy, period)
    cache.set(key, figures, DASHBOARD_CACHE_SECONDS)
    return figures


def compute_dashboard(policy: Policy, period: Period) -> Dashboard:
    """Every figure, uncached: about a dozen queries whatever the size of the catalog."""
    slug, start, end, now = policy.slug, period.start, period.end, timezone.now()
    zone = policy.zone
    board = Dashboard(policy=policy, period=period)
    day = TruncDate("finished_at", tzinfo=zone)

    board.delisted_by_removal = dict(
        RemovalChunk.objects.filter(removal__policy__slug=slug, finished_at__gte=start, finished_at__lt=end)
        .annotate(day=day)
        .values("day")
        .annotate(n=Sum("delisted"))
        .values_list("day", "n")
    )
    in_period = Violation.objects.filter(policy__slug=slug, decided_at__gte=start, decided_at__lt=end)
    by_day = TruncDate("decided_at", tzinfo=zone)
    board.taken_down = dict(
        in_period.filter(review_item__isnull=False)
        .annotate(day=by_day)
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    rows = (
        in_period.filter(status=Violation.Status.ACTIVE)
        .annotate(day=by_day)
        .values("day")
        .annotate(n=Count("id"), p=Sum("points"))
    )
    board.violations = {row["day"]: row["n"] for row in rows}
    board.points = {row["day"]: row["p"] or 0 for row in rows}

    open_items = ReviewItem.objects.filter(
        policy__slug=slug, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.CLAIMED]
    )
    queue = open_items.aggregate(
        size=Count("id"),
        past_due=Count("id", filter=Q(due_at__lt=now)),
        escalated=Count("id", filter=Q(tier=ReviewItem.Tier.SENIOR)),
    )
    oldest = open_items.order_by("created_at").values_list("created_at", flat=True).first()
    queue["oldest_hours"] = round((now - oldest).total_seconds() / 3600, 1) if oldest else None
    board.queue = queue

    decided = ReviewItem.objects.filter(
        policy__slug=slug, decided_at__gte=start, decided_at__lt=end, decided_by__isnull=False
    )
    board.decisions_by_moderator = list(
        decided.annotate(day=TruncDate("decided_at", tzinfo=zone), moderator=F("decided_by__username"))
        .values("moderator", "day")
        .annotate(n=Count("id"))
        .order_by("moderator", "day")
    )
    seconds = _median_seconds(decided, "created_at", "decided_at")
    board.detection_to_decision_hours = round(seconds / 3600, 1) if seconds is not None else None

    board.sanctions_issued = dict(
        Sanction.objects.filter(policy__slug=slug, starts_at__gte=start, starts_at__lt=end)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    board.sanctions_active = dict(
        Sanction.objects.filter(policy__slug=slug, status=Sanction.Status.ACTIVE)
        .values("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )

    appeals = Appeal.objects.filter(policy__slug=slug)
    filed = appeals.filter(filed_at__gte=start, filed_at__lt=end)
    decided_appeals = appeals.filter(decided_at__gte=start, decided_at__lt=end, status__in=["granted", "rejected"])
    counts = decided_appeals.aggregate(decided=Count("id"), granted=Count("id", filter=Q(status="granted")))
    median = _median_seconds(decided_appeals, "filed_at", "decided_at")
    board.appeals = {
        "filed": filed.count(),
        "open": appeals.filter(status__in=OPEN_STATUSES).count(),
        "decided": counts["decided"],
        "granted": counts["granted"],
        "granted_share": round(100 * counts["granted"] / counts["decided"], 1) if counts["decided"] else None,
        "median_hours": round(median / 3600, 1) if median is not None else None,
    }
    return board


SANCTION_KIND_ORDER = [kind.value for kind in SanctionKind]


def transparency_report(period: Period, policy: Policy | None = None) -> dict:
    """The period's figures in the layout of the DSA transparency report (Art. 15 and 24):
    own-initiative actions by category, type and detection; notices by third parties;
    complaints received, decided, reversed and their median time; suspensions by type.
    Counts only: nothing in it names a merchant or a person."""
    start, end = period.start, period.end
    notices = Notice.objects.filter(restricts=True, created_at__gte=start, created_at__lt=end)
    sanctions = Sanction.objects.filter(starts_at__gte=start, starts_at__lt=end)
    appeals = Appeal.objects.all()
    if policy is not None:
        notices = notices.filter(policy__slug=policy.slug)
        sanctions = sanctions.filter(policy__slug=policy.slug)
        appeals = appeals.filter(policy__slug=policy.slug)
    actions = list(
        notices.values(
            "kind", "transparency__category", "transparency__automated_detection", "transparency__source_type"
        )
        .annotate(n=Count("id"))
        .order_by("kind")
    )
    own_initiative = [
        {
            "category": row["transparency__category"] or "",
            "measure": row["kind"],
            "automated_detection": row["transparency__automated_detection"] or "No",
            "statements": row["n"],
        }
        for row in actions
        if (row["transparency__source_type"] or "SOURCE_VOLUNTARY") == "SOURCE_VOLUNTARY"
    ]
    third_party = sum(
        row["n"] for row in actions if (row["transparency__source_type"] or "SOURCE_VOLUNTARY") != "SOURCE_VOLUNTARY"
    )
    received = appeals.filter(filed_at__gte=start, filed_at__lt=end)
    decided = appeals.filter(decided_at__gte=start, decided_at__lt=end, status__in=["granted", "rejected"])
    decided_counts = decided.aggregate(decided=Count("id"), reversed=Count("id", filter=Q(status="granted")))
    median = _median_seconds(decided, "filed_at", "decided_at")
    return {
        "period": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "first_day": period.first_day.isoformat(),
            "last_day": period.last_day.isoformat(),
            "timezone": period.timezone_name,
        },
        "policy": policy.slug if policy else None,
        "own_initiative_actions": own_initiative,
        "notices_from_third_parties": third_party,
        "complaints": {
            "received": received.count(),
            "received_by_decision_kind": dict(received.values("kind").annotate(n=Count("id")).values_list("kind", "n")),
            "decided": decided_counts["decided"],
            "reversed": decided_counts["reversed"],
            "median_decision_hours": round(median / 3600, 1) if median is not None else None,
        },
        "suspensions_by_type": dict(sanctions.values("kind").annotate(n=Count("id")).values_list("kind", "n")),
    }


def transparency_report_rows(report: dict) -> list[list]:
    """The report as CSV rows: section, item, value."""
    period = report["period"]
    rows = [
        ["section", "item", "value"],
        # The days are midnight to midnight in this timezone, the one the dashboard states.
        ["period", "timezone", period["timezone"]],
        ["period", "first_day", period["first_day"]],
        ["period", "last_day", period["last_day"]],
        ["period", "start", period["start"]],
        ["period", "end", period["end"]],
    ]
    for action in report["own_initiative_actions"]:
        item = f"{action['category']} / {action['measure']} / automated detection {action['automated_detection']}"
        rows.append(["own_initiative_actions", item, action["statements"]])
    rows.append(["notices_from_third_parties", "total", report["notices_from_third_parties"]])
    complaints = report["complaints"]
    for name in ("received", "decided", "reversed", "median_decision_hours"):
        rows.append(["complaints", name, complaints[name] if complaints[name] is not None else ""])
    for kind, n in complaints["received_by_decision_kind"].items():
        rows.append(["complaints_received_by_decision_kind", kind, n])
    for kind, n in report["suspensions_by_type"].items():
        rows.append(["suspensions_by_type", kind, n])
    return rows
