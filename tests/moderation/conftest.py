"""Fixtures for enforcement tests: the reference policy on the reference timeline."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from moderation.services.policies import ClauseText, announce_policy, create_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
ANNOUNCED = datetime(2021, 9, 27, 10, 0, tzinfo=SHANGHAI)
EFFECTIVE = datetime(2021, 10, 8, tzinfo=SHANGHAI)
ENFORCEMENT = datetime(2021, 10, 15, tzinfo=SHANGHAI)

REFERENCE_CLAUSES = [
    ClauseText(
        1,
        "Mining hardware and software",
        "Hardware and software used to obtain virtual currencies, such as Bitcoin miners.",
    ),
    ClauseText(
        2,
        "Mining tutorials and strategies",
        "Tutorials, strategies and software for obtaining virtual currencies, such as mining tutorials.",
    ),
    ClauseText(
        3,
        "Virtual currencies",
        "Virtual currencies themselves (Bitcoin, Litecoin, BeaoCoin, QuarkCoin, Ethereum) remain prohibited.",
    ),
]


@pytest.fixture
def draft_policy(db, policy_admin, marketplace, miners, miner_accessories):
    return create_policy(
        actor=policy_admin,
        slug="virtual-currency-mining",
        title="Virtual currency mining machines",
        body="Virtual currency mining machines are prohibited on the marketplace.",
        marketplaces=[marketplace],
        categories=[miners, miner_accessories],
        clauses=REFERENCE_CLAUSES,
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
    )


@pytest.fixture
def announced_policy(draft_policy, policy_admin):
    return announce_policy(actor=policy_admin, policy=draft_policy, announced_at=ANNOUNCED)


# ---------------------------------------------------------------------------------------
# Time travel and a catalog for removals (appended; the fixtures above are unchanged).
# ---------------------------------------------------------------------------------------

import datetime as _datetime  # noqa: E402
from unittest import mock  # noqa: E402

import django.utils.timezone  # noqa: E402
from django.apps import apps as _apps  # noqa: E402

from sellers import services as _catalog  # noqa: E402
from sellers.models import Listing as _Listing  # noqa: E402

_REAL_NOW = django.utils.timezone.now


class TimeMachine:
    """What ``timezone.now()`` answers while the ``travel`` fixture is active.

    Frozen at the moment given to ``to`` (a test reads as a sequence of instants), back to
    the real clock after ``back()``.
    """

    def __init__(self) -> None:
        self.moment: _datetime.datetime | None = None

    def now(self) -> _datetime.datetime:
        return self.moment if self.moment is not None else _REAL_NOW()

    def to(self, moment: _datetime.datetime) -> _datetime.datetime:
        if moment.tzinfo is None:
            raise ValueError("travel.to() needs an aware datetime")
        self.moment = moment.astimezone(_datetime.UTC)
        return self.moment

    def by(self, delta: _datetime.timedelta) -> _datetime.datetime:
        return self.to(self.now() + delta)

    def back(self) -> None:
        self.moment = None


def _fields_defaulting_to_now():
    # Model fields declared ``default=now`` hold the function itself (bound at import),
    # so patching the module attribute does not reach them: patch the field's default.
    for model in _apps.get_models():
        for field in model._meta.concrete_fields:
            if field.default is _REAL_NOW:
                yield field


@pytest.fixture
def travel():
    """``travel.to(datetime)``: every ``timezone.now()`` (and ``default=now``) answers that time."""
    machine = TimeMachine()
    fields = list(_fields_defaulting_to_now())

    def clear_cached_defaults():
        for field in fields:
            field.__dict__.pop("_get_default", None)  # Field._get_default is a cached_property

    with mock.patch("django.utils.timezone.now", new=machine.now):
        for field in fields:
            field.default = machine.now
        clear_cached_defaults()
        try:
            yield machine
        finally:
            for field in fields:
                field.default = _REAL_NOW
            clear_cached_defaults()


@pytest.fixture
def asic_miners(db, system, miners):
    """A subcategory: a removal of "Blockchain Miners" takes it along."""
    return _catalog.create_category(actor=system, name="ASIC Miners", parent=miners)


@pytest.fixture
def merchant_c(db, system, other_marketplace):
    """A merchant on AliExpress, a marketplace outside the reference policy's scope."""
    return _catalog.register_merchant(
        actor=system,
        marketplace=other_marketplace,
        store_name="Hangzhou Rig Outlet",
        company_name="Hangzhou Rig Outlet Co., Ltd.",
        country="CN",
        contact_email="rigs@outlet.example",
    )


@pytest.fixture
def merchant_d(db, system, marketplace):
    """A merchant on Alibaba.com whose only mining listings are no longer live."""
    return _catalog.register_merchant(
        actor=system,
        marketplace=marketplace,
        store_name="Ningbo Former Miner Shop",
        company_name="Ningbo Former Miner Shop Co., Ltd.",
        country="CN",
        contact_email="shop@former.example",
    )


