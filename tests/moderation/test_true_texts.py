"""Texts that say what happened: lifts that tell the merchant, notices in one language, a scan
whose figures add up, one timezone per dashboard period."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from moderation.models import AuditEvent, AuditVerb, PolicyScan
from moderation.selectors.removals import scan_progress
from moderation.services import scanning
from sellers import services as catalog
from sellers.models import Category, Listing
from tests.moderation import test_scanning
from tests.moderation.sanctions_fixtures import *  # noqa: F403

# The scan tests' catalog and small chunks, shared rather than copied.
catalog_to_scan = test_scanning.catalog_to_scan
small_scan_chunks = test_scanning.small_scan_chunks

# --- a completed scan's figures add up -------------------------------------------------------------


def test_a_completed_scan_counts_the_listings_it_skipped(
    announced_policy, catalog_to_scan, small_scan_chunks, asic_miners, django_capture_on_commit_callbacks, client,
    policy_admin,
):  # fmt: skip
    # The two Whatsminers sit in a retired category: they come down with it, nobody reads them.
    Category.objects.filter(pk=asic_miners.pk).update(status=Category.Status.RETIRED, retired_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        scan = scanning.start_policy_scan(policy=announced_policy)
    scan.refresh_from_db()

    assert scan.status == PolicyScan.Status.COMPLETED
    assert (scan.listings_total, scan.listings_done, scan.listings_read, scan.listings_skipped) == (13, 13, 11, 2)
    assert scan.items_opened == 5  # the five Antminers; the Whatsminers were skipped, not queued
    assert sum(scan.chunks.values_list("skipped", flat=True)) == 2
    event = AuditEvent.objects.get(verb=AuditVerb.SCAN_COMPLETED)
    assert (event.after["listings"], event.after["read"], event.after["skipped"]) == (13, 11, 2)
    progress = scan_progress(scan)
    assert progress["listings_read"] + progress["listings_skipped"] == progress["listings_done"]
    assert progress["listings_done"] == progress["listings_total"]

    client.force_login(policy_admin)
    page = client.get(f"/backoffice/scans/{scan.pk}/").content.decode()
    assert '<span id="read">11</span> / <span id="skipped">2</span>' in page
    assert "{read} read, {skipped} skipped" in page


def test_a_listing_that_leaves_while_the_scan_runs_does_not_leave_the_total_short(
    announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks, system
):
    with django_capture_on_commit_callbacks() as queued:
        scan = scanning.start_policy_scan(policy=announced_policy)
    assert scan.listings_total == 13
    gone = Listing.objects.get(pk=catalog_to_scan["flagged_ids"][0])
    catalog.remove_listing_by_seller(actor=system, listing=gone)
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    scan.refresh_from_db()

    assert scan.status == PolicyScan.Status.COMPLETED
    assert scan.listings_total == scan.listings_done == 12
    assert scan.listings_read + scan.listings_skipped == scan.listings_done


def test_a_running_scan_keeps_its_planned_total(
    announced_policy, catalog_to_scan, small_scan_chunks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        scan = scanning.start_policy_scan(policy=announced_policy)
    scan.refresh_from_db()
    assert (scan.status, scan.listings_total, scan.listings_done, scan.listings_skipped) == ("running", 13, 0, 0)


pytestmark = pytest.mark.django_db


# --- one timezone per period -------------------------------------------------------------------------


def report_rows(client, **params) -> list[list[str]]:
    import csv
    import io

    response = client.get("/backoffice/reports/transparency.csv", params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_reports_days_are_the_dashboards_days_in_the_policys_timezone(client, moderator, announced_policy):
    client.force_login(moderator)
    page = client.get(
        "/backoffice/", {"policy": announced_policy.pk, "since": "2021-10-01", "until": "2021-10-31"}
    ).content.decode()
    assert "2021-10-01 to 2021-10-31 (Asia/Shanghai)" in page

    rows = report_rows(client, policy=announced_policy.pk, since="2021-10-01", until="2021-10-31")
    assert rows[0] == ["section", "item", "value"]
    assert ["period", "timezone", "Asia/Shanghai"] in rows
    assert ["period", "first_day", "2021-10-01"] in rows and ["period", "last_day", "2021-10-31"] in rows
    assert ["period", "start", "2021-10-01T00:00:00+08:00"] in rows
    assert ["period", "end", "2021-11-01T00:00:00+08:00"] in rows


def test_a_report_over_every_policy_uses_the_dashboards_default_timezone(client, moderator, announced_policy):
    client.force_login(moderator)
    rows = report_rows(client, since="2021-10-01", until="2021-10-31")
    assert ["period", "timezone", "Asia/Shanghai"] in rows
    report = client.get("/backoffice/reports/transparency.json", {"since": "2021-10-01", "until": "2021-10-31"}).json()
    assert report["period"]["timezone"] == "Asia/Shanghai"
    assert report["period"]["start"] == "2021-10-01T00:00:00+08:00"


def test_a_sanction_on_the_first_local_morning_counts_in_the_period(
    client, moderator, announced_policy, merchant_b, senior, after_grace, take_down
):
    """Issued at 01:30 in Shanghai on 1 November (17:30 UTC on 31 October): November's, not October's."""
    from datetime import UTC, datetime

    from moderation.models import Sanction
    from moderation.services.sanctions import issue_manual_sanction

    take_down(merchant_b)
    warning = issue_manual_sanction(
        actor=senior, merchant=merchant_b, policy=announced_policy, kind="warning",
        reason="Mining rigs listed again after the ban took effect.",
    )  # fmt: skip
    Sanction.objects.filter(pk=warning.pk).update(starts_at=datetime(2021, 10, 31, 17, 30, tzinfo=UTC))
    client.force_login(moderator)
    october = client.get("/backoffice/reports/transparency.json", {"since": "2021-10-01", "until": "2021-10-31"})
    november = client.get("/backoffice/reports/transparency.json", {"since": "2021-11-01", "until": "2021-11-30"})
    assert october.json()["suspensions_by_type"] == {}
    assert november.json()["suspensions_by_type"] == {"warning": 1}


# --- the sign-in page in the browser's language ------------------------------------------------------


@pytest.fixture(autouse=True)
def language_reset_after_each_test():
    """LocaleMiddleware leaves a request's language active in this thread after the response: a page
    asked for in Chinese would make the next module's messages Chinese (tests that match English)."""
    from django.utils import translation

    yield
    translation.deactivate()


