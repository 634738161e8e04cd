"""Every kind of notice, written by the real services, reads entirely in the merchant's language.

One story takes a Chinese-speaking merchant and an English-speaking one through a ban, side by
side, through the services and tasks that run it (Celery eager, on-commit callbacks run as a
commit would): the policy is announced, its categories are removed, a banned listing is refused,
moderators take listings down (one taken down by mistake and undone), the ladder warns and then
blocks the store, the block runs out, a senior moderator restricts and lifts, the merchant
appeals three decisions (one withdrawn, one granted, one rejected), and once the policy holds
flagged listings for review, a listing is held and then published.

What each merchant reads, in the notice and in the e-mail that carries it, is then held to its
language: the Chinese merchant's data has Chinese names (store, marketplace, listing titles,
reasons typed by staff) so only the policy's own texts and category names, shared with the
English merchant, are English. A kind of notice added later without a place in this story fails
``test_the_story_produces_every_kind_of_notice_for_each_merchant``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from moderation import tasks
from moderation.demo import REFERENCE_LADDER, REFERENCE_POINTS
from moderation.models import Appeal, Notice, Policy, ReviewItem, Sanction
from moderation.services import appeals, queue
from moderation.services.detection import create_detection_rule
from moderation.services.policies import announce_policy, create_policy
from moderation.services.queue import take_down_listing
from moderation.services.removals import schedule_removal
from moderation.services.sanctions import issue_manual_sanction, lift_sanction, run_escalation, set_penalty_rules
from moderation.services.undo import undo_decision
from sellers import services as catalog
from sellers.models import Merchant
from tests.moderation.conftest import (
    AFTER_GRACE,
    ANNOUNCED,
    EFFECTIVE,
    ENFORCEMENT,
    IN_GRACE,
    MINING_RULES,
    REFERENCE_CLAUSES,
)
from tests.moderation.test_true_texts import english_left_in

pytestmark = pytest.mark.django_db

CHINESE, ENGLISH = Merchant.Language.CHINESE, Merchant.Language.ENGLISH
# Just after midnight in Shanghai on the effective date: the removal is due.
REMOVAL_RUNS = EFFECTIVE + timedelta(seconds=30)

# What the test puts in, per language. Every Chinese title carries "矿机", which the rules flag.
TITLES = {CHINESE: "蚂蚁矿机 S19 比特币矿机 第{}台", ENGLISH: "Antminer S19 Bitcoin miner unit {}"}
REFUSED_TITLES = {CHINESE: "全新蚂蚁矿机 S19 现货", ENGLISH: "Brand new Antminer S19 Pro in stock"}
STAFF_REASONS = {
    CHINESE: {
        "sanction": "商家在禁令生效后多次发布矿机商品，特此限制其发布新商品。",
        "lift": "商家已删除全部违规商品并提交了整改计划。",
        "grant": "照片显示该商品是显卡扩展坞，不是矿机。",
        "reject": "该商品标题明确写有矿机，属于禁售商品。",
        "grounds": "该商品是显卡扩展坞，没有任何算力芯片，不能用于挖矿，请重新审核。",
    },
    ENGLISH: {
        "sanction": "Mining rigs listed again and again after the ban took effect.",
        "lift": "Every mining listing is gone and a plan of action was sent.",
        "grant": "The photos show a graphics card dock, not a miner.",
        "reject": "The title says it is a bitcoin miner: a banned product.",
        "grounds": "This is a graphics card dock without any hashing chip: it cannot mine anything.",
    },
}

# Chinese (and the full-width forms Chinese punctuation uses): what an English notice must not hold.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# What a Chinese notice may hold in Latin letters besides the data: the sellers' API, a decision's
# key as the API takes it ("violation-12") and the IANA name of the policy's timezone.
TECHNICAL = re.compile(r"(?:GET|POST) /api/v1/\S*?/(?=[\s（）。，]|$)|\b(?:violation|sanction|delisting)-\d+\b|\bAPI\b")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
EMAIL_ADDRESS = re.compile(r"[\w.*+-]+@[\w-]+(?:\.[\w-]+)+")
MONTHS_AND_DAYS = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|AM|PM|a\.m\.|p\.m\.)\b"
)


@pytest.fixture
def wholesale(db, system):
    """A marketplace with a Chinese name, in the policy's scope: the Chinese merchant sells there."""
    return catalog.create_marketplace(actor=system, code="wholesale", name="批发网", timezone_name="Asia/Shanghai")


