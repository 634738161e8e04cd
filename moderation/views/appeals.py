"""The appeal queue: filter, claim next, read the decision beside the grounds, grant or reject."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.roles import Role
from moderation.filters import AppealQueueFilter
from moderation.forms import AppealDecisionForm, add_service_errors
from moderation.models import Appeal
from moderation.selectors.appeals import appeal_detail, appeal_evidence, appeal_queue
from moderation.selectors.queue import page_of
from moderation.services import appeals as appeal_services
from moderation.tiers import may_work_tier
from moderation.views.access import role_required

MODERATORS = (Role.MODERATOR,)


@role_required(*MODERATORS)
def appeal_index(request):
    filterset = AppealQueueFilter(request.GET or None, queryset=appeal_queue(request.user))
    try:
        page = min(max(int(request.GET.get("page", 1)), 1), 10_000)  # deeper: an OFFSET past bigint, a DataError
    except ValueError:
        page = 1
    appeals, has_next = page_of(filterset.qs, page=page, size=settings.REVIEW_QUEUE_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/appeals/index.html",
        {
            "filter": filterset,
            "appeals": appeals,
            "page": page,
            "has_next": has_next,
            "query": query.urlencode(),
            "now": timezone.now(),
        },
    )


@require_POST
@role_required(*MODERATORS)
def appeal_claim_next(request):
    appeal = appeal_services.claim_next_appeal(actor=request.user)
    if appeal is None:
        messages.info(request, _("No appeal left for you to decide."))
        return redirect("backoffice:appeal-index")
    return redirect("backoffice:appeal-detail", appeal.pk)


def _visible_appeal(request, appeal_id: int) -> Appeal:
    try:
        appeal = appeal_detail(appeal_id)
    except Appeal.DoesNotExist:
        raise Http404("No such appeal.") from None
    if not may_work_tier(request.user, appeal.tier):
        raise Http404("No such appeal.")
    return appeal


def _context(request, appeal: Appeal, form: AppealDecisionForm | None = None) -> dict:
    now = timezone.now()
    own_decision = appeal.original_decider_id == request.user.pk
    return {
        "appeal": appeal,
        "evidence": appeal_evidence(appeal),
        "form": form or AppealDecisionForm(),
        "now": now,
        "own_decision": own_decision,
        "mine": appeal.claimed_by_id == request.user.pk and appeal.claimed_until and appeal.claimed_until >= now,
        "can_decide": appeal.is_open and not own_decision,
    }


@role_required(*MODERATORS)
def appeal_show(request, appeal_id: int):
    appeal = _visible_appeal(request, appeal_id)
    return render(request, "moderation/appeals/detail.html", _context(request, appeal))


@require_POST
@role_required(*MODERATORS)
def appeal_action(request, appeal_id: int, action: str):
    appeal = _visible_appeal(request, appeal_id)
    if action == "claim":
        try:
            appeal_services.claim_appeal(actor=request.user, appeal=appeal)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("backoffice:appeal-detail", appeal.pk)
    if action not in {"grant", "reject"}:
        raise Http404("No such action.")
    form = AppealDecisionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if action == "grant":
                appeal_services.grant_appeal(
                    actor=request.user, appeal=appeal, reason=data["reason"], move_to=data["move_to"]
                )
                messages.success(
                    request,
                    _("Appeal #%(number)s granted: the decision is reversed and the merchant told.")
                    % {"number": appeal.pk},
                )
            else:
                appeal_services.reject_appeal(actor=request.user, appeal=appeal, reason=data["reason"])
                messages.success(
                    request, _("Appeal #%(number)s rejected; the merchant is told why.") % {"number": appeal.pk}
                )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("backoffice:appeal-index")
    appeal = _visible_appeal(request, appeal_id)
    return render(request, "moderation/appeals/detail.html", _context(request, appeal, form), status=400)