def test_the_sign_in_page_speaks_the_browsers_language_before_sign_in(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<html lang="zh-hans">' in page
    assert '<label for="id_username">用户名</label>' in page
    assert '<label for="id_password">密码</label>' in page
    for english in (">Username<", ">Password<"):
        assert english not in page


def test_the_sign_in_page_stays_english_for_an_english_browser(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-GB").content.decode()
    assert '<html lang="en">' in page
    assert '<label for="id_username">Username</label>' in page and "<h1>Sign in</h1>" in page


def test_a_failed_sign_in_is_explained_in_the_browsers_language(client, moderator):
    page = client.post(
        "/accounts/login/", {"username": moderator.username, "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="zh-CN"
    ).content.decode()
    assert "请输入一个正确的" in page  # Django's own translation of the refusal


# --- lifting tells the merchant, in the merchant's language -----------------------------------------

# Two or more English words of three letters or more in a row: a sentence the template did not translate.
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{3,}(?:[ ,.:;'-]+[A-Za-z]{3,})+\b")


def english_left_in(text: str, *names: str) -> list[str]:
    """English runs in ``text`` once the names put in by the test (titles, store names) are taken out."""
    for name in sorted(filter(None, names), key=len, reverse=True):
        text = text.replace(name, "")
    return ENGLISH_RUN.findall(text)


def test_lifting_a_warning_sends_the_merchant_a_notice_in_their_language(
    after_grace, announced_policy, merchant_a, senior, take_down, django_capture_on_commit_callbacks
):
    from moderation.models import Notice
    from moderation.services.sanctions import issue_manual_sanction, lift_sanction

    assert merchant_a.language == "zh-hans"
    take_down(merchant_a)
    warning = issue_manual_sanction(
        actor=senior, merchant=merchant_a, policy=announced_policy, kind="warning",
        reason="商家在禁令生效后再次发布矿机商品，违反平台规则，特此发出正式警告。",
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        lift_sanction(actor=senior, sanction=warning, reason="商家已删除全部违规商品并提供了证明。")

    notice = Notice.objects.get(merchant=merchant_a, kind=Notice.Kind.SANCTION_ENDED)
    assert notice.language == "zh-hans"
    assert "本警告已撤回" in notice.body and "商家已删除全部违规商品并提供了证明。" in notice.body
    assert f"#{warning.pk}" in notice.subject
    policy_texts = [announced_policy.title, merchant_a.store_name, merchant_a.marketplace.name]
    assert english_left_in(notice.subject + "\n" + notice.body, *policy_texts) == []
    event = AuditEvent.objects.get(verb=AuditVerb.NOTICE_CREATED, target_id=notice.pk)
    assert event.merchant_id == merchant_a.pk


def test_lifting_a_warning_tells_an_english_merchant_in_english(
    after_grace, announced_policy, merchant_b, senior, take_down
):
    from moderation.models import Notice
    from moderation.services.sanctions import issue_manual_sanction, lift_sanction

    assert merchant_b.language == "en"
    take_down(merchant_b)
    warning = issue_manual_sanction(
        actor=senior, merchant=merchant_b, policy=announced_policy, kind="warning",
        reason="Mining rigs listed again after the ban took effect.",
    )  # fmt: skip
    lift_sanction(actor=senior, sanction=warning, reason="Every mining listing is gone, with proof.")
    notice = Notice.objects.get(merchant=merchant_b, kind=Notice.Kind.SANCTION_ENDED)
    assert notice.language == "en"
    assert "This warning is withdrawn" in notice.body
    assert "Every mining listing is gone, with proof." in notice.body


def test_a_warning_that_is_not_lifted_sends_no_ending_notice(
    after_grace, announced_policy, merchant_b, senior, take_down
):
    from moderation.models import Notice
    from moderation.services.sanctions import issue_manual_sanction, lift_sanction

    take_down(merchant_b)
    warning = issue_manual_sanction(
        actor=senior, merchant=merchant_b, policy=announced_policy, kind="warning",
        reason="Mining rigs listed again after the ban took effect.",
    )  # fmt: skip
    with pytest.raises(ValidationError):
        lift_sanction(actor=senior, sanction=warning, reason="short")
    assert not Notice.objects.filter(kind=Notice.Kind.SANCTION_ENDED).exists()


# --- a granted appeal says what it restored in the merchant's language ------------------------------


@pytest.fixture
def store_blocked_by_take_downs(after_grace, violate):
    """``store_blocked_by_take_downs(merchant)``: warned at 8 points, store blocked at 12 by take-downs.

    Returns the last take-down (one of the four behind the block, its listing delisted) and the block.
    """
    from datetime import timedelta

    from moderation.models import Sanction
    from moderation.services.sanctions import run_escalation

    def block(merchant):
        violate(merchant, 8)
        run_escalation()  # the warning
        after_grace.by(timedelta(days=4))  # past the warning's days to comply
        last = violate(merchant, 4)[-1]
        run_escalation()
        store_block = Sanction.objects.filter(merchant=merchant).latest("id")
        assert (store_block.kind, store_block.status) == ("store_block", "active")
        assert store_block.violations.filter(pk=last.pk).exists()
        last.listing.refresh_from_db()
        assert last.listing.status == "delisted"
        return last, store_block

    return block


def grant_violation_appeal(merchant, merchant_user, violation, *, actor, reason: str):
    from moderation.models import Appeal, Notice
    from moderation.services import appeals

    appeal = appeals.file_appeal(
        actor=merchant_user, merchant=merchant, kind=Appeal.Kind.VIOLATION, object_id=violation.pk,
        grounds="The listing is a graphics card dock: it has no hashing chips and mines nothing.",
    )  # fmt: skip
    appeals.grant_appeal(actor=actor, appeal=appeal, reason=reason)
    return appeal, Notice.objects.get(dedupe_key=f"appeal:{appeal.pk}:decided")


def test_a_granted_appeal_tells_a_chinese_merchant_what_it_restored_in_chinese(
    announced_policy, merchant_a, merchant_user_a, other_moderator, store_blocked_by_take_downs
):
    assert merchant_a.language == "zh-hans"
    violation, block = store_blocked_by_take_downs(merchant_a)
    listing = violation.listing

    appeal, notice = grant_violation_appeal(
        merchant_a, merchant_user_a, violation, actor=other_moderator, reason="照片显示该商品是显卡扩展坞，不是矿机。"
    )

    listing.refresh_from_db()
    block.refresh_from_db()
    assert (listing.status, block.status) == ("live", "overturned")
    assert notice.language == "zh-hans"
    body = notice.body
    assert f"违规记录 #{violation.pk} 不再计入，其 4 分扣分已撤销。" in body
    assert f"“屏蔽店铺”（处罚编号 #{block.pk}）已撤销。" in body
    assert f"商品 #{listing.pk}“{listing.title}”已重新上架。" in body
    put_in = [listing.title, announced_policy.title, merchant_a.store_name, merchant_a.marketplace.name]
    assert english_left_in(notice.subject + "\n" + body, *put_in) == []
    # The audit trail is written in English on purpose, whatever the merchant reads.
    granted = AuditEvent.objects.get(verb=AuditVerb.APPEAL_GRANTED, target_id=appeal.pk)
    assert granted.after["restored"] == [
        f"Violation #{violation.pk} no longer counts: its 4 points are removed.",
        f"The store block (sanction #{block.pk}) is overturned.",
        f"Listing #{listing.pk} “{listing.title}” is live again.",
    ]


def test_a_granted_appeal_tells_an_english_merchant_what_it_restored_in_english(
    announced_policy, merchant_b, merchant_user_b, other_moderator, store_blocked_by_take_downs
):
    assert merchant_b.language == "en"
    violation, block = store_blocked_by_take_downs(merchant_b)
    listing = violation.listing

    appeal, notice = grant_violation_appeal(
        merchant_b, merchant_user_b, violation, actor=other_moderator,
        reason="The photos show a GPU dock without hashing boards.",
    )  # fmt: skip

    assert notice.language == "en"
    steps = [
        f"Violation #{violation.pk} no longer counts: its 4 points are removed.",
        f"The store block (sanction #{block.pk}) is overturned.",
        f"Listing #{listing.pk} “{listing.title}” is live again.",
    ]
    assert "What has been restored:\n" + "".join(f"  - {step}\n" for step in steps) in notice.body
    granted = AuditEvent.objects.get(verb=AuditVerb.APPEAL_GRANTED, target_id=appeal.pk)
    assert granted.after["restored"] == steps  # the notice says what the trail records


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_kind_of_restored_step_has_its_words_in_each_language(language, announced_policy, merchant_a):
    """Each kind a reversal returns is worded by both templates (a kind without a branch prints an empty line)."""
    from moderation.models import Appeal, Notice
    from moderation.services.appeals import step_in_english
    from moderation.services.notices import NoticeDraft, render_notice

    merchant_a.language = language
    steps = [
        {"what": "violation_overturned", "violation": 7, "points": 0},
        {"what": "sanction_overturned", "sanction": 3, "kind": "account_freeze"},
        {"what": "listing_restored", "listing": 11, "title": "RTX 3080", "status": "live", "category": "GPUs"},
        {"what": "listing_not_delisted", "listing": 12, "title": "RTX 3070", "status": "removed_by_seller"},
        {"what": "listing_stays_down", "listing": 13, "title": "S19", "category": "ASIC miners"},
        {"what": "listing_back_to_review", "listing": 14, "title": "RTX 3060", "changed": True},
    ]
    appeal = Appeal(pk=5, merchant=merchant_a, kind=Appeal.Kind.VIOLATION, decision_key="violation-7")
    draft = NoticeDraft(
        merchant_id=merchant_a.pk, kind=Notice.Kind.APPEAL_DECIDED, dedupe_key="appeal:5:decided",
        policy=announced_policy,
        context={
            "appeal": appeal, "filed_at": timezone.now(), "granted": True, "reason": "理由", "restored": steps,
            "points_now": 0,
        },
    )  # fmt: skip
    _, body = render_notice(merchant=merchant_a, draft=draft)
    lines = [line for line in body.splitlines() if line.startswith("  - ")]
    assert len(lines) == len(steps) and "  -" not in [line.rstrip() for line in lines]  # none left unworded
    if language == "en":
        # The English notice says what the audit trail records, word for word.
        assert lines == [f"  - {step_in_english(step)}" for step in steps]
        assert lines[1:4] == [
            "  - The account freeze (sanction #3) is overturned.",
            "  - Listing #11 “RTX 3080” is live again in “GPUs”.",
            "  - Listing #12 is not delisted (it is removed by seller).",
        ]
    else:
        assert english_left_in(body, "RTX", "GPUs", "ASIC miners", announced_policy.title, merchant_a.store_name) == []
        assert lines[1] == "  - “冻结账户”（处罚编号 #3）已撤销。"
        assert lines[2] == "  - 商品 #11“RTX 3080”已移至类目“GPUs”，并重新上架。"
        assert lines[3] == "  - 商品 #12 并未处于下架状态（当前状态：已由您自行删除）。"


def test_an_undone_take_down_that_brought_a_sanction_down_says_so_in_chinese_and_audits_in_english(
    announced_policy, merchant_a, moderator, store_blocked_by_take_downs, django_capture_on_commit_callbacks
):
    from moderation.models import Notice
    from moderation.services.undo import undo_decision

    violation, block = store_blocked_by_take_downs(merchant_a)
    listing = violation.listing
    with django_capture_on_commit_callbacks(execute=True):
        item = undo_decision(actor=moderator, item=violation.review_item)

    notice = Notice.objects.get(merchant=merchant_a, kind=Notice.Kind.DECISION_WITHDRAWN)
    assert "基于该违规的处罚已一并撤销。" in notice.body
    put_in = [listing.title, announced_policy.title, merchant_a.store_name, merchant_a.marketplace.name]
    assert english_left_in(notice.subject + "\n" + notice.body, *put_in) == []
    undone = AuditEvent.objects.get(verb=AuditVerb.REVIEW_DECISION_UNDONE, target_id=item.pk)
    assert undone.after["reversed"] == [
        f"Violation #{violation.pk} no longer counts: its 4 points are removed.",
        f"The store block (sanction #{block.pk}) is overturned.",
    ]
