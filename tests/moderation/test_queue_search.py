"""The queue's search box, the counts beside its filter options, and its date pickers."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from moderation.filters import SEARCH_MAX_LENGTH, AppealQueueFilter, ReviewItemFilter
from moderation.forms import DashboardForm
from moderation.selectors import queue as queue_selectors
from moderation.services import queue
from sellers import services as catalog
from tests.moderation.test_queue_views import row_ids


@pytest.fixture
def as_moderator(client, moderator):
    client.force_login(moderator)
    return client


@pytest.fixture
def catalog_items(in_grace, open_item, merchant_a, merchant_b, miners, make_listing):
    """Three open items: A's Chinese course, A's Antminer, B's Whatsminer with "hashboard" in its description."""
    listings = {
        "course": make_listing(merchant_a, miners, title="以太坊显卡挖矿实战课", description="视频教程"),
        "antminer": make_listing(merchant_a, miners, title="Antminer S19 Pro", description="Bitcoin miner, 3250 W."),
        "whatsminer": make_listing(
            merchant_b, miners, title="Whatsminer M30S", description="Tested, with a spare HASHBOARD."
        ),
    }
    return {
        name: open_item(listing, score=score).pk
        for (name, listing), score in zip(listings.items(), (30, 20, 10), strict=True)
    }


def search(client, text: str, **params) -> list[int]:
    return sorted(row_ids(client.get(reverse("backoffice:queue"), {"q": text, **params})))


def ids(items: dict, *names: str) -> list[int]:
    return sorted(items[name] for name in names)


# --- search ---------------------------------------------------------------------------------


def test_a_search_finds_an_item_by_a_word_of_its_title(as_moderator, catalog_items):
    assert search(as_moderator, "antminer") == ids(catalog_items, "antminer")


def test_a_search_finds_an_item_by_its_description_whatever_the_case(as_moderator, catalog_items):
    assert search(as_moderator, "hashboard") == ids(catalog_items, "whatsminer")


def test_a_search_finds_every_item_of_a_store_by_part_of_its_name(as_moderator, catalog_items):
    assert search(as_moderator, "hashpower") == ids(catalog_items, "course", "antminer")


def test_a_search_finds_a_chinese_title_by_a_word_inside_it(as_moderator, catalog_items):
    assert search(as_moderator, "挖矿") == ids(catalog_items, "course")


def test_a_search_finds_a_partial_word(as_moderator, catalog_items):
    assert search(as_moderator, "whatsmin") == ids(catalog_items, "whatsminer")


def test_every_word_of_a_search_must_be_found_in_any_of_the_fields(as_moderator, catalog_items):
    assert search(as_moderator, "s19 hashpower") == ids(catalog_items, "antminer")
    assert search(as_moderator, "s19 gadget") == []


def test_a_search_that_matches_nothing_says_so(as_moderator, catalog_items):
    response = as_moderator.get(reverse("backoffice:queue"), {"q": "avalon"})
    assert row_ids(response) == []
    assert "No item matches these filters." in response.content.decode()


def test_a_search_pages_its_rows_by_priority(as_moderator, catalog_items, settings):
    settings.REVIEW_QUEUE_PAGE_SIZE = 2  # "o" is in each item's store name or title
    first = as_moderator.get(reverse("backoffice:queue"), {"q": "o"})
    second = as_moderator.get(reverse("backoffice:queue"), {"q": "o", "page": "2"})

    assert row_ids(first) == [catalog_items["course"], catalog_items["antminer"]]  # scores 30 and 20
    assert first.context["has_next"]
    assert row_ids(second) == [catalog_items["whatsminer"]]
    assert not second.context["has_next"]


def test_a_search_keeps_the_chosen_sort(as_moderator, catalog_items):
    lowest_first = [catalog_items["whatsminer"], catalog_items["antminer"], catalog_items["course"]]
    assert row_ids(as_moderator.get(reverse("backoffice:queue"), {"q": "o", "sort": "priority"})) == lowest_first
    # Opened at the same instant: the id decides, as on the plain page.
    assert row_ids(as_moderator.get(reverse("backoffice:queue"), {"q": "o", "sort": "-age"})) == ids(
        catalog_items, "course", "antminer", "whatsminer"
    )


