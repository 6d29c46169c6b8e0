"""The check-in window of an activity: from `Activity.checkin_opens_before_min` before it starts until
`Activity.checkin_closes_after_min` after. Members check in and ask leave within it (bot.services.attendance), and
who joined after it closed is not on the roster of the meeting (bot.services.expected_roster).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Activity


@dataclass(frozen=True, slots=True)
class Window:
    """The check-in window of an activity; both ends belong to it."""

    opens_at: datetime
    closes_at: datetime

    def contains(self, now: datetime) -> bool:
        return self.opens_at <= now <= self.closes_at


def checkin_window(activity: Activity) -> Window:
    return Window(
        activity.starts_at - timedelta(minutes=activity.checkin_opens_before_min),
        activity.starts_at + timedelta(minutes=activity.checkin_closes_after_min),
    )
