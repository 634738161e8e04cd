"""Webhooks go to the public internet only: a private address is refused when saved and when sent to (SSRF).

Names resolve through a fake resolver (``socket.getaddrinfo`` monkeypatched): ``dns.answer(name, *ips)``
says what a name resolves to from now on, and ``dns.asked`` lists the names looked up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb, OutboxEvent, WebhookDelivery, WebhookEndpoint
from moderation.services import webhook_addresses, webhooks
from moderation.services.outbox import EventDraft, write_events
from moderation.services.webhook_addresses import REFUSED_PRIVATE, REFUSED_UNRESOLVED, ensure_public_address

pytestmark = pytest.mark.urls("tests.outbox.urls")

REAL_GETADDRINFO = socket.getaddrinfo
NAME = "hooks.marketplace.example"
PRIVATE_MESSAGE = "This address leads into a private network"


class FakeResolver:
    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def answer(self, name: str, *ips: str) -> None:
        self.answers[name] = list(ips)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002 - socket's own names
        self.asked.append(host)
        if host not in self.answers:
            try:  # a literal address: the real resolver answers it without asking anybody
                return REAL_GETADDRINFO(host, port, family, type, proto, socket.AI_NUMERICHOST)
            except socket.gaierror:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in self.answers[host]
        ]


@pytest.fixture
def dns(monkeypatch):
    resolver = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver.getaddrinfo)
    return resolver


@pytest.fixture
def public_only(settings):
    """Production: private addresses refused (the test settings allow them, for the local receivers)."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    return settings


def refusal(url: str) -> str:
    with pytest.raises(ValidationError) as refused:
        ensure_public_address(url)
    return refused.value.message_dict["url"][0]


# --- the rule ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",  # all of 127/8 is the loopback
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",  # a cloud's metadata service
        "0.0.0.0",  # noqa: S104 - "this host": reaches the loopback
        "100.64.0.1",  # shared (carrier-grade NAT)
        "224.0.0.1",  # multicast
        "[::1]",
        "[::]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:10.0.0.1]",
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    ],
)
def test_it_refuses_every_kind_of_private_literal_address(public_only, dns, host):
    assert refusal(f"https://{host}/hooks").startswith(PRIVATE_MESSAGE)
    assert refusal(f"https://{host}:8443/hooks").startswith(PRIVATE_MESSAGE)


@pytest.mark.parametrize(
    "host", ["93.184.216.34", "8.8.8.8", "[2606:4700:4700::1111]", "[64:ff9b::808:808]", "[::ffff:8.8.8.8]"]
)
def test_it_accepts_a_public_literal_address(public_only, dns, host):
    ensure_public_address(f"https://{host}/hooks")


@pytest.mark.parametrize(
    "ips",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["127.0.0.1", "::1"],
        ["fd00::5"],
        ["93.184.216.34", "192.168.0.10"],  # one private answer is enough: the resolver picks which one is used
    ],
)
def test_it_refuses_a_name_that_resolves_to_a_private_address(public_only, dns, ips):
    dns.answer(NAME, *ips)
    assert refusal(f"https://{NAME}/hooks").startswith(PRIVATE_MESSAGE)
    assert dns.asked == [NAME]


def test_it_refuses_localhost(public_only, dns):
    dns.answer("localhost", "127.0.0.1", "::1")
    assert refusal("http://localhost:8000/hooks").startswith(PRIVATE_MESSAGE)


