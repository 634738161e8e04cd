"""The moderators' queue pages: who may open them, filters, paging, deciding, bulk, CSRF, hostile titles."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from moderation.models import AuditEvent, Notice, ReviewItem, ReviewNote, Violation
from moderation.services import queue
from moderation.services.policies import ClauseText, announce_policy, create_policy
from moderation.services.queue import Detection, open_review_items
from moderation.services.scanning import scan_listings
from sellers import services as catalog
from sellers.models import Listing
from tests.moderation.conftest import ANNOUNCED, EFFECTIVE, ENFORCEMENT, IN_GRACE

# Where "antminer" matched in the default title, and an empty list for the description.
# An item's page needs both keys until the template bug below is fixed.
SPANS = {"title": [[0, 8, "antminer"]], "description": []}

TAKE_DOWN = {"kind": "prohibited_listing"}

ROW = re.compile(r'<tr data-href="/backoffice/queue/(\d+)/"')


def row_ids(response) -> list[int]:
    assert response.status_code == 200
    return [int(pk) for pk in ROW.findall(response.content.decode())]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def listing(merchant_b, miners, make_listing):
    return make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")


@pytest.fixture
def item(in_grace, open_item, listing):
    return open_item(listing, score=12, spans=SPANS)


@pytest.fixture
def open_with_spans(open_item):
    """``open_item`` with spans for the title and the description (see SPANS)."""

    def open_(listing, **kwargs):
        return open_item(listing, spans=SPANS, **kwargs)

    return open_


@pytest.fixture
def as_moderator(client, moderator):
    client.force_login(moderator)
    return client


# --- who may do what -----------------------------------------------------------------------

ROUTES = {
    # name: (method, url name, needs the item, form data, what a moderator gets)
    "queue": ("get", "backoffice:queue", False, {}, 200),
    "claim-next": ("post", "backoffice:queue-claim-next", False, {}, 302),
    "bulk": ("post", "backoffice:queue-bulk", False, {"decision": "taken_down", "step": "review"}, 200),
    "item": ("get", "backoffice:queue-item", True, {}, 200),
    "claim": ("post", "claim", True, {}, 302),
    "take-down": ("post", "take-down", True, {"kind": "prohibited_listing"}, 302),
    "dismiss": ("post", "dismiss", True, {"reason": "An ASIC shoe."}, 302),
    "escalate": ("post", "escalate", True, {"note": "Is this a miner?"}, 302),
    "note": ("post", "note", True, {"text": "Asked the seller."}, 302),
}


def route_url(name: str, item: ReviewItem) -> str:
    _method, url_name, needs_item, _data, _expected = ROUTES[name]
    if url_name.startswith("backoffice:"):
        return reverse(url_name, args=[item.pk] if needs_item else [])
    return reverse("backoffice:queue-item-action", args=[item.pk, url_name])


def call_route(client, name: str, item: ReviewItem):
    method, _url_name, _needs_item, data, _expected = ROUTES[name]
    data = {**data, "items": [item.pk]} if name == "bulk" else data
    return getattr(client, method)(route_url(name, item), data)


@pytest.mark.parametrize("route", list(ROUTES))
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, item, route):
    response = call_route(client, route, item)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={route_url(route, item)}"
    item.refresh_from_db()
    assert item.status == "open"


@pytest.mark.parametrize("person", ["merchant_user_a", "policy_admin"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_a_merchant_or_a_policy_admin_is_refused(client, item, route, person, request):
    client.force_login(request.getfixturevalue(person))
    before = AuditEvent.objects.count()
    assert call_route(client, route, item).status_code == 403
    item.refresh_from_db()
    assert (item.status, item.tier) == ("open", "moderator")
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("person", ["moderator", "senior"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_a_moderator_or_a_senior_may(client, item, route, person, request):
    client.force_login(request.getfixturevalue(person))
    response = call_route(client, route, item)
    assert response.status_code == ROUTES[route][4]


@pytest.mark.parametrize("route", [name for name, spec in ROUTES.items() if spec[0] == "post"])
def test_the_actions_answer_only_to_post(as_moderator, item, route):
    assert as_moderator.get(route_url(route, item)).status_code == 405


@pytest.fixture
def escalated(item, other_moderator):
    return queue.escalate_item(actor=other_moderator, item=item, note="Over to the seniors.")


@pytest.mark.parametrize("route", ["item", "claim", "take-down", "dismiss", "escalate", "note"])
def test_a_moderator_gets_404_for_a_senior_item_they_did_not_escalate(as_moderator, escalated, route):
    before = AuditEvent.objects.count()
    assert call_route(as_moderator, route, escalated).status_code == 404
    escalated.refresh_from_db()
    assert (escalated.status, escalated.tier) == ("open", "senior")
    assert AuditEvent.objects.count() == before


def test_the_moderator_who_escalated_still_sees_the_item_but_cannot_decide_it(client, other_moderator, escalated):
    client.force_login(other_moderator)
    response = client.get(reverse("backoffice:queue-item", args=[escalated.pk]))
    assert response.status_code == 200
    assert b'id="take-down-form"' not in response.content
    assert "Over to the seniors." in response.content.decode()
    response = client.post(reverse("backoffice:queue-item-action", args=[escalated.pk, "take-down"]), TAKE_DOWN)
    assert response.status_code == 302
    assert "only senior moderators" in " ".join(messages_of(response))
    assert not Violation.objects.exists()


def test_a_senior_sees_and_decides_an_escalated_item(client, senior, escalated):
    client.force_login(senior)
    page = client.get(reverse("backoffice:queue-item", args=[escalated.pk]))
    assert b'id="take-down-form"' in page.content
    assert escalated.pk in row_ids(client.get(reverse("backoffice:queue")))
    client.post(reverse("backoffice:queue-item-action", args=[escalated.pk, "take-down"]), TAKE_DOWN)
    assert Violation.objects.get().decided_by == senior


def test_the_queue_page_hides_the_senior_tier_from_moderators(
    as_moderator, escalated, open_with_spans, merchant_a, miners, make_listing
):
    other = open_with_spans(make_listing(merchant_a, miners, title="Antminer S9"))
    assert row_ids(as_moderator.get(reverse("backoffice:queue"))) == [other.pk]


# --- the queue page's filters --------------------------------------------------------------

T0 = IN_GRACE


@pytest.fixture
def currencies_policy(policy_admin, marketplace, other_marketplace):
    """A second policy on both marketplaces, with a 72-hour service level."""
    policy = create_policy(
        actor=policy_admin,
        slug="virtual-currencies",
        title="Virtual currencies",
        body="Virtual currencies are prohibited.",
        marketplaces=[marketplace, other_marketplace],
        clauses=[ClauseText(1, "Virtual currencies", "Bitcoin, Litecoin and the like.")],
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
        review_due_hours=72,
    )
    return announce_policy(actor=policy_admin, policy=policy, announced_at=ANNOUNCED)


@pytest.fixture
def varied_queue(
    travel,
    moderator,
    other_moderator,
    announced_policy,
    currencies_policy,
    merchant_a,
    merchant_b,
    merchant_c,
    miners,
    make_listing,
):
    """Six items opened over two days; the clock stops at T0 + 45 h.

    ====  =========  ====================  =====  ======  ===========  ==================
    name  opened     policy (due after)    score  source  merchant     state
    ====  =========  ====================  =====  ======  ===========  ==================
    a     T0         mining (24 h)         12     detect  B (Alibaba)  open, overdue
    b     T0 + 1 h   mining                40     report  A (Alibaba)  open, overdue
    c     T0 + 30 h  currencies (72 h)     25     detect  C (AliExp.)  open
    d     T0 + 40 h  currencies            18     detect  B            claimed by moderator
    e     T0 + 41 h  mining                30     detect  A            dismissed
    f     T0 + 42 h  mining                15     relist  B            claimed by moderator-2
    ====  =========  ====================  =====  ======  ===========  ==================
    """
    plan = [
        ("a", 0, announced_policy, 12, "detection", merchant_b),
        ("b", 1, announced_policy, 40, "report", merchant_a),
        ("c", 30, currencies_policy, 25, "detection", merchant_c),
        ("d", 40, currencies_policy, 18, "detection", merchant_b),
        ("e", 41, announced_policy, 30, "detection", merchant_a),
        ("f", 42, announced_policy, 15, "relist", merchant_b),
    ]
    items = {}
    for name, hours, policy, score, source, merchant in plan:
        travel.to(T0 + timedelta(hours=hours))
        listing = make_listing(merchant, miners, title=f"Antminer S19 ({name})")
        open_review_items(
            policy=policy, detections=[(listing, Detection(Decimal(score), ["antminer"], {}))], source=source
        )
        items[name] = ReviewItem.objects.get(listing=listing)
    travel.to(T0 + timedelta(hours=45))
    queue.claim_item(actor=moderator, item=items["d"])
    queue.dismiss_item(actor=moderator, item=items["e"], reason="A poster.")
    queue.claim_item(actor=other_moderator, item=items["f"])
    return {name: item.pk for name, item in items.items()}


SORT_BUG = ()  # the sort bug these cases caught is fixed; they stay as regression tests


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "bcdfa"),  # open and claimed, highest priority first
        ({"policy": "currencies"}, "cd"),
        ({"policy": "mining"}, "bfa"),
        ({"marketplace": "aliexpress"}, "c"),
        ({"source": "report"}, "b"),
        ({"source": "relist"}, "f"),
        ({"status": "claimed"}, "df"),
        ({"status": "decided"}, "e"),
        ({"status": "all"}, "becdfa"),
        ({"score_min": "15", "score_max": "25"}, "cdf"),
        ({"score_min": "30", "status": "all"}, "be"),
        ({"assigned": "me"}, "d"),
        ({"assigned": "unassigned"}, "bca"),
        ({"overdue": "true"}, "ba"),
        ({"overdue": "false"}, "cdf"),
        ({"created_after": "2021-10-11"}, "cdf"),
        ({"created_before": "2021-10-10"}, "ba"),
        ({"created_after": "2021-10-10", "created_before": "2021-10-10"}, "ba"),
        ({"sort": "-priority"}, "bcdfa"),
        ({"sort": "priority"}, "afdcb"),
        pytest.param({"sort": "age"}, "abcdf", marks=SORT_BUG),
        pytest.param({"sort": "-age"}, "fdcba", marks=SORT_BUG),
        pytest.param({"sort": "due"}, "abfcd", marks=SORT_BUG),
        pytest.param({"sort": "-due"}, "dcfba", marks=SORT_BUG),
        pytest.param({"policy": "mining", "sort": "age", "overdue": "true"}, "ab", marks=SORT_BUG),
    ],
)
def test_the_queue_filters_narrow_and_sort_the_rows(
    as_moderator, varied_queue, announced_policy, currencies_policy, other_marketplace, query, expected
):
    values = {
        "mining": str(announced_policy.pk),
        "currencies": str(currencies_policy.pk),
        "aliexpress": str(other_marketplace.pk),
    }
    params = {key: values.get(value, value) for key, value in query.items()}
    response = as_moderator.get(reverse("backoffice:queue"), params)
    assert row_ids(response) == [varied_queue[name] for name in expected]


def test_a_bad_filter_value_is_ignored_not_an_error(as_moderator, varied_queue):
    response = as_moderator.get(reverse("backoffice:queue"), {"score_min": "lots", "policy": "999", "page": "x"})
    assert len(row_ids(response)) == 5


def test_the_header_counts_open_claimed_overdue_and_the_oldest(as_moderator, varied_queue):
    response = as_moderator.get(reverse("backoffice:queue"))
    header = response.context["header"]
    assert (header["open"], header["claimed"], header["overdue"]) == (3, 2, 2)
    assert header["oldest"] == T0
    assert header["oldest_age"] == timedelta(hours=45)
    html = response.content.decode()
    assert re.search(r'data-figure="open">\s*3 unclaimed<', html)
    assert re.search(r'data-figure="claimed">\s*2 claimed<', html)
    assert re.search(r'data-figure="overdue">\s*2 past due<', html)
    assert 'data-figure="oldest">oldest open: none<' not in html


def test_the_header_of_an_empty_queue_says_so(as_moderator, db):
    html = as_moderator.get(reverse("backoffice:queue")).content.decode()
    assert re.search(r'data-figure="open">\s*0 unclaimed<', html)
    assert "oldest open: none" in html
    assert "No item matches these filters." in html


# --- paging --------------------------------------------------------------------------------


@pytest.fixture
def long_queue(in_grace, system, announced_policy, marketplace, merchant_a, merchant_b, miners):
    """``long_queue(n)``: n open items with distinct scores (n+9 … 10), imported in bulk."""

    def build(count: int) -> list[int]:
        now = in_grace.now()
        catalog.import_listings(
            actor=system,
            marketplace=marketplace,
            rows=(
                Listing(
                    merchant=merchant_a if n % 2 else merchant_b,
                    category=miners,
                    title=f"Antminer S19 lot {n}",
                    price=Decimal("100"),
                    created_at=now,
                    updated_at=now,
                )
                for n in range(count)
            ),
        )
        listings = list(Listing.objects.select_related("merchant").order_by("pk"))
        open_review_items(
            policy=announced_policy,
            detections=[(row, Detection(Decimal(10 + n), ["antminer"], {})) for n, row in enumerate(listings)],
        )
        return list(ReviewItem.objects.order_by("-priority", "id").values_list("pk", flat=True))

    return build


def test_page_two_shows_the_rest(as_moderator, settings, long_queue):
    settings.REVIEW_QUEUE_PAGE_SIZE = 5
    ordered = long_queue(7)
    first = as_moderator.get(reverse("backoffice:queue"))
    assert row_ids(first) == ordered[:5]
    assert b"page=2" in first.content and b"page=0" not in first.content
    second = as_moderator.get(reverse("backoffice:queue"), {"page": 2})
    assert row_ids(second) == ordered[5:]
    assert b"page=3" not in second.content and b"page=1" in second.content
    assert row_ids(as_moderator.get(reverse("backoffice:queue"), {"page": 3})) == []


def test_the_pager_keeps_the_filters(as_moderator, settings, long_queue, announced_policy):
    settings.REVIEW_QUEUE_PAGE_SIZE = 5
    long_queue(7)
    html = as_moderator.get(reverse("backoffice:queue"), {"policy": announced_policy.pk}).content.decode()
    assert f'href="?policy={announced_policy.pk}&page=2"' in html


# Session, user, roles, header, page, the filter form's three choice lists, and the saved views.
QUERY_BOUND = 9


@pytest.mark.parametrize("page_size", [25, 100])
def test_the_queue_page_costs_the_same_queries_whatever_the_page_size(
    as_moderator, moderator, settings, long_queue, django_assert_max_num_queries, page_size
):
    long_queue(110)
    for _ in range(3):
        queue.claim_next_item(actor=moderator)  # rows with a claimant on the page too
    settings.REVIEW_QUEUE_PAGE_SIZE = page_size
    with django_assert_max_num_queries(QUERY_BOUND):
        response = as_moderator.get(reverse("backoffice:queue"), {"page": 1})
    assert len(row_ids(response)) == page_size


def test_the_item_page_costs_a_bounded_number_of_queries(
    as_moderator, in_grace, moderator, open_with_spans, merchant_b, miners, make_listing, django_assert_max_num_queries
):
    items = [open_with_spans(make_listing(merchant_b, miners, title=f"Antminer #{n}")) for n in range(12)]
    for earlier in items[:10]:
        queue.take_down_listing(actor=moderator, item=earlier)
    queue.add_review_note(actor=moderator, item=items[-1], text="One.")
    queue.add_review_note(actor=moderator, item=items[-1], text="Two.")
    # 12, the two that read the rules that flagged the item (their links, then the rules), and
    # the policy's rules to score the listing's current text (the matcher is cached on them).
    with django_assert_max_num_queries(16):  # and the people the item can be assigned to
        response = as_moderator.get(reverse("backoffice:queue-item", args=[items[-1].pk]))
    assert response.status_code == 200


def test_a_take_down_that_opens_the_next_item_costs_a_bounded_number_of_queries(
    as_moderator, in_grace, moderator, two_items, announced_policy, django_assert_max_num_queries
):
    """The moderator's loop is the page most often posted: it reads the item without its page's
    notes, rules and history, lists the clauses from the policy it loaded, files audit events by
    id, and does not read back the claim it just wrote (33 statements today, 6 of them savepoints)."""
    first, _second = two_items
    clause = announced_policy.clauses.order_by("number").first()
    with django_assert_max_num_queries(36):
        response = as_moderator.post(
            reverse("backoffice:queue-item-action", args=[first.pk, "take-down"]),
            {"clause": clause.pk, "kind": "prohibited_listing", "reason": "Mining hardware is prohibited."},
        )
    assert response.status_code == 302


def test_a_take_down_citing_an_unknown_clause_is_a_field_error_and_changes_nothing(as_moderator, item):
    response = as_moderator.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]),
        {"clause": "999999", "kind": "prohibited_listing"},
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.context["take_down_form"].errors["clause"][0]
    item.refresh_from_db()
    assert item.status == "open" and not Violation.objects.exists()


# --- claim next and deciding ---------------------------------------------------------------


def test_claim_next_opens_the_highest_priority_item(
    as_moderator, moderator, in_grace, open_with_spans, merchant_b, miners, make_listing
):
    open_with_spans(make_listing(merchant_b, miners, title="Antminer low"), score=11)
    top = open_with_spans(make_listing(merchant_b, miners, title="Antminer high"), score=33)
    response = as_moderator.post(reverse("backoffice:queue-claim-next"))
    assert response["Location"] == reverse("backoffice:queue-item", args=[top.pk])
    top.refresh_from_db()
    assert (top.status, top.claimed_by) == ("claimed", moderator)
    page = as_moderator.get(response["Location"])
    assert "Claimed by you" in page.content.decode()


def test_claim_next_on_an_empty_queue_goes_back_to_the_queue_with_a_message(as_moderator, db):
    response = as_moderator.post(reverse("backoffice:queue-claim-next"))
    assert response["Location"] == reverse("backoffice:queue")
    assert messages_of(response) == ["Nothing left to claim: the queue is empty."]


def test_a_moderator_asking_for_the_senior_tier_is_told_no(as_moderator, item):
    response = as_moderator.post(reverse("backoffice:queue-claim-next"), {"tier": "senior"})
    assert response["Location"] == reverse("backoffice:queue")
    assert "senior" in messages_of(response)[0]


@pytest.fixture
def two_items(in_grace, open_with_spans, merchant_b, miners, make_listing):
    first = open_with_spans(make_listing(merchant_b, miners, title="Antminer S19 first"), score=30)
    second = open_with_spans(make_listing(merchant_b, miners, title="Antminer S19 second"), score=20)
    return first, second


def test_taking_down_decides_and_opens_the_next_item(as_moderator, moderator, two_items, announced_policy):
    first, second = two_items
    clause = announced_policy.clauses.get(number=2)
    response = as_moderator.post(
        reverse("backoffice:queue-item-action", args=[first.pk, "take-down"]),
        {"clause": clause.pk, "kind": "keyword_evasion", "reason": "A mining tutorial."},
    )
    assert response["Location"] == reverse("backoffice:queue-item", args=[second.pk])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.decision, first.decided_by) == ("decided", "taken_down", moderator)
    assert (second.status, second.claimed_by) == ("claimed", moderator)  # the next one is claimed for them
    violation = Violation.objects.get()
    assert (violation.clause, violation.kind, violation.reason) == (clause, "keyword_evasion", "A mining tutorial.")
    assert Listing.objects.get(pk=first.listing_id).status == "delisted"
    assert f"Listing #{first.listing_id} taken down" in messages_of(response)[0]


def test_deciding_the_last_item_goes_back_to_the_queue(as_moderator, item):
    response = as_moderator.post(reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]), TAKE_DOWN)
    assert response["Location"] == reverse("backoffice:queue")
    assert "That was the last item in your queue." in messages_of(response)


def test_a_take_down_with_a_clause_of_another_policy_is_a_form_error(as_moderator, item, currencies_policy):
    response = as_moderator.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]),
        {"clause": currencies_policy.clauses.get().pk, "kind": "prohibited_listing"},
    )
    assert response.status_code == 400
    assert response.context["take_down_form"].errors["clause"]
    item.refresh_from_db()
    assert item.status == "open" and not Violation.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_dismissing_without_a_reason_shows_the_field_error_and_changes_nothing(as_moderator, item, reason):
    before = AuditEvent.objects.count()
    response = as_moderator.post(reverse("backoffice:queue-item-action", args=[item.pk, "dismiss"]), {"reason": reason})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-field="reason"' in html
    assert "Say why this is not a violation" in html
    item.refresh_from_db()
    assert (item.status, item.decision) == ("open", "")
    assert AuditEvent.objects.count() == before


def test_dismissing_with_a_reason_records_it_and_moves_on(as_moderator, moderator, two_items):
    first, second = two_items
    response = as_moderator.post(
        reverse("backoffice:queue-item-action", args=[first.pk, "dismiss"]), {"reason": "A toy miner figure."}
    )
    assert response["Location"] == reverse("backoffice:queue-item", args=[second.pk])
    first.refresh_from_db()
    assert (first.decision, first.decision_reason) == ("dismissed", "A toy miner figure.")
    assert Listing.objects.get(pk=first.listing_id).status == "live"


def test_escalating_needs_a_note_then_hands_the_item_to_the_seniors(as_moderator, moderator, item):
    url = reverse("backoffice:queue-item-action", args=[item.pk, "escalate"])
    response = as_moderator.post(url, {"note": ""})
    assert response.status_code == 400 and 'data-field="note"' in response.content.decode()
    item.refresh_from_db()
    assert item.tier == "moderator"

    response = as_moderator.post(url, {"note": "Is a GPU frame a miner?"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.tier, item.status, item.escalated_by) == ("senior", "open", moderator)
    assert ReviewNote.objects.get().text == "Is a GPU frame a miner?"


def test_a_note_stays_on_the_item(as_moderator, moderator, item):
    response = as_moderator.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "note"]), {"text": "Seller says it is a heater."}
    )
    assert response["Location"] == reverse("backoffice:queue-item", args=[item.pk]) + "#notes"
    page = as_moderator.get(response["Location"])
    assert "Seller says it is a heater." in page.content.decode()
    item.refresh_from_db()
    assert item.status == "open"


def test_an_unknown_action_is_404(as_moderator, item):
    assert as_moderator.post(reverse("backoffice:queue-item-action", args=[item.pk, "delete"])).status_code == 404


def test_deciding_an_item_someone_else_holds_shows_who(as_moderator, other_moderator, item):
    queue.claim_item(actor=other_moderator, item=item)
    response = as_moderator.post(reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]), TAKE_DOWN)
    assert response["Location"] == reverse("backoffice:queue-item", args=[item.pk])
    assert "moderator-2 is working on this item" in messages_of(response)[0]
    assert not Violation.objects.exists()


# --- bulk ----------------------------------------------------------------------------------


@pytest.fixture
def three_items(in_grace, open_with_spans, merchant_a, merchant_b, miners, make_listing):
    return [
        open_with_spans(make_listing(merchant, miners, title=f"Antminer S19 bulk {n}"), score=20 + n)
        for n, merchant in enumerate([merchant_a, merchant_b, merchant_b])
    ]


def test_bulk_review_shows_the_items_and_changes_nothing(as_moderator, three_items):
    before = (AuditEvent.objects.count(), Notice.objects.count())
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [i.pk for i in three_items], "decision": "taken_down", "reason": "", "step": "review"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "3 items" in re.search(r"<h1>(.*?)</h1>", html).group(1)
    for item in three_items:
        assert f'<input type="hidden" name="items" value="{item.pk}">' in html
        assert item.listing.title in html
    assert 'name="step" value="confirm"' in html
    assert (AuditEvent.objects.count(), Notice.objects.count()) == before
    assert set(ReviewItem.objects.values_list("status", flat=True)) == {"open"}


def test_bulk_confirm_decides_each_and_reports(as_moderator, moderator, other_moderator, three_items):
    queue.dismiss_item(actor=other_moderator, item=three_items[2], reason="A poster.")
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [i.pk for i in three_items[:2]], "decision": "taken_down", "reason": "", "step": "confirm"},
    )
    assert response["Location"] == reverse("backoffice:queue")
    assert messages_of(response) == ["2 of 2 items decided."]
    assert Violation.objects.count() == 2
    assert set(
        ReviewItem.objects.filter(pk__in=[i.pk for i in three_items[:2]]).values_list("decision", flat=True)
    ) == {"taken_down"}


def test_bulk_confirm_reports_an_item_held_by_someone_else(as_moderator, other_moderator, three_items):
    queue.claim_item(actor=other_moderator, item=three_items[0])
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [i.pk for i in three_items], "decision": "dismissed", "reason": "Posters.", "step": "confirm"},
    )
    assert messages_of(response)[0] == "2 of 3 items decided."
    assert f"Item #{three_items[0].pk}: moderator-2 is working on this item" in messages_of(response)[1]


def test_bulk_reports_a_decided_item_and_refuses_a_dismissal_without_reason(as_moderator, moderator, three_items):
    queue.dismiss_item(actor=moderator, item=three_items[0], reason="A poster.")
    before = AuditEvent.objects.count()
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [three_items[0].pk], "decision": "taken_down", "step": "confirm"},
    )
    assert response["Location"] == reverse("backoffice:queue")
    # Decided between the review and the confirmation: reported, as an item held by someone else is.
    assert messages_of(response) == [
        "0 of 1 item decided.",
        f"Item #{three_items[0].pk}: This item has been decided already.",
    ]
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [three_items[1].pk], "decision": "dismissed", "reason": " ", "step": "confirm"},
    )
    assert response["Location"] == reverse("backoffice:queue")
    # The refusal is shown on the queue page, by the reason's box (tests/moderation/test_bulk_select_all.py).
    assert "Say why these are not violations." in as_moderator.get(response["Location"]).content.decode()
    assert AuditEvent.objects.count() == before


def test_bulk_leaves_out_senior_items_for_a_moderator(as_moderator, other_moderator, three_items):
    queue.escalate_item(actor=other_moderator, item=three_items[0], note="Unclear.")
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"),
        {"items": [i.pk for i in three_items], "decision": "taken_down", "step": "confirm"},
    )
    assert messages_of(response)[0] == "2 of 2 items decided."
    three_items[0].refresh_from_db()
    assert (three_items[0].status, three_items[0].tier) == ("open", "senior")


def test_a_refused_bulk_form_never_redirects_off_site(as_moderator, db):
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"), {"decision": "taken_down", "back": "https://evil.example/phish"}
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


# --- CSRF and hostile input ----------------------------------------------------------------


@pytest.mark.parametrize("route", [name for name, spec in ROUTES.items() if spec[0] == "post"])
def test_every_action_needs_the_csrf_token(moderator, item, route):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    assert call_route(client, route, item).status_code == 403
    item.refresh_from_db()
    assert (item.status, item.tier) == ("open", "moderator")


def test_the_csrf_token_from_the_page_is_accepted(moderator, item):
    client = Client(enforce_csrf_checks=True)
    client.force_login(moderator)
    html = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = client.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "note"]), {"text": "ok", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


HOSTILE_TITLE = 'Antminer S19 <script>alert(1)</script> <img src=x onerror=alert(1)> "quoted" & co'


@pytest.fixture
def hostile_item(in_grace, announced_policy, mining_rules, merchant_b, miners, make_listing):
    listing = make_listing(
        merchant_b,
        miners,
        title=HOSTILE_TITLE,
        description="A <b>bold</b> Bitcoin miner </div><script>alert(2)</script>",
        attributes={"<script>alert(3)</script>": "<img src=y onerror=alert(4)>"},
    )
    assert scan_listings(policy=announced_policy, listings=[listing]) == 1
    return ReviewItem.objects.get(listing=listing)


def assert_no_markup_from_the_listing(html: str) -> None:
    for raw in ["<script>alert", "<img src=x", "<img src=y", "<b>bold</b>", "</div><script>"]:
        assert raw not in html


def test_a_hostile_title_is_escaped_on_the_queue_page(as_moderator, hostile_item):
    html = as_moderator.get(reverse("backoffice:queue")).content.decode()
    assert_no_markup_from_the_listing(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_hostile_listing_is_escaped_on_the_item_page_and_its_terms_still_highlighted(as_moderator, hostile_item):
    assert hostile_item.spans["title"] == [[0, 8, "antminer"]]
    html = as_moderator.get(reverse("backoffice:queue-item", args=[hostile_item.pk])).content.decode()
    assert_no_markup_from_the_listing(html)
    title = re.search(r'<h2 class="listing-title" id="listing-title">(.*?)</h2>', html, re.S).group(1)
    assert title == (
        '<mark title="antminer">Antminer</mark> S19 &lt;script&gt;alert(1)&lt;/script&gt; '
        "&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &amp; co"
    )
    assert '<mark title="bitcoin miner">Bitcoin miner</mark>' in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html and "&lt;img src=y onerror=alert(4)&gt;" in html


def test_a_hostile_title_is_escaped_on_the_bulk_confirmation(as_moderator, hostile_item):
    response = as_moderator.post(
        reverse("backoffice:queue-bulk"), {"items": [hostile_item.pk], "decision": "taken_down", "step": "review"}
    )
    html = response.content.decode()
    assert_no_markup_from_the_listing(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_hostile_reason_or_note_is_escaped(as_moderator, moderator, item):
    queue.add_review_note(actor=moderator, item=item, text="<script>alert(5)</script>")
    html = as_moderator.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert "<script>alert(5)" not in html and "&lt;script&gt;alert(5)&lt;/script&gt;" in html


# --- an item's page whatever fields matched --------------------------------------------------

SPANS_BUG = (
    "templates/moderation/queue/item.html passes item.spans.title / item.spans.description as filter "
    "arguments; a missing key raises VariableDoesNotExist (500) for every item whose detection did not "
    "match both fields, or that has no spans (a report)"
)


def test_an_item_matched_in_its_title_only_opens(
    as_moderator, in_grace, announced_policy, mining_rules, merchant_b, miners, make_listing
):
    listing = make_listing(merchant_b, miners, title="Antminer S19", description="Brand new, in its box.")
    scan_listings(policy=announced_policy, listings=[listing])
    item = ReviewItem.objects.get(listing=listing)
    assert list(item.spans) == ["title"]
    response = as_moderator.get(reverse("backoffice:queue-item", args=[item.pk]))
    assert response.status_code == 200
    assert '<mark title="antminer">Antminer</mark> S19' in response.content.decode()


def test_an_item_matched_in_its_description_only_opens(
    as_moderator, in_grace, announced_policy, mining_rules, merchant_b, miners, make_listing
):
    listing = make_listing(merchant_b, miners, title="S19 Pro 110TH/s", description="Genuine Antminer, 3250 W.")
    scan_listings(policy=announced_policy, listings=[listing])
    item = ReviewItem.objects.get(listing=listing)
    response = as_moderator.get(reverse("backoffice:queue-item", args=[item.pk]))
    assert response.status_code == 200
    assert '<mark title="antminer">Antminer</mark>, 3250 W.' in response.content.decode()


def test_a_reported_item_without_spans_opens(as_moderator, in_grace, open_item, listing):
    item = open_item(listing, source=ReviewItem.Source.REPORT, terms=[])
    assert as_moderator.get(reverse("backoffice:queue-item", args=[item.pk])).status_code == 200
