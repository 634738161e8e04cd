"""Assignment pages: "Assigned to me", and assigning or unassigning an item from its page."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.models import ReviewItem
from moderation.selectors.assignment import assigned_to, eligible_assignees
from moderation.selectors.queue import page_of
from moderation.services import assignment as assignment_services
from moderation.views.access import role_required
from moderation.views.queue import _page_number, _visible_item

MODERATORS = (Role.MODERATOR,)


class AssignForm(forms.Form):
    """Reads the item page's "Assign to…" select. Kept beside its views: moderation/forms.py is shared."""

    assignee = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, item: ReviewItem, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = eligible_assignees(item)


def assignment_context(request, item: ReviewItem) -> dict:
    """What the item page shows of the assignment and of the user's claim lease.

    One query (the people the item can be assigned to), and none for a decided item.
    """
    context: dict = {"assignees": [], "assignee": None, "lease_seconds": None}
    if not item.is_open:
        return context
    context["assignees"] = eligible = list(eligible_assignees(item))
    if item.assigned_to_id:
        # Almost always among the eligible already: no query of its own.
        found = next((user for user in eligible if user.pk == item.assigned_to_id), None)
        context["assignee"] = found or item.assigned_to
    if item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id == request.user.pk and item.claimed_until:
        # Seconds, for the countdown script; the sentence itself is rendered here, from minutes.
        context["lease_seconds"] = max(0, int((item.claimed_until - timezone.now()).total_seconds()))
        context["lease_minutes"] = context["lease_seconds"] // 60
    return context


@role_required(*MODERATORS)
def assigned_index(request):
    """ "Assigned to me": the open items other moderators (or I) handed me, highest priority first."""
    page = _page_number(request)
    items, has_next = page_of(assigned_to(request.user), page=page, size=settings.REVIEW_QUEUE_PAGE_SIZE)
    return render(
        request,
        "moderation/assignment/index.html",
        {"items": items, "page": page, "has_next": has_next, "now": timezone.now()},
    )


@require_POST
@role_required(*MODERATORS)
def item_assign(request, item_id: int):
    item = _visible_item(request, item_id)
    form = AssignForm(request.POST, item=item)
    if not form.is_valid():
        messages.error(request, _("Choose a moderator who may decide this item."))
        return redirect("backoffice:queue-item", item.pk)
    assignee = form.cleaned_data["assignee"]
    try:
        assignment_services.assign_item(actor=request.user, item=item, assignee=assignee)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Item #%(number)s assigned to %(name)s.") % {"number": item.pk, "name": assignee})
    return redirect("backoffice:queue-item", item.pk)


@require_POST
@role_required(*MODERATORS)
def item_unassign(request, item_id: int):
    item = _visible_item(request, item_id)
    try:
        assignment_services.unassign_item(actor=request.user, item=item)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Item #%(number)s is no longer assigned.") % {"number": item.pk})
    return redirect("backoffice:queue-item", item.pk)
