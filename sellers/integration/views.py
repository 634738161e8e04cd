"""The integration API's views: thin; reads from the selectors, writes through the services.

Every view authenticates a service account's key only and acts on its marketplace only. The
views are left out of the sellers' API schema (``/api/schema/``): they have their own,
``/api/v1/integration/schema/``, for the marketplaces' developers.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from moderation.api.errors import as_api_error
from moderation.api.parsers import JSONParser
from sellers.integration import selectors
from sellers.integration.authentication import IsMarketplaceService, ServiceKeyAuthentication
from sellers.integration.check import check_listing
from sellers.integration.serializers import (
    CheckAnswerSerializer,
    CheckRequestSerializer,
    LivePolicySerializer,
    RetiredCategorySerializer,
    SyncBatchRequestSerializer,
    SyncBatchResultSerializer,
    SyncedListingSerializer,
    SyncedMerchantSerializer,
)
from sellers.integration.sync import apply_sync_batch

INTEGRATION_API_TITLE = "Marketplace integration API"
SCHEMA_SETTINGS = {
    "TITLE": INTEGRATION_API_TITLE,
    "DESCRIPTION": "For a marketplace's own systems, with a service account's key: sync merchants and listings "
    "in, check a listing before publishing it, read the retired categories and the policies in force.",
    "VERSION": "1.0.0",
}
ERRORS = {
    401: OpenApiResponse(description="No valid key: missing, unknown, expired, or of a revoked account."),
    403: OpenApiResponse(description="Not a service account's key."),
}


class IntegrationSchema(AutoSchema):
    """In the integration API's schema only: the sellers' API's schema is for merchants."""

    def is_excluded(self) -> bool:
        return spectacular_settings.TITLE != INTEGRATION_API_TITLE


class IntegrationView(APIView):
    authentication_classes = [ServiceKeyAuthentication]
    permission_classes = [IsMarketplaceService]
    parser_classes = [JSONParser]
    schema = IntegrationSchema()


def _object_of(data, name: str):
    if not isinstance(data, dict):
        raise ParseError({name: ["Send a JSON object."]})
    return data


class SyncBatchView(IntegrationView):
    @extend_schema(
        summary="Sync a batch of events: listings upserted or deleted, merchants upserted",
        description="Up to 1,000 events. Each is applied, ignored (an older or equal version than the one stored, "
        "or superseded in the batch) or refused with its field errors; the good ones are applied whatever the bad "
        "ones say. The same event twice changes nothing.",
        request=SyncBatchRequestSerializer,
        responses={
            200: SyncBatchResultSerializer,
            400: OpenApiResponse(description="Not a list of 1 to 1,000 events, or not JSON: nothing was applied."),
            **ERRORS,
        },
    )
    def post(self, request):
        data = _object_of(request.data, "events")
        try:
            result = apply_sync_batch(account=request.service_account, events=data.get("events"))
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response({"counts": result.counts, "results": [outcome.as_dict() for outcome in result.outcomes]})


class CheckView(IntegrationView):
    @extend_schema(
        summary="May this listing go live? The pre-publication check",
        description="allow, or refuse naming the policy, its clause and the field (never what the rules look for), "
        "as the sellers' API would decide on the same content. Cite the answer's id as check_id when syncing it.",
        request=CheckRequestSerializer,
        responses={
            200: CheckAnswerSerializer,
            400: OpenApiResponse(description="Content past the limits, or an unknown merchant or category."),
            **ERRORS,
        },
    )
    def post(self, request):
        data = _object_of(request.data, "title")
        try:
            answer = check_listing(
                account=request.service_account,
                merchant=data.get("merchant"),
                category=data.get("category"),
                title=data.get("title"),
                description=data.get("description", ""),
                attributes=data.get("attributes"),
            )
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(CheckAnswerSerializer.answer(answer))


class RetiredCategoriesView(IntegrationView):
    @extend_schema(
        summary="The retired categories: they accept no listing",
        responses={200: RetiredCategorySerializer(many=True), **ERRORS},
    )
    def get(self, request):
        return Response(RetiredCategorySerializer(selectors.retired_categories(), many=True).data)


class LivePoliciesView(IntegrationView):
    @extend_schema(
        summary="This marketplace's policies announced or in effect",
        responses={200: LivePolicySerializer(many=True), **ERRORS},
    )
    def get(self, request):
        return Response(LivePolicySerializer(selectors.live_policies(request.marketplace), many=True).data)


class SyncedListingView(IntegrationView):
    @extend_schema(
        summary="One of this marketplace's synced listings, by its id there: its version, status and visibility",
        responses={200: SyncedListingSerializer, 404: OpenApiResponse(description="No such listing."), **ERRORS},
    )
    def get(self, request, external_id: str):
        try:
            listing = selectors.synced_listing(request.marketplace, external_id)
        except ObjectDoesNotExist:
            raise NotFound() from None
        return Response(SyncedListingSerializer(listing).data)


class SyncedMerchantView(IntegrationView):
    @extend_schema(
        summary="One of this marketplace's synced merchants, by its id there: its version and enforcement status",
        responses={200: SyncedMerchantSerializer, 404: OpenApiResponse(description="No such merchant."), **ERRORS},
    )
    def get(self, request, external_id: str):
        try:
            merchant = selectors.synced_merchant(request.marketplace, external_id)
        except ObjectDoesNotExist:
            raise NotFound() from None
        return Response(SyncedMerchantSerializer(merchant).data)


class IntegrationSchemaView(SpectacularAPIView):
    """The integration API's own OpenAPI schema, as public as the sellers' API's."""

    custom_settings = SCHEMA_SETTINGS
    authentication_classes: list = []
    permission_classes = [AllowAny]
