"""How the sellers' API knows its caller: an API key (``sellers.ApiToken``), read with the caller's merchant."""

from __future__ import annotations

import binascii
import hmac
import re
from dataclasses import dataclass
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication

from sellers.models import Merchant
from sellers.tokens import note_api_token_used

# What a key can look like: knox's hex after a short prefix of letters, digits and "_". Anything
# else is refused before a query (and a NUL, which PostgreSQL would refuse, never reaches one).
_KEY_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{1,{CONSTANTS.MAXIMUM_TOKEN_PREFIX_LENGTH + 128}}}")


class MerchantTokenAuthentication(TokenAuthentication):
    """django-rest-knox's keys (hashed at rest, expiring) behind DRF's token header, errors and
    OpenAPI scheme ("tokenAuth"), reading the key's row, its user and the user's merchant in one query.

    The row is found by the key's first 15 characters (knox's ``token_key``) and accepted only
    when the SHA-512 digest of the whole key matches, compared in constant time. An expired key
    is refused with its own message (the row stays: the merchant sees it expired on the page);
    so is an inactive user. ``last_used_at`` is written at most once a minute per key.

    Every merchant endpoint asks for ``request.user.merchant`` right after authenticating
    (``IsMerchantUser``): reading it here saves that second query on each request, and a
    user without a store gets it cached as missing, so ``merchant_of`` does not ask again.

    The statement is built once from the models (``_TokenRead``) rather than by the ORM each
    request, because the ORM's ``select_related("user__merchant").order_by().filter(token_key=…)``
    costs more to build than to run. Measured against that plain version (same checks, same one
    query; issue 16): in one process, 1.7–1.9 ms an authentication against 0.5–0.7 ms here;
    ``bench/api.py --listings 200000``, six alternating pairs on a busy 2-core machine, the
    decisions list at 138 requests/s plain against 167 here (means: −17 %; median −10 %; the
    pairs ranged from +10 % to −42 %), the token-only baseline at 271 against 404 (−33 %, lower
    in every pair). That is past the 10 % a private rewrite of the framework must save to stay.
    """

    keyword = knox_settings.AUTH_HEADER_PREFIX

    def get_model(self):
        return get_token_model()

    def authenticate_credentials(self, key):
        if not _KEY_SHAPE.fullmatch(key):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        try:
            digest = hash_token(key)
        except (TypeError, ValueError, binascii.Error):
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        candidates = _TokenRead.of(self.get_model()).tokens(key[: CONSTANTS.TOKEN_KEY_LENGTH])
        # Every candidate is compared, so the time taken does not tell which one matched.
        matches = [token for token in candidates if hmac.compare_digest(token.digest, digest)]
        if not matches:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = matches[0]
        if token.expiry is not None and token.expiry <= timezone.now():
            raise exceptions.AuthenticationFailed(
                _("This API token has expired: create a new one on the API token page or at /api/v1/auth/token/.")
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        note_api_token_used(token=token)
        return (token.user, token)


@dataclass(frozen=True)
class _Table:
    model: type[Model]
    columns: tuple  # (column, converters) for each concrete field, in the model's order
    pk: int  # the primary key's place among them, where None means no row (a LEFT JOIN's miss)

    @classmethod
    def of(cls, model: type[Model]) -> _Table:
        columns = []
        for field in model._meta.concrete_fields:
            # What the ORM applies to a column read (SQLite's datetimes, JSON…): the backend's, then the field's.
            col = field.get_col(model._meta.db_table)
            columns.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        return cls(model, tuple(columns), [col.target for col, _ in columns].index(model._meta.pk))

    def load(self, values) -> Model:
        converted = []
        for value, (col, converters) in zip(values, self.columns, strict=True):
            for converter in converters:
                value = converter(value, col, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, [col.target.attname for col, _ in self.columns], converted)


@dataclass(frozen=True)
class _TokenRead:
    """``SELECT`` token, user, merchant ``FROM`` token ``JOIN`` user ``LEFT JOIN`` merchant, as the ORM would."""

    sql: str
    tables: tuple[_Table, _Table, _Table]

    @staticmethod
    @cache
    def of(token_model: type[Model]) -> _TokenRead:
        user_model = get_user_model()
        quote = connection.ops.quote_name
        tables = (_Table.of(token_model), _Table.of(user_model), _Table.of(Merchant))
        select = ", ".join(
            f"{alias}.{quote(col.target.column)}"
            for alias, table in zip("tum", tables, strict=True)
            for col, _ in table.columns
        )
        token_user = token_model._meta.get_field("user")
        merchant_user = Merchant._meta.get_field("user")
        sql = (
            f"SELECT {select} FROM {quote(token_model._meta.db_table)} AS t"
            f" JOIN {quote(user_model._meta.db_table)} AS u"
            f" ON u.{quote(user_model._meta.pk.column)} = t.{quote(token_user.column)}"
            f" LEFT JOIN {quote(Merchant._meta.db_table)} AS m"
            f" ON m.{quote(merchant_user.column)} = u.{quote(user_model._meta.pk.column)}"
            f" WHERE t.{quote(token_model._meta.get_field('token_key').column)} = %s"
        )
        return _TokenRead(sql, tables)

    def tokens(self, token_key: str) -> list:
        """The rows whose key starts with ``token_key`` (one, all but always), each with its user
        and the user's merchant cached on it."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [token_key])
            rows = cursor.fetchall()
        return [self._load(row) for row in rows]

    def _load(self, row):
        token_table, user_table, merchant_table = self.tables
        token_end = len(token_table.columns)
        user_end = token_end + len(user_table.columns)
        token = token_table.load(row[:token_end])
        token.user = user = user_table.load(row[token_end:user_end])
        merchant_values = row[user_end:]
        merchant = merchant_table.load(merchant_values) if merchant_values[merchant_table.pk] is not None else None
        merchant_user = Merchant._meta.get_field("user")
        merchant_user.remote_field.set_cached_value(user, merchant)  # user.merchant: None raises DoesNotExist
        if merchant is not None:
            merchant_user.set_cached_value(merchant, user)
        return token


# The project's classes, as settings.REST_FRAMEWORK names them, for the views that name them.
MERCHANT_AUTHENTICATION_CLASSES = [MerchantTokenAuthentication, SessionAuthentication]