def test_a_search_keeps_the_other_filters(as_moderator, catalog_items):
    assert search(as_moderator, "miner", score_min="15") == ids(catalog_items, "antminer")


def test_the_search_box_shows_what_was_searched(as_moderator, catalog_items):
    html = as_moderator.get(reverse("backoffice:queue"), {"q": "挖矿"}).content.decode()
    assert re.search(r'<input type="search" name="q" id="id_q" form="filter-form" value="挖矿"', html)


def test_a_search_finds_a_title_written_in_full_width_or_hidden_by_invisible_characters(
    as_moderator, catalog_items, merchant_b, miners, make_listing, open_item
):
    disguised = open_item(make_listing(merchant_b, miners, title="ＡＮＴ\u200bＭＩＮＥＲ L7", description="")).pk
    assert search(as_moderator, "antminer") == sorted([catalog_items["antminer"], disguised])


def test_a_search_finds_traditional_chinese_by_its_simplified_form(
    as_moderator, catalog_items, merchant_b, miners, make_listing, open_item
):
    traditional = open_item(make_listing(merchant_b, miners, title="二手礦機出售", description="")).pk
    assert search(as_moderator, "矿机") == [traditional]
    assert search(as_moderator, "礦機") == [traditional]


def test_a_single_chinese_character_is_a_search_too(as_moderator, catalog_items):
    assert search(as_moderator, "矿") == ids(catalog_items, "course")
    assert search(as_moderator, "课") == ids(catalog_items, "course")  # the last character of the title


def test_a_chinese_word_mixed_with_latin_letters_is_found_inside_a_title(
    as_moderator, catalog_items, merchant_b, miners, make_listing, open_item
):
    mixed = open_item(make_listing(merchant_b, miners, title="蚂蚁S19矿机", description="")).pk
    assert search(as_moderator, "S19矿") == [mixed]
    assert search(as_moderator, "9矿机") == [mixed]
    assert search(as_moderator, "矿S19") == []  # the order counts: a substring, not a set of characters


def test_a_search_does_not_run_from_one_field_into_the_next(as_moderator, catalog_items):
    # A's store name ends in "Trading" and its course's title begins with "以太坊"; the title
    # ends in "实战课" and the description begins with "视频".
    assert search(as_moderator, "trading以太坊") == []
    assert search(as_moderator, "实战课视频") == []
    assert search(as_moderator, "实战课 视频") == ids(catalog_items, "course")  # two words, each found


def test_a_search_of_only_a_pictograph_narrows_nothing(as_moderator, catalog_items):
    assert search(as_moderator, "🔥") == ids(catalog_items, "course", "antminer", "whatsminer")


def test_a_search_finds_decided_items_too(as_moderator, moderator, catalog_items):
    queue.dismiss_item(
        actor=moderator, item=queue_selectors.item_detail(catalog_items["antminer"]), reason="A keychain."
    )
    assert search(as_moderator, "antminer") == []  # the open items, by default
    assert search(as_moderator, "antminer", status="decided") == ids(catalog_items, "antminer")


# --- the search follows the listing's and the store's texts --------------------------------


def test_an_edited_listing_is_found_by_its_new_words_not_its_old(as_moderator, catalog_items, system):
    listing = queue_selectors.item_detail(catalog_items["whatsminer"]).listing
    catalog.edit_listing(actor=system, listing=listing, title="RTX 4090 显卡", description="Boxed, never used.")

    assert search(as_moderator, "rtx") == ids(catalog_items, "whatsminer")
    assert search(as_moderator, "显卡") == ids(catalog_items, "course", "whatsminer")
    assert search(as_moderator, "boxed") == ids(catalog_items, "whatsminer")
    assert search(as_moderator, "whatsmin") == []
    assert search(as_moderator, "hashboard") == []
    assert search(as_moderator, "guangzhou") == ids(catalog_items, "whatsminer")  # the store, as it was


