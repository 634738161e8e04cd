"""The queue's search column: what it holds, that it never loses a match, how it is kept and read."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from unittest import mock

import pytest
from django.apps import apps
from django.db import DatabaseError, connection
from django.db.models import Count
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from moderation.filters import ReviewItemFilter
from moderation.models import ReviewItem
from moderation.search import LINE, fold, search_line, search_pattern, search_text
from moderation.selectors.queue import queue_base
from moderation.services import appeals
from sellers.models import Listing
from tests.moderation.test_content_versions import GROUNDS, REASON, ruled, wrongly_taken_down  # noqa: F401
from tests.moderation.test_queue_search import catalog_items  # noqa: F401

search_migration = importlib.import_module("moderation.migrations.0034_review_item_search_text")

# --- the folded text ---------------------------------------------------------------------------


def test_the_column_holds_the_store_name_the_title_and_the_description_one_per_line():
    text = search_text(store_name="Shenzhen  Hashpower", title="Antminer S19\tPro", description="Tested.\nBoxed.")
    assert text == " shenzhen hashpower \n antminer s19 pro \n tested. boxed. "
    assert text.count(LINE) == 2


def test_each_chinese_character_is_a_word_of_its_own_in_the_column_and_in_a_search():
    assert fold("以太坊显卡挖矿实战课") == " 以 太 坊 显 卡 挖 矿 实 战 课 "
    assert search_pattern("挖矿") == " 挖 矿 "
    assert search_pattern("S19矿机") == "s19 矿 机 "


def test_width_case_invisibles_and_traditional_chinese_are_folded():
    assert search_pattern("ＡＮＴ\u200bＭＩＮＥＲ") == "antminer"
    assert search_pattern("礦機") == search_pattern("矿机")
    assert search_pattern("Café") == "cafe"


def test_a_search_word_with_nothing_to_search_is_empty():
    assert search_pattern("🔥") == ""
    assert search_pattern("\u200b") == ""


def test_each_text_is_cut_at_the_limit_of_what_a_merchant_may_send():
    text = search_text(store_name="s" * 1000, title="t" * 1000, description="d" * 50_000)
    store, title, description = text.split(LINE)
    assert (len(store), len(title), len(description)) == (202, 302, 10_002)


# Texts of any script, with the scripts a merchant mixes in a title weighted up.
texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from("以太坊显卡挖矿礦機 Ａｎｔminer-S19 \u200b\u3000é🔥ß"),
    ),
    max_size=60,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, data=st.data())
@example(text="以太坊显卡挖矿实战课", data=None)
@example(text="ＡＮＴ\u200bＭＩＮＥＲ 礦機", data=None)
def test_a_word_inside_a_text_is_always_found_in_its_folded_text(text, data):
    """Folding never loses a match: every word of a substring of a text is found in its line."""
    if data is None:
        start, end = 0, len(text)
    else:
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, len(text)))
    line = search_line(text, limit=1000)
    for word in text[start:end].split():
        pattern = search_pattern(word)
        assert pattern in line, (word, pattern, line)


# --- kept with the texts -------------------------------------------------------------------------


def test_an_opened_item_holds_its_texts(catalog_items):  # noqa: F811
    item = ReviewItem.objects.select_related("listing", "merchant").get(pk=catalog_items["course"])
    assert item.search_text == search_text(
        store_name="Shenzhen Hashpower Trading", title="以太坊显卡挖矿实战课", description="视频教程"
    )


def test_a_granted_appeal_that_restores_a_version_restores_its_search_text(
    wrongly_taken_down,  # noqa: F811
    system,
    merchant_a,
    merchant_user_a,
    other_moderator,
):
    from sellers import services as catalog

    listing, violation = wrongly_taken_down
    catalog.edit_listing(actor=system, listing=listing, title="RTX 3080", description="A mining tutorial inside.")
    decided = ReviewItem.objects.get(listing=listing, status="decided")
    decided.refresh_from_db()
    assert "tutorial" in decided.search_text

    appeal = appeals.file_appeal(
        actor=merchant_user_a, merchant=merchant_a, kind="violation", object_id=violation.pk, grounds=GROUNDS
    )
    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=REASON)

    for item in ReviewItem.objects.filter(listing=listing):  # the decided item and the one reviewing the grant
        assert " boxed. " in item.search_text and "tutorial" not in item.search_text
        assert " rtx 3080 graphics card " in item.search_text


def test_the_migration_fills_the_column_of_the_items_there_are(catalog_items):  # noqa: F811
    ReviewItem.objects.update(search_text="")
    search_migration.fill_search_text(apps, SimpleNamespace(connection=connection))
    item = ReviewItem.objects.get(pk=catalog_items["antminer"])
    assert item.search_text == " shenzhen hashpower trading \n antminer s19 pro \n bitcoin miner, 3250 w. "


# --- read through its index on PostgreSQL ----------------------------------------------------


@pytest.fixture
def a_busy_queue(catalog_items, merchant_b, graphics_cards, announced_policy):  # noqa: F811
    """Two thousand more open items of graphics cards, written in bulk: with three rows, reading
    every open item costs as little as reading an index, and the planner's choice says nothing."""
    listings = Listing.objects.bulk_create(
        Listing(merchant=merchant_b, category=graphics_cards, title=f"RTX 3060 #{n}", price=5) for n in range(2000)
    )
    ReviewItem.objects.bulk_create(
        ReviewItem(
            listing=listing,
            policy=announced_policy,
            merchant=merchant_b,
            marketplace_id=merchant_b.marketplace_id,
            category=graphics_cards,
            due_at=listing.created_at,
            search_text=search_text(store_name=merchant_b.store_name, title=listing.title, description=""),
        )
        for listing in listings
    )
    return catalog_items


