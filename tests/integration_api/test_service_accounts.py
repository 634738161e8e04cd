"""Service accounts: created and revoked by a policy admin in the back office, the key shown once, all audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from knox.crypto import hash_token

from moderation.models import AuditEvent, AuditVerb
from sellers.integration.accounts import (
    SERVICE_KEYS_IN_FORCE,
    create_service_account,
    issue_service_key,
    revoke_service_account,
    revoke_service_key,
)
from sellers.models import MarketplaceServiceAccount, MarketplaceServiceKey
from tests.integration_api.conftest import key_client

pytestmark = pytest.mark.django_db


def page(marketplace) -> str:
    return reverse("backoffice:integration-marketplace", args=[marketplace.pk])


def test_creating_an_account_keeps_only_the_keys_digest_and_audits_it(policy_admin, marketplace):
    account, row, key = create_service_account(actor=policy_admin, marketplace=marketplace, name="  Catalog sync ")
    assert key.startswith("mk_") and row.digest == hash_token(key) and key not in row.token_key + row.digest
    assert (account.name, account.user.username, account.created_by) == (
        "Catalog sync",
        "svc:alibaba:catalog-sync",
        policy_admin,
    )
    event = AuditEvent.objects.get(verb=AuditVerb.SERVICE_ACCOUNT_CREATED)
    assert (event.actor, event.target_id) == (policy_admin, account.pk)
    assert event.after["key"] == str(row.public_id) and key not in str(event.after)


def test_names_are_checked_and_unique_among_accounts_in_force(policy_admin, marketplace, other_marketplace):
    create_service_account(actor=policy_admin, marketplace=marketplace, name="Catalog sync")
    for name, field in [("Catalog sync", "name"), ("", "name"), ("sync\u202e", "name"), ("x" * 101, "name")]:
        with pytest.raises(ValidationError) as refused:
            create_service_account(actor=policy_admin, marketplace=marketplace, name=name)
        assert set(refused.value.message_dict) == {field}
    # Another marketplace may use it; so may this one once the first is revoked.
    create_service_account(actor=policy_admin, marketplace=other_marketplace, name="Catalog sync")
    revoke_service_account(actor=policy_admin, account=MarketplaceServiceAccount.objects.get(marketplace=marketplace))
    again, _row, _key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Catalog sync")
    assert again.user.username == "svc:alibaba:catalog-sync-2"


def test_only_a_policy_admin_creates_or_revokes(moderator, senior, marketplace, policy_admin):
    for person in (moderator, senior):
        with pytest.raises(ValidationError):
            create_service_account(actor=person, marketplace=marketplace, name="Catalog sync")
    account, _row, _key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Catalog sync")
    with pytest.raises(ValidationError):
        revoke_service_account(actor=moderator, account=account)
    assert not MarketplaceServiceAccount.objects.get().is_revoked


def test_a_key_rollover_and_revocations_are_audited(policy_admin, marketplace, graphics_cards):
    account, first, first_key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Sync")
    second, second_key = issue_service_key(actor=policy_admin, account=account)
    assert key_client(second_key).get("/api/v1/integration/policies").status_code == 200
    revoke_service_key(actor=policy_admin, account=account, key_id=first.public_id)
    assert key_client(first_key).get("/api/v1/integration/policies").status_code == 401
    assert key_client(second_key).get("/api/v1/integration/policies").status_code == 200
    for _ in range(SERVICE_KEYS_IN_FORCE - 1):
        issue_service_key(actor=policy_admin, account=account)
    with pytest.raises(ValidationError):
        issue_service_key(actor=policy_admin, account=account)
    assert revoke_service_account(actor=policy_admin, account=account, reason="Replaced by the new sync.")
    assert not revoke_service_account(actor=policy_admin, account=account)  # once only
    assert not MarketplaceServiceKey.objects.exists()
    with pytest.raises(ValidationError):
        issue_service_key(actor=policy_admin, account=account)
    verbs = list(
        AuditEvent.objects.filter(target_id=account.pk, verb__gte=420, verb__lte=429).values_list("verb", flat=True)
    )
    assert sorted(verbs) == [420, 421, 421, 421, 422, 423]
    revoked = AuditEvent.objects.get(verb=AuditVerb.SERVICE_ACCOUNT_REVOKED)
    assert revoked.reason == "Replaced by the new sync." and len(revoked.before["keys"]) == SERVICE_KEYS_IN_FORCE


def test_the_page_creates_an_account_and_shows_its_key_once(client, policy_admin, marketplace):
    client.force_login(policy_admin)
    assert client.get(reverse("backoffice:integration-index")).status_code == 200
    created = client.post(page(marketplace), {"name": "Catalog sync"})
    assert created.status_code == 200 and created["Cache-Control"].startswith("max-age=0")
    key = created.context["new_key"]
    assert key.startswith("mk_") and key in created.content.decode()
    shown = client.get(page(marketplace)).content.decode()
    assert "Catalog sync" in shown and key not in shown
    account = MarketplaceServiceAccount.objects.get()
    renewed = client.post(reverse("backoffice:integration-key-issue", args=[marketplace.pk, account.pk]))
    assert renewed.context["new_key"] != key and renewed.context["new_key"] in renewed.content.decode()
    refused = client.post(page(marketplace), {"name": "\x00"})
    assert refused.status_code == 200 and refused.context["name_errors"]
    revoke = reverse("backoffice:integration-account-revoke", args=[marketplace.pk, account.pk])
    assert client.post(revoke, {"reason": "Gone"}).status_code == 302  # unconfirmed: nothing happens
    assert not MarketplaceServiceAccount.objects.get().is_revoked
    assert client.post(revoke, {"confirm": "yes", "reason": "bad\x00"}).status_code == 302
    assert not MarketplaceServiceAccount.objects.get().is_revoked
    assert client.post(revoke, {"confirm": "yes", "reason": "Gone"}).status_code == 302
    assert MarketplaceServiceAccount.objects.get().is_revoked


def test_the_pages_are_for_policy_admins_and_another_marketplaces_account_is_404(
    client, moderator, senior, merchant_user_a, policy_admin, marketplace, other_marketplace
):
    account, row, _key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Sync")
    urls = [
        reverse("backoffice:integration-index"),
        page(marketplace),
    ]
    posts = [
        reverse("backoffice:integration-key-issue", args=[marketplace.pk, account.pk]),
        reverse("backoffice:integration-key-revoke", args=[marketplace.pk, account.pk, row.public_id]),
        reverse("backoffice:integration-account-revoke", args=[marketplace.pk, account.pk]),
    ]
    assert client.get(urls[0]).status_code == 302  # anonymous: to the sign-in page
    for person in (moderator, senior, merchant_user_a):
        client.force_login(person)
        assert [client.get(url).status_code for url in urls] == [403, 403]
        assert [client.post(url, {"confirm": "yes"}).status_code for url in posts] == [403, 403, 403]
    client.force_login(policy_admin)
    elsewhere = [
        reverse("backoffice:integration-key-issue", args=[other_marketplace.pk, account.pk]),
        reverse("backoffice:integration-key-revoke", args=[other_marketplace.pk, account.pk, row.public_id]),
        reverse("backoffice:integration-account-revoke", args=[other_marketplace.pk, account.pk]),
    ]
    assert [client.post(url, {"confirm": "yes"}).status_code for url in elsewhere] == [404, 404, 404]
    assert client.get(page(other_marketplace)).status_code == 200
    assert client.get(reverse("backoffice:integration-marketplace", args=[999_999])).status_code == 404
    assert MarketplaceServiceKey.objects.count() == 1 and not MarketplaceServiceAccount.objects.get().is_revoked
