"""The catalog in the Django admin: a second window onto the same services.

Saving a form calls the service (so the audit trail and the retired-category refusal
apply here too); enforcement fields are read-only because only sanctions write them.
Nothing is deleted here: decisions, notices and the audit trail name these rows
(``backoffice.admin`` says the rules every admin keeps).
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.forms.fields import InvalidJSONInput

from backoffice.admin import ServiceAdmin
from sellers import limits, services
from sellers.models import ApiToken, Category, Listing, Marketplace, MarketplaceServiceAccount, Merchant


@admin.register(Marketplace)
class MarketplaceAdmin(ServiceAdmin):
    list_display = ["name", "code", "timezone", "created_at"]
    search_fields = ["name", "code"]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in services.MARKETPLACE_EDITABLE_FIELDS}
            services.update_marketplace(actor=request.user, marketplace=obj, **fields)
            return
        created = services.create_marketplace(
            actor=request.user, code=obj.code, name=obj.name, timezone_name=obj.timezone
        )
        obj.pk = created.pk


@admin.register(Category)
class CategoryAdmin(ServiceAdmin):
    """Added through the service; never changed here afterwards."""

    list_display = ["name", "path", "status", "retired_at"]
    list_filter = ["status", "depth"]
    search_fields = ["name", "slug", "path"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path", "depth", "status", "retired_at", "created_at"]

    def has_change_permission(self, request, obj=None):
        # Categories are never moved or renamed: the path, notices and every listing's history hang on
        # them. Retiring one is a scheduled removal, in the back office.
        return False

    def save_model(self, request, obj, form, change):
        created = services.create_category(actor=request.user, name=obj.name, parent=obj.parent, slug=obj.slug)
        obj.pk = created.pk


@admin.register(Merchant)
class MerchantAdmin(ServiceAdmin):
    list_display = [
        "store_name",
        "company_name",
        "marketplace",
        "country",
        "enforcement_status",
        "enforcement_until",
    ]
    list_filter = ["enforcement_status", "marketplace", "language", "payouts_held"]
    search_fields = ["store_name", "company_name", "contact_email", "user__username"]
    list_select_related = ["marketplace", "user"]
    raw_id_fields = ["user"]
    readonly_fields = [
        "enforcement_status",
        "enforcement_until",
        "payouts_held",
        "external_id",
        "external_version",
        "created_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        # A merchant never changes marketplace: its policies, violations and sanctions are that one's.
        return [*self.readonly_fields, "marketplace"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            # A new contact e-mail is announced to the old address by the service, after commit.
            fields = {name: form.cleaned_data[name] for name in services.MERCHANT_EDITABLE_FIELDS}
            services.update_merchant(actor=request.user, merchant=obj, **fields)
            return
        created = services.register_merchant(
            actor=request.user,
            marketplace=obj.marketplace,
            store_name=obj.store_name,
            company_name=obj.company_name,
            country=obj.country,
            contact_email=obj.contact_email,
            language=obj.language,
            user=obj.user,
        )
        obj.pk = created.pk


class ListingAttributesFormField(forms.JSONField):
    """Django's JSON form field, held to ``sellers.limits`` before the model's own check writes the value
    out as JSON (recursively), and refusing what ``json.loads`` cannot read with the field's message
    instead of a server error: JSON nested past the recursion limit, an integer of 4,300 digits."""

    default_validators = [limits.validate_attributes]

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (RecursionError, ValueError):  # a JSONDecodeError is a ValidationError by now
            raise ValidationError(self.error_messages["invalid"], code="invalid", params={"value": ""}) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):
            return InvalidJSONInput(data)


class ListingAdminForm(forms.ModelForm):
    class Meta:
        model = Listing
        fields = ["merchant", "category", "title", "description", "attributes", "price", "currency"]
        field_classes = {"attributes": ListingAttributesFormField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The model's validators say what is wrong with a text, in the words of the services: the form
        # field's own checks would speak first (of the title column's 300 characters, kept for titles
        # stored before the limit of 200, and of NUL without saying where). A view-only form has no fields.
        for name, limit in (("title", limits.TITLE_MAX_LENGTH), ("description", limits.DESCRIPTION_MAX_LENGTH)):
            if field := self.fields.get(name):
                field.validators = [
                    check
                    for check in field.validators
                    if not isinstance(check, MaxLengthValidator | ProhibitNullCharactersValidator)
                ]
                field.widget.attrs["maxlength"] = str(limit)

    def clean_category(self):
        category = self.cleaned_data["category"]
        moved = self.instance.pk is None or self.instance.category_id != category.pk
        if moved:
            try:
                services.ensure_category_accepts_listings(category)
            except ValidationError as error:
                raise ValidationError(error.message_dict["category"]) from None
        return category


@admin.register(Listing)
class ListingAdmin(ServiceAdmin):
    form = ListingAdminForm
    list_display = ["title", "merchant", "category", "price", "status", "delisted_at", "updated_at"]
    list_filter = ["status", "merchant__marketplace", "category"]
    search_fields = ["title", "merchant__store_name"]
    list_select_related = ["merchant", "category"]
    raw_id_fields = ["merchant"]
    autocomplete_fields = ["category"]
    readonly_fields = [
        "status",
        "delisted_reason",
        "delisted_at",
        "previous_status",
        "external_marketplace",
        "external_id",
        "external_version",
        "created_at",
        "updated_at",
    ]
    show_full_result_count = False  # a million rows: no second COUNT(*) on every page

    def get_readonly_fields(self, request, obj=None):
        # A listing never changes hands: its history and decisions belong to one merchant.
        return [*self.readonly_fields, "merchant"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        # The admin's own form class adds the read-only fields to Meta.fields: read ours.
        data = {name: form.cleaned_data[name] for name in ListingAdminForm.Meta.fields if name != "merchant"}
        if change:
            services.edit_listing(actor=request.user, listing=obj, **data)
        else:
            created = services.create_listing(actor=request.user, merchant=obj.merchant, **data)
            obj.pk = created.pk


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Merchants' API tokens, as a list only: knox's digest is the primary key, so a page per
    token would put it in a URL. Merchants revoke their own (page and API, audited)."""

    list_display = ["name", "user", "display_prefix", "created", "expiry", "last_used_at"]
    list_display_links = None
    list_select_related = ["user"]
    search_fields = ["name", "user__username"]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MarketplaceServiceAccount)
class MarketplaceServiceAccountAdmin(admin.ModelAdmin):
    """The marketplaces' service accounts, as a list only: a policy admin creates and revokes them in the
    back office (Integrations), where each change is audited and a new key is shown once."""

    list_display = ["name", "marketplace", "user", "created_by", "created_at", "revoked_at"]
    list_display_links = None
    list_filter = ["marketplace"]
    list_select_related = ["marketplace", "user", "created_by"]
    search_fields = ["name", "user__username"]
    actions = None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
