"""The moderators' review queue: filter, claim next, decide, bulk decide."""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from backoffice.roles import Role, has_role
from moderation.filters import ReviewItemFilter
from moderation.forms import BulkDecisionForm, DismissForm, EscalateForm, NoteForm, TakeDownForm
from moderation.models import ReviewItem
from moderation.selectors.queue import (
    item_detail,
    item_evidence,
    merchant_history,
    page_by_ids,
    page_of,
    queue_base,
    queue_header,
    queue_option_counts,
)
from moderation.services import queue as queue_services
from moderation.services import undo as undo_services
from moderation.views.access import role_required

MODERATORS = (Role.MODERATOR,)


def _page_number(request) -> int:
    try:
        return min(max(int(request.GET.get("page", 1)), 1), 10_000)  # deeper: an OFFSET past bigint, a DataError
    except ValueError:
        return 1


@role_required(*MODERATORS)
def queue_index(request):
    filterset = ReviewItemFilter(request.GET or None, queryset=queue_base(request.user), user=request.user)
    page = _page_number(request)
    paged = page_by_ids if filterset.searching() else page_of
    items, has_next = paged(filterset.qs, page=page, size=settings.REVIEW_QUEUE_PAGE_SIZE)
    counts = queue_option_counts(request.user, filterset)  # before the header: it may fill the header's cache
    if counts is not None:
        filterset.show_counts(counts)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/queue/index.html",
        {
            "filter": filterset,
            "items": items,
            "page": page,
            "has_next": has_next,
            "query": query.urlencode(),
            "header": queue_header(request.user),
            "filtering": any(key != "page" for key in request.GET),
            "bulk_form": BulkDecisionForm(),
            "now": timezone.now(),
            **_undo_context(request),
        },
    )


@require_POST
@role_required(*MODERATORS)
def queue_claim_next(request):
    tier = request.POST.get("tier") if request.POST.get("tier") in ReviewItem.Tier.values else None
    try:
        item = queue_services.claim_next_item(actor=request.user, tier=tier, filters=_claim_filters(request.POST))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("backoffice:queue")
    if item is None:
        messages.info(request, _("Nothing left to claim: the queue is empty."))
        return redirect("backoffice:queue")
    return redirect("backoffice:queue-item", item.pk)


# The user's latest decision, kept in the session for the "Undo" offer: every queue page shows
# it without a query (the pages' query counts are held by tests). The service decides; the offer
# only appears while the window may still be open.
UNDO_OFFER = "queue_undo_offer"


def _offer_undo(request, item: ReviewItem, decision: str) -> None:
    until = timezone.now() + undo_services.undo_window()
    request.session[UNDO_OFFER] = {
        "pk": item.pk,
        "title": item.listing.title,
        "decision": decision,
        "until": until.isoformat(),
    }


def _undo_context(request, item: ReviewItem | None = None) -> dict:
    """The offer to undo the user's latest decision, and whether this item's can be undone by them."""
    now = timezone.now()
    offer = request.session.get(UNDO_OFFER)
    until = datetime.fromisoformat(offer["until"]) if offer else None
    shown = offer is not None and until > now and (item is None or offer["pk"] != item.pk)
    return {
        "undoable": offer if shown else None,
        "undoable_until": until,
        "can_undo": item is not None and undo_services.undo_refusal(actor=request.user, item=item, now=now) is None,
        "undo_until": undo_services.undo_deadline(item) if item is not None else None,
    }


def _item_context(request, item: ReviewItem, **forms) -> dict:
    # Imported here: the assignment views import this module's helpers.
    from moderation.views.assignment import assignment_context

    return {
        **_undo_context(request, item),
        **assignment_context(request, item),
        "item": item,
        "evidence": item_evidence(item),
        "history": merchant_history(item),
        "take_down_form": forms.get("take_down_form") or TakeDownForm(policy=item.policy, suggested=item.clause),
        "dismiss_form": forms.get("dismiss_form") or DismissForm(),
        "escalate_form": forms.get("escalate_form") or EscalateForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "now": timezone.now(),
        "mine": item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id == request.user.pk,
        "can_decide": item.is_open
        and (item.tier == ReviewItem.Tier.MODERATOR or has_role(request.user, Role.SENIOR_MODERATOR)),
    }


def _visible_item(request, item_id: int) -> ReviewItem:
    try:
        item = item_detail(item_id)
    except ReviewItem.DoesNotExist:
        raise Http404("No such item.") from None
    escalated_away = item.tier == ReviewItem.Tier.SENIOR and not has_role(request.user, Role.SENIOR_MODERATOR)
    if escalated_away and item.escalated_by_id != request.user.pk:
        raise Http404("No such item.")
    return item


