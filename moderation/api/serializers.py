"""Serializers of the sellers' API: shapes of reads, and validation of what a merchant sends.

Writes go through the services; a serializer only checks the shape of the input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from backoffice.text import validate_visible_text
from moderation.models import Appeal, Notice, Sanction
from moderation.services.appeals import GROUNDS_MAX, GROUNDS_MIN, PLAN_MAX
from sellers import limits
from sellers.models import Category, Listing

# No slug is longer than its column; NUL and the surrogates are in no slug and PostgreSQL refuses them.
_SLUG_MAX_LENGTH = Category._meta.get_field("slug").max_length
_NOT_IN_A_SLUG = re.compile("[\x00\ud800-\udfff]")


class PolicyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The policy's id.")
    title = serializers.CharField(help_text="The policy's title as published.")


class NoticeSerializer(serializers.ModelSerializer):
    policy = serializers.SerializerMethodField(help_text="The policy the notice is about, if any.")
    clause = serializers.SerializerMethodField(help_text="The clause cited, as “§n title”, if any.")

    class Meta:
        model = Notice
        fields = [
            "id",
            "kind",
            "subject",
            "body",
            "language",
            "policy",
            "clause",
            "restricts",
            "appeal_deadline",
            "transparency",
            "puid",
            "created_at",
            "sent_at",
        ]
        extra_kwargs = {
            "body": {"help_text": "The statement of reasons as sent."},
            "restricts": {"help_text": "True when the notice explains a restriction (a statement of reasons)."},
            "transparency": {"help_text": "The DSA Transparency Database fields of the statement."},
            "puid": {"help_text": "The statement's unique id in the DSA Transparency Database."},
        }

    @extend_schema_field(PolicyRefSerializer(allow_null=True))
    def get_policy(self, notice: Notice):
        return {"id": notice.policy_id, "title": notice.policy.title} if notice.policy_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_clause(self, notice: Notice):
        return str(notice.clause) if notice.clause_id else None


class DecisionSerializer(serializers.Serializer):
    """One decision against the merchant, from the union read (``selectors.decisions``)."""

    # The fields say the shape (and the OpenAPI schema); to_representation fills them without
    # DRF's walk over each field of each row, which cost more than the page's query on the
    # sellers' busiest list. test_decision_rows_render_as_their_fields holds the two together.

    id = serializers.CharField(source="key", help_text="“delisting-<listing id>”, “violation-<id>” or “sanction-<id>”.")
    kind = serializers.ChoiceField(choices=Appeal.Kind.choices, help_text="What was decided.")
    object_id = serializers.IntegerField(help_text="Id of the listing, violation or sanction.")
    measure = serializers.CharField(
        help_text="listing_delisted; a violation's kind (prohibited_listing, keyword_evasion, category_evasion, "
        "relist_attempt); or a sanction's kind (warning, listing_restriction, store_block, account_freeze, "
        "account_closure)."
    )
    status = serializers.CharField(
        help_text="active; for a violation also overturned; for a sanction expired, lifted or overturned."
    )
    policy = serializers.SerializerMethodField()
    clause_number = serializers.IntegerField(allow_null=True, help_text="The clause cited, if any.")
    listing_id = serializers.IntegerField(allow_null=True, help_text="The listing concerned, if any.")
    summary = serializers.CharField(allow_null=True, help_text="The listing's title, or the sanction's reason.")
    decided_at = serializers.DateTimeField()
    automated = serializers.BooleanField(help_text="Whether the decision was taken by automated means.")
    appeal_deadline = serializers.SerializerMethodField(help_text="The last moment to appeal.")
    appealable = serializers.SerializerMethodField(
        help_text="True while an appeal can be filed: in force, within the window, none open."
    )
    open_appeal = serializers.SerializerMethodField(help_text="Id of the open appeal against it, if any.")

    @extend_schema_field(PolicyRefSerializer)
    def get_policy(self, row) -> dict:
        return {"id": row["policy_id"], "title": row["policy_title"]}

    def get_appeal_deadline(self, row) -> timezone.datetime:
        return row["appeal_deadline"]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_open_appeal(self, row):
        return row["open_appeal"]

    def get_appealable(self, row) -> bool:
        return row["appealable"]

    @cached_property
    def _moment(self) -> Callable[[datetime], str]:
        """DateTimeField's output, with the request's time zone looked up once, not for each value."""
        zone = timezone.get_current_timezone()
        if api_settings.DATETIME_FORMAT.lower() != ISO_8601:
            return serializers.DateTimeField(default_timezone=zone).to_representation

        def iso_8601(value: datetime) -> str:
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text  # as DateTimeField writes UTC

        return iso_8601

    def to_representation(self, row: dict) -> dict:
        return {
            "id": row["key"],
            "kind": row["kind"],
            "object_id": row["object_id"],
            "measure": row["measure"],
            "status": row["status"],
            "policy": self.get_policy(row),
            "clause_number": row["clause_number"],
            "listing_id": row["listing_id"],
            "summary": row["summary"],
            "decided_at": self._moment(row["decided_at"]),
            "automated": row["automated"],
            "appeal_deadline": self.get_appeal_deadline(row),  # a method field's value: the renderer writes it
            "appealable": row["appealable"],
            "open_appeal": row["open_appeal"],
        }


class SanctionSerializer(serializers.ModelSerializer):
    policy = serializers.SerializerMethodField()
    step_threshold = serializers.SerializerMethodField(help_text="The ladder step's points, for a ladder sanction.")
    appeal_deadline = serializers.SerializerMethodField(help_text="The last moment to appeal.")

    class Meta:
        model = Sanction
        fields = [
            "id",
            "kind",
            "status",
            "policy",
            "step_threshold",
            "starts_at",
            "ends_at",
            "compliance_deadline",
            "ended_at",
            "points",
            "delists_all",
            "automated",
            "reason",
            "end_reason",
            "appeal_deadline",
        ]

    @extend_schema_field(PolicyRefSerializer)
    def get_policy(self, sanction: Sanction) -> dict:
        return {"id": sanction.policy_id, "title": sanction.policy.title}

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_step_threshold(self, sanction: Sanction):
        return sanction.step.threshold if sanction.step_id else None

    def get_appeal_deadline(self, sanction: Sanction) -> timezone.datetime:
        return sanction.policy.appeal_deadline(sanction.starts_at)


class CategorySlugField(serializers.SlugRelatedField):
    """A category by its slug: text, looked up only when it could be a slug.

    Anything else is refused before the query: Django walks a list given as a lookup value
    recursively (a list nested a few hundred deep was a RecursionError), and PostgreSQL refuses a
    NUL or a lone surrogate in a parameter (a DataError).
    """

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > _SLUG_MAX_LENGTH or _NOT_IN_A_SLUG.search(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ListingTextField(serializers.CharField):
    """A listing's title or description, held to ``sellers.limits`` by its validator alone.

    DRF's own length, NUL and surrogate checks are dropped: each problem is said once, in the words
    of the services and the admin. The validator is a ``MaxLengthValidator``: the schema's maxLength.
    """

    def __init__(self, *, validator: limits.ListingTextValidator, **kwargs):
        super().__init__(max_length=validator.limit_value, **kwargs)
        self.validators = [validator]


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": limits.ATTRIBUTES_MAX_COUNT,
        "additionalProperties": {},
        "example": {"colour": "black", "voltage": [110, 220], "boxed": True},
    }
)
class ListingAttributesField(serializers.JSONField):
    """A listing's attributes, checked by ``sellers.limits`` before DRF's JSONField sees them.

    DRF's check writes the value out as JSON, recursively: a value nested a few hundred levels deep
    would end in a RecursionError (a server error) instead of the field's message.
    """

    def to_internal_value(self, data):
        if getattr(data, "is_json_string", False):  # a form post: the value is JSON text
            try:
                data = json.loads(data)
            except (ValueError, RecursionError):
                self.fail("invalid")
        try:
            limits.validate_attributes(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return super().to_internal_value(data)


class ListingSerializer(serializers.ModelSerializer):
    category = CategorySlugField(slug_field="slug", queryset=Category.objects.all(), help_text="The category's slug.")
    title = ListingTextField(
        validator=limits.validate_title,
        help_text=f"At most {limits.TITLE_MAX_LENGTH} characters; no control characters but tab and line breaks.",
    )
    description = ListingTextField(
        validator=limits.validate_description,
        required=False,
        allow_blank=True,
        style={"base_template": "textarea.html"},
        help_text=f"At most {limits.DESCRIPTION_MAX_LENGTH} characters; no control characters but tab and line breaks.",
    )
    attributes = ListingAttributesField(
        required=False,
        help_text=f"An object of at most {limits.ATTRIBUTES_MAX_COUNT} names (each at most "
        f"{limits.ATTRIBUTE_NAME_MAX_LENGTH} characters) to values: text of at most "
        f"{limits.ATTRIBUTE_VALUE_MAX_LENGTH} characters, a number, true or false, null, or a list of at most "
        f"{limits.ATTRIBUTE_LIST_MAX_ITEMS} of those; at most {limits.ATTRIBUTES_MAX_JSON_LENGTH} characters in all, "
        "written as JSON.",
    )
    visible = serializers.SerializerMethodField(
        help_text="Whether buyers see it: live, the store not restricted, the category open."
    )

    class Meta:
        model = Listing
        fields = [
            "id",
            "title",
            "description",
            "attributes",
            "price",
            "currency",
            "category",
            "status",
            "visible",
            "delisted_reason",
            "delisted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "delisted_reason", "delisted_at", "created_at", "updated_at"]
        extra_kwargs = {
            "status": {
                "help_text": "live; held (saved, but flagged under a policy that holds such listings: not published "
                "until a moderator allows it, a notice says why); delisted (see delisted_reason); or removed_by_seller."
            },
            "delisted_reason": {"help_text": "Why it was delisted, naming the policy."},
            "price": {"min_value": 0},
        }

    def get_visible(self, listing: Listing) -> bool:
        return listing.is_visible


class AppealSerializer(serializers.ModelSerializer):
    decision = serializers.CharField(source="decision_key", help_text="The decision's id, as /decisions/ gives it.")
    policy = serializers.SerializerMethodField()

    class Meta:
        model = Appeal
        fields = [
            "id",
            "decision",
            "kind",
            "policy",
            "status",
            "grounds",
            "plan_root_cause",
            "plan_corrections",
            "plan_prevention",
            "filed_at",
            "due_at",
            "decided_at",
            "decision_note",
            "withdrawn_at",
        ]
        extra_kwargs = {
            "decision_note": {"help_text": "The moderator's reason, once decided."},
            "due_at": {"help_text": "When the marketplace aims to have decided."},
        }

    @extend_schema_field(PolicyRefSerializer)
    def get_policy(self, appeal: Appeal) -> dict:
        return {"id": appeal.policy_id, "title": appeal.policy.title}


class AppealCreateSerializer(serializers.Serializer):
    """What a merchant sends to appeal; the service checks the decision, the window and conflicts."""

    decision = serializers.RegexField(
        r"^(delisting|violation|sanction)-[1-9][0-9]{0,17}$",
        help_text="The decision's id from /api/v1/decisions/, e.g. “violation-12”.",
        error_messages={"invalid": "Give a decision id as /api/v1/decisions/ lists it, e.g. “violation-12”."},
    )
    # Texts of only zero-width spaces, joiners or bidi controls pass trim_whitespace and the lengths:
    # validate_visible_text refuses them, as the service does.
    grounds = serializers.CharField(
        min_length=GROUNDS_MIN,
        max_length=GROUNDS_MAX,
        trim_whitespace=True,
        validators=[validate_visible_text],
        help_text=f"Why the decision is wrong, {GROUNDS_MIN} to {GROUNDS_MAX} characters.",
    )
    plan_root_cause = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=PLAN_MAX,
        validators=[validate_visible_text],
        help_text="For a sanction: what caused the breach.",
    )
    plan_corrections = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=PLAN_MAX,
        validators=[validate_visible_text],
        help_text="For a sanction: what was corrected.",
    )
    plan_prevention = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=PLAN_MAX,
        validators=[validate_visible_text],
        help_text="For a sanction: how it will not recur.",
    )

    def validated_call(self) -> dict:
        data = dict(self.validated_data)
        kind, _, object_id = data.pop("decision").partition("-")
        return {"kind": kind, "object_id": int(object_id), **data}
