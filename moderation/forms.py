"""Back-office forms. They parse and validate input; the services decide and write.

Every form here refuses, in any of its text fields, a text made only of invisible characters (zero-width
spaces, joiners, bidi controls): ``VisibleTextFormMixin``, first among each form's bases.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from backoffice.text import VisibleTextFormMixin, has_visible_text
from moderation.models import Policy, PolicyClause, ReviewItem, SanctionKind, SavedQueueView
from moderation.selectors.saved_views import clean_queue_query
from sellers.models import Category, Marketplace, Merchant

COMMON_TIMEZONES = [
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/Brussels",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
]


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def in_zone(value: datetime | None, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """Read a wall-clock time typed by the user as meant in ``zone``.

    Django parses a naive input in the current timezone (UTC here); the policy admin
    meant the policy's timezone, so keep the wall-clock reading and attach that zone.
    """
    if value is None:
        return None
    wall_clock = timezone.localtime(value, timezone.get_current_timezone()).replace(tzinfo=None)
    return wall_clock.replace(tzinfo=zone)


def as_local_input(value: datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if value else ""


# The days and moments the back office takes, far from the ends of Python's calendar (years 1 and
# 9999): a period around a day (a month before it, the day after) and a moment read in another time
# zone must still be dates, where "0001-01-01" was an OverflowError, a server error.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def _within_calendar(value: date | datetime) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError(
            _("Choose a date from %(first)s to %(last)s."),
            code="out_of_range",
            params={"first": EARLIEST_DAY.isoformat(), "last": LATEST_DAY.isoformat()},
        )


class BoundedDateField(forms.DateField):
    default_validators = [_within_calendar]


class BoundedDateTimeField(forms.DateTimeField):
    default_validators = [_within_calendar]


class CategoryChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, category: Category) -> str:
        indent = "\u2003" * category.depth
        retired = " " + pgettext("category status", "(retired)") if category.is_retired else ""
        return f"{indent}{category.name}{retired}"


class PolicyForm(VisibleTextFormMixin, forms.ModelForm):
    """A policy's fields; dates are typed in the policy's own timezone."""

    timezone = forms.ChoiceField(
        choices=[(z, z) for z in COMMON_TIMEZONES], initial="Asia/Shanghai", label=_("Timezone")
    )
    effective_at = BoundedDateTimeField(
        widget=LocalDateTimeInput(), label=_("Takes effect"), help_text=_("In the policy's timezone.")
    )
    enforcement_starts_at = BoundedDateTimeField(
        widget=LocalDateTimeInput(),
        label=_("Grace ends (sanctions from)"),
        help_text=_("In the policy's timezone; the same as the effective date for no grace period."),
    )
    marketplaces = forms.ModelMultipleChoiceField(
        queryset=Marketplace.objects.order_by("name"), widget=forms.CheckboxSelectMultiple, label=_("Marketplaces")
    )
    categories = CategoryChoiceField(
        queryset=Category.objects.order_by("path"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 12}),
        label=_("Categories"),
        help_text=_("Categories the ban closes; their subcategories follow."),
    )

    class Meta:
        model = Policy
        fields = [
            "slug",
            "title",
            "body",
            "timezone",
            "marketplaces",
            "categories",
            "effective_at",
            "enforcement_starts_at",
            "appeal_window_days",
            "review_due_hours",
            "detection_threshold",
            "flagged_listings",
        ]
        widgets = {"body": forms.Textarea(attrs={"rows": 6}), "flagged_listings": forms.RadioSelect}
        # The model fields have no verbose names (they would mean a migration): the labels
        # Django derives from the field names are spelt out here to be translated.
        labels = {
            "slug": _("Slug"),
            "title": _("Title"),
            "body": _("Body"),
            "appeal_window_days": _("Appeal window days"),
            "review_due_hours": _("Review due hours"),
            "detection_threshold": _("Detection threshold"),
            "flagged_listings": _("Flagged listings"),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["slug"].disabled = True
            zone = self.instance.zone
            self.initial["effective_at"] = as_local_input(self.instance.effective_at, zone)
            self.initial["enforcement_starts_at"] = as_local_input(self.instance.enforcement_starts_at, zone)

    def clean(self):
        cleaned = super().clean()
        zone_name = cleaned.get("timezone")
        if zone_name:
            zone = zoneinfo.ZoneInfo(zone_name)
            for name in ["effective_at", "enforcement_starts_at"]:
                cleaned[name] = in_zone(cleaned.get(name), zone)
        effective, grace_end = cleaned.get("effective_at"), cleaned.get("enforcement_starts_at")
        if effective and grace_end and grace_end < effective:
            self.add_error("enforcement_starts_at", _("The end of grace cannot come before the effective date."))
        return cleaned

    def _post_clean(self):
        # The model's own checks run in the service; a ModelForm would assign and validate
        # M2M-less instance fields here, which for an announced policy must not happen.
        pass


class ClauseForm(VisibleTextFormMixin, forms.ModelForm):
    class Meta:
        model = PolicyClause
        fields = ["number", "title", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 2})}
        labels = {"number": _("Number"), "title": _("Title"), "text": _("Text")}


class BaseClauseFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        numbers = []
        for form in self.forms:
            # A clause whose number was refused has its own error, and no number to compare.
            if not form.cleaned_data or form.cleaned_data.get("DELETE") or "number" not in form.cleaned_data:
                continue
            numbers.append(form.cleaned_data["number"])
        if len(numbers) != len(set(numbers)):
            raise ValidationError(_("Each clause needs its own number."))
        if not numbers:
            raise ValidationError(_("A policy needs at least one clause."))


# A policy has a handful of clauses (the reference one, three). Django would build up to 2,000 forms
# from a posted TOTAL_FORMS, each validated: a POST that costs a second. Past 50 it is refused.
CLAUSES_MAX = 50
ClauseFormSet = forms.inlineformset_factory(
    Policy,
    PolicyClause,
    form=ClauseForm,
    formset=BaseClauseFormSet,
    extra=2,
    can_delete=True,
    max_num=CLAUSES_MAX,
    absolute_max=CLAUSES_MAX,
    validate_max=True,
)


class RemovalForm(VisibleTextFormMixin, forms.Form):
    """Step one of scheduling: what and when. The dry run follows before anything is saved."""

    policy = forms.ModelChoiceField(
        queryset=Policy.objects.filter(status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT]),
        label=_("Policy"),
        help_text=_("Only announced policies can retire categories."),
    )
    categories = CategoryChoiceField(
        queryset=Category.objects.filter(status=Category.Status.ACTIVE).order_by("path"),
        widget=forms.SelectMultiple(attrs={"size": 14}),
        label=_("Categories"),
        help_text=_("Subcategories follow their parent."),
    )
    scheduled_for = BoundedDateTimeField(
        widget=LocalDateTimeInput(),
        required=False,
        label=_("Run at"),
        help_text=_("In the policy's timezone. Empty: the policy's effective date."),
    )
    clause = forms.ModelChoiceField(
        queryset=PolicyClause.objects.select_related("policy"),
        required=False,
        label=_("Clause"),
        help_text=_("The clause cited in the merchants' notices. Empty: the policy's first clause."),
    )
    override_reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Reason to go ahead"),
        help_text=_(
            "Needed when the policy does not name a category or its rules flag few of the listings: kept in the trail."
        ),
    )

    def clean(self):
        cleaned = super().clean()
        policy = cleaned.get("policy")
        if policy is not None:
            cleaned["scheduled_for"] = in_zone(cleaned.get("scheduled_for"), policy.zone) or policy.effective_at
            from moderation.services.removals import removal_time_error  # the one rule, shown at preview too

            time_error = removal_time_error(policy, cleaned["scheduled_for"])
            if time_error:
                self.add_error("scheduled_for", time_error)
            clause = cleaned.get("clause")
            if clause is not None and clause.policy_id != policy.pk:
                self.add_error("clause", _("Choose a clause of the selected policy."))
        return cleaned


class ReasonForm(VisibleTextFormMixin, forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.TextInput(), label=_("Reason"))


class CancelRemovalForm(VisibleTextFormMixin, forms.Form):
    """Cancelling a scheduled removal: a reason for the trail, and an explicit yes."""

    reason = forms.CharField(max_length=2000, label=_("Reason"))
    confirm = forms.BooleanField(label=_("Yes, cancel it"))


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's refusal on the form, on the field it names when the form has it."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class ClauseChoiceField(forms.ModelChoiceField):
    """A choice among a policy's clauses as already loaded (the item pages prefetch them).

    Listing and checking the choice from that list spares the item page and the take-down two
    queries each (and the server-side cursor a ModelChoiceField opens to list its queryset).
    """

    def set_clauses(self, clauses: list[PolicyClause]) -> None:
        self._by_pk = {str(clause.pk): clause for clause in clauses}
        self.choices = [("", self.empty_label), *((clause.pk, self.label_from_instance(clause)) for clause in clauses)]
        self.required = bool(clauses)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self._by_pk[str(value)]
        except KeyError:
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            ) from None


class TakeDownForm(VisibleTextFormMixin, forms.Form):
    """A take-down cites the clause the matching rules point to, unless the moderator picks
    another; with no such clause there is no default: the moderator must choose."""

    clause = ClauseChoiceField(
        queryset=PolicyClause.objects.none(), empty_label=_("Choose the clause…"), label=_("Clause")
    )
    kind = forms.ChoiceField(
        choices=[
            ("prohibited_listing", _("Prohibited product listed")),
            ("keyword_evasion", _("Evasion by keyword distortion")),
            ("category_evasion", _("Evasion by a misplaced category")),
        ],
        initial="prohibited_listing",
        label=_("Violation"),
    )
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label=_("Note to the merchant")
    )

    def __init__(self, data=None, *args, policy: Policy, suggested: PolicyClause | None = None, **kwargs):
        if data is not None and suggested is not None and not data.get("clause"):
            data = data.copy()
            data["clause"] = suggested.pk  # what the select shows selected: the `t` shortcut sends it
        super().__init__(data, *args, **kwargs)
        # policy.clauses.all() reads the prefetched list when the caller loaded it (item_detail does).
        self.fields["clause"].set_clauses(sorted(policy.clauses.all(), key=lambda clause: clause.number))
        if suggested is not None:
            self.fields["clause"].initial = suggested.pk


class DismissForm(VisibleTextFormMixin, forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Why is this not a violation?")}),
        error_messages={"required": _("Say why this is not a violation (it is kept to tune the rules).")},
        label=_("Reason"),
    )


class EscalateForm(VisibleTextFormMixin, forms.Form):
    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("What needs a senior's judgement?")}),
        error_messages={"required": _("Tell the senior moderators what needs their judgement.")},
        label=_("Note"),
    )


class NoteForm(VisibleTextFormMixin, forms.Form):
    text = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}), label=_("Internal note"))


class ItemIdsField(forms.Field):
    """Review item numbers as a form sends them, one value per ticked box: distinct, in the order given.

    At most ``limit`` of them; each one ASCII digits that fit a bigint ("²" passes isdigit(), and
    twenty digits pass int() but not PostgreSQL).
    """

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": _("Items are named by their numbers."),
        "too_many": _("At most %(limit)s items can be decided at once."),
    }

    def __init__(self, *, limit: int, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if not isinstance(value, list | tuple):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if len(value) > self.limit:
            raise ValidationError(self.error_messages["too_many"], code="too_many", params={"limit": self.limit})
        if not all(isinstance(raw, str) and re.fullmatch(r"[0-9]{1,18}", raw) for raw in value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return list(dict.fromkeys(int(raw) for raw in value))


class BulkDecisionForm(VisibleTextFormMixin, forms.Form):
    """A bulk decision: the ticked items, or "every item these filters select" (``select_all``).

    With ``select_all`` the ticked items are ignored: the view resolves ``filters`` (the queue's
    query, cleaned here as a saved view's is) through the queue's own FilterSet into item ids.
    """

    items = ItemIdsField(limit=1, required=False, label=_("Items"))
    select_all = forms.BooleanField(required=False, label=_("Every item these filters select"))
    # No length refusal: the cleaning keeps the known keys, each bounded, of a bounded prefix.
    filters = forms.CharField(required=False, widget=forms.HiddenInput)
    decision = forms.ChoiceField(choices=ReviewItem.Decision.choices, label=_("Decision"))
    reason = forms.CharField(required=False, max_length=2000, label=_("Reason"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["items"].limit = settings.BULK_DECISION_LIMIT

    def clean_filters(self) -> str:
        return clean_queue_query(self.cleaned_data["filters"])

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("select_all") and "items" not in self.errors and not cleaned.get("items"):
            self.add_error("items", _("Select at least one item."))
        dismissed = cleaned.get("decision") == ReviewItem.Decision.DISMISSED
        if dismissed and "reason" not in self.errors and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why these are not violations."))
        return cleaned


class SavedQueueViewForm(VisibleTextFormMixin, forms.Form):
    """A name for the queue's current filters, and whether every moderator sees it.

    The service cleans the name (one line, no invisible characters) and refuses a name its owner
    has already; the query is cleaned there too, whatever this form was sent.
    """

    name = forms.CharField(max_length=SavedQueueView.NAME_MAX_LENGTH, label=_("Name"))
    shared = forms.BooleanField(required=False, label=_("Shared with every moderator"))


class DetectionRuleForm(VisibleTextFormMixin, forms.Form):
    """A rule as a policy admin types it; the service normalises and validates the pattern."""

    kind = forms.ChoiceField(
        choices=[("keyword", _("Keyword")), ("phrase", _("Phrase")), ("regex", _("Regular expression"))],
        label=_("Kind"),
    )
    pattern = forms.CharField(max_length=1000, label=_("Pattern"))
    label = forms.CharField(
        max_length=120,
        required=False,
        label=_("Label"),
        help_text=_(
            "What moderators see instead of the pattern, e.g. “Hash rate with its unit”. Rules with the same "
            "label are one signal: it counts once, at the heaviest weight. Required for a regular expression."
        ),
    )
    clause = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label=_("Clause"))
    weight = forms.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"), label=_("Weight"))
    fields = forms.MultipleChoiceField(
        choices=[("title", _("Title")), ("description", _("Description")), ("attributes", _("Attributes"))],
        widget=forms.CheckboxSelectMultiple,
        initial=["title", "description", "attributes"],
        label=_("Fields"),
    )
    exclusions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Exclusions"),
        help_text=_("One phrase per line; the rule does not count in a field where one occurs."),
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label=_("Note"))
    is_active = forms.BooleanField(required=False, initial=True, label=pgettext_lazy("detection rule", "Active"))
    is_shadow = forms.BooleanField(
        required=False,
        label=_("Shadow"),
        help_text=_("Matched and counted on this page, shown to moderators as shadow, but flags and refuses nothing."),
    )

    def __init__(self, *args, policy: Policy, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        clauses = [(clause.number, f"§{clause.number} {clause.title}") for clause in policy.clauses.order_by("number")]
        self.fields["clause"].choices = [("", "–"), *clauses]
        # Every rule evidences a clause: a take-down of what it flags cites it.
        self.fields["clause"].required = bool(clauses)

    def clean_exclusions(self):
        return [line.strip() for line in self.cleaned_data["exclusions"].splitlines() if has_visible_text(line)]

    def clean_clause(self):
        number = self.cleaned_data["clause"]
        return self.policy.clauses.get(number=number) if number is not None else None


REMOVAL_PREVIEW_SALT = "moderation.removal-preview"


def _removal_choices(data) -> dict:
    categories = data.getlist("categories") if hasattr(data, "getlist") else data.get("categories", [])
    return {
        "policy": str(data.get("policy", "")),
        "categories": sorted(str(c) for c in categories),
        "scheduled_for": str(data.get("scheduled_for", "")),
        "clause": str(data.get("clause", "")),
    }


def removal_preview_token(data) -> str:
    """Signs what the dry run was computed for, so "confirm" schedules exactly that."""
    return signing.dumps(_removal_choices(data), salt=REMOVAL_PREVIEW_SALT)


def removal_preview_matches(data, token: str, *, max_age: int = 3600) -> bool:
    try:
        return signing.loads(token, salt=REMOVAL_PREVIEW_SALT, max_age=max_age) == _removal_choices(data)
    except signing.BadSignature:
        return False


class SanctionForm(VisibleTextFormMixin, forms.Form):
    """A senior moderator's manual sanction; the service checks the rest (prior warning, policy in effect)."""

    policy = forms.ModelChoiceField(queryset=Policy.objects.none(), empty_label=None, label=_("Policy"))
    kind = forms.ChoiceField(choices=SanctionKind.choices, label=_("Kind"))
    duration_days = forms.IntegerField(
        required=False, min_value=1, max_value=365, label=_("Days"), help_text=_("For a restriction, block or freeze.")
    )
    reason = forms.CharField(
        min_length=20,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("The facts, as the merchant will read them.")}),
        label=_("Reason (sent to the merchant)"),
    )

    def __init__(self, *args, merchant: Merchant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].queryset = Policy.objects.filter(
            status__in=[Policy.Status.ANNOUNCED, Policy.Status.IN_EFFECT], marketplaces=merchant.marketplace_id
        ).order_by("slug", "-version")


