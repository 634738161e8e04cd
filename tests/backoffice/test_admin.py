"""The Django admin goes through the services: every change it can make is audited by the service the
back office uses, and nothing with history can be deleted there, by a superuser either."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core import mail
from django.forms import CheckboxInput
from django.test import RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.roles import Role
from moderation.models import AuditEvent, AuditVerb, Policy, Violation
from moderation.services.audit import record_event
from sellers.models import Category, Listing
from tests.moderation.conftest import *  # noqa: F403 - the policy, its rules, the clock, the review queue

# Deleting a device is how an administrator resets a user's two-factor authentication (audited).
DELETABLE = {"otp_totp.totpdevice"}


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def root(client, superuser):
    client.force_login(superuser)
    return client


def form_data(response, **changes) -> dict:
    """What the admin's change form would post back unchanged, with ``changes`` on top."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, CheckboxInput):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(item) for item in value]
        else:
            data[name] = "" if value is None else str(value)
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def post_change(client, obj, **changes):
    url = admin_url(type(obj), "change", obj.pk)
    return client.post(url, form_data(client.get(url), **changes))


def events(verb, **filters):
    return list(AuditEvent.objects.filter(verb=verb, **filters).order_by("id"))


# --- A merchant's contact e-mail -------------------------------------------------------------------


