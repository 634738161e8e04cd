"""Reporting periods: whole days in one timezone, as the dashboard and the transparency report ask for them.

A period is read from a page's ``since`` and ``until`` (days, validated by ``DashboardForm``:
a day that does not exist or an end before the start is that field's error) and is meant in
one timezone, the policy's, which the page and the download state. Today is read from
``timezone.now()`` in that timezone, so a test's time travel moves it and a period asked for
just after midnight in Shanghai ends on Shanghai's day, not UTC's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone


@dataclass
class Period:
    """Whole days from ``start`` to ``end`` (exclusive), midnights in one timezone: their tzinfo."""

    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first: date, last: date, zone: ZoneInfo) -> Period:
        """The days ``first`` to ``last`` inclusive, each from midnight to midnight in ``zone``."""
        return cls(
            start=datetime.combine(first, time.min, tzinfo=zone),
            end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
        )

    @property
    def timezone_name(self) -> str:
        return getattr(self.start.tzinfo, "key", None) or str(self.start.tzinfo)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def days(self) -> list[date]:
        first, last = self.first_day, self.last_day
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def reporting_period(*, since: date | None, until: date | None, zone: ZoneInfo, default_days: int) -> Period:
    """The days ``since`` to ``until`` inclusive in ``zone``; without ``until`` the period ends
    today in ``zone``, and without ``since`` it is ``default_days`` long."""
    last = until or timezone.now().astimezone(zone).date()
    first = since or last - timedelta(days=default_days - 1)
    return Period.of_days(first, last, zone)
