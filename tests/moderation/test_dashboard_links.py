"""No dead ends: each dashboard tile that counts something links to the list of what it counts."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from moderation.models import Appeal
from moderation.services.appeals import file_appeal
from tests.moderation.sanctions_fixtures import *  # noqa: F403

QUEUE_ROW = re.compile(r'<tr data-href="/backoffice/queue/(\d+)/"')
APPEAL_ROW = re.compile(r'<td><a href="/backoffice/appeals/(\d+)/">')
MERCHANT_ROW = re.compile(r'<td><a href="/backoffice/merchants/(\d+)/">#\d+</a></td>')


def tile_link(html: str, name: str) -> str | None:
    tag = re.search(rf'<a [^>]*data-tile="{name}"[^>]*>', html)
    return unescape(re.search(r'href="([^"]+)"', tag.group(0)).group(1)) if tag else None


def figure(html: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">([^<]*)<', html).group(1)


@pytest.fixture
def day_of_work(
    travel,
    announced_policy,
    merchant_a,
    merchant_b,
    merchant_c,
    merchant_user_a,
    take_down,
    open_item,
    make_listing,
    miners,
):
    """Two open items, one of them past due; one take-down appealed (open); one decided item."""
    travel.to(timezone.now() - timedelta(hours=announced_policy.review_due_hours + 24))
    late = open_item(make_listing(merchant_b, miners, title="Antminer S9, past due"))
    travel.back()
    fresh = open_item(make_listing(merchant_a, miners, title="Antminer L7, fresh"))
    violation = take_down(merchant_a)
    appeal = file_appeal(
        actor=merchant_user_a,
        merchant=merchant_a,
        kind=Appeal.Kind.VIOLATION,
        object_id=violation.pk,
        grounds="This is a graphics card, not a mining machine.",
    )
    return {"late": late, "fresh": fresh, "appeal": appeal}


@pytest.fixture
def dashboard(client, senior, day_of_work):
    client.force_login(senior)
    response = client.get("/backoffice/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_queue_tile_opens_the_open_items_it_counts(client, dashboard, day_of_work):
    listed = QUEUE_ROW.findall(client.get(tile_link(dashboard, "queue")).content.decode())
    assert figure(dashboard, "queue") == "2"
    assert sorted(map(int, listed)) == sorted([day_of_work["late"].pk, day_of_work["fresh"].pk])


def test_the_oldest_item_tile_opens_the_queue_oldest_first(client, dashboard, day_of_work):
    listed = QUEUE_ROW.findall(client.get(tile_link(dashboard, "oldest")).content.decode())
    assert [int(pk) for pk in listed] == [day_of_work["late"].pk, day_of_work["fresh"].pk]


def test_the_past_due_tile_opens_only_the_items_past_due(client, dashboard, day_of_work):
    html = client.get(tile_link(dashboard, "past-due")).content.decode()
    assert figure(dashboard, "past-due") == "1"
    assert [int(pk) for pk in QUEUE_ROW.findall(html)] == [day_of_work["late"].pk]


def test_the_appeals_tiles_open_the_appeals_they_count(client, dashboard, day_of_work):
    assert figure(dashboard, "appeals") == "1 / 0"
    filed = client.get(tile_link(dashboard, "appeals")).content.decode()
    assert [int(pk) for pk in APPEAL_ROW.findall(filed)] == [day_of_work["appeal"].pk]
    assert figure(dashboard, "appeals-open") == "1"
    still_open = client.get(tile_link(dashboard, "appeals-open")).content.decode()
    assert [int(pk) for pk in APPEAL_ROW.findall(still_open)] == [day_of_work["appeal"].pk]


def test_the_catalogs_merchant_counts_open_the_marketplaces_merchants(
    client,
    dashboard,
    marketplace,
    merchant_a,
    merchant_b,
    merchant_c,
):
    links = re.findall(r'<a href="([^"]+)" data-tile="merchants">(\d+)</a>', dashboard)
    assert len(links) == 2  # Alibaba.com and AliExpress
    seen = {}
    for href, count in links:
        listed = MERCHANT_ROW.findall(client.get(unescape(href)).content.decode())
        assert len(listed) == int(count)
        seen.update(dict.fromkeys(map(int, listed), href))
    assert seen[merchant_a.pk] == seen[merchant_b.pk] == f"/backoffice/merchants/?marketplace={marketplace.pk}"
    assert seen[merchant_c.pk] != seen[merchant_a.pk]


def test_the_removals_chart_opens_the_removals(client, dashboard):
    response = client.get(tile_link(dashboard, "removals"))
    assert response.status_code == 200
    assert "<h1>" in response.content.decode()


def test_a_policy_admin_gets_no_link_to_pages_it_cannot_open(client, policy_admin, day_of_work):
    client.force_login(policy_admin)
    html = client.get("/backoffice/").content.decode()
    assert figure(html, "queue") == "2"  # the figure is still there
    for name in ("queue", "oldest", "past-due", "appeals", "appeals-open"):
        assert tile_link(html, name) is None, name
    assert client.get(tile_link(html, "removals")).status_code == 200
    assert 'data-tile="merchants"' in html
