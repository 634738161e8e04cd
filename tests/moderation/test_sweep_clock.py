"""Beat's escalation sweep reads the clock once: expiry, the policies past their grace and their ranges share it."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from moderation import tasks
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403


def test_the_beat_sweep_reads_the_clock_once(travel, announced_policy, merchant_a, merchant_b, violate):
    """Expiry, the policies past their grace and every policy's ranges: all as of the sweep's start."""
    travel.to(AFTER_GRACE)
    violate(merchant_a, 8)
    violate(merchant_b, 4)
    ticks = (AFTER_GRACE + timedelta(seconds=n) for n in range(1000))
    with (
        mock.patch("django.utils.timezone.now", side_effect=lambda: next(ticks)) as clock,
        mock.patch.object(tasks.escalate_range, "delay") as queued,
    ):
        assert tasks.run_escalation() == {"expired": 0, "ranges": 1}

    assert clock.call_count == 1
    low, high = sorted([merchant_a.pk, merchant_b.pk])
    queued.assert_called_once_with(announced_policy.pk, low, high)
