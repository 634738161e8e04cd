"""The README's "A marketplace plugs in" section, run as written on a freshly seeded demo.

Its curl commands are read from the README (one shell block; a JSON body may span lines), sent
through the test client with a real service key of the demo's Alibaba.com, and each must answer
as the section says. The Python receiver is checked against a real delivery's signed body.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from sellers.integration.accounts import create_service_account
from sellers.models import Listing, Marketplace, Merchant
from tests.conftest import ROOT
from tests.test_readme_examples import HOST, seed_fresh_demo

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## A marketplace plugs in", 1)[1].split("\n## ", 1)[0]


def section_curl_commands() -> list[list[str]]:
    """Each ``curl`` of the section's shell block, as words (the shell's quoting, its comments dropped)."""
    block = re.search(r"```sh\n(.*?)```", SECTION, flags=re.S).group(1)
    commands: list[list[str]] = []
    for word in shlex.split(block.replace("\\\n", " "), comments=True):  # continuation lines joined
        if word == "curl":
            commands.append([])
        elif commands:
            commands[-1].append(word)
    return commands


def run_curl(client: APIClient, words: list[str], *, key: str):
    """What curl would send: -X the method, -H the headers, -d the body; -s changes nothing sent."""
    method, headers, body, url = "GET", {}, None, None
    words = iter(words)
    for word in words:
        if word == "-s":
            continue
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(": ")
            headers[name] = value.replace("$KEY", key)
        elif word == "-d":
            body = next(words)
            method = "POST" if method == "GET" else method
        else:
            assert word.startswith(HOST), f"an option this runner does not know: {word}"
            url = word.removeprefix(HOST)
    extra = {name: value for name, value in headers.items() if name != "Content-Type"}
    if method == "GET":
        return client.get(url, headers=extra)
    assert headers.get("Content-Type") == "application/json"
    return client.post(url, data=body, content_type="application/json", headers=extra)


@pytest.mark.database_owner
def test_the_readme_integration_examples_answer_as_it_says_on_the_demo(db):
    seed_fresh_demo()
    alibaba = Marketplace.objects.get(code="alibaba")
    _account, _key_row, key = create_service_account(
        actor=User.objects.get(username="policyadmin"), marketplace=alibaba, name="catalog sync"
    )
    assert "KEY=mk_" in SECTION and key.startswith("mk_")  # as the README writes it
    commands = section_curl_commands()
    assert [next(w for w in c if w.startswith(HOST)).removeprefix(HOST) for c in commands] == [
        "/api/v1/integration/listings/batch",
        "/api/v1/integration/check",
        "/api/v1/integration/categories/retired",
        "/api/v1/integration/policies",
    ]
    client = APIClient()

    synced = run_curl(client, commands[0], key=key)
    assert synced.status_code == 200, synced.content
    assert [row["result"] for row in synced.json()["results"]] == ["applied", "applied"]
    merchant = Merchant.objects.get(marketplace=alibaba, external_id="M-1")
    assert Listing.objects.get(merchant=merchant, external_id="L-1").title == "RTX 4070 12GB"
    # The same batch again changes nothing: every event is ignored.
    again = run_curl(client, commands[0], key=key).json()
    assert {row["result"] for row in again["results"]} == {"ignored"}

    checked = run_curl(client, commands[1], key=key)
    assert checked.status_code == 200, checked.content
    answer = checked.json()
    assert answer["decision"] in {"allow", "refuse"} and answer["id"]
    if answer["decision"] == "refuse":  # once the ban is in force: named, never its rules' terms
        assert answer["policy"]["slug"] == "virtual-currency-mining" and "antminer" not in answer["message"].lower()

    for words in commands[2:]:
        listed = run_curl(client, words, key=key)
        assert listed.status_code == 200, (words, listed.content)


def test_the_readme_webhook_receiver_verifies_a_signed_delivery():
    """The section's Python receiver: ``Webhook(secret).verify(body, headers)`` takes what we send."""
    assert "Webhook(SIGNING_SECRET).verify(request.body, request.headers)" in SECTION
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"listings.delisted","timestamp":"2021-10-08T00:00:00Z","data":{"listing_ids":[1]}}'
    signer = Webhook(secret)
    at = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign("msg_1", at, body.decode()),
    }
    assert Webhook(secret).verify(body, headers)["data"]["listing_ids"] == [1]
