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

from backoffice.roles import Role
from moderation.filters import ReviewItemFilter
from moderation.forms import BulkDecisionForm, DismissForm, EscalateForm, NoteForm, TakeDownForm
from moderation.models import ReviewItem
from moderation.selectors.bulk import matching_count, matching_item_ids, visible_items
from moderation.selectors.duplicates import open_member_counts, visible_member_count
from moderation.selectors.queue import (
    item_detail,
    item_evidence,
    item_for_decision,
    merchant_history,
    page_by_ids,
    page_of,
    queue_base,
    queue_header,
    queue_option_counts,
)
from moderation.selectors.saved_views import queue_query_of, queue_views_for
from moderation.services import queue as queue_services
from moderation.services import undo as undo_services
from moderation.tiers import may_work_tier
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
    refused = take_refused_form(request)
    return render(
        request,
        "moderation/queue/index.html",
        {
            "filter": filterset,
            "items": items,
            "similar": open_member_counts(request.user, items),  # the "3 similar" badges: one query a page
            "page": page,
            "has_next": has_next,
            "query": query.urlencode(),
            "header": queue_header(request.user),
            "filtering": any(key != "page" for key in request.GET),
            "bulk_form": BulkDecisionForm(),
            "now": timezone.now(),
            **_undo_context(request),
            **_bulk_context(request, filterset, counts, items, has_next, page, refused),
            **_saved_views_context(request, filterset, refused),
        },
    )


def _bulk_context(request, filterset, counts, items, has_next: bool, page: int, refused: dict | None) -> dict:
    """The bulk form's state: what "select all matching" would take, and a refused selection, ticked again."""
    several_pages = has_next or page > 1
    refused = refused if refused and refused["form"] == "bulk" else None
    data = refused["data"] if refused else {}
    return {
        # Only when the filters select more than this page shows: else the page's own box says it all.
        "matching": matching_count(filterset, counts, limit=settings.BULK_DECISION_LIMIT) if several_pages else None,
        "bulk_limit": settings.BULK_DECISION_LIMIT,
        "bulk_data": data,
        "bulk_errors": refused["errors"] if refused else {},
        "ticked": set(data.get("items", [])),
        "back": request.get_full_path(),
    }


def _saved_views_context(request, filterset, refused: dict | None) -> dict:
    refused = refused if refused and refused["form"] == "view" else None
    return {
        "views": queue_views_for(request.user),
        # The current filters as a saved view keeps them: the "Save this view" form sends this,
        # and the view with the same query is marked as the one open.
        "view_query": queue_query_of(request.GET, filterset.form),
        "view_data": refused["data"] if refused else {},
        "view_errors": refused["errors"] if refused else {},
    }


# --- a refused form goes back to the queue page it came from ---------------------------------
#
# The bulk form and "Save this view" post from the queue page. Refused, the moderator is sent back
# to that page (same filters, same page number) and sees it as they left it: the same boxes ticked,
# what they typed, the error beside its field. The page is redirected to, not rendered by the POST,
# so reloading it never posts again; what it needs to show travels in the session, bounded, and is
# read once by the queue page at that address.
REFUSED_FORM = "queue_refused_form"
BACK_MAX_LENGTH = 2000


def queue_back(request) -> str:
    """Where a form posted from the queue goes back to: the queue page it names, else the queue."""
    back = request.POST.get("back", "")
    queue = reverse("backoffice:queue")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    if safe and len(back) <= BACK_MAX_LENGTH and (back == queue or back.startswith(queue + "?")):
        return back
    return queue


def refuse_back_to_queue(request, *, form: str, data: dict, errors: dict[str, list[str]]):
    """Back to the queue page the form came from, which shows ``data`` again with ``errors`` by their fields."""
    back = queue_back(request)
    request.session[REFUSED_FORM] = {
        "path": back,
        "form": form,
        "data": data,
        # "form" for the errors of no one field: a template cannot read "__all__" (a leading underscore).
        "errors": {
            ("form" if field == "__all__" else field): [str(message) for message in field_errors]
            for field, field_errors in errors.items()
        },
    }
    return redirect(back)


def take_refused_form(request) -> dict | None:
    """The refused form to show on this queue page, read once (any later page shows none)."""
    refused = request.session.pop(REFUSED_FORM, None)
    return refused if refused and refused.get("path") == request.get_full_path() else None


