"""The sellers' API views: thin; reads from selectors, writes through the services."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from backoffice.security import client_address, locked_out
from moderation.api.authentication import MERCHANT_AUTHENTICATION_CLASSES
from moderation.api.errors import as_api_error
from moderation.api.filters import AppealFilter, DecisionFilter, ListingFilter, NoticeFilter, SanctionFilter
from moderation.api.pagination import CountedPagePagination
from moderation.api.permissions import IsMerchantUser, merchant_of
from moderation.api.serializers import (
    AppealCreateSerializer,
    AppealSerializer,
    DecisionSerializer,
    ListingSerializer,
    NoticeSerializer,
    SanctionSerializer,
)
from moderation.api.tokens import IssuedApiTokenSerializer, SignInSerializer
from moderation.models import Appeal, Notice, Sanction
from moderation.selectors.decisions import DecisionFilters, decision_page, merchant_decision
from moderation.services import appeals as appeal_services
from sellers import services as catalog
from sellers.models import Listing
from sellers.services import MerchantRestricted
from sellers.tokens import IssuedVia, issue_api_token

ERRORS = {
    400: OpenApiResponse(description="Invalid input: the errors are listed per field."),
    401: OpenApiResponse(description="No valid token or session."),
    403: OpenApiResponse(description="Not a merchant account, or a sanction closes this tool (the detail names it)."),
    404: OpenApiResponse(description="No such object among this merchant's."),
}
# Endpoints that read a body: one in another format than JSON, a form or multipart is refused.
UNSUPPORTED_BODY = {415: OpenApiResponse(description="The body is not JSON, a form or multipart.")}


class MerchantViewMixin:
    authentication_classes = MERCHANT_AUTHENTICATION_CLASSES  # the token's query reads the merchant too
    permission_classes = [IsAuthenticated, IsMerchantUser]

    @property
    def merchant(self):
        return self.request.merchant

    def fake(self) -> bool:
        # drf-spectacular builds the schema without a merchant behind the request.
        return getattr(self, "swagger_fake_view", False)


@extend_schema(
    request=SignInSerializer,
    responses={
        200: IssuedApiTokenSerializer,
        400: OpenApiResponse(
            description="Wrong username or password, a missing or wrong code (on otp), a bad name, "
            "not a merchant's account, or as many tokens in force as an account may have."
        ),
        429: OpenApiResponse(description="Too many failed sign-ins: locked for a while (Retry-After says how long)."),
        **UNSUPPORTED_BODY,
    },
    summary="Sign in: a new API token for a username, a password and, with two-factor authentication, a code",
)
class TokenView(APIView):
    """``POST {"username", "password", "name"?, "otp"?}`` → a new token each time, shown in this answer only.

    The token expires after ``API_TOKEN_DAYS``; list and revoke tokens at ``/api/v1/tokens/``
    or on the back-office page.
    """

    # No credentials are read here: a client still sending an expired token gets a new one.
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def post(self, request, format=None):
        form = SignInSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        try:
            token, key = issue_api_token(
                user=form.validated_data["user"],
                name=form.validated_data["name"],
                via=IssuedVia.API,
                address=client_address(request),
            )
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(IssuedApiTokenSerializer(token, context={"key": key}).data)

    def handle_exception(self, exc):
        # django-axes marks the request it was given (DRF's wrapper, not the one its
        # middleware sees): answer a lock-out here, as the login page does (429).
        if getattr(self.request, "axes_locked_out", False):
            return locked_out(self.request)
        return super().handle_exception(exc)


@extend_schema_view(
    list=extend_schema(
        summary="The statements of reasons and other notices sent to this merchant",
        responses={200: NoticeSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="One notice", responses={200: NoticeSerializer, **ERRORS}),
)
class NoticeViewSet(MerchantViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = NoticeSerializer
    filterset_class = NoticeFilter

    def get_queryset(self):
        if self.fake():
            return Notice.objects.none()
        return (
            Notice.objects.filter(merchant=self.merchant)
            .select_related("policy", "clause")
            .order_by("-created_at", "-id")
        )


@extend_schema_view(
    list=extend_schema(
        summary="Every decision against this merchant, newest first",
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=Appeal.Kind.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["active", "expired", "lifted", "overturned"]),
            OpenApiParameter("policy", OpenApiTypes.INT),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=["-decided_at", "decided_at"]),
        ],
        responses={200: DecisionSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(
        summary="One decision",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. violation-12")],
        responses={200: DecisionSerializer, **ERRORS},
    ),
)
class DecisionViewSet(MerchantViewMixin, viewsets.GenericViewSet):
    """Listings delisted by a category removal, violations and sanctions, in one list."""

    serializer_class = DecisionSerializer
    pagination_class = CountedPagePagination
    lookup_value_regex = r"(delisting|violation|sanction)-[1-9][0-9]{0,17}"
    filter_backends = []

    def _filters(self, request) -> DecisionFilters:
        if not any(name in request.query_params for name in (*DecisionFilter.base_filters, "page")):
            # Nothing to validate: building the FilterSet and its form would cost more than the page's query.
            return DecisionFilters()
        filters = DecisionFilter(request.query_params)
        if not filters.is_valid():
            raise ValidationError(filters.errors)
        data = filters.form.cleaned_data
        return DecisionFilters(
            kind=data.get("kind") or None,
            policy_id=data.get("policy"),
            status=data.get("status") or None,
            decided_after=data.get("created_after"),
            decided_before=data.get("created_before"),
            newest_first=data.get("ordering") != "decided_at",
        )

    # ``format`` comes from the router's suffix routes (decisions.json): DRF has already
    # chosen the renderer from it.
    def list(self, request, format=None):
        wanted = self._filters(request)
        rows = self.paginator.paginate_fetched(
            lambda limit, offset: decision_page(self.merchant.pk, wanted, limit=limit, offset=offset), request
        )
        return self.get_paginated_response(DecisionSerializer(rows, many=True).data)

    def retrieve(self, request, pk: str, format=None):
        kind, _, object_id = pk.partition("-")
        row = merchant_decision(self.merchant.pk, kind, int(object_id))
        if row is None:
            raise NotFound("Not found.")
        return Response(DecisionSerializer(row).data)


@extend_schema_view(
    list=extend_schema(summary="This merchant's sanctions", responses={200: SanctionSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One sanction", responses={200: SanctionSerializer, **ERRORS}),
)
class SanctionViewSet(MerchantViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = SanctionSerializer
    filterset_class = SanctionFilter

    def get_queryset(self):
        if self.fake():
            return Sanction.objects.none()
        return (
            Sanction.objects.filter(merchant=self.merchant)
            .select_related("policy", "step")
            .order_by("-starts_at", "-id")
        )


@extend_schema_view(
    list=extend_schema(
        summary="This merchant's listings with their moderation status",
        responses={200: ListingSerializer(many=True), **ERRORS},
    ),
    retrieve=extend_schema(summary="One listing", responses={200: ListingSerializer, **ERRORS}),
    create=extend_schema(
        summary="Create a listing (refused into a retired category, with banned content, or while sanctioned)",
        responses={201: ListingSerializer, **ERRORS, **UNSUPPORTED_BODY},
    ),
    partial_update=extend_schema(
        summary="Edit a listing (the same refusals as creating one)",
        responses={200: ListingSerializer, **ERRORS, **UNSUPPORTED_BODY},
    ),
)
class ListingViewSet(
    MerchantViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ListingSerializer
    filterset_class = ListingFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.fake():
            return Listing.objects.none()
        return Listing.objects.filter(merchant=self.merchant).select_related("category", "merchant").order_by("-id")

    def perform_create(self, serializer):
        try:
            serializer.instance = catalog.create_listing(
                actor=self.request.user, merchant=self.merchant, **serializer.validated_data
            )
        except (DjangoValidationError, MerchantRestricted) as error:
            raise as_api_error(error) from error

    def perform_update(self, serializer):
        try:
            serializer.instance = catalog.edit_listing(
                actor=self.request.user, listing=serializer.instance, **serializer.validated_data
            )
        except (DjangoValidationError, MerchantRestricted) as error:
            raise as_api_error(error) from error


class AppealFilingThrottle(SimpleRateThrottle):
    """Appeals filed per merchant (all its users together), at the ``appeals`` rate."""

    scope = "appeals"

    def get_cache_key(self, request, view):
        merchant = merchant_of(request.user)
        return self.cache_format % {"scope": self.scope, "ident": merchant.pk} if merchant else None


@extend_schema_view(
    list=extend_schema(summary="This merchant's appeals", responses={200: AppealSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(summary="One appeal", responses={200: AppealSerializer, **ERRORS}),
    create=extend_schema(
        summary="Appeal a decision",
        request=AppealCreateSerializer,
        responses={
            201: AppealSerializer,
            409: OpenApiResponse(description="An appeal against this decision is open already."),
            429: OpenApiResponse(description="Too many appeals filed in a short time: retry after the delay given."),
            **ERRORS,
            **UNSUPPORTED_BODY,
        },
    ),
    withdraw=extend_schema(
        summary="Withdraw an appeal before it is decided",
        request=None,
        responses={200: AppealSerializer, 409: OpenApiResponse(description="Decided or withdrawn already."), **ERRORS},
    ),
)
class AppealViewSet(
    MerchantViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = AppealSerializer
    filterset_class = AppealFilter

    def get_queryset(self):
        if self.fake():
            return Appeal.objects.none()
        return Appeal.objects.filter(merchant=self.merchant).select_related("policy").order_by("-filed_at", "-id")

    def get_throttles(self):
        return [AppealFilingThrottle()] if self.action == "create" else super().get_throttles()

    def create(self, request):
        form = AppealCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            appeal = appeal_services.file_appeal(actor=request.user, merchant=self.merchant, **form.validated_call())
        except (DjangoValidationError, ObjectDoesNotExist) as error:
            raise as_api_error(error) from error
        return Response(AppealSerializer(appeal).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        appeal = self.get_object()
        try:
            appeal = appeal_services.withdraw_appeal(actor=request.user, appeal=appeal)
        except DjangoValidationError as error:
            raise as_api_error(error) from error
        return Response(AppealSerializer(appeal).data)
