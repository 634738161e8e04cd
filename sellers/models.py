"""The catalog: marketplaces, the category tree, merchants and their listings.

Rows here are changed only through ``sellers.services`` (and, for enforcement, through
``moderation.services``), which write the audit trail in the same transaction.
"""

from __future__ import annotations

import unicodedata
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS

from sellers.limits import validate_attributes, validate_description, validate_title

# A marketplace's own id for a merchant or a listing (sellers.integration): room for a UUID, a
# 20-digit number or a prefixed key such as "aliexpress:1005004123456789".
EXTERNAL_ID_MAX_LENGTH = 100


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA timezone (e.g. Asia/Shanghai).")


class Marketplace(models.Model):
    """One of the group's sites (Alibaba.com, AliExpress, Taobao…); a policy names its scope."""

    code = models.SlugField(max_length=32, unique=True, help_text="Short stable code, e.g. 'alibaba'.")
    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai", validators=[validate_timezone])
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """A node of the category tree shared by all marketplaces.

    ``path`` is the materialised chain of slugs (``/consumer-electronics/blockchain-miners/``)
    so "this category and everything under it" is one indexed prefix match instead of a
    recursive query; categories are never moved, so the path never has to be rewritten.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("category status", "Active")
        RETIRED = "retired", pgettext_lazy("category status", "Retired")

    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Which scheduled removal retired it (moderation.services.removals).
    retired_by_removal = models.ForeignKey(
        "moderation.CategoryRemoval",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retired_categories",
    )
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(name="category_status_valid", condition=Q(status__in=["active", "retired"])),
            models.CheckConstraint(
                name="category_retired_has_time",
                condition=Q(status="active", retired_at__isnull=True) | Q(status="retired", retired_at__isnull=False),
            ),
            models.CheckConstraint(name="category_not_own_parent", condition=~Q(parent=F("id"))),
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_per_parent"),
            # NULL parents never compare equal, so top-level names need their own rule.
            models.UniqueConstraint(
                fields=["name"], condition=Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]
        indexes = [
            # Subtree look-ups by prefix (removal scope, dry run): path LIKE '/a/b/%'.
            models.Index(fields=["path"], name="category_path_prefix_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_retired(self) -> bool:
        return self.status == self.Status.RETIRED

    def breadcrumb(self) -> str:
        return " › ".join(part.replace("-", " ") for part in self.path.strip("/").split("/"))


class Merchant(models.Model):
    """A seller's store on one marketplace.

    ``enforcement_status`` is a cache of the merchant's active sanctions, written only by
    the sanction services (``moderation.services.sanctions.recompute_enforcement_status``).
    """

    class EnforcementStatus(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("merchant enforcement status", "Active")
        STORE_BLOCKED = "store_blocked", _("Store blocked")
        FROZEN = "frozen", _("Account frozen")
        CLOSED = "closed", _("Account closed")

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        CHINESE = "zh-hans", "简体中文"

    marketplace = models.ForeignKey(Marketplace, on_delete=models.PROTECT, related_name="merchants")
    store_name = models.CharField(max_length=200)
    company_name = models.CharField(max_length=200)
    country = models.CharField(
        max_length=2,
        validators=[RegexValidator(r"^[A-Z]{2}$", "Use a two-letter ISO country code, e.g. CN.")],
    )
    contact_email = models.EmailField()
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merchant",
        help_text="The seller's account that signs in to the sellers' API.",
    )
    enforcement_status = models.CharField(
        max_length=16, choices=EnforcementStatus.choices, default=EnforcementStatus.ACTIVE
    )
    enforcement_until = models.DateTimeField(
        null=True, blank=True, help_text="When the current restriction ends; empty when indefinite."
    )
    payouts_held = models.BooleanField(
        default=False, help_text="Read by the payout side: true while the account is frozen or closed."
    )
    # The marketplace's own id for this store and the version of it last applied, when the
    # marketplace's systems sync it in (sellers.integration.sync); empty for merchants registered here.
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, null=True, blank=True, editable=False)
    external_version = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["store_name"]
        constraints = [
            # Also the index the sync reads a batch's merchants by (marketplace, external_id IN …).
            models.UniqueConstraint(fields=["marketplace", "external_id"], name="merchant_unique_external_id"),
            models.CheckConstraint(
                name="merchant_external_id_has_version",
                condition=Q(external_id__isnull=True, external_version__isnull=True)
                | Q(external_id__isnull=False, external_version__isnull=False),
            ),
            models.CheckConstraint(
                name="merchant_enforcement_status_valid",
                condition=Q(enforcement_status__in=["active", "store_blocked", "frozen", "closed"]),
            ),
            models.CheckConstraint(
                name="merchant_active_has_no_end",
                condition=~Q(enforcement_status="active") | Q(enforcement_until__isnull=True),
            ),
            models.UniqueConstraint(fields=["marketplace", "store_name"], name="merchant_unique_store_name"),
        ]
        indexes = [
            # Sanction sweeps and the dashboard count merchants by status.
            models.Index(fields=["enforcement_status"], name="merchant_enforcement_idx"),
        ]

    def __str__(self) -> str:
        return self.store_name

    @property
    def can_sell(self) -> bool:
        return self.enforcement_status == self.EnforcementStatus.ACTIVE


class Listing(models.Model):
    """A product a merchant offers.

    Whether it is *visible* is derived (``Listing.objects.visible()``): live, its merchant
    active, its category not retired. Blocking a store never rewrites its listings;
    delisting keeps ``previous_status`` so a granted appeal can put it back.

    ``held``: content the rules flag under a policy that holds such listings for a moderator
    instead of refusing them (``Policy.flagged_listings``). Not visible; it goes live only when
    a moderator dismisses its review item (``moderation.services.holds``).
    """

    class Status(models.TextChoices):
        LIVE = "live", _("Live")
        HELD = "held", _("Held for review")
        DELISTED = "delisted", _("Delisted")
        REMOVED_BY_SELLER = "removed_by_seller", _("Removed by seller")

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="listings")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="listings")
    # The limits on what a merchant sends are in ``sellers.limits``; the title column is wider than its
    # limit because titles stored before it keep their length.
    title = models.CharField(max_length=300, validators=[validate_title])
    description = models.TextField(blank=True, validators=[validate_description])
    attributes = models.JSONField(default=dict, blank=True, validators=[validate_attributes])
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.LIVE)
    delisted_reason = models.TextField(blank=True)
    delisted_at = models.DateTimeField(null=True, blank=True)
    previous_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    # The category removal that delisted it, if one did (shown to the merchant, cleared when
    # an appeal restores the listing). No database constraint and no index: a removal sets
    # it on a million rows in one go, and removals are never deleted.
    delisted_by_removal = models.ForeignKey(
        "moderation.CategoryRemoval",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # The sanction that delisted it with all the merchant's listings (an account freeze),
    # if one did: a granted appeal puts exactly those back. Found through the merchant's
    # index, so no index of its own.
    delisted_by_sanction = models.ForeignKey(
        "moderation.Sanction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # The number of its current content version (see ListingVersion): what a detection, a
    # review item, a violation or a delisting judged is named by this number.
    # A database default too: catalog feeds and bulk loads insert listings in SQL.
    version = models.PositiveIntegerField(default=1, db_default=1)
    # The version a delisting judged: a granted appeal restores it, and sends the listing to
    # review instead of live when the content changed since.
    delisted_version = models.PositiveIntegerField(null=True, blank=True)
    # A listing synced in by its marketplace's systems (sellers.integration.sync): the marketplace
    # (its merchant's, copied so the id is unique per marketplace in one index), the marketplace's
    # own id for it and the version of it last applied. Empty for listings made here. No index on
    # the marketplace of its own: the unique constraint's index leads with it.
    external_marketplace = models.ForeignKey(
        Marketplace, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False, editable=False
    )
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, null=True, blank=True, editable=False)
    external_version = models.BigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # Also the index the sync reads a batch's listings by (external_marketplace, external_id IN …).
            models.UniqueConstraint(fields=["external_marketplace", "external_id"], name="listing_unique_external_id"),
            models.CheckConstraint(
                name="listing_external_id_complete",
                condition=Q(external_marketplace__isnull=True, external_id__isnull=True, external_version__isnull=True)
                | Q(external_marketplace__isnull=False, external_id__isnull=False, external_version__isnull=False),
            ),
            models.CheckConstraint(
                name="listing_status_valid",
                condition=Q(status__in=["live", "held", "delisted", "removed_by_seller"]),
            ),
            models.CheckConstraint(name="listing_price_not_negative", condition=Q(price__gte=0)),
            models.CheckConstraint(
                name="listing_delisted_is_explained",
                condition=~Q(status="delisted")
                | (Q(delisted_at__isnull=False) & ~Q(previous_status="") & ~Q(delisted_reason="")),
            ),
            models.CheckConstraint(
                name="listing_previous_status_not_delisted", condition=~Q(previous_status="delisted")
            ),
        ]
        indexes = [
            # Category removal: the live listings of the retired categories, walked by id range.
            models.Index(fields=["category", "id"], name="listing_live_by_category_idx", condition=Q(status="live")),
            # A merchant's own listings (sellers' API, merchant page), newest first.
            models.Index(fields=["merchant", "status", "-id"], name="listing_merchant_status_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def relist(self, *, at) -> list[str]:
        """Undo a delisting on this instance (the caller saves): the status it had, the delisting's
        traces cleared. Returns the fields changed, for ``save(update_fields=…)``."""
        self.status = self.previous_status or self.Status.LIVE
        self.previous_status = ""
        self.delisted_at = None
        self.delisted_reason = ""
        self.delisted_version = None
        self.delisted_by_removal = None
        self.delisted_by_sanction = None
        self.updated_at = at
        return [
            "status",
            "previous_status",
            "delisted_at",
            "delisted_reason",
            "delisted_version",
            "delisted_by_removal",
            "delisted_by_sanction",
            "updated_at",
        ]

    @property
    def is_visible(self) -> bool:
        return (
            self.status == self.Status.LIVE
            and self.merchant.enforcement_status == Merchant.EnforcementStatus.ACTIVE
            and self.category.status == Category.Status.ACTIVE
        )


class ListingVersion(models.Model):
    """A listing's content as it stood at one version: what a decision judged, and what an
    appeal restores. A new version with each change of title, description, attributes or
    category. Listings seeded or imported in bulk get their first version row when a decision
    first needs it (``sellers.versions.ensure_version``)."""

    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["listing", "number"]
        constraints = [models.UniqueConstraint(fields=["listing", "number"], name="listing_version_unique_number")]

    def __str__(self) -> str:
        return f"listing {self.listing_id} v{self.number}"

    @property
    def content(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "attributes": self.attributes,
            "category": self.category_id,
        }


# --- The sellers' API keys -------------------------------------------------------------------

API_TOKEN_NAME_MAX_LENGTH = 100
# Control characters, invisible formatting (bidirectional overrides, zero-width characters), lone
# surrogates and line or paragraph separators: a name is one line of visible text, shown on a
# page and written to the audit trail, and these would hide or reorder what is shown there.
_REFUSED_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def validate_api_token_name(value: str) -> None:
    if len(value) > API_TOKEN_NAME_MAX_LENGTH:
        return  # the length validator says so, without this one reading a long text
    for position, character in enumerate(value, start=1):
        if unicodedata.category(character) in _REFUSED_NAME_CATEGORIES:
            # Named by its code point, never echoed: it is what would hide text in the answer.
            raise ValidationError(
                _("The name contains the control or invisible character %(code)s at character %(position)s."),
                code="invalid_character",
                params={"code": f"U+{ord(character):04X}", "position": position},
            )


class ApiToken(AbstractAuthToken):
    """A key to the sellers' API, as django-rest-knox keeps it (``KNOX_TOKEN_MODEL``).

    The key itself is shown once, when it is issued (``sellers.tokens.issue_api_token``); the
    row holds its SHA-512 ``digest`` (knox's primary key) and ``token_key``, its first 15
    characters, to find the row by. ``public_id`` names the key in URLs and in the audit
    trail: the digest never leaves the database. Revoking deletes the row; the audit event
    keeps its name, public id and prefix.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(
        max_length=API_TOKEN_NAME_MAX_LENGTH,
        validators=[validate_api_token_name],
        help_text="The merchant's label for it, e.g. the integration that uses it.",
    )
    # Every key expires (knox allows keys that do not): settings.API_TOKEN_DAYS after it was issued.
    expiry = models.DateTimeField()
    # Written at most once a minute per key (moderation.api.authentication), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    @property
    def display_prefix(self) -> str:
        """The start of the key, enough to tell a merchant's keys apart ("bo_3f9a2"), little of its secret."""
        return self.token_key[:8]

    @property
    def is_expired(self) -> bool:
        return self.expiry <= timezone.now()


# --- The marketplaces' own systems (sellers.integration) ----------------------------------------


class MarketplaceServiceAccount(models.Model):
    """A marketplace's systems, signed in to the integration API with their own keys.

    It acts on its marketplace's merchants and listings only. ``user`` is a dedicated account
    that never signs in (inactive, no usable password): the actor the audit trail names for
    every change the systems make, as a person's account is for theirs. Created and revoked by
    a policy admin in the back office (``sellers.integration.accounts``); revoking keeps the
    row, for the trail, and deletes its keys.
    """

    marketplace = models.ForeignKey(Marketplace, on_delete=models.PROTECT, related_name="service_accounts")
    name = models.CharField(
        max_length=API_TOKEN_NAME_MAX_LENGTH,
        validators=[validate_api_token_name],
        help_text="What the account is for, e.g. the system that uses it (“catalog sync”).",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="marketplace_service_account"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["marketplace", "-created_at", "-id"]
        constraints = [
            # A name tells the accounts in force apart; a revoked one's name may be used again.
            models.UniqueConstraint(
                fields=["marketplace", "name"],
                condition=Q(revoked_at__isnull=True),
                name="service_account_unique_name_in_force",
            ),
            models.CheckConstraint(
                name="service_account_revoked_by_whom",
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True) | Q(revoked_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.marketplace.code})" if self.marketplace_id else self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class MarketplaceServiceKey(models.Model):
    """A key of a service account, kept as django-rest-knox keeps the sellers' keys (``ApiToken``, and
    knox's own functions make and hash it): the SHA-512 ``digest`` (the primary key) and ``token_key``,
    its first 15 characters, to find the row by; the key itself is shown once, when it is issued. Every
    key expires. Knox's columns but its ``user``: the account holds the key."""

    digest = models.CharField(max_length=CONSTANTS.DIGEST_LENGTH, primary_key=True)
    token_key = models.CharField(
        max_length=CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH + CONSTANTS.TOKEN_KEY_LENGTH, db_index=True
    )
    created = models.DateTimeField(auto_now_add=True)
    account = models.ForeignKey(MarketplaceServiceAccount, on_delete=models.PROTECT, related_name="keys")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    expiry = models.DateTimeField()
    # Written at most once a minute per key (sellers.integration.accounts.note_service_key_used).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.display_prefix}… of {self.account_id}"

    @property
    def display_prefix(self) -> str:
        return self.token_key[:8]

    @property
    def is_expired(self) -> bool:
        return self.expiry <= timezone.now()


class ListingCheck(models.Model):
    """One answer of the pre-publication check (``POST /api/v1/integration/check``): may this content
    go live? The upsert that follows may cite its id, so the decision is traceable from the listing's
    audit event back to what was asked and answered.

    Holds a digest of the content, not the content. No database constraints on its references: the
    check must not wait on a merchant's row that a sync batch holds locked (a foreign key check takes
    a share lock on it), and none of the rows it names is ever deleted.
    """

    class Decision(models.TextChoices):
        ALLOW = "allow", pgettext_lazy("check decision", "Allow")
        REFUSE = "refuse", pgettext_lazy("check decision", "Refuse")
        REVIEW = "review", pgettext_lazy("check decision", "Review")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        MarketplaceServiceAccount, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    marketplace = models.ForeignKey(
        Marketplace, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    merchant = models.ForeignKey(
        Merchant, null=True, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    category = models.ForeignKey(
        Category, null=True, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    content_sha256 = models.CharField(max_length=64)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    policy = models.ForeignKey(
        "moderation.Policy", null=True, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    clause = models.ForeignKey(
        "moderation.PolicyClause",
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    field = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="listing_check_decision_valid", condition=Q(decision__in=["allow", "refuse", "review"])
            ),
        ]
        indexes = [
            # Purging old checks by age.
            models.Index(fields=["created_at"], name="listing_check_created_idx"),
        ]

    def __str__(self) -> str:
        return f"check {self.id}: {self.decision}"


class ListingSyncState(models.Model):
    """What the sync last decided about a marketplace's listing id when no listing row can say it.

    - ``deleted``: a deletion arrived before (or without) the listing: an older upsert arriving
      late must not bring it to life;
    - ``refused``: an upsert was refused after its refusal was recorded (a banned product: the
      attempt is a violation): delivered again, it is answered the same, and recorded once.

    Older or equal versions than ``version`` are ignored, as they are against a listing's own.
    """

    class Outcome(models.TextChoices):
        DELETED = "deleted", pgettext_lazy("sync outcome", "Deleted")
        REFUSED = "refused", pgettext_lazy("sync outcome", "Refused")

    marketplace = models.ForeignKey(Marketplace, on_delete=models.PROTECT, related_name="+", db_index=False)
    external_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    version = models.BigIntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    errors = models.JSONField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            # Also the index the sync reads a batch's states by.
            models.UniqueConstraint(fields=["marketplace", "external_id"], name="listing_sync_state_unique_id"),
            models.CheckConstraint(
                name="listing_sync_state_outcome_valid", condition=Q(outcome__in=["deleted", "refused"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} v{self.version}: {self.outcome}"
