"""A sync batch's events, read and checked one by one: each is a typed event or its field errors.

Checked by hand, not by a DRF serializer per event: a batch holds up to 1,000 events, and a
serializer's machinery costs more per event than the checks themselves (about 0.1 ms against a
few µs: a tenth of the batch's time budget). The messages are DRF's where DRF has one; the limits
on a listing's texts are ``sellers.limits``', word for word the sellers' API's.

Nothing a caller sent is echoed in an error: a lone surrogate or a NUL in an answer would break the
answer itself. An id is echoed back only once it is known to be a plain id.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text
from sellers import limits
from sellers.models import EXTERNAL_ID_MAX_LENGTH, Merchant, validate_api_token_name

MAX_EVENTS_PER_BATCH = 1000

LISTING_UPSERTED = "listing.upserted"
LISTING_DELETED = "listing.deleted"
MERCHANT_UPSERTED = "merchant.upserted"
EVENT_TYPES = (LISTING_UPSERTED, LISTING_DELETED, MERCHANT_UPSERTED)

# A marketplace's id: letters, digits and . _ : - (a UUID, a number, "ae:1005004123456789").
EXTERNAL_ID_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{EXTERNAL_ID_MAX_LENGTH - 1}}}"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
# The listing's price column: 12 digits, 2 of them after the point.
_PRICE_MAX_DIGITS, _PRICE_DECIMALS = 12, 2
_PRICE_LIMIT = Decimal(10) ** (_PRICE_MAX_DIGITS - _PRICE_DECIMALS)
_CENT = Decimal("0.01")
# A version is a bigint: what PostgreSQL stores.
_VERSION_MAX = 2**63 - 1
_MERCHANT_TEXT_MAX_LENGTH = 200
_EMAIL_MAX_LENGTH = 254
_validate_email = EmailValidator()


@dataclass(slots=True)
class ListingUpsert:
    index: int
    external_id: str
    version: int
    merchant: str
    category: str
    title: str
    description: str
    attributes: dict
    price: Decimal
    currency: str
    check_id: uuid.UUID | None

    @property
    def texts(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "attributes": self.attributes}


@dataclass(slots=True)
class ListingDeletion:
    index: int
    external_id: str
    version: int


@dataclass(slots=True)
class MerchantUpsert:
    index: int
    external_id: str
    version: int
    store_name: str
    company_name: str
    country: str
    contact_email: str
    language: str

    @property
    def fields(self) -> dict[str, str]:
        return {
            "store_name": self.store_name,
            "company_name": self.company_name,
            "country": self.country,
            "contact_email": self.contact_email,
            "language": self.language,
        }


Event = ListingUpsert | ListingDeletion | MerchantUpsert


@dataclass(slots=True)
class Unreadable:
    """An event refused as sent: its field errors, and its type and id when those were readable."""

    index: int
    type: str | None
    external_id: str | None
    errors: dict[str, list[str]] = field(default_factory=dict)


def is_external_id(value: Any) -> bool:
    return isinstance(value, str) and _EXTERNAL_ID.fullmatch(value) is not None


def external_id_message() -> str:
    return _("An id is 1 to %(limit)s letters, digits and . _ : - characters, starting with a letter or digit.") % {
        "limit": EXTERNAL_ID_MAX_LENGTH
    }


def is_category_slug(value: Any) -> bool:
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def category_slug_message() -> str:
    return _("Enter a valid category slug (letters, digits, hyphens and underscores).")


def _required() -> str:
    return _("This field is required.")


class _Reader:
    """Reads one event's fields, gathering every field's errors before giving up."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def external_id(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            self.fail(name, _required())
        elif not is_external_id(value):
            self.fail(name, external_id_message())
        else:
            return value
        return None

    def version(self) -> int | None:
        value = self.data.get("version")
        if value is None:
            self.fail("version", _required())
        elif isinstance(value, bool) or not isinstance(value, int):
            self.fail("version", _("A valid integer is required."))
        elif not 0 <= value <= _VERSION_MAX:
            self.fail("version", _("The version is a whole number from 0 to %(limit)s.") % {"limit": _VERSION_MAX})
        else:
            return value
        return None

    def listing_text(self, name: str, problems, *, required: bool) -> Any:
        if name not in self.data:
            if required:
                self.fail(name, _required())
            return ""
        value = self.data[name]
        found = problems(value)
        for problem in found:
            self.fail(name, problem)
        return value

    def attributes(self) -> dict:
        value = self.data.get("attributes")
        if value is None:
            return {}
        for problem in limits.attributes_problems(value):
            self.fail("attributes", problem)
        return value

    def slug(self, name: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            self.fail(name, _required())
        elif not is_category_slug(value):
            self.fail(name, category_slug_message())
        else:
            return value
        return None

    def price(self) -> Decimal | None:
        value = self.data.get("price")
        if value is None:
            self.fail("price", _required())
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str) or len(str(value)) > 40:
            self.fail("price", _("A valid number is required."))
            return None
        try:
            price = Decimal(str(value))
        except InvalidOperation:
            self.fail("price", _("A valid number is required."))
            return None
        if not price.is_finite():
            self.fail("price", _("A valid number is required."))
        elif price < 0:
            self.fail("price", _("Ensure this value is greater than or equal to 0."))
        elif price >= _PRICE_LIMIT:
            self.fail(
                "price",
                _("Ensure that there are no more than %(digits)s digits before the decimal point.")
                % {"digits": _PRICE_MAX_DIGITS - _PRICE_DECIMALS},
            )
        elif price != price.quantize(_CENT):
            self.fail("price", _("Ensure that there are no more than 2 decimal places."))
        else:
            return price.quantize(_CENT)
        return None

    def currency(self) -> str:
        value = self.data.get("currency", "USD")
        if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
            self.fail("currency", _("A currency is three capital letters (ISO 4217), e.g. USD."))
            return "USD"
        return value

    def check_id(self) -> uuid.UUID | None:
        value = self.data.get("check_id")
        if value is None:
            return None
        if isinstance(value, str) and len(value) <= 36:
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.fail("check_id", _("Must be a valid UUID."))
        return None

    def merchant_text(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            self.fail(name, _required())
            return ""
        if not isinstance(value, str):
            self.fail(name, _("Not a valid string."))
            return ""
        value = value.strip()
        if len(value) > _MERCHANT_TEXT_MAX_LENGTH:
            self.fail(
                name,
                _("Ensure this field has no more than %(limit)s characters.") % {"limit": _MERCHANT_TEXT_MAX_LENGTH},
            )
            return ""
        try:
            # One line of visible text, as a token's name is: shown on pages and written to the trail.
            validate_api_token_name(value)
        except ValidationError as error:
            for message in error.messages:
                self.fail(name, message)
            return ""
        if not has_visible_text(value):
            self.fail(name, _("This field cannot be blank."))
        return value

    def country(self) -> str:
        value = self.data.get("country")
        if value is None:
            self.fail("country", _required())
        elif not isinstance(value, str) or not _COUNTRY.fullmatch(value):
            self.fail("country", _("Use a two-letter ISO country code, e.g. CN."))
        else:
            return value
        return ""

    def contact_email(self) -> str:
        value = self.data.get("contact_email")
        if value is None:
            self.fail("contact_email", _required())
            return ""
        if not isinstance(value, str) or len(value) > _EMAIL_MAX_LENGTH:
            self.fail("contact_email", _("Enter a valid email address."))
            return ""
        try:
            _validate_email(value)
        except ValidationError:
            self.fail("contact_email", _("Enter a valid email address."))
            return ""
        return value

    def language(self) -> str:
        value = self.data.get("language", Merchant.Language.ENGLISH)
        if value not in Merchant.Language.values:
            self.fail("language", _("The language is one of: %(choices)s.") % {"choices": ", ".join(Merchant.Language)})
            return Merchant.Language.ENGLISH
        return value


def read_event(index: int, data: Any) -> Event | Unreadable:
    """One event as sent, checked: a typed event, or what is wrong with it, field by field."""
    if not isinstance(data, dict):
        return Unreadable(index, None, None, {"non_field_errors": [_("An event is an object.")]})
    reader = _Reader(data)
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        reader.fail("type", _("The type is one of: %(types)s.") % {"types": ", ".join(EVENT_TYPES)})
        kind = None
    external_id = reader.external_id("id")
    # Read in full (every field's errors at once); a value is None only when its field has an error.
    common: dict[str, Any] = {"index": index, "external_id": external_id, "version": reader.version()}
    event: Event | None = None
    if kind == LISTING_UPSERTED:
        fields: dict[str, Any] = {
            "merchant": reader.external_id("merchant"),
            "category": reader.slug("category"),
            "title": reader.listing_text("title", limits.title_problems, required=True),
            "description": reader.listing_text("description", limits.description_problems, required=False),
            "attributes": reader.attributes(),
            "price": reader.price(),
            "currency": reader.currency(),
            "check_id": reader.check_id(),
        }
        if not reader.errors:
            event = ListingUpsert(**common, **fields)
    elif kind == LISTING_DELETED:
        if not reader.errors:
            event = ListingDeletion(**common)
    elif kind == MERCHANT_UPSERTED:
        fields = {
            "store_name": reader.merchant_text("store_name"),
            "company_name": reader.merchant_text("company_name"),
            "country": reader.country(),
            "contact_email": reader.contact_email(),
            "language": reader.language(),
        }
        if not reader.errors:
            event = MerchantUpsert(**common, **fields)
    if event is not None:
        return event
    return Unreadable(index, kind, external_id, reader.errors)
