"""Bulk decisions across pages ("select all N matching items"), and a refused bulk decision that keeps its selection."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from moderation.models import AuditEvent, ReviewItem
from moderation.services import queue
from tests.moderation.conftest import other_moderator  # noqa: F401 - a fixture
from tests.moderation.test_queue_views import long_queue, messages_of  # noqa: F401 - a fixture

QUEUE = reverse("backoffice:queue")
BULK = reverse("backoffice:queue-bulk")
HIDDEN_ITEM = re.compile(r'<input type="hidden" name="items" value="(\d+)">')


@pytest.fixture
def as_moderator(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def small_pages(settings):
    settings.REVIEW_QUEUE_PAGE_SIZE = 5
    return settings


def review_all(client, filters: str, decision: str = "taken_down", **extra):
    data = {"select_all": "1", "filters": filters, "decision": decision, "step": "review", "back": QUEUE, **extra}
    return client.post(BULK, data)


def reviewed_ids(response) -> list[int]:
    assert response.status_code == 200, response
    return [int(pk) for pk in HIDDEN_ITEM.findall(response.content.decode())]


def ticked_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="items" value="(\d+)" checked', html)]


# --- the offer on the queue page -------------------------------------------------------------------


def test_the_queue_offers_every_matching_item_when_they_span_pages(as_moderator, small_pages, long_queue):  # noqa: F811
    long_queue(12)
    html = as_moderator.get(QUEUE).content.decode()
    assert '<input type="checkbox" name="select_all" value="1" id="select-all-matching">' in html
    assert "Select all 12 items these filters select" in html
    assert 'data-matching="12"' in html
    narrowed = as_moderator.get(QUEUE, {"q": "lot 11"}).content.decode()  # one item: the page says it all
    assert "select-all-matching" not in narrowed


def test_past_the_limit_the_offer_says_more_than(as_moderator, small_pages, long_queue):  # noqa: F811
    small_pages.BULK_DECISION_LIMIT = 10
    long_queue(12)
    html = as_moderator.get(QUEUE, {"page": 2}).content.decode()
    assert "Select the first 10 of the more than 10 items these filters select" in html
    assert 'data-matching="10"' in html


def test_all_statuses_are_counted_once_and_decided_items_are_not_offered(
    as_moderator,
    moderator,
    small_pages,
    long_queue,  # noqa: F811
):
    ordered = long_queue(12)
    for pk in ordered[:8]:
        queue.dismiss_item(actor=moderator, item=ReviewItem.objects.get(pk=pk), reason="Posters.")
    everything = as_moderator.get(QUEUE, {"status": "all"}).content.decode()
    assert "Select all 4 items these filters select" in everything  # the decided ones are not decidable
    decided = as_moderator.get(QUEUE, {"status": "decided"}).content.decode()
    assert "select-all-matching" not in decided


# --- resolving "all" -------------------------------------------------------------------------------


def test_select_all_resolves_the_filters_within_what_the_moderator_may_see(
    as_moderator,
    moderator,
    other_moderator,  # noqa: F811
    senior,
    long_queue,  # noqa: F811
):
    ordered = long_queue(12)
    escalated = ordered[:2]
    for pk in escalated:
        queue.escalate_item(actor=other_moderator, item=ReviewItem.objects.get(pk=pk), note="Unclear.")
    queue.dismiss_item(actor=other_moderator, item=ReviewItem.objects.get(pk=ordered[2]), reason="A poster.")
    before = AuditEvent.objects.count()

    response = review_all(as_moderator, "status=open")
    ids = reviewed_ids(response)
    assert sorted(ids) == sorted(ordered[3:])
    html = response.content.decode()
    assert "You are about to take down 9 items." in html
    assert "Take down 9 items" in html
    assert AuditEvent.objects.count() == before  # the review decides nothing

    seniors = Client()
    seniors.force_login(senior)
    assert sorted(reviewed_ids(review_all(seniors, "status=open"))) == sorted(escalated + ordered[3:])


def test_select_all_takes_the_filters_as_the_queue_reads_them_and_nothing_else(as_moderator, long_queue):  # noqa: F811
    ordered = long_queue(12)
    titles = dict(ReviewItem.objects.values_list("pk", "listing__title"))
    ids = reviewed_ids(review_all(as_moderator, "q=Hashpower&page=2&evil=1&status=open"))  # merchant A's: odd lots
    assert sorted(titles[pk] for pk in ids) == sorted(f"Antminer S19 lot {n}" for n in range(1, 12, 2))
    # Filters that are not the queue's are dropped, not obeyed: every item, not an error.
    assert sorted(reviewed_ids(review_all(as_moderator, "id__in=1&pk=1"))) == sorted(ordered)


def test_select_all_takes_at_most_the_limit_in_the_queue_order_and_says_so(
    as_moderator,
    settings,
    long_queue,  # noqa: F811
):
    settings.BULK_DECISION_LIMIT = 5
    ordered = long_queue(12)
    response = review_all(as_moderator, "")
    assert sorted(reviewed_ids(response)) == sorted(ordered[:5])
    html = response.content.decode()
    assert "You are about to take down 5 items." in html
    assert "More than 5 items match these filters" in html


def test_the_confirmation_says_one_item_in_the_singular(as_moderator, long_queue):  # noqa: F811
    long_queue(1)
    html = review_all(as_moderator, "", decision="dismissed", reason="A poster.").content.decode()
    assert "You are about to dismiss 1 item." in html


def test_confirm_decides_exactly_the_reviewed_items_not_those_that_arrived_since(
    as_moderator,
    moderator,
    long_queue,  # noqa: F811
    open_item,
    make_listing,
    merchant_b,
    miners,
):
    ordered = long_queue(7)
    ids = reviewed_ids(review_all(as_moderator, "status=open", decision="dismissed", reason="Posters."))
    newcomer = open_item(make_listing(merchant_b, miners, title="Antminer S19 arrived later"), score=99)
    confirm = {"items": ids, "decision": "dismissed", "reason": "Posters.", "step": "confirm"}
    response = as_moderator.post(BULK, {**confirm, "back": f"{QUEUE}?status=open"})
    assert response["Location"] == f"{QUEUE}?status=open"
    assert messages_of(response) == ["7 of 7 items decided."]
    assert set(ReviewItem.objects.filter(decision="dismissed").values_list("pk", flat=True)) == set(ordered)
    newcomer.refresh_from_db()
    assert newcomer.status == ReviewItem.Status.OPEN


def test_confirm_reports_each_item_claimed_or_decided_meanwhile(
    as_moderator,
    moderator,
    other_moderator,  # noqa: F811
    long_queue,  # noqa: F811
):
    ordered = long_queue(4)
    ids = reviewed_ids(review_all(as_moderator, "", decision="dismissed", reason="Posters."))
    queue.claim_item(actor=other_moderator, item=ReviewItem.objects.get(pk=ordered[0]))
    queue.dismiss_item(actor=other_moderator, item=ReviewItem.objects.get(pk=ordered[1]), reason="Seen.")
    response = as_moderator.post(BULK, {"items": ids, "decision": "dismissed", "reason": "Posters.", "step": "confirm"})
    found = messages_of(response)
    assert found[0] == "2 of 4 items decided."
    assert f"Item #{ordered[0]}: moderator-2 is working on this item" in " ".join(found)
    assert f"Item #{ordered[1]}: This item has been decided already." in found


def test_select_all_with_nothing_left_to_decide_is_refused_on_the_page(as_moderator, db):
    response = review_all(as_moderator, "status=open", back=f"{QUEUE}?status=open")
    assert response["Location"] == f"{QUEUE}?status=open"
    html = as_moderator.get(response["Location"]).content.decode()
    assert re.search(r'id="bulk-items-error" role="alert">No item these filters select is left to decide\.', html)


# --- a refused bulk decision keeps the selection ----------------------------------------------------


def test_a_refused_dismissal_goes_back_to_the_same_page_with_the_same_boxes_ticked(
    as_moderator,
    small_pages,
    long_queue,  # noqa: F811
):
    ordered = long_queue(12)
    back = f"{QUEUE}?source=detection&page=2"
    page = as_moderator.get(back).content.decode()
    assert f'<input type="hidden" name="back" value="{QUEUE}?source=detection&amp;page=2">' in page
    on_page = ordered[5:10]
    chosen = on_page[1:3]
    before = AuditEvent.objects.count()
    response = as_moderator.post(
        BULK, {"items": chosen, "decision": "dismissed", "reason": "  ", "step": "review", "back": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    html = as_moderator.get(back).content.decode()
    assert ticked_ids(html) == chosen
    assert '<span id="selected-count">2</span> selected' in html
    assert 'aria-invalid="true" aria-describedby="bulk-reason-error"' in html
    assert re.search(r'id="bulk-reason-error" role="alert">Reason: Say why these are not violations\.', html)
    assert 'id="bulk-items-error"' not in html  # the one error, once, by its field
    assert AuditEvent.objects.count() == before
    assert ticked_ids(as_moderator.get(back).content.decode()) == []  # shown once; a reload starts afresh


def test_a_refused_take_down_keeps_the_decision_and_what_was_typed(as_moderator, small_pages, long_queue):  # noqa: F811
    ordered = long_queue(3)
    response = as_moderator.post(
        BULK,
        {"items": ordered[:2] + ["12abc"], "decision": "taken_down", "reason": "Miners <b>", "step": "review"},
    )
    html = as_moderator.get(response["Location"]).content.decode()
    assert ticked_ids(html) == ordered[:2]  # what is not an item number is not echoed back
    assert '<option value="taken_down" selected>' in html
    assert 'value="Miners &lt;b&gt;"' in html
    assert re.search(r'id="bulk-items-error" role="alert">Items are named by their numbers\.', html)


def test_no_item_selected_is_said_by_the_button(as_moderator, long_queue):  # noqa: F811
    long_queue(2)
    response = as_moderator.post(BULK, {"decision": "taken_down", "step": "review", "back": QUEUE})
    html = as_moderator.get(response["Location"]).content.decode()
    assert 'aria-describedby="bulk-items-error"' in html
    assert re.search(r'id="bulk-items-error" role="alert">Select at least one item\.', html)


def test_a_refused_select_all_comes_back_selected(as_moderator, small_pages, long_queue):  # noqa: F811
    ordered = long_queue(12)
    response = as_moderator.post(
        BULK,
        {"items": ordered[:5], "select_all": "1", "filters": "", "decision": "dismissed", "step": "review"},
    )
    html = as_moderator.get(response["Location"]).content.decode()
    assert 'id="select-all-matching" checked' in html
    assert ticked_ids(html) == ordered[:5]


def test_more_items_than_the_limit_are_refused(as_moderator, settings, long_queue):  # noqa: F811
    settings.BULK_DECISION_LIMIT = 3
    ordered = long_queue(5)
    response = as_moderator.post(BULK, {"items": ordered, "decision": "taken_down", "step": "review"})
    html = as_moderator.get(response["Location"]).content.decode()
    assert "At most 3 items can be decided at once." in html
    assert ticked_ids(html) == ordered[:3]  # the echo is bounded by the limit too


@pytest.mark.parametrize(
    "back",
    ["https://evil.example/phish", "//evil.example/x", "/backoffice/audit/", "/backoffice/queue/../audit/", "x" * 5000],
)
def test_a_refusal_only_ever_goes_back_to_the_queue(as_moderator, db, back):
    response = as_moderator.post(BULK, {"decision": "taken_down", "step": "review", "back": back})
    assert response["Location"] == QUEUE