def test_a_change_of_price_only_leaves_the_search_as_it_was(as_moderator, catalog_items, system):
    listing = queue_selectors.item_detail(catalog_items["antminer"]).listing
    catalog.edit_listing(actor=system, listing=listing, price="1999")
    assert search(as_moderator, "antminer") == ids(catalog_items, "antminer")


def test_a_renamed_store_is_found_by_its_new_name_not_its_old(as_moderator, catalog_items, system, merchant_a):
    catalog.update_merchant(actor=system, merchant=merchant_a, store_name="Dongguan 矿工 Depot")

    assert search(as_moderator, "dongguan") == ids(catalog_items, "course", "antminer")
    assert search(as_moderator, "矿工") == ids(catalog_items, "course", "antminer")
    assert search(as_moderator, "hashpower") == []
    # The listings' own texts are where they were.
    assert search(as_moderator, "antmin") == ids(catalog_items, "antminer")
    assert search(as_moderator, "挖矿 depot") == ids(catalog_items, "course")
    assert search(as_moderator, "3250") == ids(catalog_items, "antminer")


@pytest.mark.parametrize(
    "hostile",
    ["anti\x00miner", "\x00", "%", "_", "' OR 1=1 --", "\u202eantminer\u200b", "x" * 10_000, "a " * 500, "%ED%A0%80"],
)
def test_a_hostile_search_is_cleaned_never_an_error(as_moderator, catalog_items, hostile):
    response = as_moderator.get(reverse("backoffice:queue"), {"q": hostile})
    assert response.status_code == 200
    shown = response.context["filter"].form.cleaned_data["q"]
    assert len(shown) <= SEARCH_MAX_LENGTH
    assert "\x00" not in shown and "\u202e" not in shown and "\u200b" not in shown


def test_nul_and_controls_are_taken_out_of_a_search_not_the_whole_search(as_moderator, catalog_items):
    assert search(as_moderator, "ant\x00\u200bminer") == ids(catalog_items, "antminer")


def test_a_percent_sign_is_searched_as_itself(as_moderator, catalog_items):
    assert search(as_moderator, "%") == []


# --- counts beside the filter options ----------------------------------------------------------


def option_labels(response, field: str) -> dict[str, str]:
    html = response.content.decode()
    select = re.search(rf'<select name="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return {
        value: label.strip() for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)
    }


def test_each_filter_option_shows_how_many_open_items_it_would_show(
    as_moderator, moderator, catalog_items, announced_policy
):
    queue.claim_item(actor=moderator, item=queue_selectors.item_detail(catalog_items["whatsminer"]))
    response = as_moderator.get(reverse("backoffice:queue"))
    assert option_labels(response, "status")["open"].endswith("(3)")
    assert option_labels(response, "status")["claimed"].endswith("(1)")
    assert option_labels(response, "assigned")["me"] == "Claimed by me (1)"
    assert option_labels(response, "assigned")["unassigned"] == "Unclaimed (2)"
    assert option_labels(response, "source")["detection"] == "Detection (3)"
    assert option_labels(response, "source")["report"] == "Report (0)"
    assert option_labels(response, "policy")[str(announced_policy.pk)].endswith("(3)")
    assert option_labels(response, "overdue") == {"": "Any", "true": "Yes (0)", "false": "No (3)"}


def test_the_counts_follow_the_other_filters_and_the_search_but_not_their_own(
    as_moderator, catalog_items, announced_policy
):
    response = as_moderator.get(reverse("backoffice:queue"), {"q": "hashpower", "source": "report"})
    assert row_ids(response) == []
    # Choosing "Detection" instead would show A's two items: the source's own choice is left out.
    assert option_labels(response, "source")["detection"] == "Detection (2)"
    # The other filters' counts are within the chosen source: no report matches.
    assert option_labels(response, "policy")[str(announced_policy.pk)].endswith("(0)")


