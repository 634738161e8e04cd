from django.urls import include, path
from rest_framework.routers import DefaultRouter

from moderation.api import tokens, views

router = DefaultRouter()
router.register("notices", views.NoticeViewSet, basename="notice")
router.register("decisions", views.DecisionViewSet, basename="decision")
router.register("sanctions", views.SanctionViewSet, basename="sanction")
router.register("listings", views.ListingViewSet, basename="listing")
router.register("appeals", views.AppealViewSet, basename="appeal")
router.register("tokens", tokens.ApiTokenViewSet, basename="api-token")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("", include(router.urls)),
    path("", include("sellers.integration.urls")),  # the marketplaces' systems (service accounts)
]
