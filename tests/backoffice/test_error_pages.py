"""No dead ends: refusals and missing pages in the back office's layout, saying why, with a way back."""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

LAYOUT = '<header class="topbar" id="topbar">'
OVERVIEW_LINK = '<a class="button primary" href="/backoffice/">Back to the overview</a>'
QUEUE_LINK = '<a class="button" href="/backoffice/queue/">Go to the review queue</a>'


def reason(html: str) -> str:
    match = re.search(r'<p id="error-reason">(.*?)</p>', html, re.S)
    assert match, "the page says why"
    return match.group(1)


def test_a_policy_admin_opening_the_queue_is_told_it_is_for_moderators(client, policy_admin):
    client.force_login(policy_admin)
    response = client.get(reverse("backoffice:queue"))
    assert response.status_code == 403
    html = response.content.decode()
    assert LAYOUT in html and '<nav class="mainnav">' in html  # the navigation stays there
    assert "You cannot open this page" in html
    assert reason(html) == "This page needs the moderator role, and your account does not have it."
    assert f"You are signed in as {policy_admin.get_username()}." in html
    assert OVERVIEW_LINK in html
    assert QUEUE_LINK not in html  # a link to the page refused would be another dead end


def test_a_moderator_on_a_policy_admins_page_is_told_so_and_offered_the_queue(client, moderator):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:policy-create"))
    assert response.status_code == 403
    html = response.content.decode()
    assert reason(html) == "This page needs the policy admin role, and your account does not have it."
    assert OVERVIEW_LINK in html and QUEUE_LINK in html


def test_a_page_open_to_two_roles_names_both(client, merchant_user_a):
    client.force_login(merchant_user_a)
    response = client.get(reverse("backoffice:merchant-index"))
    assert response.status_code == 403
    assert reason(response.content.decode()) == (
        "This page needs one of these roles: moderator, policy admin. Your account has none of them."
    )


def test_a_refusal_that_names_no_role_says_so_plainly(client, moderator):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:api-token"))  # a merchant's page
    assert response.status_code == 403
    html = response.content.decode()
    assert reason(html) == "Your account is not allowed to open this page."
    assert "Only a merchant" not in html  # the exception's English text is for the logs


def test_the_refusal_is_in_the_users_language(client, policy_admin):
    client.force_login(policy_admin)
    response = client.get(reverse("backoffice:queue"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 403
    assert '<html lang="zh-hans">' in response.content.decode()


def test_a_missing_object_gets_the_404_page_in_the_layout(client, moderator, merchant_a):
    client.force_login(moderator)
    response = client.get(reverse("backoffice:merchant-detail", args=[merchant_a.pk + 1000]))
    assert response.status_code == 404
    html = response.content.decode()
    assert LAYOUT in html and '<nav class="mainnav">' in html
    assert "This page does not exist" in html
    assert reason(html).startswith("Nothing is at this address")
    assert OVERVIEW_LINK in html and QUEUE_LINK in html
    assert "No Merchant matches" not in html  # the exception's text names a model, not a reason


def test_an_unknown_address_gets_the_404_page_even_signed_out(client):
    response = client.get("/backoffice/no-such-page/")
    assert response.status_code in (302, 404)  # the sign-in redirect may come first
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert LAYOUT in html and "This page does not exist" in html
    assert '<nav class="mainnav">' not in html  # nobody is signed in: no navigation to offer


@pytest.mark.django_db
def test_the_500_page_renders_with_no_context_at_all():
    """Django renders 500.html with an empty context: no request, no user, no context processors."""
    response = server_error(RequestFactory().get("/backoffice/queue/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert LAYOUT in html and "/static/backoffice/app.css" in html
    assert "Something went wrong on our side" in html
    assert reason(html).startswith("The back office could not finish this request.")
    assert OVERVIEW_LINK in html
    assert '<nav class="mainnav">' not in html


# Marked: the people come from fixtures asked for by name, which pytest-django cannot see when it
# orders the tests (unmarked, it ran among the tests without a database, and alone it failed).
@pytest.mark.django_db
@pytest.mark.parametrize("person", ["moderator", "senior", "policy_admin", "merchant_user_a"])
def test_every_signed_in_user_finds_the_profile_page_in_the_navigation(client, request, person):
    client.force_login(request.getfixturevalue(person))
    if person == "merchant_user_a":
        request.getfixturevalue("merchant_a")  # a seller's account has its store
    page = client.get(reverse("backoffice:profile"))
    assert page.status_code == 200
    assert '<a href="/backoffice/profile/" id="profile-link" class="active">Your account</a>' in page.content.decode()
    other = client.get(reverse("backoffice:api-token" if person == "merchant_user_a" else "backoffice:home"))
    assert other.status_code == 200
    assert '<a href="/backoffice/profile/" id="profile-link" >Your account</a>' in other.content.decode()
