"""The audit browser: every event, filtered, linked to what it touched; read-only, for staff roles."""

from __future__ import annotations

import pytest
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb
from moderation.services.sanctions import run_escalation
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403

URL = reverse("backoffice:audit-index")


@pytest.fixture
def trail(travel, announced_policy, merchant_a, merchant_b, violate):
    travel.to(AFTER_GRACE)
    violate(merchant_a, 8)
    violate(merchant_b, 4)
    run_escalation()
    return AuditEvent.objects.all()


@pytest.mark.parametrize("who", ["moderator", "policy_admin", "senior"])
def test_staff_roles_read_the_trail(client, request, who, trail):
    client.force_login(request.getfixturevalue(who))
    response = client.get(URL)
    assert response.status_code == 200
    assert "Sanction issued" in response.content.decode()


def test_anonymous_and_merchants_are_kept_out(client, merchant_user_a, trail):
    assert client.get(URL).status_code == 302
    client.force_login(merchant_user_a)
    assert client.get(URL).status_code == 403


def test_the_browser_only_reads(client, moderator, trail):
    client.force_login(moderator)
    before = AuditEvent.objects.count()
    assert (
        client.post(URL, {"verb": AuditVerb.SANCTION_ISSUED}).status_code == 405 or AuditEvent.objects.count() == before
    )
    assert AuditEvent.objects.count() == before


def test_filters_narrow_by_verb_merchant_actor_and_target(client, moderator, trail, merchant_a, merchant_b):
    client.force_login(moderator)
    html = client.get(URL, {"verb": AuditVerb.SANCTION_ISSUED}).content.decode()
    assert html.count("Sanction issued") >= 1 and "Violation recorded" not in html

    html = client.get(URL, {"merchant": merchant_b.pk, "verb": AuditVerb.VIOLATION_RECORDED}).content.decode()
    assert (
        html.count("<tr>") - 1
        == AuditEvent.objects.filter(merchant=merchant_b, verb=AuditVerb.VIOLATION_RECORDED).count()
    )

    html = client.get(URL, {"actor": "task:run_escalation"}).content.decode()
    assert "<td>task:run_escalation</td>" in html and "<td>moderator</td>" not in html

    sanction_event = AuditEvent.objects.filter(verb=AuditVerb.SANCTION_ISSUED).first()
    html = client.get(URL, {"target_type": "sanction", "target_id": sanction_event.target_id}).content.decode()
    assert f"sanction #{sanction_event.target_id}" in html


def test_events_link_to_what_they_touched(client, moderator, trail, merchant_a):
    client.force_login(moderator)
    html = client.get(URL, {"merchant": merchant_a.pk}).content.decode()
    assert reverse("backoffice:merchant-detail", args=[merchant_a.pk]) in html
    item_event = AuditEvent.objects.filter(verb=AuditVerb.LISTING_TAKEN_DOWN, merchant=merchant_a).first()
    assert item_event is not None
    opened = AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_OPENED, merchant=merchant_a).first()
    html = client.get(URL, {"verb": AuditVerb.REVIEW_ITEM_OPENED}).content.decode()
    assert reverse("backoffice:queue-item", args=[opened.target_id]) in html


def test_bad_filter_values_are_shown_not_failed(client, moderator, trail):
    client.force_login(moderator)
    response = client.get(URL, {"after": "yesterday", "merchant": "abc"})
    assert response.status_code == 200
    assert 'data-field="after"' in response.content.decode()


def test_the_page_costs_the_same_queries_for_a_long_trail(
    client, moderator, trail, django_assert_max_num_queries, violate, merchant_a
):
    client.force_login(moderator)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as short:
        client.get(URL)
    violate(merchant_a, 40)
    with CaptureQueriesContext(connection) as long:
        client.get(URL)
    assert len(long) == len(short)