def test_it_accepts_a_name_that_resolves_to_public_addresses_only(public_only, dns):
    dns.answer(NAME, "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
    ensure_public_address(f"https://{NAME}/hooks")


def test_it_refuses_a_name_that_does_not_resolve(public_only, dns):
    assert refusal("https://nowhere.marketplace.example/hooks").startswith("This address's host name does not resolve")


def test_the_setting_lets_private_addresses_through_without_a_lookup(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    dns.answer("localhost", "127.0.0.1")
    ensure_public_address("http://localhost:8000/hooks")
    ensure_public_address("http://10.0.0.5/hooks")
    assert dns.asked == []


def run_settings(**variables: str) -> str:
    """``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` as ``backoffice.settings`` reads it in a fresh interpreter."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "DATABASE_URL"} and not key.startswith("CELERY_")
    }
    env.update(DJANGO_SETTINGS_MODULE="backoffice.settings", SECRET_KEY="a-real-secret", **variables)
    code = "from django.conf import settings; print(settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_setting_follows_debug_unless_the_environment_says(tmp_path):
    assert run_settings(DEBUG="0", VAR_DIR=str(tmp_path)) == "False"
    assert run_settings(DEBUG="1", VAR_DIR=str(tmp_path)) == "True"  # make run's receiver on localhost
    assert run_settings(DEBUG="0", WEBHOOK_ALLOW_PRIVATE_ADDRESSES="1", VAR_DIR=str(tmp_path)) == "True"


# --- when an admin saves an endpoint ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_page_refuses_a_private_address_on_its_field_and_saves_nothing(
    client, public_only, dns, policy_admin, marketplace
):
    dns.answer(NAME, "10.0.0.5")
    client.force_login(policy_admin)
    for url in ["https://169.254.169.254/latest/meta-data/", f"https://{NAME}/hooks"]:
        response = client.post(
            reverse("backoffice:webhook-endpoint-create"), {"marketplace": marketplace.pk, "url": url}
        )
        assert response.status_code == 200
        assert b'data-field="url"' in response.content
        assert PRIVATE_MESSAGE.encode() in response.content
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_ENDPOINT_CREATED).exists()


@pytest.mark.postgres
def test_changing_the_address_to_a_private_one_is_refused_and_changes_nothing(
    client, public_only, dns, policy_admin, marketplace
):
    dns.answer(NAME, "93.184.216.34")
    endpoint, _secret = webhooks.create_endpoint(actor=policy_admin, marketplace=marketplace, url=f"https://{NAME}/h")
    client.force_login(policy_admin)

    response = client.post(reverse("backoffice:webhook-endpoint-url", args=[endpoint.pk]), {"url": "https://[::1]/h"})

    assert response.status_code == 400
    assert PRIVATE_MESSAGE.encode() in response.content
    endpoint.refresh_from_db()
    assert endpoint.url == f"https://{NAME}/h"
    assert not AuditEvent.objects.filter(verb=AuditVerb.WEBHOOK_ENDPOINT_EDITED).exists()


# --- at send time ----------------------------------------------------------------------------------------------


@pytest.fixture
def named_endpoint(public_only, dns, policy_admin, marketplace, receiver):
    """The marketplace's endpoint at a name that resolved to a public address when it was saved, on the
    receiver's port, with one event waiting."""
    port = receiver.url.split(":")[2].split("/")[0]
    dns.answer(NAME, "93.184.216.34")
    endpoint, _secret = webhooks.create_endpoint(
        actor=policy_admin, marketplace=marketplace, url=f"http://{NAME}:{port}/hooks/marketplace"
    )
    write_events([EventDraft(marketplace.pk, OutboxEvent.Type.LISTINGS_DELISTED, "listing:1", {"listing_ids": [1]})])
    return endpoint


@pytest.mark.postgres
def test_a_name_that_now_resolves_to_a_private_address_gets_nothing_and_the_attempt_fails(
    dns, named_endpoint, receiver
):
    dns.answer(NAME, "127.0.0.1")  # rebound: the receiver listens there, and hears nothing

    run = webhooks.deliver_to_endpoint(endpoint_id=named_endpoint.pk)

    assert (run.sent, run.delivered, run.failed) == (1, 0, 1)
    assert run.retry_at is not None  # a failed attempt like any other: tried again later
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error == REFUSED_PRIVATE == "refused: the address resolves to a private network"
    assert receiver.requests == []
    named_endpoint.refresh_from_db()
    assert named_endpoint.consecutive_failures == 1


@pytest.mark.postgres
def test_a_name_that_no_longer_resolves_is_a_failed_attempt(dns, named_endpoint):
    del dns.answers[NAME]

    run = webhooks.deliver_to_endpoint(endpoint_id=named_endpoint.pk)

    assert run.failed == 1
    assert WebhookDelivery.objects.get().last_error.startswith(f"{REFUSED_UNRESOLVED} (")
    assert REFUSED_UNRESOLVED == "the host name does not resolve"


@pytest.mark.postgres
def test_the_sender_connects_to_the_addresses_it_checked_without_asking_again(dns, named_endpoint, monkeypatch):
    """DNS rebinding: a second lookup, made by the connection, could answer 127.0.0.1; there is none."""
    connected: list = []

    def connect_to(found, timeout):
        connected.append([sockaddr[0] for *_rest, sockaddr in found])
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(webhook_addresses, "connect_to", connect_to)
    dns.asked.clear()

    webhooks.deliver_to_endpoint(endpoint_id=named_endpoint.pk)

    assert dns.asked == [NAME]
    assert connected == [["93.184.216.34"]]
    assert WebhookDelivery.objects.get().last_error == "ConnectionRefusedError: [Errno 111] Connection refused"


@pytest.mark.postgres
def test_with_the_setting_on_a_name_resolving_to_the_loopback_is_delivered_there_named_in_its_host_header(
    dns, named_endpoint, receiver, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    dns.answer(NAME, "127.0.0.1")

    run = webhooks.deliver_to_endpoint(endpoint_id=named_endpoint.pk)

    assert run.delivered == 1
    [request] = receiver.requests
    assert request.headers["host"].startswith(f"{NAME}:")
