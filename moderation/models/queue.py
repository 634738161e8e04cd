"""The review queue: listings detection (or a report, a re-listing, an escalation) put before a person."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _


class ReviewItem(models.Model):
    """One listing to review under one policy.

    ``open`` → ``claimed`` (by a moderator, until the lease ends) → ``decided``. An
    escalated item goes back to ``open`` in the senior moderators' tier. One open (or
    claimed) item per listing and policy, held by a partial unique index.
    """

    class Source(models.TextChoices):
        DETECTION = "detection", _("Detection")
        REPORT = "report", _("Report")
        RELIST = "relist", _("Re-listing")
        ESCALATION = "escalation", _("Escalation")
        REINSTATEMENT = "reinstatement", _("Reinstated on appeal")
        # New or edited content a policy holds for a moderator before it is published (Listing.Status.HELD).
        HELD = "held", _("Held before publication")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLAIMED = "claimed", _("Claimed")
        DECIDED = "decided", _("Decided")

    class Tier(models.TextChoices):
        MODERATOR = "moderator", _("Moderators")
        SENIOR = "senior", _("Senior moderators")

    class Decision(models.TextChoices):
        TAKEN_DOWN = "taken_down", _("Taken down")
        DISMISSED = "dismissed", _("Dismissed")

    listing = models.ForeignKey("sellers.Listing", on_delete=models.PROTECT, related_name="review_items")
    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="review_items")
    # Copied from the listing when the item opens, so the queue filters on its own columns.
    merchant = models.ForeignKey("sellers.Merchant", on_delete=models.PROTECT, related_name="review_items")
    marketplace = models.ForeignKey("sellers.Marketplace", on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey("sellers.Category", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.DETECTION)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.MODERATOR)
    score = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    # The listing's content version the item judges (Listing.version when it opened).
    version = models.PositiveIntegerField(null=True, blank=True)
    # For an item opened by a granted appeal: the listing waits here instead of going live.
    appeal = models.ForeignKey(
        "moderation.Appeal", null=True, blank=True, on_delete=models.PROTECT, related_name="reinstatement_items"
    )
    matched_terms = models.JSONField(default=list, blank=True)
    # The clause the matching rules point to (the strongest signal's): a take-down cites it
    # unless the moderator chooses another. None when no rule pointed anywhere (a report).
    clause = models.ForeignKey(
        "moderation.PolicyClause", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    spans = models.JSONField(default=dict, blank=True, help_text="Where the terms matched, per field.")
    priority = models.IntegerField(default=0, help_text="Higher first: the score plus the merchant's record.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Who a moderator asked to decide it (``assign_item``): a pointer, not a lock. The
    # assignee's "claim next" offers it first; anyone of the tier may still claim it.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    due_at = models.DateTimeField(help_text="Service level: decide before this.")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    escalated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=now, editable=False)
    # What the queue's search box reads (moderation.search): the store name, title and description,
    # folded, one per line. Written when the item opens, rewritten when the listing's texts or the
    # store's name change. Its GIN trigram index over the open items (review_open_search_idx) is
    # made by migration 0034 on PostgreSQL only, when pg_trgm can be had: not declared here.
    search_text = models.TextField(blank=True, default="", editable=False)
    # The listings with the same or nearly the same content (``moderation.services.duplicates``),
    # set as similar items arrive; empty while no other item is similar to this one.
    duplicate_group = models.ForeignKey(
        "moderation.DuplicateGroup",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
        db_index=False,  # review_group_idx: most items are in no group and need no entry
    )

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["listing", "policy"],
                condition=Q(status__in=["open", "claimed"]),
                name="review_one_open_item_per_listing_policy",
            ),
            models.CheckConstraint(name="review_status_valid", condition=Q(status__in=["open", "claimed", "decided"])),
            models.CheckConstraint(
                name="review_claim_has_owner",
                condition=~Q(status="claimed") | Q(claimed_by__isnull=False, claimed_until__isnull=False),
            ),
            models.CheckConstraint(
                name="review_decided_is_complete",
                condition=~Q(status="decided")
                | (Q(decided_by__isnull=False, decided_at__isnull=False) & ~Q(decision="")),
            ),
        ]
        indexes = [
            # "Claim next" and the default queue page: open items by priority, per tier.
            models.Index(
                fields=["tier", "-priority", "id"],
                name="review_open_priority_idx",
                condition=Q(status__in=["open", "claimed"]),
            ),
            # Overdue filter and the header's oldest-open figure.
            models.Index(fields=["due_at"], name="review_open_due_idx", condition=Q(status__in=["open", "claimed"])),
            # "Assigned to me" and "claim next" offering the claimer's assigned items first.
            models.Index(
                fields=["assigned_to", "-priority", "id"],
                name="review_open_assigned_idx",
                condition=Q(status__in=["open", "claimed"], assigned_to__isnull=False),
            ),
            # The merchant's history on the item page.
            models.Index(fields=["merchant", "-created_at"], name="review_merchant_idx"),
            # The group page's members, and "Similar listings: N" on the item page.
            models.Index(
                fields=["duplicate_group"], name="review_group_idx", condition=Q(duplicate_group__isnull=False)
            ),
            # "3 similar" in the queue: a group's open members, however many of them were decided.
            models.Index(
                fields=["duplicate_group"],
                name="review_open_group_idx",
                condition=Q(status__in=["open", "claimed"], duplicate_group__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"Review #{self.pk}: {self.listing_id} under {self.policy_id}"

    @property
    def is_open(self) -> bool:
        return self.status in {self.Status.OPEN, self.Status.CLAIMED}


class ReviewItemRule(models.Model):
    """A rule that matched the listing when its item was opened: how a rule's precision is
    learnt from what moderators decided. Shadow rules are linked too, marked as such."""

    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="rule_links")
    rule = models.ForeignKey("moderation.DetectionRule", on_delete=models.PROTECT, related_name="item_links")
    shadow = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "rule"], name="review_item_rule_unique")]
        indexes = [
            # The rules page: per rule, the decisions on the items it flagged.
            models.Index(fields=["rule", "item"], name="review_item_rule_by_rule_idx"),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on review #{self.item_id}"


class ReviewNote(models.Model):
    """An internal note on an item, for the moderators only (never sent to the merchant)."""

    item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on review #{self.item_id} by {self.author_id}"


class PolicyScan(models.Model):
    """A bulk scan of every live listing in a policy's marketplaces, in chunks over id ranges.

    Started when the policy takes effect (or by a policy admin); one running per policy.
    Re-running a chunk is harmless: an open item per listing and policy at most.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    policy = models.ForeignKey("moderation.Policy", on_delete=models.PROTECT, related_name="scans")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    chunk_size = models.PositiveIntegerField(default=2000)
    # Planned at the start; when the scan completes, what it looked at (listings that left or
    # joined the scope while it ran make the two differ), so a completed scan's figures add up.
    listings_total = models.PositiveIntegerField(default=0)
    # Looked at: read and matched, or skipped (``listings_skipped``).
    listings_done = models.PositiveIntegerField(default=0)
    # Looked at but not read: live listings of a retired category, which come down with it.
    listings_skipped = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    items_opened = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_by = models.CharField(max_length=150)
    started_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy"], condition=Q(status="running"), name="scan_one_running_per_policy"
            ),
            models.CheckConstraint(
                name="scan_status_valid", condition=Q(status__in=["running", "completed", "failed"])
            ),
        ]

    def __str__(self) -> str:
        return f"Scan #{self.pk} under policy #{self.policy_id}"

    @property
    def listings_read(self) -> int:
        """Listings read and matched against the rules."""
        return self.listings_done - self.listings_skipped

    @property
    def percent_done(self) -> float:
        if self.status == self.Status.COMPLETED:
            return 100.0
        return min(100.0, 100.0 * self.listings_done / self.listings_total) if self.listings_total else 0.0


