"""How the sellers' API knows its caller: the project's token, read with the caller's merchant."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.settings import api_settings

from sellers.models import Merchant


class MerchantTokenAuthentication(TokenAuthentication):
    """DRF's token authentication (same header, errors and OpenAPI scheme), reading the token,
    its user and the user's merchant in one query.

    Every merchant endpoint asks for ``request.user.merchant`` right after authenticating
    (``IsMerchantUser``): reading it here saves that second query on each request, and a
    user without a store gets it cached as missing, so ``merchant_of`` does not ask again.
    The statement is built once from the models (``_TokenRead``): the ORM's
    ``select_related("user__merchant").get(key=…)`` cost more to build than to run, on the
    API's busiest list (bench/api.py).
    """

    def authenticate_credentials(self, key):
        token = _TokenRead.of(self.get_model()).token(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
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
            f" WHERE t.{quote(token_model._meta.get_field('key').column)} = %s"
        )
        return _TokenRead(sql, tables)

    def token(self, key: str):
        """The token of ``key`` with its user and the user's merchant cached on it, or None."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [key])
            row = cursor.fetchone()
        if row is None:
            return None
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


# The project's classes (settings.REST_FRAMEWORK), in their order, the token's reading the merchant too.
MERCHANT_AUTHENTICATION_CLASSES = [
    MerchantTokenAuthentication if cls is TokenAuthentication else cls
    for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES
]
