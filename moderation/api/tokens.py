"""The sellers' API keys through the API: the sign-in that issues one, the caller's list, revocation.

``POST /api/v1/auth/token/`` (``views.TokenView``) takes the password, and the current code when
the account has an authenticator, and issues a new key each time. ``GET /api/v1/tokens/`` lists
the caller's keys (never a key or a digest) and ``DELETE /api/v1/tokens/<id>/`` revokes one.
``<id>`` is the key's public id (a UUID): the digest, knox's primary key, never leaves the database,
and a UUID is never guessed, by a fuzzer or anyone else.

Kept apart from ``views`` and ``serializers``: ``views.TokenView`` reads the serializers here, and
this module needs nothing from ``views``.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from django_otp import verify_token
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from backoffice.security import confirmed_device
from moderation.api.authentication import MERCHANT_AUTHENTICATION_CLASSES
from moderation.api.errors import as_api_error
from moderation.api.filters import StrictFilterSet
from moderation.api.permissions import IsMerchantUser
from sellers.models import API_TOKEN_NAME_MAX_LENGTH, ApiToken
from sellers.tokens import api_tokens_of, clean_api_token_name, revoke_api_token

# Django's own limits: auth_user.username holds 150 characters, and its password validators stop
# reading at 4096 (longer passwords only make the hash slower to compute).
USERNAME_MAX_LENGTH = 150
PASSWORD_MAX_LENGTH = 4096
# An authenticator's code is 6 digits (8 at most); a little room for spaces around it.
OTP_MAX_LENGTH = 16
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class SignInSerializer(serializers.Serializer):
    """The sign-in: checked as DRF's ``AuthTokenSerializer`` checks it (``authenticate`` with the
    request, so django-axes counts the failures and locks), plus the second factor."""

    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, style={"input_type": "password"}, trim_whitespace=False
    )
    name = serializers.CharField(
        max_length=API_TOKEN_NAME_MAX_LENGTH,
        required=False,
        default="API",
        help_text="Your label for the new token, e.g. the integration that will use it.",
    )
    otp = serializers.CharField(
        max_length=OTP_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The current code of your authenticator app: required when two-factor authentication is on.",
    )

    def validate_name(self, value: str) -> str:
        # Before the password and the code are checked: a refused name must not spend the code.
        try:
            return clean_api_token_name(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict["name"]) from None

    def validate(self, attrs: dict) -> dict:
        request = self.context["request"]
        user = authenticate(request=request, username=attrs["username"], password=attrs["password"])
        if user is None:
            # DRF's message (and translation) for the same refusal.
            raise serializers.ValidationError(_("Unable to log in with provided credentials."), code="authorization")
        device = confirmed_device(user)
        if device is not None:
            code = attrs.get("otp", "").strip()
            if not code or verify_token(user, device.persistent_id, code) is None:
                # A failed sign-in as a wrong password is: audited, and counted by django-axes
                # (which may lock the account now: TokenView answers that).
                user_login_failed.send(sender=__name__, credentials={"username": attrs["username"]}, request=request)
                message = (
                    _("That code is not right, or too many were tried: wait a moment and try again.")
                    if code
                    else _("This account uses two-factor authentication: send the current code of its app as otp.")
                )
                raise serializers.ValidationError({"otp": [message]}, code="otp")
        attrs["user"] = user
        return attrs


class ApiTokenSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True, help_text="The token's id in these URLs.")
    prefix = serializers.CharField(
        source="display_prefix", read_only=True, help_text="The start of the token, to recognise it by."
    )
    created_at = serializers.DateTimeField(source="created", read_only=True)
    expires_at = serializers.DateTimeField(source="expiry", read_only=True)
    expired = serializers.BooleanField(source="is_expired", read_only=True)
    last_used_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="To the minute; empty until it is first used."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "expired", "last_used_at"]
        read_only_fields = fields


class IssuedApiTokenSerializer(ApiTokenSerializer):
    """A new token: the key itself is in this answer only (the database keeps its digest)."""

    token = serializers.SerializerMethodField(
        help_text="Send it as “Authorization: Token <token>”. Store it now: it is not shown again."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_token(self, row) -> str:
        return self.context["key"]


class ApiTokenFilter(StrictFilterSet):
    """No filters: only the list's page, read as every other list reads it (``?page=`` is a 400)."""

    class Meta:
        model = ApiToken
        fields: list[str] = []


UNAUTHORISED = {
    401: OpenApiResponse(description="No valid token or session."),
    403: OpenApiResponse(description="Not a merchant account."),
    404: OpenApiResponse(description="No such page of the list, or no such token among this merchant's."),
}
TOKEN_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The token's id, as the list gives it."
)


@extend_schema_view(
    list=extend_schema(
        summary="This merchant's API tokens, expired ones included",
        description="Each token's name, the start of its key, and when it was created, expires and was last used: "
        "never the key itself, which only the answer that issued it held.",
        responses={
            200: ApiTokenSerializer(many=True),
            400: OpenApiResponse(description="A page number given twice or empty: the errors are listed per field."),
            **UNAUTHORISED,
        },
    ),
    destroy=extend_schema(
        summary="Revoke an API token",
        description="It stops working at once, the one this request uses too. "
        "Another merchant's token is answered as one that does not exist (404).",
        parameters=[TOKEN_ID],
        responses={
            204: OpenApiResponse(description="Revoked."),
            **UNAUTHORISED,
            404: OpenApiResponse(description="No such token among this merchant's."),
        },
    ),
)
class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """A merchant's keys; new ones come from ``POST /api/v1/auth/token/`` or the back-office page."""

    authentication_classes = MERCHANT_AUTHENTICATION_CLASSES
    permission_classes = [IsAuthenticated, IsMerchantUser]
    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular: no caller behind the request
            return ApiToken.objects.none()
        return api_tokens_of(user=self.request.user)

    def destroy(self, request, id=None):  # noqa: A002 - the URL's name for it
        try:
            revoke_api_token(user=request.user, token_id=id)
        except ApiToken.DoesNotExist as error:  # another merchant's, or none: the same 404
            raise as_api_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)