@role_required(*MODERATORS)
def queue_item(request, item_id: int):
    item = _visible_item(request, item_id)
    return render(request, "moderation/queue/item.html", _item_context(request, item))


@require_POST
@role_required(*MODERATORS)
def queue_item_undo(request, item_id: int):
    """Take back one's own decision within minutes: the item opens again, to be decided anew."""
    item = _visible_item(request, item_id)
    try:
        undo_services.undo_decision(actor=request.user, item=item)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        request.session.pop(UNDO_OFFER, None)
        messages.success(
            request, _("Decision on item #%(number)s undone: the item is open again.") % {"number": item.pk}
        )
    return redirect("backoffice:queue-item", item.pk)


def _claim_filters(source) -> dict:
    """The filters "claim next" honours: what a moderator narrowed the queue to."""
    ids = {"policy": "policy_id", "marketplace": "marketplace_id", "category": "category_id"}
    # ASCII digits that fit a bigint: isdigit() took "²", which int() refuses, and 20 digits, which PostgreSQL does.
    filters = {
        field: int(value) for name, field in ids.items() if re.fullmatch(r"[0-9]{1,18}", value := source.get(name, ""))
    }
    if source.get("source") in ReviewItem.Source.values:
        filters["source"] = source["source"]
    return filters  # anything malformed is ignored, as the queue page ignores it


def _next_or_queue(request):
    """After a decision the next item opens, as moderators work a queue, not a list."""
    item = queue_services.claim_next_item(actor=request.user)
    if item is None:
        messages.info(request, _("That was the last item in your queue."))
        return redirect("backoffice:queue")
    return redirect("backoffice:queue-item", item.pk)


@require_POST
@role_required(*MODERATORS)
def queue_item_action(request, item_id: int, action: str):
    """Claim, take down, dismiss, escalate or note: parse the form, call the service."""
    item = _visible_item(request, item_id)
    form_classes = {"take-down": TakeDownForm, "dismiss": DismissForm, "escalate": EscalateForm, "note": NoteForm}
    if action == "claim":
        try:
            queue_services.claim_item(actor=request.user, item=item)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("backoffice:queue-item", item.pk)
    if action not in form_classes:
        raise Http404("No such action.")
    form_class = form_classes[action]
    if action == "take-down":
        form = form_class(request.POST, policy=item.policy, suggested=item.clause)
    else:
        form = form_class(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if action == "take-down":
                queue_services.take_down_listing(
                    actor=request.user, item=item, clause=data["clause"], reason=data["reason"], kind=data["kind"]
                )
                messages.success(
                    request,
                    _("Listing #%(number)s taken down; the merchant is notified.") % {"number": item.listing_id},
                )
                _offer_undo(request, item, ReviewItem.Decision.TAKEN_DOWN)
            elif action == "dismiss":
                queue_services.dismiss_item(actor=request.user, item=item, reason=data["reason"])
                messages.success(request, _("Item #%(number)s dismissed.") % {"number": item.pk})
                _offer_undo(request, item, ReviewItem.Decision.DISMISSED)
            elif action == "escalate":
                queue_services.escalate_item(actor=request.user, item=item, note=data["note"])
                messages.success(request, _("Item #%(number)s sent to the senior moderators.") % {"number": item.pk})
            else:
                queue_services.add_review_note(actor=request.user, item=item, text=data["text"])
                return redirect(reverse("backoffice:queue-item", args=[item.pk]) + "#notes")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("backoffice:queue-item", item.pk)
        return _next_or_queue(request)
    forms = {action.replace("-", "_") + "_form": form}
    return render(request, "moderation/queue/item.html", _item_context(request, item, **forms), status=400)


@require_POST
@role_required(*MODERATORS)
def queue_bulk(request):
    """Two steps: ``review`` shows the selected items and asks to confirm; ``confirm`` decides each."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors))
        back = request.POST.get("back", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(back if back and safe and back.startswith("/") else "backoffice:queue")  # a path, not a name
    data = form.cleaned_data
    items = list(queue_base(request.user).filter(pk__in=[i.pk for i in data["items"]]).order_by("-priority", "id"))
    if request.POST.get("step") != "confirm":
        return render(request, "moderation/queue/bulk_confirm.html", {"form": form, "items": items, "data": data})
    try:
        outcomes = queue_services.decide_in_bulk(
            actor=request.user, item_ids=[i.pk for i in items], decision=data["decision"], reason=data["reason"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("backoffice:queue")
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
    return redirect("backoffice:queue")
