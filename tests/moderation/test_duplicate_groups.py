"""Duplicate groups: listings with the same or nearly the same content, grouped as their review
items arrive and decided together, each member through the queue's own services."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from moderation.detection.fingerprint import (
    BANDS,
    MAX_SHINGLES,
    SIMILARITY_THRESHOLD,
    fingerprint,
    shingles,
    tokens,
)
from moderation.models import (
    AuditEvent,
    AuditVerb,
    DuplicateGroup,
    DuplicateSignatureBand,
    Notice,
    ReviewItem,
    Violation,
)
from moderation.services import duplicates, queue, scanning
from moderation.services.queue import Detection, open_review_items

ROOT = Path(__file__).resolve().parents[2]

COURSE = "以太坊显卡挖矿实战课"
COURSE_TEXT = "矿机选购、矿池设置、电费优化，手把手教学。8小时视频，永久观看。"
MINER_TITLE = "Antminer S19 Pro 110TH/s Bitcoin miner"
MINER_TEXT = (
    "Used Antminer S19 Pro in good condition, tested and working before shipping. Ships from Shenzhen within "
    "three days, wholesale orders welcome, power supply included."
)


def similarity(first, second) -> float:
    return first.similarity_to(second.signature)


# --- the fingerprint (pure) ------------------------------------------------------------------


def test_the_same_text_has_the_same_fingerprint():
    first, second = fingerprint(MINER_TITLE, MINER_TEXT), fingerprint(MINER_TITLE, MINER_TEXT)
    assert first == second
    assert similarity(first, second) == 1.0
    assert len(first.band_keys) == BANDS == len(set(first.band_keys))


def test_disguises_undone_by_the_normalisation_make_an_exact_copy():
    disguised = "ＡＮＴＭＩＮＥＲ s\u200b19 Pro 110TH/s Вitcoin miner!!"  # full width, zero-width space, Cyrillic В
    assert fingerprint(disguised, MINER_TEXT).exact_key == fingerprint(MINER_TITLE, MINER_TEXT).exact_key
    # Traditional Chinese is folded to Simplified, as the rules read it.
    assert fingerprint("以太坊顯卡挖礦實戰課", COURSE_TEXT).exact_key == fingerprint(COURSE, COURSE_TEXT).exact_key


def test_one_word_changed_is_a_near_duplicate_not_an_exact_one():
    original = fingerprint(MINER_TITLE, MINER_TEXT)
    edited = fingerprint(MINER_TITLE, MINER_TEXT.replace("Shenzhen", "Guangzhou"))
    assert edited.exact_key != original.exact_key
    assert similarity(original, edited) >= SIMILARITY_THRESHOLD
    assert set(original.band_keys) & set(edited.band_keys)  # found as a candidate by the index


def test_different_listings_are_not_near_duplicates():
    miner = fingerprint(MINER_TITLE, MINER_TEXT)
    keyboard = fingerprint(
        "Wireless mechanical keyboard", "Bluetooth, 84 keys, hot-swappable switches, ships from Shenzhen."
    )
    other_miner = fingerprint("Whatsminer M30S 88TH/s", "New in box, SHA-256, 3344 W, from the factory.")
    assert similarity(miner, keyboard) < 0.5
    assert similarity(miner, other_miner) < 0.5


def test_chinese_is_compared_in_characters():
    assert tokens(COURSE) == list(COURSE)
    course, longer = fingerprint(COURSE, ""), fingerprint(COURSE + "程", "")
    assert course.exact_key != longer.exact_key
    assert similarity(course, longer) >= SIMILARITY_THRESHOLD
    assert similarity(course, fingerprint("比特币挖矿教程 视频课程", "")) < 0.5


def test_mixed_scripts_are_tokenised_word_by_word_and_character_by_character():
    assert tokens("antminer 矿机 s19") == ["antminer", "矿", "机", "s19"]


def test_a_text_with_nothing_to_compare_has_no_fingerprint():
    assert fingerprint("", "") is None
    assert fingerprint("🔥🔥🔥", "\u200b\u200d\ufe0f") is None
    assert fingerprint("   ", "\n\t") is None


def test_a_huge_text_is_read_only_as_far_as_the_bound():
    head = " ".join(f"word{n}" for n in range(2 * MAX_SHINGLES))
    assert len(shingles(tokens(head))) == MAX_SHINGLES
    huge = head + " tail" * 400_000  # two megabytes
    assert fingerprint(MINER_TITLE, huge) == fingerprint(MINER_TITLE, head)


def test_hostile_characters_do_not_break_it():
    assert fingerprint("Antminer \ud800 S19", "\x00\x1f" * 100) is not None  # a lone surrogate, control characters
    assert fingerprint("a" * 300, "b" * 10_000) is not None  # one long word
    assert fingerprint("矿" * 300, "机" * 10_000) is not None


def test_the_fingerprint_is_the_same_in_every_process():
    """hashlib, never Python's salted hash(): another process with another hash seed agrees."""
    code = (
        "import json; from moderation.detection.fingerprint import fingerprint; "
        f"f = fingerprint({COURSE!r}, {COURSE_TEXT!r}); print(json.dumps([f.exact_key, list(f.band_keys)]))"
    )
    here = fingerprint(COURSE, COURSE_TEXT)
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(out.stdout) == [here.exact_key, list(here.band_keys)]


