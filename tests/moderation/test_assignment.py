"""Assignment: a moderator hands an open item to a named moderator, who finds it under "Assigned to me"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from backoffice.roles import Role
from moderation.models import AuditEvent, AuditVerb, ReviewItem
from moderation.selectors.assignment import assigned_to, eligible_assignees
from moderation.services import queue
from moderation.services.assignment import assign_item, unassign_item
from tests.conftest import make_user


@pytest.fixture
def listing(merchant_b, miners, make_listing):
    return make_listing(merchant_b, miners, title="Antminer S19 Pro 110TH/s")


@pytest.fixture
def item(in_grace, open_item, listing):
    return open_item(listing, score=12)


@pytest.fixture
def escalated(item, moderator):
    return queue.escalate_item(actor=moderator, item=item, note="Is this a miner?")


def refusal(call, **kwargs) -> str:
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    return " ".join(error.value.messages)


def assignments():
    return AuditEvent.objects.filter(verb=AuditVerb.REVIEW_ITEM_ASSIGNED).order_by("pk")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- the service -------------------------------------------------------------------------------


def test_a_moderator_assigns_an_item_to_another_and_the_audit_says_so(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    item.refresh_from_db()
    assert (item.assigned_to, item.status) == (other_moderator, "open")
    event = assignments().get()
    assert (event.actor, event.target_id, event.merchant_id, event.policy_id) == (
        moderator,
        item.pk,
        item.merchant_id,
        item.policy_id,
    )
    assert event.before == {"assigned_to": None, "status": "open", "claimed_by": None}
    assert event.after == {"assigned_to": other_moderator.pk, "status": "open", "claimed_by": None}
    assert event.reason == "Assigned to moderator-2."


def test_assigning_to_the_current_assignee_again_writes_nothing(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    assert assignments().count() == 1


def test_an_item_is_not_assigned_to_a_merchant_a_policy_admin_or_an_inactive_moderator(
    moderator, merchant_user_a, policy_admin, item
):
    gone = make_user("moderator-gone", Role.MODERATOR, is_active=False)
    for person in (merchant_user_a, policy_admin, gone):
        message = refusal(assign_item, actor=moderator, item=item, assignee=person)
        assert "is not a moderator" in message
    item.refresh_from_db()
    assert item.assigned_to is None
    assert not assignments().exists()


def test_an_escalated_item_goes_only_to_a_senior(senior, other_moderator, escalated):
    message = refusal(assign_item, actor=senior, item=escalated, assignee=other_moderator)
    assert message == "This item was escalated: only a senior moderator can be assigned it."
    other_senior = make_user("senior-2", Role.SENIOR_MODERATOR)
    assign_item(actor=senior, item=escalated, assignee=other_senior)
    escalated.refresh_from_db()
    assert escalated.assigned_to == other_senior


def test_a_moderator_cannot_assign_an_escalated_item(moderator, other_moderator, senior, escalated):
    message = refusal(assign_item, actor=moderator, item=escalated, assignee=senior)
    assert "only senior moderators decide it" in message


def test_escalating_an_item_assigned_to_a_moderator_drops_the_assignment(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)

    escalated = queue.escalate_item(actor=moderator, item=item, note="Is this a miner?")

    assert escalated.assigned_to is None
    event = AuditEvent.objects.get(verb=AuditVerb.REVIEW_ITEM_ESCALATED, target_id=item.pk)
    assert (event.before["assigned_to"], event.after["assigned_to"]) == (other_moderator.pk, None)
    assert list(assigned_to(other_moderator)) == []


def test_escalating_an_item_assigned_to_a_senior_keeps_the_assignment(moderator, senior, item):
    assign_item(actor=moderator, item=item, assignee=senior)

    escalated = queue.escalate_item(actor=moderator, item=item, note="Is this a miner?")

    assert escalated.assigned_to == senior
    assert "assigned_to" not in AuditEvent.objects.get(verb=AuditVerb.REVIEW_ITEM_ESCALATED, target_id=item.pk).after


def test_a_policy_admin_or_a_merchant_may_not_assign(policy_admin, merchant_user_a, moderator, item):
    for person in (policy_admin, merchant_user_a):
        with pytest.raises(PermissionDenied):
            assign_item(actor=person, item=item, assignee=moderator)
    assert not assignments().exists()


def test_a_decided_item_is_not_assigned(moderator, other_moderator, item):
    queue.dismiss_item(actor=moderator, item=item, reason="A shoe.")
    assert refusal(assign_item, actor=moderator, item=item, assignee=other_moderator) == (
        "This item has been decided already."
    )


def test_an_item_another_moderator_is_working_on_is_not_assigned_away(moderator, other_moderator, senior, item):
    queue.claim_item(actor=other_moderator, item=item)
    message = refusal(assign_item, actor=moderator, item=item, assignee=senior)
    assert message.startswith("moderator-2 is working on this item until ")
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.assigned_to) == ("claimed", other_moderator, None)


def test_assigning_an_item_to_the_one_who_claimed_it_keeps_their_claim(moderator, other_moderator, item):
    queue.claim_item(actor=other_moderator, item=item)
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.assigned_to) == ("claimed", other_moderator, other_moderator)


def test_handing_on_ones_own_claim_releases_it_and_the_audit_says_so(moderator, other_moderator, item):
    queue.claim_item(actor=moderator, item=item)
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    item.refresh_from_db()
    assert (item.status, item.claimed_by, item.claimed_until, item.assigned_to) == (
        "open",
        None,
        None,
        other_moderator,
    )
    event = assignments().get()
    assert event.before["claimed_by"] == moderator.pk and event.after["status"] == "open"
    assert "The claim of moderator was released" in event.reason


def test_a_lapsed_claim_does_not_stop_an_assignment(in_grace, moderator, other_moderator, senior, item):
    queue.claim_item(actor=other_moderator, item=item)
    in_grace.to(in_grace.now() + timedelta(minutes=16))
    assign_item(actor=moderator, item=item, assignee=senior)
    item.refresh_from_db()
    assert (item.status, item.assigned_to) == ("open", senior)
    assert "The claim of moderator-2 was released" in assignments().get().reason


def test_unassigning_clears_it_and_is_audited(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    unassign_item(actor=other_moderator, item=item)
    item.refresh_from_db()
    assert item.assigned_to is None
    event = assignments().last()
    assert (event.actor, event.before["assigned_to"], event.after["assigned_to"]) == (
        other_moderator,
        other_moderator.pk,
        None,
    )
    assert event.reason == "Unassigned from moderator-2."
    assert refusal(unassign_item, actor=moderator, item=item) == "This item is not assigned to anyone."


# --- "Assigned to me" and claim next ---------------------------------------------------------


def test_the_assignee_finds_the_item_assigned_to_them_and_nobody_else_does(
    moderator, other_moderator, senior, item, open_item, merchant_a, miners, make_listing
):
    open_item(make_listing(merchant_a, miners, title="Antminer other"))
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    assert list(assigned_to(other_moderator)) == [item]
    assert list(assigned_to(moderator)) == []
    assert list(assigned_to(senior)) == []


def test_a_decided_item_leaves_the_assigned_list(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    queue.dismiss_item(actor=other_moderator, item=item, reason="A shoe.")
    assert list(assigned_to(other_moderator)) == []


def test_claim_next_offers_the_claimer_their_assigned_item_before_higher_priorities(
    moderator, other_moderator, item, open_item, merchant_a, miners, make_listing
):
    higher = open_item(make_listing(merchant_a, miners, title="Antminer urgent"), score=90)
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    assert queue.claim_next_item(actor=other_moderator) == item
    # Everyone else still gets the queue by priority.
    assert queue.claim_next_item(actor=moderator) == higher


def test_claim_next_still_offers_an_item_assigned_to_someone_else(moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    assert queue.claim_next_item(actor=moderator) == item


def test_the_eligible_assignees_are_the_active_moderators_of_the_items_tier(
    moderator, other_moderator, senior, superuser, policy_admin, merchant_user_a, item
):
    make_user("moderator-gone", Role.MODERATOR, is_active=False)
    assert [user.username for user in eligible_assignees(item)] == ["moderator", "moderator-2", "root", "senior"]
    item.tier = ReviewItem.Tier.SENIOR
    assert [user.username for user in eligible_assignees(item)] == ["root", "senior"]


# --- the pages ---------------------------------------------------------------------------------


def test_the_item_page_assigns_to_a_named_moderator(client, moderator, other_moderator, item):
    client.force_login(moderator)
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert 'id="assign-form"' in page and "Not assigned to anyone." in page
    assert f'<option value="{other_moderator.pk}"' in page
    response = client.post(reverse("backoffice:queue-item-assign", args=[item.pk]), {"assignee": other_moderator.pk})
    assert response["Location"] == reverse("backoffice:queue-item", args=[item.pk])
    assert messages_of(response) == [f"Item #{item.pk} assigned to moderator-2."]
    item.refresh_from_db()
    assert item.assigned_to == other_moderator
    assert "Assigned to moderator-2." in client.get(response["Location"]).content.decode()


def test_the_assignee_sees_it_under_assigned_to_me(client, moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    client.force_login(other_moderator)
    page = client.get(reverse("backoffice:queue-assigned")).content.decode()
    assert item.listing.title in page
    client.force_login(moderator)
    page = client.get(reverse("backoffice:queue-assigned")).content.decode()
    assert item.listing.title not in page and "Nothing is assigned to you." in page


def test_the_item_page_refuses_an_ineligible_assignee_and_assigns_nothing(
    client, moderator, policy_admin, senior, escalated
):
    client.force_login(senior)
    url = reverse("backoffice:queue-item-assign", args=[escalated.pk])
    response = client.post(url, {"assignee": moderator.pk})  # not a senior: not a choice
    assert messages_of(response) == ["Choose a moderator who may decide this item."]
    client.get(response["Location"])  # the message is shown
    response = client.post(url, {"assignee": policy_admin.pk})
    assert messages_of(response) == ["Choose a moderator who may decide this item."]
    escalated.refresh_from_db()
    assert escalated.assigned_to is None and not assignments().exists()


@pytest.mark.parametrize("person", ["policy_admin", "merchant_user_a"])
@pytest.mark.parametrize("route", ["queue-item-assign", "queue-item-unassign"])
def test_a_policy_admin_or_a_merchant_is_refused_the_assignment_pages(client, moderator, item, person, route, request):
    client.force_login(request.getfixturevalue(person))
    assert client.post(reverse(f"backoffice:{route}", args=[item.pk]), {"assignee": moderator.pk}).status_code == 403
    assert client.get(reverse("backoffice:queue-assigned")).status_code == 403
    item.refresh_from_db()
    assert item.assigned_to is None and not assignments().exists()


def test_the_assignment_actions_answer_only_to_post(client, moderator, item):
    client.force_login(moderator)
    assert client.get(reverse("backoffice:queue-item-assign", args=[item.pk])).status_code == 405
    assert client.get(reverse("backoffice:queue-item-unassign", args=[item.pk])).status_code == 405


def test_the_item_page_unassigns(client, moderator, other_moderator, item):
    assign_item(actor=moderator, item=item, assignee=other_moderator)
    client.force_login(moderator)
    response = client.post(reverse("backoffice:queue-item-unassign", args=[item.pk]))
    assert messages_of(response) == [f"Item #{item.pk} is no longer assigned."]
    item.refresh_from_db()
    assert item.assigned_to is None


def test_assigning_an_item_someone_is_working_on_shows_why_not(client, moderator, other_moderator, senior, item):
    queue.claim_item(actor=other_moderator, item=item)
    client.force_login(moderator)
    response = client.post(reverse("backoffice:queue-item-assign", args=[item.pk]), {"assignee": senior.pk})
    assert messages_of(response)[0].startswith("moderator-2 is working on this item until ")


def test_a_decided_item_page_offers_no_assignment(client, moderator, item):
    queue.dismiss_item(actor=moderator, item=item, reason="A shoe.")
    client.force_login(moderator)
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert 'id="assign-form"' not in page


# --- the claim lease countdown -------------------------------------------------------------------


def lease_box(client, item) -> str:
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    if 'id="claim-lease"' not in page:
        return ""
    start = page.index('id="claim-lease"')
    return page[start : page.index("</div>", start)]


def test_a_claimed_items_page_says_how_long_the_claim_lasts(client, in_grace, settings, moderator, item):
    queue.claim_item(actor=moderator, item=item)
    client.force_login(moderator)
    box = lease_box(client, item)
    minutes = settings.REVIEW_CLAIM_LEASE_MINUTES
    assert f"Your claim lasts {minutes} more minutes." in box
    assert f'data-seconds-left="{minutes * 60}"' in box
    assert 'data-template="Your claim lasts {minutes} more minutes."' in box
    in_grace.to(in_grace.now() + timedelta(minutes=minutes - 1, seconds=30))
    box = lease_box(client, item)
    assert "Your claim ends in less than 2 minutes" in box and "warning-box" in box
    in_grace.to(in_grace.now() + timedelta(minutes=1))
    assert "Your claim has ended" in lease_box(client, item)


def test_the_countdown_is_shown_only_to_the_one_who_holds_the_claim(client, moderator, other_moderator, item):
    client.force_login(moderator)
    assert lease_box(client, item) == ""
    queue.claim_item(actor=other_moderator, item=item)
    assert lease_box(client, item) == ""
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert "lease.js" not in page


def test_the_countdown_script_is_a_static_file(client, moderator, item):
    queue.claim_item(actor=moderator, item=item)
    client.force_login(moderator)
    page = client.get(reverse("backoffice:queue-item", args=[item.pk])).content.decode()
    assert 'src="/static/backoffice/lease.js"' in page
    assert "<script>" not in page  # no inline script: the CSP would refuse it
