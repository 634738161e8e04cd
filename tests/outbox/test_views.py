"""The webhook pages: policy admins only (others get the styled 403), the secret shown once, field errors, replays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from moderation.demo import webhooks as demo_webhooks
from moderation.models import AuditEvent, AuditVerb, OutboxEvent, WebhookDelivery, WebhookEndpoint
from moderation.services import webhooks
from moderation.services.outbox import EventDraft, write_events
from tests.outbox.conftest import deliver_everything

pytestmark = [pytest.mark.postgres, pytest.mark.urls("tests.outbox.urls")]

Type = OutboxEvent.Type


@pytest.fixture
def endpoint(marketplace, endpoint_for):
    return endpoint_for(marketplace)[0]


@pytest.fixture
def delivered(endpoint, marketplace):
    write_events([EventDraft(marketplace.pk, Type.LISTINGS_DELISTED, "listing:5", {"listing_ids": [5, 6]})])
    deliver_everything(endpoint)
    return WebhookDelivery.objects.get()


def page_urls(endpoint, delivery_id=1):
    return [
        ("get", reverse("backoffice:webhook-index")),
        ("get", reverse("backoffice:webhook-endpoint-create")),
        ("get", reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-endpoint-rotate", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-endpoint-url", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-endpoint-disable", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-endpoint-enable", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-endpoint-replay", args=[endpoint.pk])),
        ("post", reverse("backoffice:webhook-delivery-replay", args=[endpoint.pk, delivery_id])),
    ]


# --- who may see and do what ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["moderator", "senior", "merchant_user_a"])
def test_only_policy_admins_open_the_webhook_pages_others_get_the_styled_403(client, request, who, endpoint):
    client.force_login(request.getfixturevalue(who))
    for method, url in page_urls(endpoint):
        response = getattr(client, method)(url)
        assert response.status_code == 403, url
        assert b'id="error-page"' in response.content  # the styled page, naming the role
        assert b"policy admin" in response.content
    assert endpoint.secret.encode() not in response.content
    endpoint.refresh_from_db()
    assert endpoint.active


def test_signed_out_visitors_are_sent_to_sign_in(client, endpoint):
    for method, url in page_urls(endpoint):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_a_superuser_opens_them_too(client, superuser, endpoint, delivered):
    client.force_login(superuser)
    response = client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]))
    assert response.status_code == 200
    assert f'data-delivery="{delivered.pk}"'.encode() in response.content


def test_an_unknown_endpoint_and_another_endpoints_delivery_are_404(
    client, policy_admin, endpoint, delivered, other_marketplace, endpoint_for
):
    other, _ = endpoint_for(other_marketplace)
    client.force_login(policy_admin)
    assert client.get(reverse("backoffice:webhook-endpoint-detail", args=[other.pk + 100])).status_code == 404
    # The delivery exists, but not under this endpoint's address.
    response = client.post(reverse("backoffice:webhook-delivery-replay", args=[other.pk, delivered.pk]))
    assert response.status_code == 404
    delivered.refresh_from_db()
    assert (delivered.status, delivered.replays) == ("delivered", 0)


# --- making an endpoint: the secret once ----------------------------------------------------------------------


def test_a_policy_admin_adds_an_endpoint_and_sees_its_secret_once(client, policy_admin, marketplace):
    client.force_login(policy_admin)
    response = client.post(
        reverse("backoffice:webhook-endpoint-create"),
        {"marketplace": marketplace.pk, "url": " https://hooks.alibaba.example/enforcement "},
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.marketplace, endpoint.url, endpoint.active) == (
        marketplace,
        "https://hooks.alibaba.example/enforcement",
        True,
    )
    assert endpoint.secret.startswith("whsec_") and endpoint.secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    created = AuditEvent.objects.get(verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED)
    assert (created.actor, created.target_id) == (policy_admin, endpoint.pk)
    assert endpoint.secret not in str(created.after)
    page = client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]))
    assert endpoint.secret.encode() not in page.content  # never shown again


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "This field is required."),
        ("ftp://hooks.example/x", "Enter a full https:// address"),
        ("http://hooks.example/x", "Enter a full https:// address"),
        ("https://user:pw@hooks.example/x", "Leave user names and passwords out"),
        ("https://hooks.example/" + "a" * 600, "Ensure this value has at most 500 characters"),
        ("https://hooks.example/x#part", "An address with a #fragment cannot be posted to."),
        ("\u200b\u2060", "This field"),
    ],
)
def test_a_bad_address_is_refused_on_its_field_and_nothing_is_made(
    client, settings, policy_admin, marketplace, url, message
):
    settings.WEBHOOK_ALLOW_HTTP = False  # production: HTTPS only
    client.force_login(policy_admin)
    response = client.post(reverse("backoffice:webhook-endpoint-create"), {"marketplace": marketplace.pk, "url": url})
    assert response.status_code == 200
    assert b'data-field="url"' in response.content
    assert message.encode() in response.content
    assert not WebhookEndpoint.objects.exists()


def test_a_second_endpoint_for_a_marketplace_is_refused(client, policy_admin, marketplace, endpoint):
    client.force_login(policy_admin)
    response = client.post(
        reverse("backoffice:webhook-endpoint-create"), {"marketplace": marketplace.pk, "url": "https://x.example/h"}
    )
    assert b'data-field="marketplace"' in response.content
    assert WebhookEndpoint.objects.count() == 1


def test_rotating_shows_the_new_secret_once(client, policy_admin, endpoint):
    old = endpoint.secret
    client.force_login(policy_admin)
    response = client.post(reverse("backoffice:webhook-endpoint-rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    assert endpoint.secret.encode() in response.content and old.encode() not in response.content
    assert AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_SECRET_ROTATED).count() == 1


# --- disabling, enabling, the address -------------------------------------------------------------------------


def test_disabling_needs_a_reason_then_stops_the_endpoint(client, policy_admin, endpoint):
    client.force_login(policy_admin)
    url = reverse("backoffice:webhook-endpoint-disable", args=[endpoint.pk])
    refused = client.post(url, {"reason": "\u200b\u200b"})
    assert refused.status_code == 400 and b'data-field="reason"' in refused.content
    endpoint.refresh_from_db()
    assert endpoint.active

    assert client.post(url, {"reason": "The marketplace moves its servers."}).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.disabled_reason) == (False, "The marketplace moves its servers.")
    page = client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]))
    assert b'id="endpoint-disabled"' in page.content

    assert client.post(reverse("backoffice:webhook-endpoint-enable", args=[endpoint.pk])).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.active


def test_changing_the_address_is_audited_and_a_bad_one_refused(client, policy_admin, endpoint):
    client.force_login(policy_admin)
    url = reverse("backoffice:webhook-endpoint-url", args=[endpoint.pk])
    assert client.post(url, {"url": "not an address"}).status_code == 400
    assert client.post(url, {"url": "https://new.example/hooks"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://new.example/hooks"
    assert AuditEvent.objects.get(verb=AuditVerb.WEBHOOK_ENDPOINT_EDITED).after == {"url": "https://new.example/hooks"}


# --- the deliveries page and replays ---------------------------------------------------------------------------


def test_the_page_shows_each_delivery_with_its_status_attempts_and_last_answer(
    client, policy_admin, endpoint, delivered
):
    client.force_login(policy_admin)
    response = client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]))
    content = response.content.decode()
    assert f'data-delivery="{delivered.pk}" data-status="delivered"' in content
    assert "HTTP 204" in content
    assert "2 listings" in content
    filtered = client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]), {"status": "failed"})
    assert f'data-delivery="{delivered.pk}"' not in filtered.content.decode()
    assert (
        client.get(reverse("backoffice:webhook-endpoint-detail", args=[endpoint.pk]), {"status": "x"}).status_code
        == 200
    )


def test_replaying_one_event_and_a_range_from_the_page(client, policy_admin, endpoint, delivered):
    client.force_login(policy_admin)
    response = client.post(reverse("backoffice:webhook-delivery-replay", args=[endpoint.pk, delivered.pk]))
    assert response.status_code == 302
    delivered.refresh_from_db()
    assert (delivered.status, delivered.replays) == ("pending", 1)

    url = reverse("backoffice:webhook-endpoint-replay", args=[endpoint.pk])
    backwards = client.post(url, {"start": "2021-10-08T10:00", "end": "2021-10-08T09:00"})
    assert backwards.status_code == 400 and b'data-field="end"' in backwards.content
    far = client.post(url, {"start": "0001-01-01T00:00", "end": "9999-12-31T23:59"})
    assert far.status_code == 400
    assert client.post(url, {"start": "2000-01-01T00:00", "end": "2100-01-01T00:00"}).status_code == 302
    assert AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_REPLAY_REQUESTED).count() == 2


def test_the_operations_page_shows_a_disabled_endpoint_in_red(client, moderator, policy_admin, endpoint):
    webhooks.disable_endpoint(actor=policy_admin, endpoint=endpoint, reason="Every delivery failed for a day.")
    client.force_login(moderator)  # moderators read Operations too, without the link
    response = client.get(reverse("backoffice:operations"))
    content = response.content.decode()
    assert f'data-webhook-disabled="{endpoint.pk}"' in content
    assert "Alibaba.com no longer hears the decisions" in content
    assert 'id="webhooks-link"' not in content
    client.force_login(policy_admin)
    assert 'id="webhooks-link"' in client.get(reverse("backoffice:operations")).content.decode()


# --- the demo's receiver -----------------------------------------------------------------------------------------


def test_the_demo_receiver_is_only_there_in_the_demo(client, endpoint):
    url = reverse("backoffice:webhook-demo-receiver", args=["alibaba"])
    assert client.post(url, b"{}", content_type="application/json").status_code == 404


def test_the_demo_receiver_checks_signatures_notes_duplicates_and_lists_what_it_got(
    client, settings, tmp_path, travel, policy_admin, marketplace
):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    travel.to(datetime.now(UTC))  # the reference check compares timestamps with the real clock
    endpoint = demo_webhooks.seed_demo_endpoint(actor=policy_admin)
    assert endpoint.url == "http://127.0.0.1:8000/backoffice/operations/webhooks/demo-receiver/alibaba/"
    write_events([EventDraft(marketplace.pk, Type.LISTINGS_DELISTED, "removal:1", {"listing_ids": [1, 2, 3]})])
    event = OutboxEvent.objects.get()
    body = webhooks.event_body(event, marketplace_code="alibaba")
    headers = webhooks.signed_headers(endpoint, event, body, at=travel.now())
    url = reverse("backoffice:webhook-demo-receiver", args=["alibaba"])

    def post(payload, extra):
        http_headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in extra.items()}
        return client.post(url, payload, content_type="application/json", **http_headers)

    assert post(body, headers).status_code == 204
    assert post(body, headers).status_code == 204  # the same id again: noted as a duplicate
    forged = {**headers, "webhook-signature": Webhook(webhooks.new_secret()).sign(str(event.uuid), travel.now(), body)}
    assert post(body, forged).status_code == 400

    newest_first = demo_webhooks.received("alibaba")
    assert [(e["verified"], e["duplicate"]) for e in newest_first] == [(False, False), (True, True), (True, False)]
    assert newest_first[2]["listings"] == 3
    client.force_login(policy_admin)
    page = client.get(url)
    assert page.status_code == 200 and page.content.count(b'data-verified="yes"') == 2
