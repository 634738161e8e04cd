"""The integration API's answers, and its requests as the OpenAPI schema shows them.

The requests are read and checked by the services (``events.read_event``, ``check.check_listing``),
in the sellers' API's words; the request serializers here describe them for the schema only.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from sellers import limits
from sellers.integration.events import EVENT_TYPES, MAX_EVENTS_PER_BATCH
from sellers.models import Category, Listing, ListingCheck, Merchant

# --- requests (for the schema) -----------------------------------------------------------------


class SyncEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=EVENT_TYPES)
    id = serializers.CharField(max_length=100, help_text="The object's id on your marketplace.")
    version = serializers.IntegerField(
        min_value=0, help_text="The object's version on your marketplace: an older or equal one is ignored."
    )
    merchant = serializers.CharField(
        required=False, max_length=100, help_text="listing.upserted: the merchant's id on your marketplace."
    )
    category = serializers.SlugField(required=False, help_text="listing.upserted: the category's slug.")
    title = serializers.CharField(required=False, max_length=limits.TITLE_MAX_LENGTH, help_text="listing.upserted.")
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=limits.DESCRIPTION_MAX_LENGTH, help_text="listing.upserted."
    )
    attributes = serializers.DictField(required=False, help_text="listing.upserted: names to values.")
    price = serializers.DecimalField(required=False, max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.CharField(required=False, min_length=3, max_length=3, help_text="ISO 4217; USD if absent.")
    check_id = serializers.UUIDField(
        required=False, help_text="listing.upserted: the id of the check this content passed, to trace the decision."
    )
    store_name = serializers.CharField(required=False, max_length=200, help_text="merchant.upserted.")
    company_name = serializers.CharField(required=False, max_length=200, help_text="merchant.upserted.")
    country = serializers.CharField(required=False, min_length=2, max_length=2, help_text="merchant.upserted.")
    contact_email = serializers.EmailField(required=False, help_text="merchant.upserted.")
    language = serializers.ChoiceField(required=False, choices=Merchant.Language.values, help_text="merchant.upserted.")


class SyncBatchRequestSerializer(serializers.Serializer):
    events = serializers.ListField(child=SyncEventSerializer(), min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class CheckRequestSerializer(serializers.Serializer):
    merchant = serializers.CharField(max_length=100, help_text="The merchant's id on your marketplace.")
    category = serializers.SlugField(help_text="The category's slug.")
    title = serializers.CharField(max_length=limits.TITLE_MAX_LENGTH)
    description = serializers.CharField(required=False, allow_blank=True, max_length=limits.DESCRIPTION_MAX_LENGTH)
    attributes = serializers.DictField(required=False)


# --- answers ------------------------------------------------------------------------------------


class PolicyNameSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    version = serializers.IntegerField()
    title = serializers.CharField()


class ClauseNameSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()


# A field named "errors" would hide the serializer's own ``errors``: this one is declared inline.
SyncOutcomeSerializer = inline_serializer(
    name="SyncOutcome",
    fields={
        "index": serializers.IntegerField(help_text="The event's place in the batch, from 0."),
        "type": serializers.ChoiceField(choices=EVENT_TYPES, allow_null=True),
        "id": serializers.CharField(allow_null=True, help_text="The event's id, when it was a valid id."),
        "result": serializers.ChoiceField(choices=["applied", "ignored", "refused"]),
        "reason": serializers.ChoiceField(
            choices=["stale", "superseded", "unknown"],
            required=False,
            help_text="Why it was ignored: its version is not newer than the stored one; a newer event for the "
            "same object is in the batch; a deletion of a listing never synced (remembered, so an older upsert "
            "arriving later is ignored).",
        ),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="Why it was refused, per field.",
        ),
        "review": inline_serializer(
            name="SyncHeldForReview",
            required=False,
            help_text="Applied, but held for review: the listing is saved unpublished (status held) and goes live "
            "only when a moderator allows it; a listings.reinstated event (reason review_cleared) says so.",
            fields={
                "status": serializers.ChoiceField(choices=["held"]),
                "policy": PolicyNameSerializer(),
                "clause": ClauseNameSerializer(allow_null=True),
                "field": serializers.CharField(help_text="title, description or attributes."),
                "message": serializers.CharField(),
            },
        ),
    },
)


class SyncCountsSerializer(serializers.Serializer):
    applied = serializers.IntegerField()
    ignored = serializers.IntegerField()
    refused = serializers.IntegerField()


class SyncBatchResultSerializer(serializers.Serializer):
    counts = SyncCountsSerializer()
    results = serializers.ListField(child=SyncOutcomeSerializer)


class CheckAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Cite it as check_id in the listing.upserted event of this content.")
    decision = serializers.ChoiceField(
        choices=ListingCheck.Decision.values,
        help_text="allow: it may go live; refuse: it may not (policy, clause and field say why); review: it goes "
        "live only after a moderator's decision.",
    )
    policy = PolicyNameSerializer(allow_null=True)
    clause = ClauseNameSerializer(allow_null=True)
    field = serializers.CharField(allow_blank=True, help_text="title, description, attributes, category or merchant.")
    message = serializers.CharField(allow_blank=True)

    @staticmethod
    def answer(answer) -> dict:
        policy, clause = answer.policy, answer.clause
        return {
            "id": str(answer.check.id),
            "decision": answer.decision,
            "policy": {"slug": policy.slug, "version": policy.version, "title": policy.title} if policy else None,
            "clause": {"number": clause.number, "title": clause.title} if clause else None,
            "field": answer.field,
            "message": answer.message,
        }


class RetiredCategorySerializer(serializers.ModelSerializer):
    policy = serializers.SerializerMethodField(help_text="The policy under which it was closed, if a removal did it.")

    class Meta:
        model = Category
        fields = ["slug", "name", "path", "retired_at", "policy"]

    @extend_schema_field(PolicyNameSerializer(allow_null=True))
    def get_policy(self, category: Category):
        removal = category.retired_by_removal
        if removal is None:
            return None
        policy = removal.policy
        return {"slug": policy.slug, "version": policy.version, "title": policy.title}


class LivePolicySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    version = serializers.IntegerField()
    flagged_listings = serializers.ChoiceField(
        choices=["refuse", "review"],
        help_text="What becomes of a listing its rules flag: refused (the check says refuse, the sync refuses it), "
        "or held unpublished until a moderator allows it (the check says review, the sync applies it held).",
    )
    title = serializers.CharField()
    status = serializers.CharField()
    effective_at = serializers.DateTimeField()
    enforcement_starts_at = serializers.DateTimeField()
    clauses = ClauseNameSerializer(many=True)
    categories = serializers.SerializerMethodField(help_text="The slugs of the categories it closes.")

    @extend_schema_field(serializers.ListField(child=serializers.SlugField()))
    def get_categories(self, policy) -> list[str]:
        return [category.slug for category in policy.categories.all()]


class SyncedListingSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    version = serializers.IntegerField(source="external_version")
    merchant = serializers.CharField(source="merchant.external_id", allow_null=True)
    category = serializers.CharField(source="category.slug")
    visible = serializers.BooleanField(
        source="is_visible", help_text="Live, the store not restricted, the category open."
    )

    class Meta:
        model = Listing
        fields = [
            "id",
            "version",
            "merchant",
            "category",
            "title",
            "status",
            "visible",
            "delisted_reason",
            "delisted_at",
        ]


class SyncedMerchantSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="external_id")
    version = serializers.IntegerField(source="external_version")

    class Meta:
        model = Merchant
        fields = ["id", "version", "store_name", "enforcement_status", "enforcement_until"]