def test_changing_a_merchants_contact_email_is_audited_and_tells_the_old_address(
    root, superuser, merchant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change(root, merchant_a, contact_email="new-owner@elsewhere.example")
    assert response.status_code == 302, response.context["adminform"].form.errors

    merchant_a.refresh_from_db()
    assert merchant_a.contact_email == "new-owner@elsewhere.example"
    [event] = events(AuditVerb.MERCHANT_EDITED)
    assert (event.actor, event.merchant, event.target_id) == (superuser, merchant_a, merchant_a.pk)
    assert event.before == {"contact_email": "sales@hashpower.example"}
    assert event.after == {"contact_email": "new-owner@elsewhere.example"}

    to_old, to_new = mail.outbox
    assert to_old.to == ["sales@hashpower.example"]
    assert "Shenzhen Hashpower Trading" in to_old.subject
    assert "n***@elsewhere.example" in to_old.body  # masked: the old owner is told where, not whom
    assert "new-owner@" not in to_old.body
    assert "enforcement@marketplace.example" in to_old.body  # whom to write to if it was not them
    assert str(event.pk) in to_old.body
    assert to_new.to == ["new-owner@elsewhere.example"]
    assert "s***@hashpower.example" in to_new.body


def test_the_mails_wait_for_the_commit(root, merchant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_change(root, merchant_a, contact_email="new-owner@elsewhere.example")
    assert mail.outbox == []
    assert len(callbacks) == 1


def test_the_old_address_is_told_in_the_merchants_language(root, merchant_b, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_change(root, merchant_b, contact_email="gadgets@elsewhere.example")
    to_old = mail.outbox[0]
    assert to_old.to == ["hello@gadgets.example"]
    assert to_old.subject == "Guangzhou Gadget Supply: your contact e-mail address was changed"
    assert "g***@elsewhere.example" in to_old.body


def test_a_store_name_with_line_breaks_cannot_add_mail_headers(root, merchant_a, django_capture_on_commit_callbacks):
    hostile = "Hashpower\r\nBcc: everyone@victims.example\u202e\x1b"
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change(root, merchant_a, store_name=hostile, contact_email="new-owner@elsewhere.example")
    assert response.status_code == 302, response.context["adminform"].form.errors
    for message in mail.outbox:
        assert not {"\r", "\n", "\u202e", "\x1b"} & set(message.subject)
        assert message.subject.startswith("Hashpower Bcc: everyone@victims.example")
        assert "Bcc" not in message.message()  # the header was not split: no Bcc header
        assert message.recipients() == message.to


def test_other_merchant_fields_are_audited_without_mail(
    root, superuser, merchant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change(root, merchant_a, company_name="Hashpower Holdings Ltd.", language="en")
    assert response.status_code == 302
    [event] = events(AuditVerb.MERCHANT_EDITED)
    assert event.before == {"company_name": "Shenzhen Hashpower Trading Co., Ltd.", "language": "zh-hans"}
    assert event.after == {"company_name": "Hashpower Holdings Ltd.", "language": "en"}
    assert mail.outbox == []


def test_saving_a_merchant_unchanged_writes_nothing(root, merchant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_change(root, merchant_a).status_code == 302
    assert events(AuditVerb.MERCHANT_EDITED) == []
    assert mail.outbox == []


def test_a_bad_contact_email_is_a_field_error_and_changes_nothing(root, merchant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change(root, merchant_a, contact_email="not an address\r\nBcc: x@y.example")
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"contact_email"}
    merchant_a.refresh_from_db()
    assert merchant_a.contact_email == "sales@hashpower.example"
    assert events(AuditVerb.MERCHANT_EDITED) == []
    assert mail.outbox == []


def test_a_merchant_never_changes_marketplace_in_the_admin(root, merchant_a, other_marketplace):
    response = post_change(root, merchant_a, marketplace=str(other_marketplace.pk))
    assert response.status_code == 302
    merchant_a.refresh_from_db()
    assert merchant_a.marketplace.code == "alibaba"
    assert events(AuditVerb.MERCHANT_EDITED) == []


def test_editing_a_marketplace_is_audited(root, superuser, marketplace):
    response = post_change(root, marketplace, name="Alibaba.com (global)", timezone="UTC")
    assert response.status_code == 302, response.context["adminform"].form.errors
    [event] = events(AuditVerb.MARKETPLACE_EDITED)
    assert event.actor == superuser
    assert event.before == {"name": "Alibaba.com", "timezone": "Asia/Shanghai"}
    assert event.after == {"name": "Alibaba.com (global)", "timezone": "UTC"}


def test_a_category_is_never_renamed_in_the_admin(root, miners):
    url = admin_url(Category, "change", miners.pk)
    response = root.get(url)
    assert response.status_code == 200 and response.context["has_change_permission"] is False
    assert root.post(url, {"name": "Crypto miners"}).status_code == 403
    miners.refresh_from_db()
    assert miners.name == "Blockchain Miners"


def test_a_service_refusal_is_shown_on_the_form_and_saves_nothing(
    root, after_grace, mining_rules, merchant_b, graphics_cards
):
    # The form lets a banned title through; only the listing service knows the policy's rules.
    response = root.post(
        admin_url(Listing, "add"),
        {
            "merchant": merchant_b.pk,
            "category": graphics_cards.pk,
            "title": "Antminer S19 Pro 110TH/s",
            "description": "",
            "attributes": "{}",
            "price": "2399.00",
            "currency": "USD",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "banned under the policy" in errors["title"][0]
    assert not Listing.objects.filter(merchant=merchant_b).exists()
    # The attempt itself is recorded, as the service records every one.
    assert Violation.objects.filter(merchant=merchant_b, kind="relist_attempt").count() == 1


# --- Nothing with history is deleted -----------------------------------------------------------------


@pytest.fixture
def rows_with_history(merchant_a, miners, make_listing, announced_policy):
    listing = make_listing(merchant_a, miners)
    return {
        "listing": listing,
        "merchant": merchant_a,
        "category": miners,
        "marketplace": merchant_a.marketplace,
        "policy": announced_policy,
        "audit event": AuditEvent.objects.filter(verb=AuditVerb.LISTING_CREATED).get(),
    }


@pytest.mark.parametrize("name", ["listing", "merchant", "category", "marketplace", "policy", "audit event"])
def test_nothing_with_history_can_be_deleted_in_the_admin(root, rows_with_history, name):
    row = rows_with_history[name]
    model = type(row)
    assert root.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert root.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403

    changelist = root.get(admin_url(model, "changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    root.post(
        admin_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert model.objects.filter(pk=row.pk).exists()


def test_no_registered_admin_deletes_except_a_two_factor_device(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    deletable = {
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_delete_permission(request)
    }
    assert deletable == DELETABLE


# --- Every page answers --------------------------------------------------------------------------------


@pytest.fixture
def a_row_of_most_models(rows_with_history, open_item, moderator):
    open_item(rows_with_history["listing"])
    TOTPDevice.objects.create(user=moderator, name="authenticator app", confirmed=True)
    AccessAttempt.objects.create(
        username="moderator",
        ip_address="10.0.0.1",
        user_agent="tests",
        failures_since_start=1,
        get_data="",
        post_data="",
    )
    AccessLog.objects.create(username="moderator", ip_address="10.0.0.1", user_agent="tests")
    every = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)[0]
    PeriodicTask.objects.get_or_create(name="tests", defaults={"task": "moderation.ping", "interval": every})
    Group.objects.get_or_create(name=Role.MODERATOR.value)


def registered_admins():
    return sorted(admin.site._registry.items(), key=lambda pair: pair[0]._meta.label)


def test_every_admin_page_answers_the_superuser(root, superuser, a_row_of_most_models):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    checked = []
    for model, model_admin in registered_admins():
        assert root.get(admin_url(model, "changelist")).status_code == 200, model
        add = root.get(admin_url(model, "add")).status_code
        assert add == (200 if model_admin.has_add_permission(request) else 403), model
        row = model_admin.get_queryset(request).first()
        if row is not None:
            response = root.get(admin_url(model, "change", row.pk))
            assert response.status_code == 200, model
            checked.append(model._meta.label_lower)
    assert {
        "sellers.listing",
        "moderation.reviewitem",
        "auth.user",
        "otp_totp.totpdevice",
        "axes.accessattempt",
    } <= set(checked)


def test_read_only_admins_refuse_a_change(root, a_row_of_most_models):
    task = PeriodicTask.objects.get(name="tests")
    assert root.post(admin_url(PeriodicTask, "change", task.pk), {"enabled": ""}).status_code == 403
    changelist = root.get(admin_url(PeriodicTask, "changelist")).content.decode()
    assert "disable_tasks" not in changelist
    root.post(admin_url(PeriodicTask, "changelist"), {"action": "disable_tasks", "_selected_action": [task.pk]})
    assert PeriodicTask.objects.get(pk=task.pk).enabled

    group = Group.objects.get(name=Role.MODERATOR.value)
    assert root.post(admin_url(Group, "change", group.pk), {"name": "anyone"}).status_code == 403
    assert Group.objects.filter(name=Role.MODERATOR.value).exists()

    policy = Policy.objects.get()
    assert root.post(admin_url(Policy, "change", policy.pk), {"title": "rewritten"}).status_code == 403


# --- Accounts -----------------------------------------------------------------------------------------


def test_a_user_who_acted_cannot_be_deleted(root, moderator, marketplace):
    record_event(actor=moderator, verb=AuditVerb.REVIEW_NOTE_ADDED, target=marketplace)
    assert root.get(admin_url(User, "delete", moderator.pk)).status_code == 403
    assert root.post(admin_url(User, "delete", moderator.pk), {"post": "yes"}).status_code == 403
    assert "delete_selected" not in root.get(admin_url(User, "changelist")).content.decode()
    root.post(
        admin_url(User, "changelist"), {"action": "delete_selected", "_selected_action": [moderator.pk], "post": "yes"}
    )
    assert User.objects.filter(pk=moderator.pk).exists()


def test_a_user_is_deactivated_instead_audited(root, superuser, moderator):
    response = root.post(
        admin_url(User, "changelist"), {"action": "deactivate_users", "_selected_action": [moderator.pk]}
    )
    assert response.status_code == 302
    moderator.refresh_from_db()
    assert not moderator.is_active
    [event] = events(AuditVerb.USER_CHANGED)
    assert (event.actor, event.target_id) == (superuser, moderator.pk)
    assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})


def test_a_change_of_roles_and_access_is_audited(root, superuser, moderator):
    policy_admins = Group.objects.get_or_create(name=Role.POLICY_ADMIN.value)[0]
    response = post_change(root, moderator, groups=[str(policy_admins.pk)], is_staff="on")
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(moderator.groups.values_list("name", flat=True)) == ["policy admin"]
    moderator.refresh_from_db()
    assert moderator.is_staff
    [event] = events(AuditVerb.USER_CHANGED)
    assert (event.actor, event.target_id) == (superuser, moderator.pk)
    assert event.before == {"groups": ["moderator"], "is_staff": False}
    assert event.after == {"groups": ["policy admin"], "is_staff": True}


def test_making_someone_a_superuser_is_audited(root, moderator):
    response = post_change(root, moderator, is_superuser="on", is_staff="on")
    assert response.status_code == 302
    [event] = events(AuditVerb.USER_CHANGED)
    assert event.after == {"is_staff": True, "is_superuser": True}


def test_a_staff_member_without_superuser_cannot_change_accounts(client, policy_admin, moderator):
    client.force_login(policy_admin)
    assert client.get(admin_url(User, "change", moderator.pk)).status_code == 403
    response = client.post(admin_url(User, "change", moderator.pk), {"username": "moderator", "is_superuser": "on"})
    assert response.status_code == 403
    assert events(AuditVerb.USER_CHANGED) == []


def test_setting_a_password_is_audited_without_the_password(root, superuser, moderator):
    new_password = "a-long-and-unusual-passphrase-42"
    response = root.post(
        reverse("admin:auth_user_password_change", args=[moderator.pk]),
        {"usable_password": "true", "password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    moderator.refresh_from_db()
    assert moderator.check_password(new_password)
    [event] = events(AuditVerb.USER_PASSWORD_SET)
    assert (event.actor, event.target_id) == (superuser, moderator.pk)
    assert (event.before, event.after) == ({"password_usable": True}, {"password_usable": True})
    assert new_password not in str(event.after) and moderator.password not in str(event.after)


def test_a_weak_password_is_refused_and_nothing_is_audited(root, moderator):
    response = root.post(
        reverse("admin:auth_user_password_change", args=[moderator.pk]),
        {"usable_password": "true", "password1": "password", "password2": "password"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    moderator.refresh_from_db()
    assert moderator.check_password("demo")
    assert events(AuditVerb.USER_PASSWORD_SET) == []


def test_adding_a_user_is_audited(root, superuser):
    password = "a-long-and-unusual-passphrase-42"
    response = root.post(
        admin_url(User, "add"),
        {"username": "newcomer", "usable_password": "true", "password1": password, "password2": password},
    )
    assert response.status_code == 302
    newcomer = User.objects.get(username="newcomer")
    assert newcomer.check_password(password) and not newcomer.is_staff
    [event] = events(AuditVerb.USER_CREATED)
    assert (event.actor, event.target_id) == (superuser, newcomer.pk)
    assert event.after["password_usable"] is True and password not in str(event.after)


def test_a_two_factor_device_never_shows_its_key_and_deleting_it_is_an_audited_reset(root, superuser, moderator):
    device = TOTPDevice.objects.create(user=moderator, name="authenticator app", confirmed=True)
    page = root.get(admin_url(TOTPDevice, "change", device.pk))
    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert device.key not in root.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/", follow=True).content.decode()
    assert root.post(admin_url(TOTPDevice, "change", device.pk), {"key": "00" * 20}).status_code == 403
    assert root.get(admin_url(TOTPDevice, "add")).status_code == 403

    response = root.post(admin_url(TOTPDevice, "delete", device.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=moderator).exists()
    [event] = events(AuditVerb.TWO_FACTOR_DISABLED)
    assert (event.actor, event.target_id, event.reason) == (superuser, moderator.pk, "reset by an administrator")


# --- A marketplace's service account ---------------------------------------------------------------


@pytest.fixture
def service_user(policy_admin, marketplace):
    from sellers.integration.accounts import create_service_account

    account, _key_row, _key = create_service_account(actor=policy_admin, marketplace=marketplace, name="Catalog sync")
    return account.user


@pytest.mark.parametrize(
    "changes",
    [{"is_active": "on"}, {"is_staff": "on"}, {"is_superuser": "on", "is_staff": "on"}, {"first_name": "Catalog"}],
    ids=str,
)
def test_a_service_accounts_user_cannot_be_opened_to_sign_in_or_renamed_from_the_admin(root, service_user, changes):
    # Its name ("svc:…") is not one the admin's form takes: a superuser would have to rename it too.
    response = post_change(root, service_user, username="catalog-sync", **changes)
    assert response.status_code == 200
    assert "managed under Integrations" in str(response.context["adminform"].form.errors)
    username = service_user.username
    service_user.refresh_from_db()
    assert (service_user.is_active, service_user.is_staff, service_user.is_superuser) == (False, False, False)
    assert service_user.username == username and service_user.first_name == ""
    assert events(AuditVerb.USER_CHANGED) == []


def test_a_service_accounts_user_gets_no_password(root, service_user):
    password = "a-long-and-unusual-passphrase-42"
    response = root.post(
        reverse("admin:auth_user_password_change", args=[service_user.pk]),
        {"usable_password": "true", "password1": password, "password2": password},
        follow=True,
    )
    assert "managed under Integrations" in response.content.decode()
    service_user.refresh_from_db()
    assert not service_user.has_usable_password()
    assert events(AuditVerb.USER_PASSWORD_SET) == []