def errors_of(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


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
        "similar": visible_member_count(request.user, item),
        "evidence": item_evidence(item),
        "history": merchant_history(item),
        "take_down_form": forms.get("take_down_form") or TakeDownForm(policy=item.policy, suggested=item.clause),
        "dismiss_form": forms.get("dismiss_form") or DismissForm(),
        "escalate_form": forms.get("escalate_form") or EscalateForm(),
        "note_form": forms.get("note_form") or NoteForm(),
        "now": timezone.now(),
        "mine": item.status == ReviewItem.Status.CLAIMED and item.claimed_by_id == request.user.pk,
        "can_decide": item.is_open and may_work_tier(request.user, item.tier),
    }


def _visible_item(request, item_id: int, *, fetch=item_detail) -> ReviewItem:
    try:
        item = fetch(item_id)
    except ReviewItem.DoesNotExist:
        raise Http404("No such item.") from None
    escalated_away = not may_work_tier(request.user, item.tier)
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
    # The item page's notes, rules and history are read only if the form comes back refused.
    item = _visible_item(request, item_id, fetch=item_for_decision)
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
    item = _visible_item(request, item_id)
    return render(request, "moderation/queue/item.html", _item_context(request, item, **forms), status=400)


def _refused_bulk(request, errors: dict[str, list[str]]):
    """Back to the queue page with the same boxes ticked (at most the limit), the same decision and reason."""
    post = request.POST
    ticked = [raw for raw in post.getlist("items")[: settings.BULK_DECISION_LIMIT] if re.fullmatch(r"[0-9]{1,18}", raw)]
    data = {
        "items": [int(raw) for raw in ticked],
        "select_all": post.get("select_all") in ("1", "on", "true"),
        "decision": post.get("decision", "") if post.get("decision") in ReviewItem.Decision.values else "",
        "reason": post.get("reason", "")[:2000],
    }
    # Two places show errors on the queue page: by the reason's box, and by the button (all the others,
    # under "selection": a template reading a missing "items" key would call dict.items instead).
    shown = {"reason": list(errors.get("reason", []))}
    shown["selection"] = [message for field, messages_ in errors.items() if field != "reason" for message in messages_]
    return refuse_back_to_queue(request, form="bulk", data=data, errors={k: v for k, v in shown.items() if v})


@require_POST
@role_required(*MODERATORS)
def queue_bulk(request):
    """Two steps: ``review`` resolves the selection and asks to confirm; ``confirm`` decides each item.

    1. The selection is the ticked items, or with ``select_all`` every decidable item the queue's
       filters select (the queue's FilterSet and visibility), at most BULK_DECISION_LIMIT of them.
    2. The confirmation page states the count and carries the resolved ids: ``confirm`` decides
       exactly those, never an item that matched the filters since.
    3. A refusal (no item, no reason to dismiss) goes back to the queue page, selection kept.
    """
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        return _refused_bulk(request, form.errors)
    data = form.cleaned_data
    limit = settings.BULK_DECISION_LIMIT
    if request.POST.get("step") != "confirm":
        more = False
        if data["select_all"]:
            resolved = matching_item_ids(request.user, data["filters"], limit=limit)
            selected, more = resolved.ids, resolved.more
        else:
            selected = data["items"]
        items = visible_items(request.user, selected, decidable_only=True)
        if not items:
            message = (
                _("No item these filters select is left to decide.")
                if data["select_all"]
                else _("None of the selected items is left for you to decide.")
            )
            return _refused_bulk(request, {"items": [message]})
        context = {
            "form": form,
            "items": items,
            "data": data,
            "selected": len(selected),
            "more": more,
            "limit": limit,
            "back": queue_back(request),
        }
        return render(request, "moderation/queue/bulk_confirm.html", context)
    if not data["items"]:  # the confirmation names its items: "select all" was resolved at the review
        return _refused_bulk(request, {"items": [_("Select at least one item.")]})
    # Decided meanwhile or claimed by someone else: decide_in_bulk reports each. Not visible
    # (escalated away from a moderator): left out, as the review step left it out.
    items = visible_items(request.user, data["items"], decidable_only=False)
    try:
        outcomes = queue_services.decide_in_bulk(
            actor=request.user, item_ids=[i.pk for i in items], decision=data["decision"], reason=data["reason"]
        )
    except ValidationError as error:
        return _refused_bulk(request, errors_of(error))
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
    return redirect(queue_back(request))
