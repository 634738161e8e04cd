"""The Django admin: a second window onto the back office's services, never a way around them.

Every ModelAdmin of the project (here, ``sellers.admin``, ``moderation.admin``) keeps two rules:

1. A change goes through the service the back office uses (``save_model`` calls it and the service
   writes the AuditEvent in its transaction), or it is not made here at all: the model is read-only.
2. Nothing that has history is deleted: the audit trail, decisions and notices name these rows (most
   foreign keys to them are PROTECT, and a deletion would be recorded only in the admin's own mutable
   log). Deletion is refused, and with it the bulk "delete selected" action, which Django drops when
   its permission is refused. Accounts are deactivated instead.

This module holds the bases the apps' admin modules share, and the admin of the models other apps
bring: accounts (django.contrib.auth), beat's schedules, two-factor devices and sign-in records.
DRF's API tokens are left out: their admin comes with the API token work.
"""

from __future__ import annotations

from axes import admin as axes_admin
from axes.conf import settings
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model, update_session_auth_hash
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_otp.plugins.otp_totp import admin as totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice import services

User = get_user_model()


# --- The bases ------------------------------------------------------------------------------------


class NoDeletionMixin:
    """Refuses deletion, one row or many: these rows have history."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoDeletionMixin):
    """Shown, never changed here: the back office (or code) is where these rows change."""

    # Third-party admins bring actions that write with queryset.update() (beat's enable/disable).
    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class ServiceAdmin(NoDeletionMixin, admin.ModelAdmin):
    """Saves through a service: a subclass's ``save_model`` calls it.

    The form checks what it can, but a service may still refuse what the form let through (a rule only
    it knows, a concurrent change it sees under its lock). Its ``ValidationError`` becomes the form's
    errors on the page instead of a server error: the page is built again with the refusal added to the
    form's validation, so nothing is saved. The service's transaction is a savepoint inside the admin's,
    so what it had written is rolled back before the page is built again.
    """

    def get_changeform_initial_data(self, request):
        # ?category=abc prefills a related field; its widget looks the value up as an id and
        # would fail on anything but one: such a value is dropped, as if it had not been sent.
        initial = super().get_changeform_initial_data(request)
        for name in (*self.autocomplete_fields, *self.raw_id_fields):
            value = initial.get(name)
            if value is not None and not (
                isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18
            ):
                del initial[name]
        return initial

    def _changeform_view(self, request, object_id, form_url, extra_context):
        try:
            return super()._changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as refusal:
            if request.method != "POST" or hasattr(request, "_service_refusal"):
                raise
            request._service_refusal = refusal
            return super()._changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self):
                cleaned_data = super().clean()
                errors = refusal.message_dict if hasattr(refusal, "error_dict") else {None: refusal.messages}
                for field, field_messages in errors.items():
                    self.add_error(field if field in self.fields else None, field_messages)
                return cleaned_data

        RefusedForm.__name__ = form_class.__name__
        return RefusedForm


def replace_admin(model, admin_class) -> None:
    """Register ``admin_class`` for a model another app registered already (or not: axes may not)."""
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)


# --- Accounts -------------------------------------------------------------------------------------


class UserAdmin(ServiceAdmin, auth_admin.UserAdmin):
    """Accounts: created, changed and given a password through ``backoffice.services``, each audited;
    deactivated, never deleted (the audit trail names whoever acted)."""

    readonly_fields = ["last_login", "date_joined"]
    actions = ["deactivate_users"]

    # Account administration is a superuser's: a staff member holding "change user" could otherwise
    # make themselves a superuser.
    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            fields = {name: data[name] for name in services.USER_EDITABLE_FIELDS if name in data}
            services.update_user(actor=request.user, user=obj, **fields)
        else:
            password = data.get("password1") if data.get("set_usable_password", True) else None
            created = services.create_user(actor=request.user, username=data["username"], password=password)
            obj.pk = created.pk

    def save_related(self, request, form, formsets, change):
        # Not form.save_m2m(): update_user has set the groups and permissions, and audited them.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=gettext_lazy("Deactivate the selected users"), permissions=["change"])
    def deactivate_users(self, request, queryset):
        deactivated = 0
        for user in queryset.filter(is_active=True):
            try:
                services.update_user(actor=request.user, user=user, is_active=False)
            except ValidationError as refusal:
                self.message_user(request, f"{user}: {' '.join(refusal.messages)}", level=messages.ERROR)
                continue
            deactivated += 1
        self.message_user(request, gettext("Users deactivated: %(count)d.") % {"count": deactivated})

    @auth_admin.sensitive_post_parameters_m
    def user_change_password(self, request, id, form_url=""):
        """Django's page, but a valid form is saved by ``set_user_password`` (audited), not by the form."""
        if request.method != "POST":
            return super().user_change_password(request, id, form_url)
        user = self.get_object(request, unquote(id))
        if user is None or not self.has_change_permission(request, user):
            return super().user_change_password(request, id, form_url)  # its 403 or 404
        form = self.change_password_form(user, request.POST)
        usable = form.is_valid() and form.cleaned_data["set_usable_password"]
        # As Django's: disabling password sign-in must be asked for with its own button.
        if not form.is_valid() or not (usable or "unset-password" in request.POST):
            return super().user_change_password(request, id, form_url)  # the errors, Django's way
        try:
            with transaction.atomic():
                user = services.set_user_password(
                    actor=request.user, user=user, password=form.cleaned_data["password1"] if usable else None
                )
                self.log_change(request, user, self.construct_change_message(request, form, None))
        except ValidationError as refusal:  # a rule only the service knows (a service account's user)
            messages.error(request, " ".join(refusal.messages))
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:auth_user_change", args=(user.pk,)))
        if usable:
            messages.success(request, gettext("Password changed successfully."))
        else:
            messages.success(request, gettext("Password-based authentication was disabled."))
        update_session_auth_hash(request, user)  # an administrator changing their own stays signed in
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:auth_user_change", args=(user.pk,)))