@pytest.fixture
def chinese_merchant(db, system, wholesale, merchant_user_a):
    return catalog.register_merchant(
        actor=system, marketplace=wholesale, store_name="深圳算力贸易", company_name="深圳算力贸易有限公司",
        country="CN", contact_email="sales@suanli.example", language=CHINESE, user=merchant_user_a,
    )  # fmt: skip


@pytest.fixture
def english_merchant(db, system, marketplace, merchant_user_b):
    return catalog.register_merchant(
        actor=system, marketplace=marketplace, store_name="Guangzhou Gadget Supply",
        company_name="Guangzhou Gadget Supply Co., Ltd.", country="CN", contact_email="hello@gadgets.example",
        language=ENGLISH, user=merchant_user_b,
    )  # fmt: skip


@pytest.fixture
def story(
    travel, system, policy_admin, moderator, other_moderator, senior, marketplace, wholesale, miners,
    miner_accessories, graphics_cards, make_listing, chinese_merchant, english_merchant,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The ban told to both merchants through every kind of notice. Returns what the tests check against."""
    merchants = {CHINESE: chinese_merchant, ENGLISH: english_merchant}

    def committed():
        # The service's transaction commits: its e-mails, scans and ladder tasks run (eager Celery).
        return django_capture_on_commit_callbacks(execute=True)

    def title(language: str, number: int) -> str:
        return TITLES[language].format(number)

    # 1. Both merchants sell miners when the policy is announced: policy_announced.
    travel.to(ANNOUNCED - timedelta(days=1))
    removed_by_category = {
        language: [make_listing(merchant, miners, title=title(language, n)) for n in (1, 2)]
        for language, merchant in merchants.items()
    }
    policy = create_policy(
        actor=policy_admin, slug="virtual-currency-mining", title="Virtual currency mining machines",
        body="Virtual currency mining machines are prohibited on the marketplace.",
        marketplaces=[marketplace, wholesale], categories=[miners, miner_accessories], clauses=REFERENCE_CLAUSES,
        effective_at=EFFECTIVE, enforcement_starts_at=ENFORCEMENT,
    )  # fmt: skip
    set_penalty_rules(actor=policy_admin, policy=policy, points=REFERENCE_POINTS, ladder=REFERENCE_LADDER)
    travel.to(ANNOUNCED)
    with committed():
        policy = announce_policy(actor=policy_admin, policy=policy)
    hardware = policy.clauses.get(number=1)
    for kind, pattern, weight in MINING_RULES:
        create_detection_rule(
            actor=policy_admin, policy=policy, kind=kind, pattern=pattern, weight=weight, clause=hardware
        )

    # 2. The categories close on the effective date, their listings come down: listings_delisted.
    schedule_removal(actor=policy_admin, policy=policy, categories=[miners, miner_accessories])
    travel.to(REMOVAL_RUNS)
    with committed():
        assert len(tasks.start_due_removals()) == 1

    # 3. In grace, a banned listing is refused by the sellers' service: listing_refused.
    travel.to(IN_GRACE)
    refused = {}
    for language, merchant in merchants.items():
        with committed(), pytest.raises(ValidationError):
            catalog.create_listing(
                actor=merchant.user, merchant=merchant, category=graphics_cards, title=REFUSED_TITLES[language],
                price=Decimal("1999.00"),
            )  # fmt: skip
        refused[language] = merchant.violations.get(kind="relist_attempt")

    # 4. After grace, listings slipped into another category; the scan queues them for review.
    travel.to(AFTER_GRACE)
    with committed():
        slipped = {
            language: [make_listing(merchant, graphics_cards, title=title(language, n)) for n in (3, 4, 5, 6)]
            for language, merchant in merchants.items()
        }
    items = {
        language: [ReviewItem.objects.get(listing=listing, status=ReviewItem.Status.OPEN) for listing in listings]
        for language, listings in slipped.items()
    }

    taken_down = {}
    for language, merchant in merchants.items():
        first, second, third, _ = items[language]
        # A take-down by mistake, undone by its moderator at once: listing_taken_down, decision_withdrawn.
        with committed():
            take_down_listing(actor=moderator, item=first)
        with committed():
            undo_decision(actor=moderator, item=first)
        catalog.remove_listing_by_seller(actor=merchant.user, listing=first.listing)
        # Two evasions (8 points) reach the ladder's warning (6): warning.
        for item in (second, third):
            with committed():
                take_down_listing(actor=moderator, item=item, kind="keyword_evasion")
        with committed():
            run_escalation()
        assert Sanction.objects.get(merchant=merchant).kind == "warning"
    # 5. Past the warning's days to comply, a third evasion (12 points) blocks the store: sanction.
    travel.by(timedelta(days=4))
    for language, merchant in merchants.items():
        with committed():
            taken_down[language] = take_down_listing(actor=moderator, item=items[language][3], kind="keyword_evasion")
        assert merchant.sanctions.filter(kind="store_block", status="active").exists()
    # 6. The block runs out (sanction_ended); a senior moderator restricts and lifts (sanction, sanction_ended).
    travel.by(timedelta(days=8))
    with committed():
        run_escalation()
    for language, merchant in merchants.items():
        assert not merchant.sanctions.filter(status="active").exclude(kind="warning").exists()
        with committed():
            restriction = issue_manual_sanction(
                actor=senior, merchant=merchant, policy=policy, kind="listing_restriction",
                reason=STAFF_REASONS[language]["sanction"], duration_days=3,
            )  # fmt: skip
        with committed():
            lift_sanction(actor=senior, sanction=restriction, reason=STAFF_REASONS[language]["lift"])

    # 7. Appeals: received, withdrawn; received, in review, granted; received, in review, rejected.
    for language, merchant in merchants.items():
        words = STAFF_REASONS[language]
        with committed():
            appeal = appeals.file_appeal(
                actor=merchant.user, merchant=merchant, kind=Appeal.Kind.DELISTING,
                object_id=removed_by_category[language][0].pk, grounds=words["grounds"],
            )  # fmt: skip
        with committed():
            appeals.withdraw_appeal(actor=merchant.user, appeal=appeal)
        for violation, decide in ((taken_down[language], "grant"), (refused[language], "reject")):
            with committed():
                appeal = appeals.file_appeal(
                    actor=merchant.user, merchant=merchant, kind=Appeal.Kind.VIOLATION, object_id=violation.pk,
                    grounds=words["grounds"],
                )  # fmt: skip
            with committed():
                appeal = appeals.claim_appeal(actor=other_moderator, appeal=appeal)
            with committed():
                if decide == "grant":
                    appeals.grant_appeal(actor=other_moderator, appeal=appeal, reason=words["grant"])
                else:
                    appeals.reject_appeal(actor=other_moderator, appeal=appeal, reason=words["reject"])

    # 8. The policy holds flagged listings for review from now on (set on the row: a story's shortcut for
    #    a new version); a new banned listing is held (listing_held), a moderator allows it (listing_published).
    Policy.objects.filter(pk=policy.pk).update(flagged_listings=Policy.FlaggedListings.REVIEW)
    for language, merchant in merchants.items():
        with committed():
            held = catalog.create_listing(
                actor=merchant.user, merchant=merchant, category=graphics_cards, title=title(language, 7),
                price=Decimal("1999.00"),
            )  # fmt: skip
        assert held.status == "held"
        with committed():
            queue.dismiss_item(
                actor=moderator, item=ReviewItem.objects.get(listing=held, status="open"),
                reason=STAFF_REASONS[language]["grant"],
            )  # fmt: skip

    # Anything a commit left unsent goes now (none should be left: each commit sent its own).
    tasks.send_pending_notices()
    policy.refresh_from_db()
    shared = [
        policy.title, policy.body, *(text for clause in policy.clauses.all() for text in (clause.title, clause.text)),
        miners.name, miner_accessories.name, graphics_cards.name,
    ]  # fmt: skip
    return {"merchants": merchants, "policy": policy, "shared_names": shared}


def notices_of(merchant: Merchant) -> list[Notice]:
    return list(Notice.objects.filter(merchant=merchant).order_by("id"))


def mails_by_notice() -> dict[str, mail.EmailMessage]:
    return {message.extra_headers["X-Notice-Id"]: message for message in mail.outbox}


def latin_left_in(text: str, *names: str) -> list[str]:
    """Latin words in a Chinese text once the data names and the API's own tokens are taken out."""
    for name in sorted(filter(None, names), key=len, reverse=True):
        text = text.replace(name, "")
    text = TECHNICAL.sub("", text).replace("Asia/Shanghai", "")
    return LATIN_WORD.findall(text)


def test_the_story_produces_every_kind_of_notice_for_each_merchant(story):
    for language, merchant in story["merchants"].items():
        produced = {notice.kind for notice in notices_of(merchant)}
        assert produced == set(Notice.Kind.values), f"{language}: missing {set(Notice.Kind.values) - produced}"
        assert {notice.language for notice in notices_of(merchant)} == {language}


def test_every_notice_to_the_chinese_merchant_is_chinese_from_subject_to_last_line(story):
    merchant = story["merchants"][CHINESE]
    for notice in notices_of(merchant):
        text = f"{notice.subject}\n{notice.body}"
        assert CJK.search(notice.subject), (notice.kind, notice.subject)
        assert english_left_in(text, *story["shared_names"]) == [], (notice.kind, text)
        assert latin_left_in(text, *story["shared_names"]) == [], (notice.kind, text)


def test_every_email_to_the_chinese_merchant_is_its_notice_in_chinese(story):
    merchant = story["merchants"][CHINESE]
    sent = mails_by_notice()
    notices = notices_of(merchant)
    assert {notice.email_status for notice in notices} == {Notice.EmailStatus.SENT}
    assert sorted(message.extra_headers["X-Notice-Id"] for message in mail.outbox if message.to == [
        merchant.contact_email
    ]) == sorted(notice.puid for notice in notices)  # fmt: skip
    for notice in notices:
        message = sent[notice.puid]
        assert (message.subject, message.body) == (notice.subject, notice.body)
        text = f"{message.subject}\n{message.body}"
        assert english_left_in(text, *story["shared_names"]) == [], notice.kind
        assert latin_left_in(text, *story["shared_names"]) == [], notice.kind


def test_the_chinese_notices_write_dates_the_chinese_way(story):
    merchant = story["merchants"][CHINESE]
    notices = notices_of(merchant)
    for notice in notices:
        assert MONTHS_AND_DAYS.findall(f"{notice.subject}\n{notice.body}") == [], notice.kind
    announced = next(n for n in notices if n.kind == Notice.Kind.POLICY_ANNOUNCED)
    assert "将于 2021年10月8日 生效" in announced.subject
    assert "自 2021年10月8日 00:00 起规则生效" in announced.body
    delisted = next(n for n in notices if n.kind == Notice.Kind.LISTINGS_DELISTED)
    assert "已于 2021年10月8日 00:00（Asia/Shanghai）从 批发网 下架" in delisted.body
    # The categories listed the Chinese way too: "、" between them, not ", ".
    assert "类目“Blockchain Miner Accessories”、“Blockchain Miners”中的 2 个商品" in delisted.body


def test_the_chinese_merchant_is_told_why_each_sanction_ended(story):
    """The ending's cause picks the sentence: a block that ran out, a restriction a senior moderator lifted."""
    merchant = story["merchants"][CHINESE]
    endings = {
        notice.body.split("结束原因\n", 1)[1].split("\n", 1)[0].strip()
        for notice in notices_of(merchant)
        if notice.kind == Notice.Kind.SANCTION_ENDED
    }
    assert endings == {"期限已满。", f"高级审核员提前解除了该措施，理由如下：{STAFF_REASONS[CHINESE]['lift']}"}


def test_every_notice_and_email_to_the_english_merchant_is_english(story):
    merchant = story["merchants"][ENGLISH]
    sent = mails_by_notice()
    for notice in notices_of(merchant):
        message = sent[notice.puid]
        assert message.to == [merchant.contact_email]
        for text in (notice.subject, notice.body, message.subject, message.body):
            assert CJK.findall(text) == [], (notice.kind, text)
    endings = {
        notice.body.split("Why it ended\n", 1)[1].split("\n", 1)[0].strip()
        for notice in notices_of(merchant)
        if notice.kind == Notice.Kind.SANCTION_ENDED
    }
    assert endings == {
        "Its time ran out.",
        f"A senior moderator lifted it early. Their reason: {STAFF_REASONS[ENGLISH]['lift']}",
    }


# --- Every branch of every template, read as text ---------------------------------------------------
#
# The story takes one path through each template; a branch it does not take (an account frozen, a
# listing that stays down) is read here as the template's own words, the values left out.

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def template_words(path: Path) -> str:
    """A template's own text: every tag left out, every printed value as a number (``#{{ pk }}`` → ``#0``)."""
    source = path.read_text(encoding="utf-8").removeprefix("{% autoescape off %}Subject:")
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", "", source, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", "0", source, flags=re.S)


