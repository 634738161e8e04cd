"""The enforcement dashboard: the back office's home page, for staff."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from backoffice.roles import Role, has_role
from moderation.forms import DashboardForm
from moderation.models import SanctionKind
from moderation.selectors.dashboard import dashboard, default_policy
from moderation.selectors.periods import reporting_period
from sellers.selectors import catalog_overview

DEFAULT_DAYS = 30


@login_required
def home(request):
    """The enforcement dashboard for staff; a seller signed in here is sent to its API token page."""
    if not (has_role(request.user, Role.MODERATOR) or has_role(request.user, Role.POLICY_ADMIN)):
        return redirect("backoffice:api-token")
    form = DashboardForm(request.GET or None)
    policy = form.cleaned_data["policy"] if form.is_valid() and form.cleaned_data.get("policy") else default_policy()
    if not request.GET and policy is not None:
        form = DashboardForm(initial={"policy": policy})
    context = {"form": form, "overview": catalog_overview(), "policy": policy}
    if policy is not None:
        data = form.cleaned_data if form.is_valid() else {}  # a bad period: its errors, and the default one
        period = reporting_period(
            since=data.get("since"), until=data.get("until"), zone=policy.zone, default_days=DEFAULT_DAYS
        )
        board = dashboard(policy, period)
        labels = dict(SanctionKind.choices)
        context.update(
            board=board,
            first=period.first_day,
            last=period.last_day,
            sanctions_issued=[
                (labels[k], board.sanctions_issued.get(k, 0)) for k in labels if board.sanctions_issued.get(k)
            ],
            sanctions_active=[
                (labels[k], board.sanctions_active.get(k, 0)) for k in labels if board.sanctions_active.get(k)
            ],
            moderators=_per_moderator(board.decisions_by_moderator),
        )
    return render(request, "backoffice/home.html", context)


def _per_moderator(rows: list[dict]) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["moderator"]] = totals.get(row["moderator"], 0) + row["n"]
    return sorted(totals.items(), key=lambda item: -item[1])
