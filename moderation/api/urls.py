from django.urls import include, path
from rest_framework.routers import DefaultRouter

from moderation.api import views

router = DefaultRouter()
router.register("notices", views.NoticeViewSet, basename="notice")
router.register("decisions", views.DecisionViewSet, basename="decision")
router.register("sanctions", views.SanctionViewSet, basename="sanction")
router.register("listings", views.ListingViewSet, basename="listing")
router.register("appeals", views.AppealViewSet, basename="appeal")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("", include(router.urls)),
]