class GroupAdmin(ReadOnlyMixin, auth_admin.GroupAdmin):
    """Read-only: the groups are the back office's roles, named in code (``backoffice.roles``) and given
    their permissions by migrations; renaming one would silently take the role from all its members.
    Who holds a role is changed on the user, audited."""


replace_admin(User, UserAdmin)
replace_admin(Group, GroupAdmin)


# --- Two-factor devices ---------------------------------------------------------------------------


class TOTPDeviceAdmin(totp_admin.TOTPDeviceAdmin):
    """Shown without their secrets; never added or edited here (a device an administrator made, with a
    key they know, would sign in as its user). Deleting one resets its user's two-factor authentication
    (a lost phone) through ``reset_two_factor``, audited."""

    list_display = ["user", "name", "created_at", "last_used_at", "confirmed"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_list_display(self, request):
        return self.list_display  # not the QR code link: it shows the key

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["user", "name", "confirmed", "created_at", "last_used_at"]}),
            ("Configuration", {"fields": ["step", "t0", "digits", "tolerance", "drift"]}),
        ]

    def get_urls(self):
        # Not django-otp's config and QR code pages: they show the key to whoever can view the device.
        return admin.ModelAdmin.get_urls(self)

    def delete_model(self, request, obj):
        services.reset_two_factor(actor=request.user, user=obj.user)

    def delete_queryset(self, request, queryset):
        for user in User.objects.filter(pk__in=queryset.values("user")):
            services.reset_two_factor(actor=request.user, user=user)


replace_admin(TOTPDevice, TOTPDeviceAdmin)


# --- Beat's schedules -----------------------------------------------------------------------------
#
# Read-only: the schedules are code (moderation's migrations write them); disabling a sweep here would
# stop sanctions expiring or notices going out, unaudited. The operations page retries what failed.


class PeriodicTaskAdmin(ReadOnlyMixin, beat_admin.PeriodicTaskAdmin):
    pass


class ClockedScheduleAdmin(ReadOnlyMixin, beat_admin.ClockedScheduleAdmin):
    pass


class CrontabScheduleAdmin(ReadOnlyMixin, beat_admin.CrontabScheduleAdmin):
    pass


class SolarScheduleAdmin(ReadOnlyMixin, beat_admin.SolarScheduleAdmin):
    pass


class IntervalScheduleAdmin(ReadOnlyMixin, beat_admin.IntervalScheduleAdmin):
    pass


replace_admin(PeriodicTask, PeriodicTaskAdmin)
replace_admin(ClockedSchedule, ClockedScheduleAdmin)
replace_admin(CrontabSchedule, CrontabScheduleAdmin)
replace_admin(SolarSchedule, SolarScheduleAdmin)
replace_admin(IntervalSchedule, IntervalScheduleAdmin)


# --- Sign-in records (django-axes) ----------------------------------------------------------------
#
# Read-only: they are the evidence of who tried to sign in (the audit trail has the lock-outs). A lock
# is lifted with `python manage.py axes_reset_username <name>`, not by deleting its row here. Shown
# only when django-axes shows them (AXES_ENABLE_ADMIN).


class AccessAttemptAdmin(ReadOnlyMixin, axes_admin.AccessAttemptAdmin):
    pass


class AccessLogAdmin(ReadOnlyMixin, axes_admin.AccessLogAdmin):
    pass


class AccessFailureLogAdmin(ReadOnlyMixin, axes_admin.AccessFailureLogAdmin):
    pass


if settings.AXES_ENABLE_ADMIN:
    replace_admin(AccessAttempt, AccessAttemptAdmin)
    replace_admin(AccessLog, AccessLogAdmin)
    replace_admin(AccessFailureLog, AccessFailureLogAdmin)
