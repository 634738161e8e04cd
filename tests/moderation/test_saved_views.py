"""Saved views of the queue: the service (names, cap, cleaned queries, audit) and the pages (save, open, share)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb, SavedQueueView
from moderation.selectors.saved_views import clean_queue_query, queue_views_for
from moderation.services.saved_views import delete_queue_view, rename_queue_view, save_queue_view
from tests.moderation.conftest import other_moderator  # noqa: F401 - a fixture
from tests.moderation.test_queue_views import messages_of

QUEUE = reverse("backoffice:queue")


def events(verb: AuditVerb):
    return AuditEvent.objects.filter(verb=verb).order_by("id")


# --- the service ---------------------------------------------------------------------------------


def test_it_saves_a_view_with_its_cleaned_name_and_query_and_audits_it(moderator, announced_policy):
    view = save_queue_view(
        actor=moderator,
        name="  Reports\nfrom  Alibaba ",
        query=f"source=report&policy={announced_policy.pk}&page=3&status=open",
        shared=True,
    )
    assert (view.owner, view.name, view.shared) == (moderator, "Reports from Alibaba", True)
    assert view.query == f"policy={announced_policy.pk}&source=report&status=open"  # no page, filters in order
    event = events(AuditVerb.SAVED_VIEW_SAVED).get()
    assert (event.actor, event.target_id, event.target_repr) == (moderator, view.pk, "Reports from Alibaba")
    assert event.after == {"name": "Reports from Alibaba", "query": view.query, "shared": True}


def test_unknown_parameters_and_values_the_filters_refuse_are_dropped(moderator, announced_policy):
    query = clean_queue_query(
        "csrfmiddlewaretoken=x&next=https://evil.example&page=2&format=csv"
        "&policy=999999999&sort=-password&created_after=not-a-date&score_min=abc"
        f"&source={'detection' * 10}&tier=moderator&status=decided&status=open&marketplace=&javascript:alert(1)=1"
    )
    assert query == "tier=moderator&status=open"  # a repeated key: its last value, as the filters read it


def test_a_search_is_kept_as_the_queue_cleans_it(moderator):
    hostile = "挖矿\u200b\x00 antminer\u202e " + "x" * 5000
    view = save_queue_view(actor=moderator, name="Search", query=f"q={hostile}")
    (search,) = parse_qs(view.query)["q"]
    assert search.startswith("挖矿 antminer x")
    assert len(search) == 200 and "\u202e" not in search and "\x00" not in search
    assert len(view.query) <= SavedQueueView.QUERY_MAX_LENGTH


def test_a_query_of_nothing_but_noise_saves_the_whole_queue(moderator):
    view = save_queue_view(actor=moderator, name="Everything", query="&" * 5000 + "page=9")
    assert view.query == ""


def test_a_name_its_owner_has_already_is_a_field_error_and_changes_nothing(moderator, other_moderator):  # noqa: F811
    save_queue_view(actor=moderator, name="Reports", query="source=report")
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        save_queue_view(actor=moderator, name=" REPORTS\u200b ", query="source=detection")
    assert refused.value.message_dict == {"name": ["You already have a view named “REPORTS”."]}
    assert SavedQueueView.objects.get().query == "source=report"
    assert AuditEvent.objects.count() == before
    # Another moderator's "Reports" is theirs.
    assert save_queue_view(actor=other_moderator, name="Reports", query="").owner == other_moderator


def test_one_may_keep_fifty_views_and_is_told_so(moderator):
    SavedQueueView.objects.bulk_create(
        SavedQueueView(owner=moderator, name=f"View {n}") for n in range(SavedQueueView.MAX_PER_OWNER)
    )
    with pytest.raises(ValidationError) as refused:
        save_queue_view(actor=moderator, name="One more", query="")
    assert refused.value.message_dict == {
        NON_FIELD_ERRORS: ["You have 50 saved views, as many as one may keep: delete one before saving another."]
    }
    assert SavedQueueView.objects.count() == SavedQueueView.MAX_PER_OWNER
    assert not events(AuditVerb.SAVED_VIEW_SAVED).exists()


@pytest.mark.parametrize(
    "name",
    ["", "   ", "\u200b\u200d\ufeff", "\u202e\u2066\u2069", "\u3164\u2800", "\x00\x01\n\t"],
    ids=["empty", "blanks", "zero-width", "bidi", "blank-looking", "controls"],
)
def test_a_name_with_nothing_visible_is_refused(moderator, name):
    with pytest.raises(ValidationError) as refused:
        save_queue_view(actor=moderator, name=name, query="")
    assert refused.value.message_dict == {"name": ["Give the view a name."]}
    assert not SavedQueueView.objects.exists()


def test_a_long_name_is_refused_not_cut(moderator):
    with pytest.raises(ValidationError) as refused:
        save_queue_view(actor=moderator, name="挖" * 81, query="")
    assert refused.value.message_dict == {"name": ["A view's name has at most 80 characters (this one has 81)."]}
    assert save_queue_view(actor=moderator, name="挖" * 80, query="").name == "挖" * 80


def test_a_name_loses_its_line_breaks_and_reordering_characters(moderator):
    view = save_queue_view(actor=moderator, name="Antminer\r\nreports\u202egpj.exe", query="")
    assert view.name == "Antminer reportsgpj.exe"


def test_the_owner_renames_and_shares_a_view_and_both_are_audited(moderator):
    view = save_queue_view(actor=moderator, name="Mine", query="source=report")
    renamed = rename_queue_view(actor=moderator, view=view, name="Reports", shared=True)
    assert (renamed.name, renamed.shared, renamed.query) == ("Reports", True, "source=report")
    event = events(AuditVerb.SAVED_VIEW_SAVED).last()
    assert event.before == {"name": "Mine", "query": "source=report", "shared": False}
    assert event.after == {"name": "Reports", "query": "source=report", "shared": True}
    # Saving it unchanged records nothing.
    rename_queue_view(actor=moderator, view=renamed, name="Reports", shared=True)
    assert events(AuditVerb.SAVED_VIEW_SAVED).count() == 2


def test_a_rename_to_a_name_taken_is_refused(moderator):
    save_queue_view(actor=moderator, name="Reports", query="")
    view = save_queue_view(actor=moderator, name="Detections", query="")
    with pytest.raises(ValidationError) as refused:
        rename_queue_view(actor=moderator, view=view, name="reports", shared=False)
    assert "name" in refused.value.message_dict
    view.refresh_from_db()
    assert view.name == "Detections"


def test_only_the_owner_changes_a_shared_view_or_a_superuser_deletes_it(
    moderator,
    other_moderator,  # noqa: F811
    superuser,
):
    shared = save_queue_view(actor=moderator, name="Shared", query="", shared=True)
    with pytest.raises(PermissionDenied):
        rename_queue_view(actor=other_moderator, view=shared, name="Mine now", shared=True)
    with pytest.raises(PermissionDenied):
        delete_queue_view(actor=other_moderator, view=shared)
    private = save_queue_view(actor=moderator, name="Private", query="")
    with pytest.raises(PermissionDenied):
        delete_queue_view(actor=superuser, view=private)
    delete_queue_view(actor=superuser, view=shared)
    assert list(SavedQueueView.objects.values_list("name", flat=True)) == ["Private"]


def test_deleting_a_view_is_audited_with_what_it_was(moderator):
    view = save_queue_view(actor=moderator, name="Reports", query="source=report")
    view_id = view.pk
    delete_queue_view(actor=moderator, view=view)
    assert not SavedQueueView.objects.exists()
    event = events(AuditVerb.SAVED_VIEW_DELETED).get()
    assert (event.actor, event.target_id) == (moderator, view_id)
    assert event.before == {"name": "Reports", "query": "source=report", "shared": False}


def test_a_moderator_sees_their_views_and_the_shared_ones_of_others(moderator, other_moderator, senior):  # noqa: F811
    save_queue_view(actor=moderator, name="b mine", query="")
    save_queue_view(actor=moderator, name="A mine shared", query="", shared=True)
    save_queue_view(actor=other_moderator, name="Theirs shared", query="", shared=True)
    save_queue_view(actor=other_moderator, name="Theirs private", query="")
    views = queue_views_for(moderator)
    assert [view.name for view in views.mine] == ["A mine shared", "b mine"]
    assert [view.name for view in views.shared] == ["Theirs shared"]
    assert [view.name for view in queue_views_for(senior).shared] == ["A mine shared", "Theirs shared"]


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def as_moderator(client, moderator):
    client.force_login(moderator)
    return client


def save(client, name: str, query: str = "", *, shared: bool = False, back: str = QUEUE):
    data = {"name": name, "query": query, "back": back}
    if shared:
        data["shared"] = "1"
    return client.post(reverse("backoffice:queue-view-save"), data)


def views_section(html: str, section: str) -> str:
    return re.search(rf'<div class="view-list" id="{section}">(.*?)</div>', html, re.S).group(1)


def test_saving_from_the_queue_opens_the_view_and_lists_it(as_moderator, moderator, announced_policy):
    response = save(as_moderator, "Reports", f"source=report&policy={announced_policy.pk}&evil=1&page=2")
    view = SavedQueueView.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE}?policy={announced_policy.pk}&source=report"
    assert messages_of(response) == ["View “Reports” saved."]
    html = as_moderator.get(response["Location"]).content.decode()
    mine = views_section(html, "my-views")
    link = f'<a href="{QUEUE}?policy={announced_policy.pk}&amp;source=report" aria-current="true">Reports</a>'
    assert link in mine
    assert reverse("backoffice:queue-view-delete", args=[view.pk]) in mine


def test_the_save_form_carries_the_page_filters_cleaned(as_moderator):
    html = as_moderator.get(QUEUE, {"source": "report", "page": "2", "utm": "x", "status": "open"}).content.decode()
    form = re.search(r'<form method="post" action="[^"]+" id="save-view-form".*?</form>', html, re.S).group(0)
    assert '<input type="hidden" name="query" value="source=report&amp;status=open">' in form


def test_a_duplicate_name_goes_back_to_the_page_with_the_error_by_the_name(as_moderator, moderator):
    save(as_moderator, "Reports", "source=report")
    back = f"{QUEUE}?source=detection&page=1"
    before = AuditEvent.objects.count()
    response = save(as_moderator, "reports", "source=detection", shared=True, back=back)
    assert response["Location"] == back
    html = as_moderator.get(back).content.decode()
    assert 'aria-invalid="true" aria-describedby="save-view-error"' in html
    assert re.search(r'id="save-view-error" role="alert">You already have a view named “reports”\.', html)
    assert 'value="reports"' in html  # what was typed stays in the box
    assert SavedQueueView.objects.get().query == "source=report"
    assert AuditEvent.objects.count() == before
    assert "save-view-error" not in as_moderator.get(back).content.decode()  # shown once


def test_a_refusal_for_another_page_is_not_shown_on_this_one(as_moderator):
    response = save(as_moderator, "", back=f"{QUEUE}?source=report")
    assert response["Location"] == f"{QUEUE}?source=report"
    assert "save-view-error" not in as_moderator.get(QUEUE).content.decode()
    assert "save-view-error" not in as_moderator.get(f"{QUEUE}?source=report").content.decode()  # read once


def test_a_shared_view_is_listed_for_another_moderator_a_private_one_is_not(
    as_moderator,
    other_moderator,  # noqa: F811
):
    save(as_moderator, "Team reports", "source=report", shared=True)
    save(as_moderator, "My own", "source=detection")
    client = Client()
    client.force_login(other_moderator)
    html = client.get(QUEUE).content.decode()
    shared = views_section(html, "shared-views")
    assert f'<a href="{QUEUE}?source=report">Team reports</a>' in shared
    assert "by moderator" in shared
    assert "My own" not in html
    assert "delete" not in shared  # theirs to delete, not mine


def test_another_moderator_cannot_delete_a_private_view_404_or_a_shared_one_403(
    client,
    moderator,
    other_moderator,  # noqa: F811
):
    private = save_queue_view(actor=moderator, name="Private", query="")
    shared = save_queue_view(actor=moderator, name="Shared", query="", shared=True)
    client.force_login(other_moderator)
    before = AuditEvent.objects.count()
    assert client.post(reverse("backoffice:queue-view-delete", args=[private.pk])).status_code == 404
    assert client.post(reverse("backoffice:queue-view-delete", args=[shared.pk])).status_code == 403
    edit = reverse("backoffice:queue-view-edit", args=[private.pk])
    assert client.post(edit, {f"view-{private.pk}-name": "Mine"}).status_code == 404
    assert SavedQueueView.objects.count() == 2
    assert AuditEvent.objects.count() == before


def test_the_owner_deletes_a_view_from_the_queue_page(as_moderator, moderator):
    view = save_queue_view(actor=moderator, name="Reports", query="source=report")
    back = f"{QUEUE}?source=report"
    response = as_moderator.post(reverse("backoffice:queue-view-delete", args=[view.pk]), {"back": back})
    assert response["Location"] == back
    assert messages_of(response) == ["View “Reports” deleted."]
    assert not SavedQueueView.objects.exists()


def test_a_hostile_name_is_escaped_wherever_it_is_shown(as_moderator, moderator):
    view = save_queue_view(actor=moderator, name='<script>alert(1)</script>"><img src=x>', query="", shared=True)
    for url in (QUEUE, reverse("backoffice:queue-views")):
        html = as_moderator.get(url).content.decode()
        assert "<script>alert(1)" not in html and "<img src=x>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x&gt;" in html
    assert view.name in str(AuditEvent.objects.filter(verb=AuditVerb.SAVED_VIEW_SAVED).get().target_repr)


def test_the_manage_page_renames_and_shares_and_shows_a_refusal_by_the_name(as_moderator, moderator):
    reports = save_queue_view(actor=moderator, name="Reports", query="source=report&q=挖矿")
    other = save_queue_view(actor=moderator, name="Other", query="")
    page = as_moderator.get(reverse("backoffice:queue-views"))
    html = page.content.decode()
    assert "q: 挖矿 · source: report" in html
    edit = reverse("backoffice:queue-view-edit", args=[reports.pk])
    response = as_moderator.post(edit, {f"view-{reports.pk}-name": "Team reports", f"view-{reports.pk}-shared": "1"})
    assert response["Location"] == reverse("backoffice:queue-views")
    reports.refresh_from_db()
    assert (reports.name, reports.shared) == ("Team reports", True)
    refused = as_moderator.post(
        reverse("backoffice:queue-view-edit", args=[other.pk]), {f"view-{other.pk}-name": "team REPORTS"}
    )
    assert refused.status_code == 400
    assert re.search(
        rf'id="edit-view-{other.pk}-error" role="alert">You already have a view named', refused.content.decode()
    )
    other.refresh_from_db()
    assert other.name == "Other"


@pytest.mark.parametrize("person", ["merchant_user_a", "policy_admin"])
def test_only_moderators_have_saved_views(client, moderator, person, request):
    view = save_queue_view(actor=moderator, name="Reports", query="", shared=True)
    client.force_login(request.getfixturevalue(person))
    assert client.get(reverse("backoffice:queue-views")).status_code == 403
    assert save(client, "Mine").status_code == 403
    assert client.post(reverse("backoffice:queue-view-delete", args=[view.pk])).status_code == 403
    assert SavedQueueView.objects.count() == 1


def test_the_save_and_delete_answer_only_to_post(as_moderator, moderator):
    view = save_queue_view(actor=moderator, name="Reports", query="")
    assert as_moderator.get(reverse("backoffice:queue-view-save")).status_code == 405
    assert as_moderator.get(reverse("backoffice:queue-view-delete", args=[view.pk])).status_code == 405
