"""The planner against the database (SQLite, and PostgreSQL when configured): idempotent, race-safe upserts, and
pending rows that follow their reason — moved, cancelled, met early, checked in, switched off, snoozed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import (
    Activity,
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    Branch,
    MakeupTask,
    Member,
    Reminder,
    ReminderStatus,
    Role,
)
from bot.services.access import Caller
from bot.services.reminders import SnoozeOutcome, branch_reminders, set_member_reminders, snooze_reminder
from scheduler.planner import plan
from tests.scheduler.builders import (
    attend,
    local,
    make_activity,
    make_branch,
    make_group,
    make_member,
    reminders,
    shown,
)
from tests.scheduler.simulation import deliver_due, simulate

K = ActivityKind
PENDING = ReminderStatus.PENDING.value


async def _committee(sessions: async_sessionmaker[AsyncSession]) -> tuple[Branch, Member, Member]:
    branch = await make_branch(sessions)
    secretary = await make_member(sessions, branch, "王书记", 101, role=Role.SECRETARY)
    organizer = await make_member(sessions, branch, "李组织", 102, role=Role.ORGANIZATION)
    return branch, secretary, organizer


async def _move(sessions: async_sessionmaker[AsyncSession], activity: Activity, **values: object) -> None:
    async with sessions() as session:
        await session.execute(update(Activity).where(Activity.id == activity.id).values(**values))
        await session.commit()


def _rows(found: list[Reminder]) -> list[tuple[str, str, str]]:
    return [(r.kind, shown(r.due_at), r.status) for r in found]


async def test_planning_twice_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, _ = await _committee(sessions)
    await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    now = local("2026-10-10 10:00")
    first = await plan(sessions, now)
    assert first.created == 7 and first.changes == 7  # d1, h1, ci for two; the follow-up to the 书记
    before = [(r.id, r.dedup_key, r.due_at, r.text, r.payload, r.status) for r in await reminders(sessions)]
    again = await plan(sessions, now)
    assert again.changes == 0
    assert [(r.id, r.dedup_key, r.due_at, r.text, r.payload, r.status) for r in await reminders(sessions)] == before
    assert (await plan(sessions, now, branch.id)).changes == 0


async def test_concurrent_planners_make_each_row_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, _ = await _committee(sessions)
    for day in (13, 14, 15):
        await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), f"2026-10-{day} 15:00", by=secretary)
    now = local("2026-10-10 10:00")
    results = await asyncio.gather(*(plan(sessions, now) for _ in range(4)))
    assert sum(r.created for r in results) == 21
    assert all(r.failed_branches == 0 for r in results)
    async with sessions() as session:
        keys = (await session.scalars(select(Reminder.dedup_key))).all()
    assert len(keys) == len(set(keys)) == 21


async def test_moving_an_activity_moves_its_pending_reminders(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, organizer = await _committee(sessions)
    meeting = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    await plan(sessions, local("2026-10-12 10:00"))
    before = {(r.kind, r.member_id): r.id for r in await reminders(sessions, activity_id=meeting.id)}
    await deliver_due(sessions, local("2026-10-12 18:00"))  # the day-before reminders are sent for the 13th

    await _move(sessions, meeting, starts_at=local("2026-10-16 09:30"))
    result = await plan(sessions, local("2026-10-12 19:00"))
    assert (result.moved, result.created, result.cancelled) == (5, 2, 0)
    rows = await reminders(sessions, activity_id=meeting.id)
    pending = [r for r in rows if r.status == PENDING]
    assert {(r.kind, r.member_id): r.id for r in pending if r.kind != "activity_day_before"} == {
        key: row_id for key, row_id in before.items() if key[0] != "activity_day_before"
    }  # the same rows, moved in place
    assert sorted(_rows(pending)) == sorted(
        [
            ("activity_day_before", "2026-10-15 18:00", PENDING),
            ("activity_day_before", "2026-10-15 18:00", PENDING),
            ("activity_hour_before", "2026-10-16 08:30", PENDING),
            ("activity_hour_before", "2026-10-16 08:30", PENDING),
            ("activity_checkin", "2026-10-16 09:45", PENDING),
            ("activity_checkin", "2026-10-16 09:45", PENDING),
            ("activity_follow_up", "2026-10-17 09:00", PENDING),
        ]
    )
    assert all("10月16日（周五）9:30" in r.text for r in pending if r.kind == "activity_day_before")
    assert all(r.dedup_key.endswith("@202610160130") for r in pending)
    sent = [r for r in rows if r.status == ReminderStatus.SENT.value]
    assert [r.dedup_key for r in sent] == [f"a{meeting.id}:d1:m{m.id}@202610130700" for m in (secretary, organizer)]
    assert (await plan(sessions, local("2026-10-12 19:00"))).changes == 0


async def test_cancelling_an_activity_cancels_its_pending_reminders(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    branch, secretary, _ = await _committee(sessions)
    meeting = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    await plan(sessions, local("2026-10-12 10:00"))
    await _move(sessions, meeting, status=ActivityStatus.CANCELLED.value)
    result = await plan(sessions, local("2026-10-12 11:00"))
    assert result.cancelled == 7
    assert {r.status for r in await reminders(sessions, activity_id=meeting.id)} == {"cancelled"}
    assert not await deliver_due(sessions, local("2026-10-20 00:00"))


async def test_a_requirement_met_early_cancels_its_deadline_reminders(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    branch = await make_branch(sessions, theme_day_rule="day:15/next")
    group = await make_group(sessions, branch, "第一党小组")
    secretary = await make_member(sessions, branch, "王书记", 101, role=Role.SECRETARY, group=group)
    await make_member(sessions, branch, "李组织", 102, role=Role.ORGANIZATION, group=group)
    await plan(sessions, local("2026-11-16 10:00"))
    deadlines = await reminders(sessions, kind="deadline")
    assert [(r.dedup_key.split(":")[2], r.chat_id) for r in deadlines] == [
        ("20261124", 101),
        ("20261124", 102),
        ("20261129", 101),
        ("20261129", 102),
    ]
    assert "支委会（2026年11月）" in deadlines[0].text and "党小组会（2026年11月）" in deadlines[0].text

    # The 支委会 is held: the reminders now name only the 党小组会 …
    committee = await make_activity(
        sessions, branch, (K.COMMITTEE_MEETING,), "2026-11-17 15:00", by=secretary, held=True, minutes="记录"
    )
    result = await plan(sessions, local("2026-11-17 17:00"))
    assert result.updated == 4 and result.cancelled == 0
    texts = [r.text for r in await reminders(sessions, kind="deadline")]
    assert all("支委会" not in t and "党小组会（2026年11月）" in t for t in texts)
    # … and once the 党小组会 is held too, nothing is missing: they are cancelled.
    await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-11-18 19:30", group=group, held=True)
    result = await plan(sessions, local("2026-11-18 21:00"))
    assert result.cancelled == 4
    assert {r.status for r in await reminders(sessions, kind="deadline")} == {"cancelled"}
    # Cancelling the 支委会 afterwards brings the requirement (and its future reminders) back.
    await _move(sessions, committee, status=ActivityStatus.CANCELLED.value)
    result = await plan(sessions, local("2026-11-19 10:00"))
    assert result.revived == 4
    assert all("支委会（2026年11月）" in r.text for r in await reminders(sessions, kind="deadline"))


async def test_checking_in_or_taking_leave_cancels_a_member_s_reminders(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    branch, secretary, organizer = await _committee(sessions)
    member = await make_member(sessions, branch, "赵一", 104)
    meeting = await make_activity(sessions, branch, (K.MEMBERS_MEETING,), "2026-10-13 15:00", by=secretary)
    await plan(sessions, local("2026-10-12 10:00"))
    await attend(sessions, meeting, member, AttendanceStatus.LEAVE, at=local("2026-10-12 12:00"))
    result = await plan(sessions, local("2026-10-12 12:00"))
    assert result.cancelled == 3
    await attend(sessions, meeting, organizer, at=local("2026-10-13 14:50"))
    await deliver_due(sessions, local("2026-10-13 14:50"))
    result = await plan(sessions, local("2026-10-13 14:50"))
    assert result.cancelled == 1  # the nudge at 15:15; the day-before and hour-before ones went out already
    nudges = await reminders(sessions, kind="activity_checkin")
    assert [(r.chat_id, r.status) for r in nudges] == [(101, PENDING), (102, "cancelled"), (104, "cancelled")]


async def test_reminders_off_and_on(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, _ = await _committee(sessions)
    await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    now = local("2026-10-12 10:00")
    await plan(sessions, now)
    caller = Caller(secretary, branch)
    async with sessions() as session:
        assert await set_member_reminders(session, caller, enabled=False) == 3
        await session.commit()
    mine = await reminders(sessions, member_id=secretary.id)
    assert {(r.kind, r.status) for r in mine} == {
        ("activity_day_before", "cancelled"),
        ("activity_hour_before", "cancelled"),
        ("activity_checkin", "cancelled"),
        ("activity_follow_up", PENDING),  # officers' duties are not switched off
        ("deadline", PENDING),
    }
    assert (await plan(sessions, now)).changes == 0
    async with sessions() as session:
        await set_member_reminders(session, caller, enabled=True)
        await session.commit()
    assert (await plan(sessions, now)).revived == 3
    assert {r.status for r in await reminders(sessions, member_id=secretary.id)} == {PENDING}


async def test_snoozing(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, organizer = await _committee(sessions)
    meeting = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    await plan(sessions, local("2026-10-12 10:00"))
    (sent,) = [
        r for r in await deliver_due(sessions, local("2026-10-12 18:00")) if r.chat_id == secretary.telegram_user_id
    ]
    (row,) = await reminders(sessions, kind="activity_day_before", member_id=secretary.id)
    at = local("2026-10-12 18:05")
    async with sessions() as session:
        assert (await snooze_reminder(session, row.id, 102, now=at)).outcome is SnoozeOutcome.NOT_FOUND
        result = await snooze_reminder(session, row.id, 101, now=at)
        assert result.outcome is SnoozeOutcome.SNOOZED and result.due_at is not None
        assert result.due_at.strftime("%H:%M") == "19:05"
        assert (await snooze_reminder(session, row.id, 101, now=at)).outcome is SnoozeOutcome.ALREADY
        assert (await snooze_reminder(session, 999_999, 101, now=at)).outcome is SnoozeOutcome.NOT_FOUND
        await session.commit()
    (snoozed,) = await reminders(sessions, kind="snooze")
    assert (snoozed.dedup_key, shown(snoozed.due_at), snoozed.text) == (f"sz:{row.id}", "2026-10-12 19:05", sent.text)
    assert json.loads(snoozed.payload)["of"] == row.dedup_key
    assert (await plan(sessions, local("2026-10-12 18:10"))).changes == 0
    # Late in the evening a snooze waits for the morning; past the reminder's usefulness it is refused.
    (hour_before,) = await reminders(sessions, kind="activity_hour_before", member_id=secretary.id)
    await deliver_due(sessions, local("2026-10-13 14:00"))
    async with sessions() as session:
        refused = await snooze_reminder(session, hour_before.id, 101, now=local("2026-10-13 14:01"))
        assert refused.outcome is SnoozeOutcome.TOO_LATE
    (follow_up,) = await reminders(sessions, kind="activity_follow_up")
    await _move(sessions, meeting, status=ActivityStatus.HELD.value)
    await deliver_due(sessions, local("2026-10-14 09:00"))
    async with sessions() as session:
        night = await snooze_reminder(session, follow_up.id, 101, now=local("2026-10-14 21:30"))
        await session.commit()
    assert night.due_at is not None and night.due_at.strftime("%m-%d %H:%M") == "10-15 08:00"
    # The snoozed copy goes when its reason does: the minutes are recorded.
    await _move(sessions, meeting, minutes="记录")
    assert (await plan(sessions, local("2026-10-14 22:00"))).cancelled == 1
    statuses = {r.dedup_key: r.status for r in await reminders(sessions, kind="snooze")}
    assert statuses == {f"sz:{row.id}": "missed", f"sz:{follow_up.id}": "cancelled"}
    assert organizer.telegram_user_id == 102


async def test_makeup_tasks_and_their_notices(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, organizer = await _committee(sessions)
    absent = await make_member(sessions, branch, "孙三", 106)
    unregistered = await make_member(sessions, branch, "吴四", None)
    meeting = await make_activity(sessions, branch, (K.MEMBERS_MEETING,), "2026-10-13 15:00", by=secretary)
    for member in (secretary, organizer):
        await attend(sessions, meeting, member)
    await _move(sessions, meeting, status=ActivityStatus.HELD.value, minutes="记录")
    result = await plan(sessions, local("2026-10-13 22:30"))
    assert result.makeup_created == 2
    async with sessions() as session:
        tasks = (await session.scalars(select(MakeupTask).order_by(MakeupTask.member_id))).all()
    assert [(t.member_id, shown(t.due_at), shown(t.created_at)) for t in tasks] == [
        (absent.id, "2026-10-28 00:00", "2026-10-13 22:30"),
        (unregistered.id, "2026-10-28 00:00", "2026-10-13 22:30"),
    ]
    (notice,) = await reminders(sessions, kind="makeup")  # the unregistered member cannot be told
    assert (notice.chat_id, shown(notice.due_at)) == (106, "2026-10-14 08:00")
    assert (await plan(sessions, local("2026-10-13 23:00"))).changes == 0
    # Checked in by proxy afterwards: the task and its notice go.
    await attend(sessions, meeting, absent, at=local("2026-10-14 07:00"))
    result = await plan(sessions, local("2026-10-14 07:00"))
    assert (result.makeup_dropped, result.cancelled) == (1, 1)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(MakeupTask)) == 1


async def test_reminder_overview(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch, secretary, _ = await _committee(sessions)
    await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=secretary)
    await plan(sessions, local("2026-10-12 10:00"))
    await deliver_due(sessions, local("2026-10-12 18:00"))
    async with sessions() as session:
        await session.execute(
            update(Reminder)
            .where(Reminder.kind == "activity_hour_before", Reminder.chat_id == 102)
            .values(status=ReminderStatus.FAILED.value, last_error="Forbidden: bot was blocked by the user")
        )
        await session.commit()
        overview = await branch_reminders(session, branch.id, limit=2)
    counts = {status.value: n for status, n in overview.counts.items()}
    assert counts == {"pending": 6, "sent": 2, "failed": 1, "missed": 0}
    assert [(line.kind, line.recipient) for line in overview.lines[ReminderStatus.PENDING]] == [
        ("activity_hour_before", "王书记"),
        ("activity_checkin", "王书记"),
    ]
    (failed,) = overview.lines[ReminderStatus.FAILED]
    assert failed.last_error == "Forbidden: bot was blocked by the user"


async def test_month_ends_february_and_a_quarter_end_in_berlin(sessions: async_sessionmaker[AsyncSession]) -> None:
    # February 2027 has 28 days, the first quarter ends on 31 March, and Berlin's summer time starts on 28 March.
    zone = "Europe/Berlin"
    branch = await make_branch(sessions, "柏林党支部", chat_id=None, timezone=zone, theme_day_rule="day:31/keep")
    secretary = await make_member(sessions, branch, "王书记", 101, role=Role.SECRETARY)
    member = await make_member(sessions, branch, "孙三", 106)
    async with sessions() as session:  # joined long ago; last came on 30 November
        await session.execute(
            update(Member).where(Member.branch_id == branch.id).values(joined_at=datetime(2025, 1, 1, tzinfo=UTC))
        )
        await session.commit()
    berlin = ZoneInfo(zone)
    last = await make_activity(sessions, branch, (K.MEMBERS_MEETING,), "2026-11-30 18:00", held=True, zone=berlin)
    await attend(sessions, last, member)
    await attend(sessions, last, secretary)
    missed = await make_activity(sessions, branch, (K.MEMBERS_MEETING,), "2027-01-12 18:00", held=True, zone=berlin)
    await attend(sessions, missed, secretary)
    march = await make_activity(
        sessions,
        branch,
        (K.COMMITTEE_MEETING, K.PARTY_GROUP_MEETING, K.PARTY_LECTURE, K.THEME_DAY),
        "2027-03-10 18:00",
        held=True,
        minutes="记录",
        secretary_lectures=True,
        zone=berlin,
    )
    await attend(sessions, march, secretary)
    delivered = await simulate(sessions, local("2027-02-15 00:00", berlin), local("2027-04-02 00:00", berlin))
    got = [(d.due_at.astimezone(berlin).strftime("%m-%d %H:%M"), d.kind, d.chat_id) for d in delivered]
    assert [(at, kind, chat) for at, kind, chat in got if kind != "digest"] == [
        ("02-22 09:00", "deadline", 101),  # 7 days before the end of February (28 days)
        ("02-25 09:00", "theme_day_soon", 101),  # "每月31日" is the 28th in February
        ("02-25 09:00", "theme_day_soon", 106),
        ("02-27 09:00", "deadline", 101),
        ("02-27 18:00", "theme_day_soon", 101),
        ("02-27 18:00", "theme_day_soon", 106),
        ("02-28 09:00", "absence", 101),  # 30 November + 3 months
        ("03-01 09:00", "theme_day_missed", 101),
    ]
    digests = [at for at, kind, _ in got if kind == "digest"]
    assert digests == [
        "02-15 09:00",
        "02-22 09:00",
        "03-01 09:00",
        "03-08 09:00",
        "03-15 09:00",
        "03-22 09:00",
        "03-29 09:00",
    ]
    utc = [d.due_at.astimezone(UTC).strftime("%H:%M") for d in delivered if d.kind == "digest"]
    assert utc[-2:] == ["08:00", "07:00"]  # summer time from 28 March