# --- grouping as items arrive -------------------------------------------------------------------


@pytest.fixture
def merchant_e(db, system, marketplace):
    from sellers import services as catalog

    return catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name="Hefei Course Market",
        company_name="Hefei Course Market Co., Ltd.",
        country="CN",
        contact_email="courses@hefei.example",
    )


@pytest.fixture
def courses(in_grace, make_listing, merchant_a, merchant_b, merchant_e, miners):
    """The same course listed by three merchants, and one different listing."""
    return {
        "a": make_listing(merchant_a, miners, title=COURSE, description=COURSE_TEXT),
        "b": make_listing(merchant_b, miners, title=COURSE, description=COURSE_TEXT),
        "e": make_listing(merchant_e, miners, title=COURSE + "程", description=COURSE_TEXT),
        "other": make_listing(merchant_b, miners, title=MINER_TITLE, description=MINER_TEXT),
    }


def detection(score=12, clause=1) -> Detection:
    return Detection(score=Decimal(score), terms=["挖矿"], spans={}, clause=clause)


def group_of(listing) -> int | None:
    return ReviewItem.objects.get(listing=listing, status__in=["open", "claimed"]).duplicate_group_id


def test_copies_arriving_one_by_one_join_one_group(courses, open_item):
    first = open_item(courses["a"])
    assert first.duplicate_group_id is None  # alone: nothing to decide together yet
    second = open_item(courses["b"])
    first.refresh_from_db()
    assert first.duplicate_group_id == second.duplicate_group_id is not None
    third = open_item(courses["e"])  # one character more: a near-duplicate
    assert third.duplicate_group_id == first.duplicate_group_id
    assert open_item(courses["other"]).duplicate_group_id is None
    group = DuplicateGroup.objects.get(pk=first.duplicate_group_id)
    assert (group.size, group.founder_id) == (3, first.pk)
    # Bands are stored for each group's founding content only, one row per band.
    assert DuplicateSignatureBand.objects.filter(group=group).count() == BANDS


def test_forming_and_joining_a_group_are_recorded_once_per_group(courses, open_item):
    first, second = open_item(courses["a"]), open_item(courses["b"])
    third = open_item(courses["e"])
    events = AuditEvent.objects.filter(target_id=second.duplicate_group_id, target_type__model="duplicategroup")
    formed, joined = (
        events.get(verb=AuditVerb.DUPLICATE_GROUP_FORMED),
        events.get(verb=AuditVerb.DUPLICATE_GROUP_JOINED),
    )
    assert formed.after == {"size": 2, "items": [first.pk, second.pk]}
    assert joined.after == {"size": 3, "items": [third.pk]}
    assert formed.actor_name == "task:review_queue" and formed.policy_id == first.policy_id


