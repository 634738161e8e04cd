"""The policy admins' pages: who may open what, the two-step scheduling form, cancel, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from moderation.forms import removal_preview_token
from moderation.models import AuditEvent, AuditVerb, CategoryRemoval, Notice, Policy
from moderation.services import policies as policy_services
from moderation.services import removals
from tests.moderation.conftest import EFFECTIVE, SHANGHAI

# (url name, needs an object, method): every page of policies and removals.
PAGES = [
    ("policy-index", None, "get"),
    ("policy-create", None, "get"),
    ("policy-create", None, "post"),
    ("policy-detail", "policy", "get"),
    ("policy-edit", "draft", "get"),
    ("policy-edit", "draft", "post"),
    ("policy-announce", "draft", "get"),
    ("policy-announce", "draft", "post"),
    ("policy-new-version", "policy", "post"),
    ("removal-index", None, "get"),
    ("removal-create", None, "get"),
    ("removal-create", None, "post"),
    ("removal-detail", "removal", "get"),
    ("removal-progress", "removal", "get"),
    ("removal-cancel", "removal", "post"),
    ("removal-resume", "removal", "post"),
]
READ_ONLY = {"policy-index", "policy-detail", "removal-index", "removal-detail", "removal-progress"}


@pytest.fixture
def objects(policy_admin, announced_policy, marketplace, miners, removal_catalog):
    from moderation.services.policies import create_policy
    from tests.moderation.conftest import ENFORCEMENT, REFERENCE_CLAUSES

    draft = create_policy(
        actor=policy_admin,
        slug="mining-tutorials",
        title="Mining tutorials",
        body="…",
        marketplaces=[marketplace],
        clauses=REFERENCE_CLAUSES[1:2],
        effective_at=EFFECTIVE,
        enforcement_starts_at=ENFORCEMENT,
    )
    removal = removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners])
    return {"policy": announced_policy, "draft": draft, "removal": removal}


def url_of(name, needs, objects):
    if needs is None:
        return reverse(f"backoffice:{name}")
    key = "removal_id" if needs == "removal" else "policy_id"
    return reverse(f"backoffice:{name}", kwargs={key: objects[needs].pk})


def page_ids():
    return [f"{method.upper()} {name}" for name, _, method in PAGES]


@pytest.mark.parametrize(("name", "needs", "method"), PAGES, ids=page_ids())
def test_anonymous_visitors_are_sent_to_the_login_page(client, objects, name, needs, method):
    url = url_of(name, needs, objects)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


@pytest.mark.parametrize(("name", "needs", "method"), PAGES, ids=page_ids())
def test_a_moderator_may_look_but_not_change(client, moderator, objects, name, needs, method):
    client.force_login(moderator)
    response = getattr(client, method)(url_of(name, needs, objects))
    assert response.status_code == (200 if name in READ_ONLY else 403)


@pytest.mark.parametrize(("name", "needs", "method"), PAGES, ids=page_ids())
def test_a_signed_in_user_without_a_role_sees_nothing(client, merchant_user_a, objects, name, needs, method):
    client.force_login(merchant_user_a)
    response = getattr(client, method)(url_of(name, needs, objects))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "needs", "method"), PAGES, ids=page_ids())
def test_a_policy_admin_may_do_everything(client, policy_admin, objects, name, needs, method):
    client.force_login(policy_admin)
    response = getattr(client, method)(url_of(name, needs, objects))
    # A GET shows the page; a POST with no data shows the form again or redirects with a message.
    assert response.status_code in ({200} if method == "get" or "create" in name or "edit" in name else {302})


def test_a_moderator_changes_nothing_by_posting(client, moderator, objects):
    client.force_login(moderator)
    removal = objects["removal"]
    before = (Policy.objects.count(), CategoryRemoval.objects.count(), AuditEvent.objects.count())
    client.post(reverse("backoffice:removal-cancel", args=[removal.pk]), {"reason": "no"})
    client.post(reverse("backoffice:policy-announce", args=[objects["draft"].pk]))
    client.post(reverse("backoffice:policy-new-version", args=[objects["policy"].pk]))
    assert (Policy.objects.count(), CategoryRemoval.objects.count(), AuditEvent.objects.count()) == before
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.SCHEDULED


def test_the_pages_hide_the_buttons_a_moderator_may_not_press(client, moderator, objects):
    client.force_login(moderator)
    page = client.get(reverse("backoffice:removal-detail", args=[objects["removal"].pk])).content.decode()
    assert "Cancel removal" not in page
    page = client.get(reverse("backoffice:removal-index")).content.decode()
    assert "Schedule a removal" not in page
    page = client.get(reverse("backoffice:policy-detail", args=[objects["policy"].pk])).content.decode()
    assert "New version" not in page and "Schedule a category removal" not in page


# --- scheduling through the form ---------------------------------------------------------


@pytest.fixture
def admin_client(client, policy_admin):
    client.force_login(policy_admin)
    return client


def schedule_form(policy, *categories, scheduled_for="", step="preview", clause=""):
    """The form as the page posts it; "confirm" carries the token of the dry run it follows."""
    form = {
        "policy": policy.pk,
        "categories": [c.pk for c in categories],
        "scheduled_for": scheduled_for,
        "clause": clause,
        "step": step,
    }
    if step == "confirm":
        form["preview_token"] = removal_preview_token(form)
    return form


def test_the_form_starts_from_the_policy_chosen_on_its_page(admin_client, announced_policy):
    response = admin_client.get(reverse("backoffice:removal-create"), {"policy": announced_policy.pk})
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["policy"] == announced_policy
    assert form.initial["scheduled_for"] == "2021-10-08T00:00"
    assert {c.slug for c in form.initial["categories"]} == {
        "blockchain-miners",
        "blockchain-miner-accessories",
    }


def test_the_preview_shows_the_dry_run_and_schedules_nothing(
    admin_client, announced_policy, miners, miner_accessories, removal_catalog
):
    url = reverse("backoffice:removal-create")
    response = admin_client.post(url, schedule_form(announced_policy, miners, miner_accessories))
    assert response.status_code == 200
    dry_run = response.context["dry_run"]
    assert (dry_run["listings"], dry_run["merchants"]) == (13, 3)
    assert dry_run["outside_scope"] == ["AliExpress"]
    page = response.content.decode()
    assert '<th class="num" data-total="listings">13</th>' in page
    assert '<th class="num" data-total="merchants">3</th>' in page
    assert 'AliExpress <span class="badge failed">outside the policy\'s scope</span>' in page
    assert 'name="step" value="confirm"' in page
    assert not CategoryRemoval.objects.exists()
    assert not AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_SCHEDULED).exists()


def test_confirming_schedules_the_removal_and_shows_it(
    admin_client, policy_admin, announced_policy, miners, miner_accessories, removal_catalog
):
    response = admin_client.post(
        reverse("backoffice:removal-create"),
        schedule_form(announced_policy, miners, miner_accessories, step="confirm"),
    )
    removal = CategoryRemoval.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:removal-detail", args=[removal.pk])
    assert removal.created_by == policy_admin
    assert removal.scheduled_for == EFFECTIVE  # empty time: the effective date
    assert set(removal.categories.all()) == {miners, miner_accessories}
    assert removal.clause.number == 1
    assert [str(m) for m in get_messages(response.wsgi_request)] == [f"Removal #{removal.pk} scheduled."]
    page = admin_client.get(response["Location"]).content.decode()
    assert f"<h1>Removal #{removal.pk}</h1>" in page


def test_the_pages_show_times_in_the_policys_timezone(admin_client, announced_policy, miners):
    url = reverse("backoffice:removal-create")
    page = admin_client.post(url, schedule_form(announced_policy, miners)).content.decode()
    assert "Runs at <strong>2021-10-08 00:00</strong> (Asia/Shanghai)" in page
    response = admin_client.post(url, schedule_form(announced_policy, miners, step="confirm"))
    page = admin_client.get(response["Location"]).content.decode()
    assert "Waiting for its time: 2021-10-08 00:00 (Asia/Shanghai)." in page
    assert "2021-10-08 00:00 (Asia/Shanghai) = 2021-10-07 16:00 UTC" in page
    page = admin_client.get(reverse("backoffice:policy-detail", args=[announced_policy.pk])).content.decode()
    assert "<dt>Takes effect</dt><dd>2021-10-08 00:00" in page


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2021-10-08T00:00", datetime(2021, 10, 7, 16, 0, tzinfo=UTC)),
        ("2021-10-09T08:30", datetime(2021, 10, 9, 0, 30, tzinfo=UTC)),
    ],
)
def test_the_time_typed_is_read_in_the_policys_timezone(
    admin_client, announced_policy, miners, removal_catalog, typed, stored
):
    admin_client.post(
        reverse("backoffice:removal-create"),
        schedule_form(announced_policy, miners, scheduled_for=typed, step="confirm"),
    )
    assert CategoryRemoval.objects.get().scheduled_for == stored


def test_a_clause_can_be_chosen(admin_client, announced_policy, miners):
    clause = announced_policy.clauses.get(number=2)
    admin_client.post(
        reverse("backoffice:removal-create"),
        schedule_form(announced_policy, miners, clause=clause.pk, step="confirm"),
    )
    assert CategoryRemoval.objects.get().clause == clause


@pytest.mark.parametrize("step", ["preview", "confirm"])
def test_no_category_is_a_field_error(admin_client, announced_policy, step):
    response = admin_client.post(reverse("backoffice:removal-create"), schedule_form(announced_policy, step=step))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["categories"]
    assert 'data-field="categories"' in response.content.decode()
    assert response.context["dry_run"] is None
    assert not CategoryRemoval.objects.exists()


def test_a_time_before_the_effective_date_is_a_field_error(admin_client, announced_policy, miners):
    response = admin_client.post(
        reverse("backoffice:removal-create"),
        schedule_form(announced_policy, miners, scheduled_for="2021-10-07T23:59", step="confirm"),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["scheduled_for"]
    assert "takes effect on 2021-10-08 00:00 (Asia/Shanghai)" in errors["scheduled_for"][0]
    assert 'data-field="scheduled_for"' in response.content.decode()
    assert not CategoryRemoval.objects.exists()


def test_a_draft_policy_cannot_be_chosen(admin_client, draft_policy, miners):
    response = admin_client.post(
        reverse("backoffice:removal-create"), schedule_form(draft_policy, miners, step="confirm")
    )
    assert list(response.context["form"].errors) == ["policy"]
    assert not CategoryRemoval.objects.exists()


def test_an_overlapping_removal_is_refused_on_the_form(admin_client, policy_admin, announced_policy, miners):
    first = removals.schedule_removal(actor=policy_admin, policy=announced_policy, categories=[miners])
    response = admin_client.post(
        reverse("backoffice:removal-create"), schedule_form(announced_policy, miners, step="confirm")
    )
    assert response.context["form"].errors["categories"] == [
        f"Part of these categories is already in removal #{first.pk}."
    ]
    assert CategoryRemoval.objects.count() == 1


# --- the removal's page: cancel, resume, progress ----------------------------------------


@pytest.fixture
def scheduled(settings, policy_admin, announced_policy, miners, miner_accessories, removal_catalog):
    settings.REMOVAL_CHUNK_SIZE = 3
    return removals.schedule_removal(
        actor=policy_admin, policy=announced_policy, categories=[miners, miner_accessories]
    )


def test_the_cancel_button_cancels(admin_client, policy_admin, scheduled):
    page = admin_client.get(reverse("backoffice:removal-detail", args=[scheduled.pk])).content.decode()
    assert f'action="{reverse("backoffice:removal-cancel", args=[scheduled.pk])}"' in page
    response = admin_client.post(
        reverse("backoffice:removal-cancel", args=[scheduled.pk]), {"reason": "Scheduled by mistake.", "confirm": "yes"}
    )
    assert response.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.status == CategoryRemoval.Status.CANCELLED
    event = AuditEvent.objects.get(verb=AuditVerb.REMOVAL_CANCELLED)
    assert (event.actor, event.reason) == (policy_admin, "Scheduled by mistake.")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Removal #{scheduled.pk} cancelled; nothing was changed."
    ]
    # Cancelling again is refused with a message, nothing else.
    response = admin_client.post(
        reverse("backoffice:removal-cancel", args=[scheduled.pk]), {"reason": "Again.", "confirm": "yes"}, follow=True
    )
    assert "only a scheduled one can be cancelled" in response.content.decode()
    assert AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_CANCELLED).count() == 1


def test_the_cancel_button_refuses_a_running_removal(admin_client, travel, scheduled):
    travel.to(EFFECTIVE + timedelta(seconds=1))
    removals.start_removal(removal_id=scheduled.pk)
    response = admin_client.post(
        reverse("backoffice:removal-cancel", args=[scheduled.pk]), {"reason": "Late.", "confirm": "yes"}, follow=True
    )
    assert "is running: only a scheduled one can be cancelled" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.status == CategoryRemoval.Status.RUNNING


def test_the_progress_endpoint_reports_the_run(
    client, moderator, travel, scheduled, django_capture_on_commit_callbacks
):
    client.force_login(moderator)
    url = reverse("backoffice:removal-progress", args=[scheduled.pk])
    progress = client.get(url).json()
    assert {
        "status",
        "listings_done",
        "listings_total",
        "percent",
        "rate_per_second",
        "eta_seconds",
        "finished",
    } <= set(progress)
    assert (progress["status"], progress["percent"], progress["finished"]) == ("scheduled", 0.0, False)
    assert progress["rate_per_second"] is None and progress["eta_seconds"] is None

    started_at = travel.to(datetime(2021, 10, 8, 0, 0, 10, tzinfo=SHANGHAI))
    with mock.patch.object(removals, "queue_pending_chunks"):
        removals.start_removal(removal_id=scheduled.pk)
    first_chunk = scheduled.chunks.get(number=1)
    travel.to(started_at + timedelta(seconds=2))
    removals.run_removal_chunk(chunk_id=first_chunk.pk)
    progress = client.get(url).json()
    assert progress["status"] == "running" and progress["finished"] is False
    assert (progress["listings_done"], progress["listings_total"]) == (first_chunk.removal.chunk_size, 13)
    assert progress["percent"] == round(100 * progress["listings_done"] / 13, 1)
    assert progress["rate_per_second"] == round(progress["listings_done"] / 2, 1)
    assert progress["eta_seconds"] == round((13 - progress["listings_done"]) / (progress["listings_done"] / 2))

    with django_capture_on_commit_callbacks(execute=True):
        removals.queue_pending_chunks(removal_id=scheduled.pk)
    progress = client.get(url).json()
    assert (progress["status"], progress["status_label"]) == ("completed", "Completed")
    assert (progress["listings_done"], progress["percent"], progress["finished"]) == (13, 100.0, True)
    assert progress["eta_seconds"] is None and progress["merchants_notified"] == 3


def test_a_failed_removal_shows_its_error_and_resumes_from_the_page(
    admin_client, travel, scheduled, django_capture_on_commit_callbacks
):
    travel.to(EFFECTIVE + timedelta(seconds=1))
    with mock.patch.object(removals, "queue_pending_chunks"):
        removals.start_removal(removal_id=scheduled.pk)
    chunk = scheduled.chunks.get(number=2)
    removals.fail_removal(chunk_id=chunk.pk, error=OSError("disk full"))
    page = admin_client.get(reverse("backoffice:removal-detail", args=[scheduled.pk])).content.decode()
    assert "disk full" in page and "Failed chunks" in page
    assert 'id="resume-form" class="inline "' in page  # shown, not hidden

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("backoffice:removal-resume", args=[scheduled.pk]))
    assert response.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.status == CategoryRemoval.Status.COMPLETED
    assert scheduled.listings_done == 13


# --- policies through the forms ----------------------------------------------------------


def policy_form(marketplace, *categories, **overrides):
    data = {
        "slug": "mining-tutorials",
        "title": "Mining tutorials",
        "body": "Tutorials for obtaining virtual currencies are prohibited.",
        "timezone": "Asia/Shanghai",
        "marketplaces": [marketplace.pk],
        "categories": [c.pk for c in categories],
        "effective_at": "2021-10-08T00:00",
        "enforcement_starts_at": "2021-10-15T00:00",
        "appeal_window_days": "180",
        "review_due_hours": "24",
        "detection_threshold": "10",
        "flagged_listings": "refuse",
        "clauses-TOTAL_FORMS": "2",
        "clauses-INITIAL_FORMS": "0",
        "clauses-MIN_NUM_FORMS": "0",
        "clauses-MAX_NUM_FORMS": "1000",
        "clauses-0-number": "1",
        "clauses-0-title": "Mining tutorials",
        "clauses-0-text": "Tutorials and strategies for obtaining virtual currencies.",
        "clauses-1-number": "",
        "clauses-1-title": "",
        "clauses-1-text": "",
    }
    data.update(overrides)
    return data


def test_the_policy_form_creates_a_draft_with_its_clauses(admin_client, policy_admin, marketplace, miners):
    response = admin_client.post(reverse("backoffice:policy-create"), policy_form(marketplace, miners))
    policy = Policy.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backoffice:policy-detail", args=[policy.pk])
    assert (policy.status, policy.slug, policy.created_by) == ("draft", "mining-tutorials", policy_admin)
    assert policy.effective_at == datetime(2021, 10, 7, 16, 0, tzinfo=UTC)
    assert policy.enforcement_starts_at == datetime(2021, 10, 14, 16, 0, tzinfo=UTC)
    assert [(c.number, c.title) for c in policy.clauses.all()] == [(1, "Mining tutorials")]
    assert list(policy.categories.all()) == [miners]
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_CREATED, actor=policy_admin).count() == 1


def test_the_policy_form_sets_what_becomes_of_flagged_listings_and_a_new_version_keeps_it(
    admin_client, policy_admin, marketplace, miners
):
    admin_client.post(reverse("backoffice:policy-create"), policy_form(marketplace, miners, flagged_listings="review"))
    policy = Policy.objects.get()
    assert policy.holds_flagged_listings
    created = AuditEvent.objects.get(verb=AuditVerb.POLICY_CREATED)
    assert created.after["flagged_listings"] == "review"
    page = admin_client.get(reverse("backoffice:policy-detail", args=[policy.pk])).content.decode()
    assert "Held until a moderator decides" in page
    response = admin_client.post(
        reverse("backoffice:policy-edit", args=[policy.pk]), policy_form(marketplace, miners, flagged_listings="refuse")
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert not policy.holds_flagged_listings
    edited = AuditEvent.objects.get(verb=AuditVerb.POLICY_EDITED)
    assert (edited.before["flagged_listings"], edited.after["flagged_listings"]) == ("review", "refuse")
    Policy.objects.filter(pk=policy.pk).update(flagged_listings="review")
    policy_services.announce_policy(actor=policy_admin, policy=policy, announced_at=datetime(2021, 9, 27, tzinfo=UTC))
    assert policy_services.new_policy_version(actor=policy_admin, policy=policy).holds_flagged_listings


def test_the_policy_form_refuses_an_unknown_setting_for_flagged_listings(admin_client, marketplace):
    response = admin_client.post(
        reverse("backoffice:policy-create"), policy_form(marketplace, flagged_listings="ignore")
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["flagged_listings"]
    assert not Policy.objects.exists()


def test_the_policy_form_refuses_dates_out_of_order(admin_client, marketplace):
    response = admin_client.post(
        reverse("backoffice:policy-create"),
        policy_form(marketplace, effective_at="2021-10-15T00:00", enforcement_starts_at="2021-10-08T00:00"),
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["enforcement_starts_at"]
    assert 'data-field="enforcement_starts_at"' in response.content.decode()
    assert not Policy.objects.exists()


def test_the_policy_form_needs_a_clause(admin_client, marketplace):
    response = admin_client.post(
        reverse("backoffice:policy-create"),
        policy_form(marketplace, **{"clauses-0-number": "", "clauses-0-title": "", "clauses-0-text": ""}),
    )
    assert response.status_code == 200
    assert response.context["formset"].non_form_errors() == ["A policy needs at least one clause."]
    assert not Policy.objects.exists()


def test_the_policy_form_refuses_a_slug_in_use(admin_client, draft_policy, marketplace):
    response = admin_client.post(reverse("backoffice:policy-create"), policy_form(marketplace, slug=draft_policy.slug))
    assert response.status_code == 200
    assert "slug" in response.context["form"].errors
    assert Policy.objects.count() == 1


def test_a_draft_is_edited_through_the_form(admin_client, draft_policy, marketplace, miners):
    url = reverse("backoffice:policy-edit", args=[draft_policy.pk])
    form = admin_client.get(url).context["form"]
    assert form.initial["effective_at"] == "2021-10-08T00:00"  # shown in the policy's timezone
    data = policy_form(marketplace, miners, slug=draft_policy.slug, title="Mining machines (revised)")
    data.update({"clauses-0-number": "1", "clauses-0-title": "Miners", "clauses-0-text": "Bitcoin miners."})
    response = admin_client.post(url, data)
    assert response.status_code == 302
    draft_policy.refresh_from_db()
    assert draft_policy.title == "Mining machines (revised)"
    assert draft_policy.slug == "virtual-currency-mining"  # disabled on edit
    assert [(c.number, c.title) for c in draft_policy.clauses.all()] == [(1, "Miners")]
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_EDITED).count() == 1


def test_editing_an_announced_policy_redirects_with_a_warning(admin_client, announced_policy, marketplace):
    url = reverse("backoffice:policy-edit", args=[announced_policy.pk])
    requests = [
        lambda: admin_client.get(url),
        lambda: admin_client.post(url, policy_form(marketplace, title="x")),
    ]
    for request in requests:
        response = request()
        assert response.status_code == 302
        assert response["Location"] == reverse("backoffice:policy-detail", args=[announced_policy.pk])
        page = admin_client.get(response["Location"])  # shows, and so consumes, the message
        assert [(m.level_tag, m.message) for m in page.context["messages"]] == [
            ("warning", "An announced policy is not edited in place: make a new version.")
        ]
    announced_policy.refresh_from_db()
    assert announced_policy.title == "Virtual currency mining machines"
    assert not AuditEvent.objects.filter(verb=AuditVerb.POLICY_EDITED).exists()


def test_the_announce_page_shows_who_will_be_told_and_announces(
    admin_client, travel, draft_policy, removal_catalog, django_capture_on_commit_callbacks
):
    url = reverse("backoffice:policy-announce", args=[draft_policy.pk])
    response = admin_client.get(url)
    assert (response.context["merchants"], response.context["listings"]) == (2, 11)
    assert "<strong>2</strong> merchants with <strong>11</strong> live listings" in response.content.decode()
    assert Policy.objects.get(pk=draft_policy.pk).status == Policy.Status.DRAFT

    moment = travel.to(datetime(2021, 9, 27, 10, 0, tzinfo=SHANGHAI))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)
    assert response.status_code == 302
    draft_policy.refresh_from_db()
    assert (draft_policy.status, draft_policy.announced_at) == ("announced", moment)
    assert Notice.objects.filter(kind=Notice.Kind.POLICY_ANNOUNCED).count() == 2
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "“Virtual currency mining machines” announced; merchants are being notified."
    ]
    # A second click announces nothing more.
    response = admin_client.post(url, follow=True)
    assert "is announced, not a draft" in response.content.decode()
    assert AuditEvent.objects.filter(verb=AuditVerb.POLICY_ANNOUNCED).count() == 1


def test_a_new_version_is_made_from_the_policy_page(admin_client, announced_policy):
    response = admin_client.post(reverse("backoffice:policy-new-version", args=[announced_policy.pk]))
    draft = Policy.objects.get(version=2)
    assert response["Location"] == reverse("backoffice:policy-edit", args=[draft.pk])
    assert draft.status == Policy.Status.DRAFT and draft.supersedes == announced_policy


# --- CSRF ----------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(policy_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(policy_admin)
    return client


@pytest.mark.parametrize("name", ["removal-create", "policy-create"])
def test_the_forms_carry_a_csrf_token_and_a_post_without_it_is_refused(
    csrf_client, announced_policy, miners, marketplace, name
):
    url = reverse(f"backoffice:{name}")
    page = csrf_client.get(url).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    data = (
        schedule_form(announced_policy, miners, step="confirm")
        if name == "removal-create"
        else policy_form(marketplace)
    )
    assert csrf_client.post(url, data).status_code == 403
    assert not CategoryRemoval.objects.exists()
    assert Policy.objects.count() == 1

    token = csrf_client.cookies["csrftoken"].value
    assert csrf_client.post(url, {**data, "csrfmiddlewaretoken": token}).status_code == 302


def test_the_cancel_and_resume_buttons_carry_a_csrf_token(csrf_client, scheduled):
    url = reverse("backoffice:removal-detail", args=[scheduled.pk])
    page = csrf_client.get(url).content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # cancel, resume, sign out
    assert csrf_client.post(reverse("backoffice:removal-cancel", args=[scheduled.pk])).status_code == 403
    scheduled.refresh_from_db()
    assert scheduled.status == CategoryRemoval.Status.SCHEDULED


def test_confirming_other_choices_than_the_dry_run_shows_their_dry_run_first(
    admin_client, announced_policy, miners, miner_accessories, removal_catalog
):
    url = reverse("backoffice:removal-create")
    previewed = schedule_form(announced_policy, miners, step="confirm")
    changed = {**previewed, "categories": [miners.pk, miner_accessories.pk]}  # added after the preview
    response = admin_client.post(url, changed)
    assert response.status_code == 200
    assert response.context["dry_run"] is not None
    assert not CategoryRemoval.objects.exists()
    response = admin_client.post(url, {**changed, "preview_token": response.context["preview_token"]})
    assert response.status_code == 302
    assert set(CategoryRemoval.objects.get().categories.all()) == {miners, miner_accessories}


def test_cancelling_needs_a_reason_and_a_confirmation(admin_client, scheduled):
    for data in ({"confirm": "yes"}, {"reason": "Scheduled by mistake."}):
        response = admin_client.post(reverse("backoffice:removal-cancel", args=[scheduled.pk]), data, follow=True)
        assert "give a reason and tick the confirmation" in response.content.decode()
    scheduled.refresh_from_db()
    assert scheduled.status == CategoryRemoval.Status.SCHEDULED
    assert not AuditEvent.objects.filter(verb=AuditVerb.REMOVAL_CANCELLED).exists()
