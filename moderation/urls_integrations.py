"""The back office's pages of the marketplaces' service accounts: included by ``moderation.urls``
under ``integrations/`` (names in the ``backoffice`` namespace)."""

from django.urls import path

from moderation.views import integrations

urlpatterns = [
    path("", integrations.integration_index, name="integration-index"),
    path("<int:marketplace_id>/", integrations.integration_marketplace, name="integration-marketplace"),
    path(
        "<int:marketplace_id>/accounts/<int:account_id>/keys/",
        integrations.integration_key_issue,
        name="integration-key-issue",
    ),
    path(
        "<int:marketplace_id>/accounts/<int:account_id>/keys/<uuid:key_id>/revoke/",
        integrations.integration_key_revoke,
        name="integration-key-revoke",
    ),
    path(
        "<int:marketplace_id>/accounts/<int:account_id>/revoke/",
        integrations.integration_account_revoke,
        name="integration-account-revoke",
    ),
]
