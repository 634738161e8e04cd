"""``/api/v1/integration/``: included by ``moderation.api.urls`` (the ``api`` namespace)."""

from django.urls import include, path, re_path

from sellers.integration import views
from sellers.integration.events import EXTERNAL_ID_PATTERN

# The path a marketplace's id can take (events.read_event's shape): anything else is a 404 before a query.
EXTERNAL_ID = rf"(?P<external_id>{EXTERNAL_ID_PATTERN})"

urlpatterns = [
    path("integration/listings/batch", views.SyncBatchView.as_view(), name="integration-batch"),
    path("integration/check", views.CheckView.as_view(), name="integration-check"),
    path("integration/categories/retired", views.RetiredCategoriesView.as_view(), name="integration-retired"),
    path("integration/policies", views.LivePoliciesView.as_view(), name="integration-policies"),
    # With a slash, as the sellers' API's objects: a listing whose id is "batch" is read here.
    re_path(rf"^integration/listings/{EXTERNAL_ID}/$", views.SyncedListingView.as_view(), name="integration-listing"),
    re_path(
        rf"^integration/merchants/{EXTERNAL_ID}/$", views.SyncedMerchantView.as_view(), name="integration-merchant"
    ),
]

# The schema is generated from these patterns as they are served, under /api/v1/.
urlpatterns.append(
    path(
        "integration/schema",
        views.IntegrationSchemaView.as_view(patterns=[path("api/v1/", include(list(urlpatterns)))]),
        name="integration-schema",
    )
)
