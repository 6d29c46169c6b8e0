"""Reminders as the handlers see them: the kinds, quiet hours, and the commands that change them.

The planner (scheduler/planner.py) derives reminder rows from the database; this module holds what both sides
share — the vocabulary of kinds, which kinds a member may switch off, and the quiet hours — plus the service
functions behind /themeday, /remind, /reminders and the 稍后提醒 button. Functions take ``now`` (aware) and ids,
never read the clock, and leave the commit to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import pairs_in
from bot.models import Branch, Member, Reminder, ReminderStatus
from bot.services.access import Caller
from bot.services.audit import record_change


class ReminderKind(StrEnum):
    """What a reminder is about (``Reminder.kind``)."""

    ACTIVITY_DAY_BEFORE = "activity_day_before"  # to an invited member, 18:00 the day before
    ACTIVITY_HOUR_BEFORE = "activity_hour_before"  # to an invited member, one hour before the start
    ACTIVITY_CHECKIN = "activity_checkin"  # to an invited member not checked in, 15 minutes after the start
    ACTIVITY_FOLLOW_UP = "activity_follow_up"  # to the organizer, the day after: mark held / record minutes
    DEADLINE = "deadline"  # to the 书记 and 组织委员: requirements still unmet, 7 and 2 days before the period ends
    THEME_DAY_SOON = "theme_day_soon"  # 主题党日 in 3 days / tomorrow (to the group, else to each member)
    THEME_DAY_MISSED = "theme_day_missed"  # to the 书记 and 组织委员: the day passed with no 主题党日 recorded
    MAKEUP = "makeup"  # to a member absent without leave: the 补学 task and its due date
    ABSENCE = "absence"  # to the 书记, privately: a member has not attended for 3 / 5 months
    DIGEST = "digest"  # to the 书记, Monday 09:00: the next 14 days, what is overdue, who is unreachable
    SNOOZE = "snooze"  # a reminder again, one hour after its 稍后提醒 button was pressed


# A member's /remind off stops these; reminders about the branch's duties to its officers go on regardless.
MEMBER_KINDS = frozenset(
    {
        ReminderKind.ACTIVITY_DAY_BEFORE,
        ReminderKind.ACTIVITY_HOUR_BEFORE,
        ReminderKind.ACTIVITY_CHECKIN,
        ReminderKind.THEME_DAY_SOON,
        ReminderKind.MAKEUP,
    }
)

SNOOZE_DELAY = timedelta(hours=1)
# Payload keys the delivery side reads: show the 稍后提醒 button; what a snoozed row was snoozed from.
PAYLOAD_SNOOZE = "snooze"
PAYLOAD_SNOOZED_FROM = "of"
SNOOZE_KEY_PREFIX = "sz:"

LISTED_STATUSES = (ReminderStatus.PENDING, ReminderStatus.SENT, ReminderStatus.FAILED, ReminderStatus.MISSED)
DEFAULT_TIMEZONE = "Asia/Shanghai"


def branch_zone(timezone: str | None) -> ZoneInfo:
    """The branch's time zone; an unknown name falls back to Asia/Shanghai (the default of every branch)."""
    try:
        return ZoneInfo(timezone or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which non-urgent reminders wait (default 22:00–08:00, across midnight when start > end).

    The planner schedules around them and delivery checks them again at send time (a row found due after a
    downtime); both get the same instance, built from PARTYBOT_QUIET_HOURS.
    """

    start: time = time(22)
    end: time = time(8)

    def contains(self, local: datetime) -> bool:
        moment = local.timetz().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def release(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """When the quiet hours around ``moment`` end (UTC), or None if ``moment`` is not in them."""
        local = moment.astimezone(zone)
        if not self.contains(local):
            return None
        end = datetime.combine(local.date(), self.end, tzinfo=zone)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)

    def after(self, moment: datetime, zone: tzinfo) -> datetime:
        """``moment`` itself, or the end of the quiet hours it falls in; in ``moment``'s own zone."""
        released = self.release(moment, zone)
        return moment if released is None else released.astimezone(moment.tzinfo)


DEFAULT_QUIET_HOURS = QuietHours()


# --- /themeday -----------------------------------------------------------------------------------------------------


async def set_theme_day_rule(session: AsyncSession, caller: Caller, rule: str | None) -> None:
    """Store the branch's 主题党日 rule (the compact form of bot.services.theme_day; None clears it)."""
    branch = await session.get(Branch, caller.branch.id)
    if branch is None:
        raise LookupError(f"branch {caller.branch.id} is gone")
    previous = branch.theme_day_rule
    branch.theme_day_rule = rule
    caller.branch.theme_day_rule = rule
    record_change(
        session, "themeday.set", caller=caller, target=f"branch:{branch.id}", detail={"from": previous, "to": rule}
    )


# --- /remind on|off ------------------------------------------------------------------------------------------------


async def set_member_reminders(session: AsyncSession, caller: Caller, *, enabled: bool) -> int:
    """Switch the caller's own reminders on or off; off cancels their pending member reminders at once.

    Returns how many pending reminders were cancelled (the planner brings future ones back after ``on``).
    """
    member = await session.get(Member, caller.member.id)
    if member is None:
        raise LookupError(f"member {caller.member.id} is gone")
    member.reminders_enabled = enabled
    caller.member.reminders_enabled = enabled
    cancelled = 0
    if not enabled:
        result = await session.execute(
            update(Reminder)
            .where(
                Reminder.member_id == member.id,
                Reminder.status == ReminderStatus.PENDING.value,
                Reminder.kind.in_([kind.value for kind in MEMBER_KINDS]),
            )
            .values(status=ReminderStatus.CANCELLED.value)
        )
        cancelled = result.rowcount or 0
    record_change(session, "remind.set", caller=caller, target=f"member:{member.id}", detail={"enabled": enabled})
    return cancelled


# Reminders meant for a member who may not have answered yet: once their attendance is recorded, they are moot.
ATTENDANCE_KINDS = (ReminderKind.ACTIVITY_DAY_BEFORE, ReminderKind.ACTIVITY_HOUR_BEFORE, ReminderKind.ACTIVITY_CHECKIN)


async def drop_answered_reminders(session: AsyncSession, answered: Collection[tuple[int, int]]) -> int:
    """Cancel the pending day-before, hour-before and "not checked in yet" reminders of these (activity id,
    member id) pairs: the member checked in or asked for leave. The planner would cancel them at its next pass;
    doing it with the attendance closes the gap (a "please check in" nudge minutes after checking in)."""
    if not answered:
        return 0
    result = await session.execute(
        update(Reminder)
        .where(
            pairs_in(Reminder.activity_id, Reminder.member_id, answered),
            Reminder.status == ReminderStatus.PENDING.value,
            Reminder.kind.in_([kind.value for kind in ATTENDANCE_KINDS]),
        )
        .values(status=ReminderStatus.CANCELLED.value)
    )
    return result.rowcount or 0


# --- 稍后提醒 --------------------------------------------------------------------------------------------------------


class SnoozeOutcome(StrEnum):
    SNOOZED = "snoozed"
    NOT_FOUND = "not_found"  # no such reminder, or it is not the presser's
    ALREADY = "already"  # this reminder was snoozed before
    TOO_LATE = "too_late"  # an hour from now the reminder is no longer useful


@dataclass(frozen=True, slots=True)
class SnoozeResult:
    outcome: SnoozeOutcome
    due_at: datetime | None = None  # when the snoozed reminder comes again, in the branch's time zone


async def snooze_reminder(
    session: AsyncSession,
    reminder_id: int,
    telegram_user_id: int,
    *,
    now: datetime,
    quiet: QuietHours | None = DEFAULT_QUIET_HOURS,
) -> SnoozeResult:
    """Send reminder ``reminder_id`` again in an hour (or when the quiet hours end), as a new pending row.

    Only the member it was sent to may snooze it; pressing twice makes one row (its dedup key is ``sz:<id>``).
    """
    original = await session.get(Reminder, reminder_id)
    if original is None or original.member_id is None:
        return SnoozeResult(SnoozeOutcome.NOT_FOUND)
    member = await session.get(Member, original.member_id)
    if (
        member is None
        or not member.active
        or member.telegram_user_id != telegram_user_id
        or original.chat_id != telegram_user_id
    ):
        return SnoozeResult(SnoozeOutcome.NOT_FOUND)
    branch = await session.get(Branch, original.branch_id)
    zone = branch_zone(branch.timezone if branch else None)
    due = now + SNOOZE_DELAY if quiet is None else quiet.after(now + SNOOZE_DELAY, zone)
    if original.expires_at is not None and due >= original.expires_at:
        return SnoozeResult(SnoozeOutcome.TOO_LATE)
    payload = json.loads(original.payload or "{}")
    payload[PAYLOAD_SNOOZED_FROM] = payload.get(PAYLOAD_SNOOZED_FROM, original.dedup_key)
    values = {
        "branch_id": original.branch_id,
        "kind": ReminderKind.SNOOZE.value,
        "dedup_key": f"{SNOOZE_KEY_PREFIX}{original.id}",
        "chat_id": original.chat_id,
        "member_id": original.member_id,
        "activity_id": original.activity_id,
        "due_at": due,
        "expires_at": original.expires_at,
        "urgent": False,
        "text": original.text,
        "payload": json.dumps(payload, ensure_ascii=False, sort_keys=True),
        "status": ReminderStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Reminder).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    inserted = (await session.execute(statement)).rowcount
    if not inserted:
        return SnoozeResult(SnoozeOutcome.ALREADY)
    return SnoozeResult(SnoozeOutcome.SNOOZED, due.astimezone(zone))


# --- /reminders ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderLine:
    """One reminder as /reminders lists it; ``recipient`` is a member's name, or None for the branch's group."""

    id: int
    kind: str
    status: ReminderStatus
    due_at: datetime
    sent_at: datetime | None
    recipient: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ReminderOverview:
    counts: dict[ReminderStatus, int]
    lines: dict[ReminderStatus, list[ReminderLine]]


async def branch_reminders(
    session: AsyncSession,
    branch_id: int,
    *,
    statuses: Collection[ReminderStatus] = LISTED_STATUSES,
    limit: int = 10,
) -> ReminderOverview:
    """Counts per status, and per status the ``limit`` most relevant rows: pending soonest first, others latest."""
    counted = await session.execute(
        select(Reminder.status, func.count())
        .where(Reminder.branch_id == branch_id, Reminder.status.in_([s.value for s in statuses]))
        .group_by(Reminder.status)
    )
    counts = {status: 0 for status in statuses}
    counts.update({ReminderStatus(status): number for status, number in counted.all()})
    lines: dict[ReminderStatus, list[ReminderLine]] = {}
    for status in statuses:
        order = Reminder.due_at.asc() if status is ReminderStatus.PENDING else Reminder.due_at.desc()
        rows = await session.execute(
            select(Reminder, Member.name)
            .outerjoin(Member, Member.id == Reminder.member_id)
            .where(Reminder.branch_id == branch_id, Reminder.status == status.value)
            .order_by(order, Reminder.id)
            .limit(limit)
        )
        lines[status] = [
            ReminderLine(
                id=reminder.id,
                kind=reminder.kind,
                status=status,
                due_at=reminder.due_at,
                sent_at=reminder.sent_at,
                recipient=name,
                last_error=reminder.last_error,
            )
            for reminder, name in rows.all()
        ]
    return ReminderOverview(counts, lines)