def chinese_templates() -> list[Path]:
    return sorted([*TEMPLATES.glob("notices/zh-hans/*.txt"), *TEMPLATES.glob("emails/zh-hans/*.txt")])


def english_templates() -> list[Path]:
    return sorted([*TEMPLATES.glob("notices/en/*.txt"), *TEMPLATES.glob("emails/en/*.txt")])


@pytest.mark.parametrize("path", chinese_templates(), ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_no_branch_of_a_chinese_template_says_anything_in_english(path):
    assert latin_left_in(template_words(path)) == []


@pytest.mark.parametrize("path", english_templates(), ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_no_branch_of_an_english_template_says_anything_in_chinese(path):
    assert CJK.findall(template_words(path)) == []


def test_each_kind_of_notice_has_a_template_in_each_language():
    for language in Merchant.Language.values:
        assert {path.stem for path in (TEMPLATES / "notices" / language).glob("*.txt")} == set(Notice.Kind.values)


# --- The e-mails that are not notices: a contact address changed --------------------------------------


def test_a_chinese_merchant_hears_of_a_contact_change_in_chinese_at_both_addresses(
    travel, system, chinese_merchant, django_capture_on_commit_callbacks
):
    travel.to(AFTER_GRACE)
    with django_capture_on_commit_callbacks(execute=True):
        catalog.update_merchant(actor=system, merchant=chinese_merchant, contact_email="boss@suanli.example")
    to_old, to_new = mail.outbox
    assert (to_old.to, to_new.to) == (["sales@suanli.example"], ["boss@suanli.example"])
    for message in (to_old, to_new):
        assert message.subject.startswith("深圳算力贸易：")
        text = EMAIL_ADDRESS.sub("", f"{message.subject}\n{message.body}")  # the addresses, masked or whole
        assert latin_left_in(text, "UTC") == [], message.body
    assert "您在 批发网 上的店铺 深圳算力贸易 的联系邮箱已由本地址更改为 b***@suanli.example。" in to_old.body