@pytest.fixture
def removal_catalog(
    db,
    system,
    make_listing,
    miners,
    asic_miners,
    miner_accessories,
    graphics_cards,
    merchant_a,
    merchant_b,
    merchant_c,
    merchant_d,
):
    """Listings around the two reference categories.

    Taken down by a removal of "Blockchain Miners" and "Blockchain Miner Accessories":
    merchant A (zh-hans) 5 + 2 in the subcategory, merchant B 4, merchant C (AliExpress) 2:
    13 listings of 3 merchants. Staying as they are: graphics cards (another category),
    a listing its seller removed, and one taken down earlier (merchant D has only those).
    """
    # Interleaved on purpose: the chunks' id ranges span listings that must not be touched.
    doomed = {merchant_a.pk: [], merchant_b.pk: [], merchant_c.pk: []}
    kept = []
    for i in range(5):
        doomed[merchant_a.pk].append(make_listing(merchant_a, miners, title=f"Antminer S19 Pro #{i}"))
    kept.append(make_listing(merchant_a, graphics_cards, title="RTX 3080 graphics card"))
    for i in range(2):
        doomed[merchant_a.pk].append(make_listing(merchant_a, asic_miners, title=f"Whatsminer M30S #{i}"))
    removed_by_seller = make_listing(merchant_d, miners, title="Antminer L3+ (sold out)")
    _catalog.remove_listing_by_seller(actor=system, listing=removed_by_seller)
    for i in range(4):
        doomed[merchant_b.pk].append(make_listing(merchant_b, miner_accessories, title=f"Miner PSU #{i}"))
    kept.append(make_listing(merchant_b, graphics_cards, title="RX 6800 graphics card"))
    delisted_earlier = make_listing(merchant_d, asic_miners, title="Innosilicon A10 (taken down)")
    _Listing.objects.filter(pk=delisted_earlier.pk).update(
        status=_Listing.Status.DELISTED,
        previous_status=_Listing.Status.LIVE,
        delisted_at=ANNOUNCED,
        delisted_reason="Taken down by a moderator before the ban.",
    )
    for i in range(2):
        doomed[merchant_c.pk].append(make_listing(merchant_c, miners, title=f"Avalon 1246 #{i}"))
    return {
        "doomed": doomed,
        "doomed_ids": sorted(listing.pk for listings in doomed.values() for listing in listings),
        "kept_ids": sorted(listing.pk for listing in kept),
        "not_live_ids": sorted([removed_by_seller.pk, delisted_earlier.pk]),
    }


# ---------------------------------------------------------------------------------------
# The review queue and detection scans (appended; the fixtures above are unchanged).
# ---------------------------------------------------------------------------------------

from decimal import Decimal as _Decimal  # noqa: E402

# Inside grace (taken down, warned, not sanctioned) and after it (violations count).
IN_GRACE = datetime(2021, 10, 10, 10, 0, tzinfo=SHANGHAI)
AFTER_GRACE = datetime(2021, 10, 20, 10, 0, tzinfo=SHANGHAI)

# (kind, pattern, weight): a miner's brand alone reaches the reference threshold of 10.
MINING_RULES = [
    ("keyword", "antminer", 10),
    ("keyword", "whatsminer", 10),
    ("keyword", "avalon", 10),
    ("keyword", "innosilicon", 10),
    ("phrase", "bitcoin miner", 6),
    ("keyword", "矿机", 10),
]


@pytest.fixture
def mining_rules(policy_admin, announced_policy):
    """The reference policy's detection rules, created through the service (audited)."""
    from moderation.services.detection import create_detection_rule

    hardware = announced_policy.clauses.get(number=1)  # every rule points to the clause it evidences
    return [
        create_detection_rule(
            actor=policy_admin, policy=announced_policy, kind=kind, pattern=pattern, weight=weight, clause=hardware
        )
        for kind, pattern, weight in MINING_RULES
    ]


@pytest.fixture
def in_grace(travel, announced_policy):
    """The clock on 2021-10-10 in Shanghai: the policy applies, nobody is sanctioned yet."""
    travel.to(IN_GRACE)
    assert announced_policy.in_grace()
    return travel


@pytest.fixture
def after_grace(travel, announced_policy):
    """The clock on 2021-10-20 in Shanghai: violations count toward sanctions."""
    travel.to(AFTER_GRACE)
    assert announced_policy.counts_toward_sanctions()
    return travel


@pytest.fixture
def other_moderator(db):
    from backoffice.roles import Role
    from tests.conftest import make_user

    return make_user("moderator-2", Role.MODERATOR)


@pytest.fixture
def other_senior(db):
    from backoffice.roles import Role
    from tests.conftest import make_user

    return make_user("senior-2", Role.SENIOR_MODERATOR)


@pytest.fixture
def open_item(announced_policy):
    """``open_item(listing, score=12, …)``: the review item ``open_review_items`` opens for it."""
    from moderation.models import ReviewItem
    from moderation.services.queue import Detection, open_review_items

    def open_(listing, score=12, terms=("antminer",), spans=None, source="detection", policy=None, clause=1):
        policy = policy or announced_policy
        found = Detection(score=_Decimal(score), terms=list(terms), spans=spans or {}, clause=clause)
        open_review_items(policy=policy, detections=[(listing, found)], source=source)
        return ReviewItem.objects.get(listing=listing, policy=policy, status__in=["open", "claimed"])

    return open_