class LiftSanctionForm(VisibleTextFormMixin, forms.Form):
    reason = forms.CharField(
        min_length=10,
        max_length=5000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": _("Why the sanction ends early (sent to the merchant).")}
        ),
        label=_("Reason"),
    )


class AppealDecisionForm(VisibleTextFormMixin, forms.Form):
    reason = forms.CharField(
        min_length=10,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("The reason the merchant will read.")}),
        error_messages={"required": _("Write the reason the merchant will read.")},
        label=_("Reason"),
    )
    move_to = forms.ModelChoiceField(
        queryset=Category.objects.filter(status=Category.Status.ACTIVE).order_by("path"),
        required=False,
        label=_("Restore into category"),
        help_text=_("Only when granting: the listing's own category is closed and it belongs in another."),
    )


class DashboardForm(VisibleTextFormMixin, forms.Form):
    policy = forms.ModelChoiceField(
        queryset=Policy.objects.exclude(status=Policy.Status.DRAFT).order_by("slug", "-version"),
        required=False,
        label=_("Policy"),
    )
    # ISO whatever the language: a date picker shows nothing for Chinese-locale "2021/10/09".
    since = BoundedDateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    until = BoundedDateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period comes after its start."))
        if since and until and (until - since).days > 366:
            self.add_error("since", _("Choose a period of at most a year."))
        return cleaned
