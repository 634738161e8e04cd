"""The duplicate group page: similar listings side by side, decided all or some at once.

Two steps, as the bulk decision: ``review`` shows what will be decided and asks to confirm;
``confirm`` decides each ticked member through the queue's own services (``decide_group``) and
reports each outcome. A moderator sees, and may tick, only the members of their tier.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from backoffice.roles import Role
from backoffice.text import VisibleTextFormMixin
from moderation.models import PolicyClause, ReviewItem, Violation
from moderation.selectors.duplicates import GroupPage, group_page
from moderation.selectors.queue import queue_base
from moderation.services import duplicates as duplicate_services
from moderation.views.access import role_required

MODERATORS = (Role.MODERATOR,)


class GroupDecisionForm(VisibleTextFormMixin, forms.Form):
    """One decision for the ticked members. Kept beside its view: moderation/forms.py is shared.

    ``items`` accepts any member the user may see, decided ones included: a member decided by
    someone else since the page was drawn is reported by the service with the others' outcomes,
    rather than failing the whole form.
    """

    items = forms.ModelMultipleChoiceField(
        queryset=ReviewItem.objects.none(),
        error_messages={
            "required": gettext_lazy("Tick at least one listing."),
            "invalid_choice": gettext_lazy("Listing %(value)s is not one of these similar listings."),
        },
        label=gettext_lazy("Items"),
    )
    decision = forms.ChoiceField(
        choices=[
            (ReviewItem.Decision.TAKEN_DOWN, gettext_lazy("Take down")),
            (ReviewItem.Decision.DISMISSED, gettext_lazy("Dismiss")),
        ],
        widget=forms.RadioSelect,
        label=gettext_lazy("Decision"),
    )
    clause = forms.ModelChoiceField(
        queryset=PolicyClause.objects.none(),
        required=False,
        empty_label=gettext_lazy("The clause each listing's rules point to"),
        label=gettext_lazy("Clause"),
    )
    kind = forms.ChoiceField(
        choices=[
            ("prohibited_listing", gettext_lazy("Prohibited product listed")),
            ("keyword_evasion", gettext_lazy("Evasion by keyword distortion")),
            ("category_evasion", gettext_lazy("Evasion by a misplaced category")),
        ],
        initial=Violation.Kind.PROHIBITED_LISTING,
        required=False,  # a dismissal has none
        label=gettext_lazy("Violation"),
    )
    reason = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label=gettext_lazy("Reason")
    )

    def __init__(self, *args, members, policies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["items"].queryset = members
        # A clause can be chosen for all only when the members share one policy.
        if len(policies) == 1:
            self.fields["clause"].queryset = policies[0].clauses.order_by("number")
        else:
            del self.fields["clause"]

    def clean(self):
        cleaned = super().clean()
        dismissed = cleaned.get("decision") == ReviewItem.Decision.DISMISSED
        if dismissed and "reason" not in self.errors and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", _("Say why these are not violations."))
        return cleaned


def _page_or_404(request, group_id: int) -> GroupPage:
    page = group_page(request.user, group_id)
    if page is None:
        raise Http404("No such group.")
    return page


def _form(request, page: GroupPage, data=None) -> GroupDecisionForm:
    members = queue_base(request.user).filter(duplicate_group=page.group)
    initial = {
        "items": [card.item.pk for card in page.open_members],
        "decision": ReviewItem.Decision.TAKEN_DOWN,
    }
    return GroupDecisionForm(data, members=members, policies=page.policies, initial=initial)


def _render(request, page: GroupPage, form: GroupDecisionForm, status: int = 200):
    ticked = {str(value) for value in (form["items"].value() or [])}
    return render(
        request,
        "moderation/queue/group.html",
        {"page": page, "group": page.group, "form": form, "ticked": ticked},
        status=status,
    )


@role_required(*MODERATORS)
def group_show(request, group_id: int):
    """The group's members side by side (GET); review, then confirm, a decision for the ticked ones (POST)."""
    page = _page_or_404(request, group_id)
    if request.method != "POST":
        return _render(request, page, _form(request, page))
    form = _form(request, page, request.POST)
    if not form.is_valid():
        return _render(request, page, form, status=400)
    data = form.cleaned_data
    items = sorted(data["items"], key=lambda item: (-item.priority, item.pk))
    if request.POST.get("step") != "confirm":
        return render(
            request,
            "moderation/queue/group_confirm.html",
            {"group": page.group, "items": items, "data": data},
        )
    try:
        outcomes = duplicate_services.decide_group(
            actor=request.user,
            group=page.group,
            item_ids=[item.pk for item in items],
            decision=data["decision"],
            reason=data["reason"],
            clause=data.get("clause"),
            kind=data["kind"] or Violation.Kind.PROHIBITED_LISTING,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("backoffice:queue-group", page.group.pk)
    done = sum(1 for outcome in outcomes if outcome.ok)
    messages.success(
        request,
        ngettext("%(done)s of %(total)s item decided.", "%(done)s of %(total)s items decided.", len(outcomes))
        % {"done": done, "total": len(outcomes)},
    )
    for outcome in outcomes:
        if not outcome.ok:
            messages.warning(
                request, _("Item #%(number)s: %(message)s") % {"number": outcome.item_id, "message": outcome.message}
            )
    return redirect("backoffice:queue-group", page.group.pk)