def plan_of(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # A test's few hundred rows are read at once without an index: not that, the planner
        # shows which index it reads the matching rows through.
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


# Committed rows and VACUUM, which only the tables' owner may run and never inside a transaction:
# the search index's new entries wait in its pending list, and its statistics are written, as
# autovacuum does on a live database. Without them the planner has nothing to weigh it by.
@pytest.mark.postgres
@pytest.mark.database_owner
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("text", ["antminer", "whatsmin", "挖矿", "矿", "antminer 3250"])
def test_a_search_of_the_open_items_reads_the_trigram_index(a_busy_queue, moderator, text):
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE moderation_reviewitem")
    filterset = ReviewItemFilter({"q": text}, queryset=queue_base(moderator), user=moderator)
    plan = plan_of(filterset.qs.values_list("pk", flat=True)[:51])
    assert "review_open_search_idx" in plan, plan  # the page's ids (page_by_ids)
    counted = filterset.narrowed().filter(status__in=["open", "claimed"]).values("status").annotate(Count("id"))
    assert "review_open_search_idx" in plan_of(counted)  # the counts beside the filters


@pytest.mark.postgres
def test_the_migration_made_the_index_with_the_extension(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'review_open_search_idx'")
        (definition,) = cursor.fetchone()
    assert "gin (search_text gin_trgm_ops)" in definition
    assert "WHERE" in definition and "'open'" in definition and "'claimed'" in definition


@pytest.mark.postgres
def test_a_role_that_may_not_create_the_extension_still_migrates_without_the_index(db, caplog):
    """The extension missing and refused: no index and no error, a warning; the search works without it."""
    editor = mock.Mock()
    editor.connection = mock.MagicMock(vendor="postgresql", alias=connection.alias)
    editor.connection.cursor.return_value.__enter__.return_value.fetchone.return_value = None  # not installed
    editor.execute.side_effect = DatabaseError('permission denied to create extension "pg_trgm"')

    search_migration.create_search_index(apps, editor)

    assert editor.execute.call_args_list == [mock.call("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)]
    assert "works without its index" in caplog.text


def test_on_sqlite_the_migration_makes_no_index():
    editor = mock.Mock(connection=SimpleNamespace(vendor="sqlite", alias="default"))
    search_migration.create_search_index(apps, editor)
    search_migration.drop_search_index(apps, editor)
    editor.execute.assert_not_called()
