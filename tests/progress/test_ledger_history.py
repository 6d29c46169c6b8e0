"""The 台账 is a record: a roster change after an activity was held does not rewrite who was expected (应到) or
absent (缺席) at it. The roster is recorded when the activity is marked held (/done, or /record for 补录)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import (
    ActivityKind,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Branch,
    Member,
)
from bot.services import branches
from bot.services.access import Caller
from bot.services.activities import ActivityRequest, create_activity, mark_held, record_activity
from bot.services.attendance import attendance_summary
from bot.services.ledger import LedgerFormat, export_ledger, load_ledger, parse_period
from tests.progress.conftest import World, local

K = ActivityKind
P = AttendanceStatus.PRESENT


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


@pytest.fixture(autouse=True)
async def members_since_october(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    """The branch's members joined in October (the shared fixture leaves the clock's time of the test run)."""
    async with sessions() as session:
        await session.execute(update(Member).values(joined_at=utc(local(2026, 10, 1))))
        await session.commit()


async def plan_and_hold(
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    kind: ActivityKind,
    starts_at: datetime,
    *,
    present: list[str],
    held_at: datetime,
) -> int:
    """/new a week before, the named members check in, and /done at ``held_at``: the way a branch records it."""
    secretary = world.member_ids["李明"]
    request = ActivityRequest(kinds=(kind,), starts_at=utc(starts_at), place="会议室", topic="学习")
    async with sessions() as session:
        info = await create_activity(session, member_id=secretary, request=request, now=utc(local(2026, 11, 1)))
        await session.commit()
        assert info.id is not None
    async with sessions() as session:
        session.add_all(
            Attendance(
                activity_id=info.id,
                member_id=world.member_ids[name],
                status=P.value,
                method=AttendanceMethod.BUTTON.value,
                at=utc(starts_at),
            )
            for name in present
        )
        await session.commit()
    async with sessions() as session:
        await mark_held(session, member_id=secretary, activity_id=info.id, now=utc(held_at))
    return info.id


async def join(sessions: async_sessionmaker[AsyncSession], world: World, name: str, when: datetime) -> int:
    async with sessions() as session:
        member = Member(branch_id=world.branch_id, name=name, joined_at=utc(when))
        session.add(member)
        await session.commit()
        assert member.id is not None
        return member.id


async def move_away(sessions: async_sessionmaker[AsyncSession], world: World, name: str, when: datetime) -> None:
    async with sessions() as session:
        await branches.move_member(session, world.member_ids[name], world.other_branch_id, utc(when), None)


async def test_roster_changes_after_a_meeting_do_not_rewrite_its_ledger_row(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """November's 党员大会 had 6 members; in December 王芳 moves away and 张伟 joins. The November ledger still
    expects 6, still lists 王芳 absent, and does not list 张伟 at all."""
    meeting = await plan_and_hold(
        sessions,
        world,
        K.MEMBERS_MEETING,
        local(2026, 11, 12),
        present=["李明", "赵强"],
        held_at=local(2026, 11, 12, 18),
    )
    await move_away(sessions, world, "王芳", local(2026, 12, 2))
    await join(sessions, world, "张伟", local(2026, 12, 5))

    async with sessions() as session:
        ledger = await load_ledger(session, world.branch_id, parse_period("2026-11"), utc(local(2026, 12, 10)))
    (row,) = [row for row in ledger.rows if row.activity.id == meeting]
    assert row.expected == 6
    assert row.present == ["李明", "赵强"]
    assert row.absent == ["孙伟", "王芳", "刘洋", "陈红"]

    async with sessions() as session:
        exported = await export_ledger(
            session, world.branch_id, parse_period("2026-11"), utc(local(2026, 12, 10)), LedgerFormat.CSV
        )
    (line,) = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert (line["应到"], line["实到"], line["缺席"]) == ("6", "2", "4")
    assert line["缺席人员"] == "孙伟、王芳、刘洋、陈红"
    assert "张伟" not in exported.content.decode("utf-8-sig")


async def test_attendance_summary_of_a_held_meeting_keeps_its_roster(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """/attendance reads the same record: 应到, 缺席 and the quorum of the day, not of today's roster."""
    meeting = await plan_and_hold(
        sessions,
        world,
        K.MEMBERS_MEETING,
        local(2026, 11, 12),
        present=["李明", "赵强", "孙伟", "刘洋"],
        held_at=local(2026, 11, 12, 18),
    )
    await move_away(sessions, world, "王芳", local(2026, 12, 2))
    for number in range(4):  # four newcomers would sink November's quorum (4 of 10) if they were counted
        await join(sessions, world, f"新人{number}", local(2026, 12, 5))

    async with sessions() as session:
        secretary = await session.get(Member, world.member_ids["李明"])
        branch = await session.get(Branch, world.branch_id)
        assert secretary is not None and branch is not None
        result = await attendance_summary(session, Caller(secretary, branch), meeting)
    summary = result.summary
    assert summary is not None
    assert len(summary.expected) == 6
    assert [m.name for m in summary.absent] == ["王芳", "陈红"]
    (quorum,) = summary.quorums
    assert (quorum.expected, quorum.present, quorum.reached) == (6, 4, True)


async def test_marked_held_late_the_roster_is_the_one_of_the_meeting_day(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """/done a week late: a member who joined after the meeting is not expected at it; one removed after the
    meeting (inactive since) still is."""
    await join(sessions, world, "张伟", local(2026, 12, 1))
    async with sessions() as session:
        await session.execute(
            update(Member)
            .where(Member.id == world.member_ids["陈红"])
            .values(active=False, left_at=utc(local(2026, 12, 2)))
        )
        await session.commit()
    meeting = await plan_and_hold(
        sessions, world, K.MEMBERS_MEETING, local(2026, 11, 26), present=["李明"], held_at=local(2026, 12, 3)
    )
    async with sessions() as session:
        ledger = await load_ledger(session, world.branch_id, parse_period("2026-11"), utc(local(2026, 12, 10)))
    (row,) = [row for row in ledger.rows if row.activity.id == meeting]
    assert row.expected == 6
    assert row.absent == ["孙伟", "赵强", "王芳", "刘洋", "陈红"]


async def test_a_recorded_activity_keeps_the_roster_it_was_recorded_with(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """补录 (/record) of an October meeting in November: the roster entered before it counts, a later join not."""
    request = ActivityRequest(
        kinds=(K.MEMBERS_MEETING,), starts_at=utc(local(2026, 10, 20)), place="会议室", topic="学习"
    )
    async with sessions() as session:
        info = await record_activity(
            session, member_id=world.member_ids["李明"], request=request, now=utc(local(2026, 11, 3))
        )
        await session.commit()
    await join(sessions, world, "张伟", local(2026, 11, 10))
    async with sessions() as session:
        ledger = await load_ledger(session, world.branch_id, parse_period("2026-10"), utc(local(2026, 11, 20)))
    (row,) = [row for row in ledger.rows if row.activity.id == info.id]
    assert row.expected == 6
    assert "张伟" not in row.absent