class ScanChunk(models.Model):
    """One id range of a scan: matched and queued in one transaction, all or nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    scan = models.ForeignKey(PolicyScan, on_delete=models.PROTECT, related_name="chunks")
    number = models.PositiveIntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    scanned = models.PositiveIntegerField(default=0)  # read and matched
    skipped = models.PositiveIntegerField(default=0)  # live, but in a retired category: not read
    opened = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Rule id → listings of the range it matched (shadow rules included, flagged or not):
    # the rules page sums them over a policy's last scans.
    rule_hits = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["scan", "number"]
        constraints = [models.UniqueConstraint(fields=["scan", "number"], name="scan_chunk_unique_number")]

    def __str__(self) -> str:
        return f"scan chunk {self.number} [{self.first_id}..{self.last_id}]"


# --- Duplicate groups: near-identical listings decided together ------------------------------


class DuplicateGroup(models.Model):
    """Review items whose listings say the same or nearly the same thing (``moderation.services.duplicates``).

    A group is a ball around the content of its founder, the first item with that content:
    ``signature`` is that content's MinHash, and an arriving item joins only if its own signature
    is at least ``SIMILARITY_THRESHOLD`` similar to it. Comparing with the founder, not with
    whichever member is nearest, keeps a group from drifting along a chain of small edits into
    unrelated content: any two members are about 0.5 similar or more (Jaccard distance is a
    metric). A group of one is only a centre that the next copy finds: its founder's
    ``duplicate_group`` stays empty until a second member joins, so an item without a similar one
    costs the queue's pages nothing.
    """

    founder = models.ForeignKey(
        ReviewItem, on_delete=models.PROTECT, related_name="+", db_index=False, help_text="Whose content it is."
    )
    exact_key = models.BigIntegerField(help_text="Hash of the founding content's normalised words.")
    signature = models.BinaryField(max_length=128, help_text="MinHash of the founding content (64 x uint16).")
    size = models.PositiveIntegerField(
        default=1, help_text="Items that joined, the founder included, whatever their status."
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # An arriving item's exact copy: one probe per batch of arrivals.
            models.Index(fields=["exact_key"], name="duplicate_group_exact_idx"),
        ]

    def __str__(self) -> str:
        return f"Similar listings #{self.pk}"


class DuplicateSignatureBand(models.Model):
    """One LSH band of a group's signature: items sharing a band key are candidates to compare.

    ``key`` hashes the band's number with its values, so keys of different bands never meet and a
    batch of arrivals finds its candidates with one ``key IN (…)`` probe of one index, rather than
    a (band, key) pair per band and item. ``band`` is kept to read the rows, not to find them.
    """

    group = models.ForeignKey(DuplicateGroup, on_delete=models.PROTECT, related_name="bands", db_index=False)
    band = models.PositiveSmallIntegerField()
    key = models.BigIntegerField()

    class Meta:
        indexes = [
            # Candidates of arriving items: key IN (…), the group read from the index alone.
            models.Index(fields=["key", "group"], name="duplicate_band_key_idx"),
        ]

    def __str__(self) -> str:
        return f"band {self.band} of group {self.group_id}"
