"""Downloads of the DSA transparency report's figures for a period, as CSV or JSON."""

from __future__ import annotations

import csv

from django.http import HttpResponse, JsonResponse

from backoffice.roles import Role
from moderation.forms import DashboardForm
from moderation.selectors.dashboard import report_zone, transparency_report, transparency_report_rows
from moderation.selectors.periods import reporting_period
from moderation.views.access import role_required

DEFAULT_DAYS = 365


@role_required(Role.MODERATOR, Role.POLICY_ADMIN)
def transparency_report_download(request, fmt: str):
    """``?since=&until=`` (days in the policy's timezone, as the dashboard's, the last year by
    default) and optionally ``policy``; 400 naming a bad field. The timezone is stated in the file."""
    form = DashboardForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    data = form.cleaned_data
    period = reporting_period(
        since=data.get("since"),
        until=data.get("until"),
        zone=report_zone(data.get("policy")),
        default_days=DEFAULT_DAYS,
    )
    report = transparency_report(period, data.get("policy"))
    name = f"transparency-report-{period.first_day:%Y%m%d}-{period.last_day:%Y%m%d}"
    if fmt == "json":
        response = JsonResponse(report, json_dumps_params={"indent": 2})
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        csv.writer(response).writerows(transparency_report_rows(report))
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
