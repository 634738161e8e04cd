"""The operations page: background work that failed or got stuck, with a retry for each.

Moderators may look (a stuck notice explains a merchant's "I was never told"); policy
admins and senior moderators may retry. Every retry is a POST to a service that refuses
clearly when the row is no longer failed or stuck.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from backoffice.roles import Role, has_role
from moderation.models import CategoryRemoval, Notice, PolicyScan, StatementSubmission
from moderation.selectors.operations import operations_overview
from moderation.services import operations as operation_services
from moderation.views.access import role_required

VIEWERS = (Role.POLICY_ADMIN, Role.MODERATOR)
RETRIERS = (Role.POLICY_ADMIN, Role.SENIOR_MODERATOR)


@role_required(*VIEWERS)
def operations_index(request):
    can_retry = any(has_role(request.user, role) for role in RETRIERS)
    context = {"overview": operations_overview(), "can_retry": can_retry}
    return render(request, "moderation/operations/index.html", context)


def _retry_one(kind: str, object_id: int, actor) -> str:
    """Call the kind's retry service; the success message to show."""
    if kind == "removal":
        removal = get_object_or_404(CategoryRemoval, pk=object_id)
        removal = operation_services.retry_removal(actor=actor, removal=removal)
        if removal.status == CategoryRemoval.Status.SCHEDULED:
            # It failed before it started (its policy was not in effect): the next start checks again.
            return _("Removal #%(id)s is back on the schedule: it starts at the next beat tick.") % {"id": removal.pk}
        return _("Removal #%(id)s retried: its remaining chunks are queued.") % {"id": removal.pk}
    if kind == "scan":
        scan = operation_services.retry_scan(actor=actor, scan=get_object_or_404(PolicyScan, pk=object_id))
        return _("Scan #%(id)s retried: its remaining chunks are queued.") % {"id": scan.pk}
    if kind == "notice":
        notice = get_object_or_404(Notice, pk=object_id)
        operation_services.retry_notice_delivery(actor=actor, notice=notice)
        return _("The notice “%(subject)s” will be e-mailed again.") % {"subject": notice.subject}
    if kind == "statement":
        submission = get_object_or_404(StatementSubmission, pk=object_id)
        operation_services.retry_statement(actor=actor, submission=submission)
        return _("Statement %(puid)s will be submitted again.") % {"puid": submission.puid}
    raise Http404("No such kind of work.")


@require_POST
@role_required(*RETRIERS)
def operations_retry(request, kind: str, object_id: int):
    try:
        messages.success(request, _retry_one(kind, object_id, request.user))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("backoffice:operations")


@require_POST
@role_required(*RETRIERS)
def operations_retry_all(request, kind: str):
    """Notices and statements fail by the thousand in an outage: retry a batch of them per press."""
    if kind == "notice":
        count = operation_services.retry_notice_deliveries(actor=request.user)
        message = ngettext(
            "%(count)s notice will be e-mailed again.", "%(count)s notices will be e-mailed again.", count
        )
    elif kind == "statement":
        count = operation_services.retry_statements(actor=request.user)
        message = ngettext(
            "%(count)s statement will be submitted again.", "%(count)s statements will be submitted again.", count
        )
    else:
        raise Http404("No such kind of work.")
    if count:
        messages.success(request, message % {"count": count})
    else:
        messages.info(request, _("Nothing is failed or stuck any more: there was nothing to retry."))
    return redirect("backoffice:operations")
