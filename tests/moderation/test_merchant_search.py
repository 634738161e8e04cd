"""The Merchants page opens on every merchant and searches them by name, company, contact e-mail or #id."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sellers import services as catalog

MERCHANT_LINK = re.compile(r'<td><a href="/backoffice/merchants/(\d+)/">#\d+</a></td>')
URL = "/backoffice/merchants/"


def listed(response) -> list[int]:
    assert response.status_code == 200
    return [int(pk) for pk in MERCHANT_LINK.findall(response.content.decode())]


@pytest.fixture
def four(merchant_a, merchant_b, merchant_c, merchant_d):
    """A, B and D on Alibaba.com, C on AliExpress; all active."""
    return {"a": merchant_a, "b": merchant_b, "c": merchant_c, "d": merchant_d}


def by_store_name(*merchants) -> list[int]:
    return [m.pk for m in sorted(merchants, key=lambda m: (m.store_name, m.pk))]


def test_it_opens_on_every_merchant_not_only_the_restricted_ones(client, moderator, four):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:merchant-index"))
    assert listed(response) == by_store_name(*four.values())
    assert "No merchant is restricted." not in response.content.decode()


def test_a_policy_admin_sees_every_merchant_too(client, policy_admin, four):
    client.force_login(policy_admin)
    assert listed(client.get(URL)) == by_store_name(*four.values())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sales@hashpower.example", "a"),  # the whole contact e-mail
        ("GADGETS.EXAMPLE", "b"),  # part of it, any case
        ("@outlet", "c"),
        ("Former Miner Shop Co.", "d"),  # company name
        ("hashpower", "a"),  # store name
        ("nobody@nowhere.example", ""),
    ],
)
def test_it_searches_store_company_and_contact_e_mail(client, moderator, four, query, expected):
    client.force_login(moderator)
    response = client.get(URL, {"q": query})
    assert listed(response) == by_store_name(*(four[name] for name in expected))
    if not expected:
        assert "No merchant matches." in response.content.decode()


def test_the_search_keeps_what_was_typed_in_the_box(client, moderator, four):
    client.force_login(moderator)
    html = client.get(URL, {"q": "gadgets.example"}).content.decode()
    assert 'name="q" value="gadgets.example"' in html


def test_it_narrows_to_one_marketplace(client, moderator, four, other_marketplace):
    client.force_login(moderator)
    assert listed(client.get(URL, {"marketplace": other_marketplace.pk})) == [four["c"].pk]
    assert listed(client.get(URL, {"marketplace": other_marketplace.pk, "q": "hashpower"})) == []


def test_a_search_with_a_nul_character_is_refused_by_the_form_not_the_database(client, moderator, four):
    client.force_login(moderator)
    response = client.get(URL, {"q": "hash\x00power"})
    assert listed(response) == by_store_name(*four.values())  # the refused field is left out
    assert 'data-field="q"' in response.content.decode()


def test_the_next_page_keeps_the_search(client, moderator, system, marketplace):
    for n in range(55):
        catalog.register_merchant(
            actor=system,
            marketplace=marketplace,
            store_name=f"Mining Store {n:02}",
            company_name=f"Mining Store {n:02} Ltd.",
            country="CN",
            contact_email=f"store{n:02}@mining.example",
        )
    client.force_login(moderator)
    first = client.get(URL, {"q": "@mining.example"})
    assert len(listed(first)) == 50
    html = first.content.decode()
    assert "Page 1 of 2" in html and 'href="?q=%40mining.example&amp;page=2"' in html
    second = client.get(URL, {"q": "@mining.example", "page": 2})
    assert len(listed(second)) == 5


def test_a_merchant_user_cannot_search_merchants(client, merchant_user_a, four):
    client.force_login(merchant_user_a)
    assert client.get(URL, {"q": "gadget"}).status_code == 403
