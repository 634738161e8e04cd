"""The admin's change lists refuse query values the database cannot compare (a NUL, a lone surrogate)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("query", ["kind=abc%00def", "k%00ind=abc", "kind=listing_refused&kind=%00"])
def test_an_unstorable_character_in_an_admin_query_is_a_400_not_a_server_error(client, superuser, query):
    client.force_login(superuser)

    response = client.get(f"/admin/moderation/notice/?{query}")

    assert response.status_code == 400


def test_a_plain_admin_filter_still_works(client, superuser):
    client.force_login(superuser)

    response = client.get("/admin/moderation/notice/?kind__exact=listing_refused")

    assert response.status_code == 200


def test_the_back_office_keeps_cleaning_its_own_filters_rather_than_refusing(client, moderator):
    client.force_login(moderator)

    response = client.get("/backoffice/queue/?q=ab%00c")

    assert response.status_code == 200