def test_a_count_past_a_thousand_reads_1000_plus(as_moderator, catalog_items, monkeypatch):
    monkeypatch.setattr(queue_selectors, "OPTION_COUNT_CAP", 2)
    response = as_moderator.get(reverse("backoffice:queue"))
    assert option_labels(response, "source")["detection"] == "Detection (2+)"
    assert option_labels(response, "overdue")["false"] == "No (2+)"


def test_the_counts_are_cached_for_a_few_seconds(
    as_moderator, catalog_items, make_listing, merchant_b, miners, open_item
):
    as_moderator.get(reverse("backoffice:queue"))
    open_item(make_listing(merchant_b, miners, title="Avalon 1246"))
    response = as_moderator.get(reverse("backoffice:queue"))
    assert len(row_ids(response)) == 4  # the rows are never cached
    assert option_labels(response, "source")["detection"] == "Detection (3)"  # the counts are


def test_the_counts_cost_one_grouped_query_and_spare_the_header_its_own(as_moderator, catalog_items):
    with CaptureQueriesContext(connection) as captured:
        response = as_moderator.get(reverse("backoffice:queue"))
    over_items = [query["sql"] for query in captured.captured_queries if 'FROM "moderation_reviewitem"' in query["sql"]]
    assert len(over_items) == 2  # the page, and the counts (which gave the header its figures)
    assert sum("GROUP BY" in sql for sql in over_items) == 1
    assert response.context["header"]["open"] == 3


def test_with_a_search_the_header_still_counts_the_whole_queue(as_moderator, catalog_items):
    response = as_moderator.get(reverse("backoffice:queue"), {"q": "antminer"})
    assert response.context["header"]["open"] == 3
    assert option_labels(response, "source")["detection"] == "Detection (1)"


def test_decided_items_are_not_counted(as_moderator, catalog_items):
    response = as_moderator.get(reverse("backoffice:queue"), {"status": "decided"})
    assert option_labels(response, "source")["detection"] == "Detection"


# --- date pickers and yes/no ----------------------------------------------------------------


def test_the_queue_dates_are_date_pickers_that_keep_an_iso_date(as_moderator, catalog_items):
    html = as_moderator.get(reverse("backoffice:queue"), {"created_after": "2021-10-09"}).content.decode()
    assert '<input type="date" name="created_after" value="2021-10-09"' in html
    assert '<input type="date" name="created_before"' in html
    assert "Unknown" not in html


def test_every_date_filter_of_the_back_office_is_a_date_picker():
    for form in (ReviewItemFilter().form, AppealQueueFilter().form, DashboardForm()):
        for field in form:
            if field.name.endswith(("_after", "_before")) or field.name in ("since", "until"):
                assert 'type="date"' in str(field), field.name


def test_a_picked_date_shows_in_iso_form_in_chinese_too(as_moderator, catalog_items):
    from django.utils import translation

    with translation.override("zh-hans"):
        form = ReviewItemFilter({"created_after": "2021-10-09"}).form
        assert form.is_valid()
        assert 'value="2021-10-09"' in str(form["created_after"])


def test_past_due_is_a_choice_of_any_yes_or_no(as_moderator, catalog_items):
    response = as_moderator.get(reverse("backoffice:queue"), {"overdue": "true"})
    assert row_ids(response) == []
    assert set(option_labels(response, "overdue")) == {"", "true", "false"}
    assert len(row_ids(as_moderator.get(reverse("backoffice:queue"), {"overdue": ""}))) == 3


@pytest.mark.parametrize("raw", ["%ED%A0%80", "%FF%FE", "abc%00def", "%E2%80%AE" * 100])
def test_a_search_of_broken_utf8_is_no_error(as_moderator, catalog_items, raw):
    assert as_moderator.get(reverse("backoffice:queue") + "?q=" + raw).status_code == 200
