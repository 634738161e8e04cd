"""Reporting periods: whole days in the policy's timezone, today read from the (travelling) clock, bad days refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from moderation.selectors.periods import Period, reporting_period
from tests.moderation.conftest import SHANGHAI

# 00:30 on 21 October in Shanghai, still the 20th in UTC.
JUST_AFTER_MIDNIGHT_IN_SHANGHAI = datetime(2021, 10, 20, 16, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_without_days_a_period_ends_today_where_the_policy_is(travel):
    travel.to(JUST_AFTER_MIDNIGHT_IN_SHANGHAI)

    period = reporting_period(since=None, until=None, zone=SHANGHAI, default_days=30)
    assert (period.first_day, period.last_day) == (date(2021, 9, 22), date(2021, 10, 21))
    assert period.start == datetime(2021, 9, 22, tzinfo=SHANGHAI)
    assert period.end == datetime(2021, 10, 22, tzinfo=SHANGHAI)
    assert period.end.astimezone(UTC) == datetime(2021, 10, 21, 16, 0, tzinfo=UTC)
    assert len(period.days()) == 30 and period.timezone_name == "Asia/Shanghai"

    in_utc = reporting_period(since=None, until=None, zone=ZoneInfo("UTC"), default_days=30)
    assert in_utc.last_day == date(2021, 10, 20)


def test_the_days_asked_for_are_the_period_both_included():
    period = reporting_period(since=date(2021, 10, 1), until=date(2021, 10, 31), zone=SHANGHAI, default_days=30)
    assert period == Period.of_days(date(2021, 10, 1), date(2021, 10, 31), SHANGHAI)
    assert (period.first_day, period.last_day, len(period.days())) == (date(2021, 10, 1), date(2021, 10, 31), 31)


def test_one_end_given_the_other_is_today_or_the_default_length(travel):
    travel.to(JUST_AFTER_MIDNIGHT_IN_SHANGHAI)
    since_only = reporting_period(since=date(2021, 10, 1), until=None, zone=SHANGHAI, default_days=30)
    assert (since_only.first_day, since_only.last_day) == (date(2021, 10, 1), date(2021, 10, 21))
    until_only = reporting_period(since=None, until=date(2021, 3, 1), zone=SHANGHAI, default_days=365)
    assert (until_only.first_day, until_only.last_day) == (date(2020, 3, 2), date(2021, 3, 1))  # 2020 was leap


def elapsed(period: Period) -> timedelta:
    return period.end.astimezone(UTC) - period.start.astimezone(UTC)  # not wall-clock arithmetic


def test_a_day_is_midnight_to_midnight_even_when_the_clocks_change():
    period = reporting_period(since=date(2021, 3, 28), until=date(2021, 3, 28), zone=BERLIN, default_days=1)
    assert elapsed(period) == timedelta(hours=23)  # summer time began that night
    assert period.days() == [date(2021, 3, 28)] and period.last_day == date(2021, 3, 28)
    autumn = reporting_period(since=date(2021, 10, 30), until=date(2021, 10, 31), zone=BERLIN, default_days=1)
    assert elapsed(autumn) == timedelta(hours=49)


# --- Through the pages: the dashboard and the transparency report read the same period ---------


def test_the_dashboard_and_the_report_end_on_today_in_the_policys_timezone(client, moderator, announced_policy, travel):
    travel.to(JUST_AFTER_MIDNIGHT_IN_SHANGHAI)
    client.force_login(moderator)

    html = client.get("/backoffice/").content.decode()
    assert "2021-09-22 to 2021-10-21 (Asia/Shanghai)" in html

    response = client.get("/backoffice/reports/transparency.json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="transparency-report-20201022-20211021.json"'
    assert response.json()["period"] == {
        "start": "2020-10-22T00:00:00+08:00",
        "end": "2021-10-22T00:00:00+08:00",
        "first_day": "2020-10-22",
        "last_day": "2021-10-21",
        "timezone": "Asia/Shanghai",
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2021-02-30"}, "since"),  # no such day
        ({"until": "21 October"}, "until"),
        ({"since": "10000-01-01"}, "since"),
        ({"since": "2021-10-20", "until": "2021-10-01"}, "until"),  # reversed
        ({"since": "2020-01-01", "until": "2021-10-01"}, "since"),  # more than a year
    ],
)
def test_a_bad_period_is_the_error_of_its_field(client, moderator, announced_policy, travel, params, field):
    travel.to(JUST_AFTER_MIDNIGHT_IN_SHANGHAI)
    client.force_login(moderator)

    response = client.get("/backoffice/reports/transparency.csv", params)
    assert response.status_code == 400 and set(response.json()["errors"]) == {field}

    # The page says which field is wrong and shows the default period meanwhile.
    html = client.get("/backoffice/", params).content.decode()
    assert f'data-field="{field}"' in html
    assert "2021-09-22 to 2021-10-21 (Asia/Shanghai)" in html
