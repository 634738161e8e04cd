"""The marketplaces' webhook pages, under Operations (included by moderation/urls.py at ``operations/webhooks/``)."""

from django.urls import path

from moderation.views import webhooks

urlpatterns = [
    path("", webhooks.webhook_index, name="webhook-index"),
    path("new/", webhooks.endpoint_create, name="webhook-endpoint-create"),
    path("<int:endpoint_id>/", webhooks.endpoint_show, name="webhook-endpoint-detail"),
    path("<int:endpoint_id>/rotate-secret/", webhooks.endpoint_rotate, name="webhook-endpoint-rotate"),
    path("<int:endpoint_id>/address/", webhooks.endpoint_url, name="webhook-endpoint-url"),
    path("<int:endpoint_id>/disable/", webhooks.endpoint_disable, name="webhook-endpoint-disable"),
    path("<int:endpoint_id>/enable/", webhooks.endpoint_enable, name="webhook-endpoint-enable"),
    path("<int:endpoint_id>/replay/", webhooks.endpoint_replay_range, name="webhook-endpoint-replay"),
    path(
        "<int:endpoint_id>/deliveries/<int:delivery_id>/replay/",
        webhooks.delivery_replay,
        name="webhook-delivery-replay",
    ),
    # The demo marketplace's own receiver (404 unless the demo runs): see moderation/demo/webhooks.py.
    path("demo-receiver/<slug:code>/", webhooks.demo_receiver, name="webhook-demo-receiver"),
]