def test_a_new_listing_detected_on_arrival_joins_its_copies(
    in_grace, system, policy_admin, announced_policy, mining_rules, make_listing, merchant_a, merchant_b, miners,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The real path of a new listing: created, then scanned after commit, then queued and grouped."""
    with django_capture_on_commit_callbacks(execute=True):
        first = make_listing(merchant_a, miners, title=MINER_TITLE, description=MINER_TEXT)
    with django_capture_on_commit_callbacks(execute=True):
        second = make_listing(merchant_b, miners, title=MINER_TITLE, description=MINER_TEXT)
    assert group_of(first) == group_of(second) is not None


def test_the_bulk_scan_groups_its_copies_within_and_across_chunks(
    in_grace, announced_policy, mining_rules, make_listing, merchant_a, merchant_b, miners, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    monkeypatch.setattr(scanning, "SCAN_CHUNK_SIZE", 3)  # copies fall in different chunks, and in one
    copies = [
        make_listing(merchant_a if n % 2 else merchant_b, miners, title=MINER_TITLE, description=MINER_TEXT)
        for n in range(7)
    ]
    different = make_listing(merchant_b, miners, title="Whatsminer M30S 88TH/s", description="Factory new.")
    with django_capture_on_commit_callbacks(execute=True):
        scan = scanning.start_policy_scan(policy=announced_policy)
    scan.refresh_from_db()
    assert scan.status == "completed" and scan.items_opened == 8
    groups = {group_of(listing) for listing in copies}
    assert len(groups) == 1 and None not in groups
    assert DuplicateGroup.objects.get(pk=groups.pop()).size == 7
    assert group_of(different) is None


def test_grouping_a_batch_costs_the_same_queries_whatever_its_size(
    in_grace, announced_policy, make_listing, merchant_a, merchant_b, miners
):
    def open_batch(count: int, word: str, text: str) -> int:
        listings = [
            make_listing(merchant_a if n % 2 else merchant_b, miners, title=f"{word} {n % 3}", description=text)
            for n in range(count)
        ]
        rows = [(listing, detection()) for listing in listings]
        with CaptureQueriesContext(connection) as captured:
            open_review_items(policy=announced_policy, detections=rows)
        return len(captured)

    small = open_batch(4, "Antminer", MINER_TEXT)  # 30 below: one INSERT of items on SQLite too (999 parameters)
    large = open_batch(30, "Avalon", "Avalon 1246 81TH/s, factory sealed, with its power supply and the warranty card.")
    assert small == large
    assert ReviewItem.objects.filter(duplicate_group__isnull=False).count() == 34


def test_an_item_with_nothing_to_compare_is_not_grouped(
    in_grace, open_item, make_listing, merchant_a, merchant_b, miners
):
    first = open_item(make_listing(merchant_a, miners, title="🔥🔥🔥"))
    second = open_item(make_listing(merchant_b, miners, title="🔥🔥🔥"))
    assert first.duplicate_group_id is None and second.duplicate_group_id is None
    assert not DuplicateGroup.objects.exists()


def test_a_group_does_not_drift_along_a_chain_of_edits(in_grace, open_item, make_listing, merchant_a, miners):
    """Each member is compared with the founder's content, not with the last one to join."""
    words = MINER_TEXT.split()
    opened = []
    for step in range(0, 12):
        text = " ".join(words[: len(words) - step] + [f"extra{n}" for n in range(step)])
        opened.append(open_item(make_listing(merchant_a, miners, title=MINER_TITLE, description=text)))
    founder = fingerprint(MINER_TITLE, MINER_TEXT)
    for item in opened:
        item.refresh_from_db()
        if item.duplicate_group_id == opened[0].duplicate_group_id and item.duplicate_group_id is not None:
            assert (
                similarity(founder, fingerprint(item.listing.title, item.listing.description)) >= SIMILARITY_THRESHOLD
            )
    assert opened[-1].duplicate_group_id != opened[0].duplicate_group_id


# --- the queue, the item page and the group page -----------------------------------------------------


@pytest.fixture
def grouped(courses, open_item):
    items = {key: open_item(courses[key]) for key in ("a", "b", "e", "other")}
    for item in items.values():
        item.refresh_from_db()
    return items


def group_url(item) -> str:
    return reverse("backoffice:queue-group", args=[item.duplicate_group_id])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_queue_shows_how_many_are_similar_and_links_to_the_group(client, moderator, grouped):
    client.force_login(moderator)
    html = client.get(reverse("backoffice:queue")).content.decode()
    badges = re.findall(r'<a class="badge similar" href="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert badges == [(group_url(grouped["a"]), "3 similar")] * 3


def test_the_item_page_links_to_its_group(client, moderator, grouped):
    client.force_login(moderator)
    html = client.get(reverse("backoffice:queue-item", args=[grouped["a"].pk])).content.decode()
    assert f'href="{group_url(grouped["a"])}" id="similar-listings">3, side by side</a>' in html
    alone = client.get(reverse("backoffice:queue-item", args=[grouped["other"].pk])).content.decode()
    assert 'id="similar-listings"' not in alone


def test_the_group_page_shows_its_members_side_by_side(client, moderator, grouped):
    client.force_login(moderator)
    response = client.get(group_url(grouped["a"]))
    assert response.status_code == 200
    html = response.content.decode()
    shown = [int(pk) for pk in re.findall(r'<article class="card dup-card" data-item="(\d+)"', html)]
    assert sorted(shown) == sorted(grouped[key].pk for key in ("a", "b", "e"))
    for key in ("a", "b", "e"):
        assert f'name="items" value="{grouped[key].pk}" checked' in html
    assert "Hefei Course Market" in html and "Guangzhou Gadget Supply" in html


def test_a_moderator_does_not_see_members_escalated_to_the_seniors(client, moderator, senior, grouped):
    queue.escalate_item(actor=moderator, item=grouped["b"], note="Is a course a miner?")
    client.force_login(moderator)
    html = client.get(group_url(grouped["a"])).content.decode()
    assert f'data-item="{grouped["b"].pk}"' not in html and f'data-item="{grouped["a"].pk}"' in html
    assert "2 similar" in client.get(reverse("backoffice:queue")).content.decode()
    client.force_login(senior)
    assert f'data-item="{grouped["b"].pk}"' in client.get(group_url(grouped["a"])).content.decode()


def test_an_unknown_group_or_one_with_nothing_visible_is_not_found(client, moderator, grouped):
    client.force_login(moderator)
    assert client.get(reverse("backoffice:queue-group", args=[999_999])).status_code == 404
    for key in ("a", "b", "e"):
        queue.escalate_item(actor=moderator, item=grouped[key], note="For a senior.")
    assert client.get(group_url(grouped["a"])).status_code == 404
    # A group of one (the other listing's) shows nobody: its founder is in no group yet.
    lonely = DuplicateGroup.objects.get(founder=grouped["other"])
    assert client.get(reverse("backoffice:queue-group", args=[lonely.pk])).status_code == 404


def test_only_moderators_open_a_group(client, merchant_user_a, policy_admin, grouped):
    url = group_url(grouped["a"])
    assert client.get(url).status_code == 302  # to the sign-in page
    for person in (merchant_user_a, policy_admin):
        client.force_login(person)
        assert client.get(url).status_code == 403


# --- deciding a group ---------------------------------------------------------------------------


def decide(client, group_url_, items, **data):
    body = {"items": [item.pk for item in items], "decision": "taken_down", "kind": "prohibited_listing", **data}
    review = client.post(group_url_, {**body, "step": "review"})
    assert review.status_code == 200, review.content.decode()[:2000]
    return client.post(group_url_, {**body, "step": "confirm"})


def test_taking_down_some_members_gives_each_its_own_violation_notice_and_audit(client, moderator, grouped):
    client.force_login(moderator)
    chosen, left = [grouped["a"], grouped["e"]], grouped["b"]
    response = decide(client, group_url(grouped["a"]), chosen, reason="Mining course: clause 2.")
    assert response.status_code == 302 and response.url == group_url(grouped["a"])
    assert messages_of(response) == ["2 of 2 items decided."]
    for item in chosen:
        item.refresh_from_db()
        assert (item.status, item.decision, item.decided_by) == ("decided", "taken_down", moderator)
        violation = Violation.objects.get(review_item=item)
        assert (violation.merchant_id, violation.listing_id) == (item.merchant_id, item.listing_id)
        notice = Notice.objects.get(merchant_id=item.merchant_id, kind=Notice.Kind.LISTING_TAKEN_DOWN)
        assert notice.dedupe_key == f"violation:{violation.pk}"
        assert AuditEvent.objects.filter(
            verb=AuditVerb.LISTING_TAKEN_DOWN, target_id=item.listing_id, actor=moderator
        ).exists()
        assert AuditEvent.objects.filter(verb=AuditVerb.VIOLATION_RECORDED, target_id=violation.pk).exists()
        item.listing.refresh_from_db()
        assert item.listing.status == "delisted"
    left.refresh_from_db()
    assert left.status == "open" and not Violation.objects.filter(review_item=left).exists()


def test_a_member_decided_by_someone_else_meanwhile_is_reported_and_the_rest_are_decided(
    client, moderator, other_moderator, grouped
):
    client.force_login(moderator)
    url = group_url(grouped["a"])
    members = [grouped["a"], grouped["b"], grouped["e"]]
    body = {"items": [item.pk for item in members], "decision": "dismissed", "reason": "A course about gaming cards."}
    assert client.post(url, {**body, "step": "review"}).status_code == 200
    queue.take_down_listing(actor=other_moderator, item=grouped["b"])  # between review and confirm
    response = client.post(url, {**body, "step": "confirm"})
    assert messages_of(response) == [
        "2 of 3 items decided.",
        f"Item #{grouped['b'].pk}: This item has been decided already.",
    ]
    decisions = dict(ReviewItem.objects.filter(pk__in=[i.pk for i in members]).values_list("pk", "decision"))
    assert decisions == {grouped["a"].pk: "dismissed", grouped["b"].pk: "taken_down", grouped["e"].pk: "dismissed"}
    assert AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_DISMISSED, actor=moderator).count() == 2
    # The group page now shows the decided ones as decided.
    html = client.get(url).content.decode()
    assert "None of these listings is waiting for a decision." in html


def test_a_member_held_by_another_moderator_is_refused_with_why(client, moderator, other_moderator, grouped):
    queue.claim_item(actor=other_moderator, item=grouped["e"])
    client.force_login(moderator)
    response = decide(client, group_url(grouped["a"]), [grouped["a"], grouped["e"]])
    warnings = messages_of(response)
    assert warnings[0] == "1 of 2 items decided."
    assert warnings[1].startswith(f"Item #{grouped['e'].pk}: moderator-2 is working on this item until")
    assert ReviewItem.objects.get(pk=grouped["e"].pk).status == "claimed"


def test_a_chosen_clause_is_cited_by_every_take_down(client, moderator, grouped, announced_policy):
    client.force_login(moderator)
    tutorials = announced_policy.clauses.get(number=2)
    decide(client, group_url(grouped["a"]), [grouped["a"], grouped["b"]], clause=tutorials.pk)
    assert set(Violation.objects.values_list("clause__number", flat=True)) == {2}


def test_refused_input_decides_nothing(client, moderator, grouped):
    client.force_login(moderator)
    url = group_url(grouped["a"])
    members = [grouped["a"].pk, grouped["b"].pk]
    refusals = [
        {"items": members, "decision": "dismissed", "reason": "", "step": "confirm"},  # no reason to dismiss
        {"items": members, "decision": "dismissed", "reason": "\u200b\u200b", "step": "confirm"},  # invisible
        {"items": [grouped["other"].pk], "decision": "taken_down", "step": "confirm"},  # not a member
        {"items": ["x", "99999999999999999999999"], "decision": "taken_down", "step": "confirm"},
        {"items": members, "decision": "escalate", "step": "confirm"},
        {"decision": "taken_down", "step": "confirm"},  # nothing ticked
    ]
    for body in refusals:
        assert client.post(url, {"kind": "prohibited_listing", **body}).status_code == 400, body
    assert not ReviewItem.objects.filter(status="decided").exists()
    assert not Violation.objects.exists()


def test_the_service_refuses_an_item_of_another_group(moderator, grouped):
    group = DuplicateGroup.objects.get(pk=grouped["a"].duplicate_group_id)
    outcomes = duplicates.decide_group(
        actor=moderator, group=group, item_ids=[grouped["other"].pk, grouped["a"].pk], decision="taken_down"
    )
    assert [(outcome.item_id, outcome.ok) for outcome in outcomes] == [
        (grouped["other"].pk, False),
        (grouped["a"].pk, True),
    ]
    assert ReviewItem.objects.get(pk=grouped["other"].pk).status == "open"


@pytest.mark.postgres
def test_copies_arriving_at_once_in_several_transactions_join_one_group(
    transactional_db, announced_policy, make_listing, merchant_a, merchant_b, miners
):
    """Grouping is serialised: each transaction sees the group the one before it committed."""
    from tests.concurrency import run_in_threads

    listings = [
        make_listing(merchant_a if n % 2 else merchant_b, miners, title=MINER_TITLE, description=MINER_TEXT)
        for n in range(4)
    ]
    assert not ReviewItem.objects.exists()  # no rules yet: their creation queued nothing
    run_in_threads(
        lambda listing: open_review_items(policy=announced_policy, detections=[(listing, detection())]),
        [(listing,) for listing in listings],
    )
    groups = set(ReviewItem.objects.values_list("duplicate_group_id", flat=True))
    assert len(groups) == 1 and None not in groups
    assert DuplicateGroup.objects.get().size == 4
