"""No foreign key destroys a record: deleting an activity or a member that attendance rows name, or a branch that
audit-log rows name, fails on both databases (ON DELETE RESTRICT); the bot retires rows instead (a member becomes
inactive, an activity is cancelled)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import make_engine, open_database, upgrade_database
from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityRoster,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    AuditLog,
    Branch,
    Member,
)

NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)
ROSTER_REVISION_PARENT = "0006"  # the revision before the one that introduced activity_roster and RESTRICT
Sessions = async_sessionmaker[AsyncSession]


async def seed(sessions: Sessions) -> tuple[int, int, int, int]:
    """A branch with one member, one held activity with that member's attendance and roster row, and a branch
    that has nothing but an audit-log row. Returns (branch, member, activity, audited branch) ids."""
    async with sessions() as session:
        branch, audited = Branch(name="第一党支部"), Branch(name="已撤销的支部")
        session.add_all([branch, audited])
        await session.flush()
        assert branch.id is not None and audited.id is not None
        member = Member(branch_id=branch.id, name="王芳")
        activity = Activity(
            branch_id=branch.id, kind=ActivityKind.MEMBERS_MEETING.value, starts_at=NOW, status=ActivityStatus.HELD
        )
        session.add_all([member, activity, AuditLog(branch_id=audited.id, action="branch.setup", at=NOW)])
        await session.flush()
        assert member.id is not None and activity.id is not None
        session.add(
            Attendance(
                activity_id=activity.id,
                member_id=member.id,
                status=AttendanceStatus.PRESENT.value,
                method=AttendanceMethod.BUTTON.value,
                at=NOW,
            )
        )
        session.add(
            ActivityRoster(activity_id=activity.id, member_id=member.id, status=member.status, role=member.role)
        )
        await session.commit()
        return branch.id, member.id, activity.id, audited.id


async def counts(sessions: Sessions) -> tuple[int, int, int]:
    async with sessions() as session:
        attendance = await session.scalar(select(func.count()).select_from(Attendance))
        audit = await session.scalar(select(func.count()).select_from(AuditLog))
        roster = await session.scalar(select(func.count()).select_from(ActivityRoster))
        return int(attendance or 0), int(audit or 0), int(roster or 0)


@pytest.mark.parametrize("target", ["activity", "member", "audited branch"])
async def test_deleting_a_referenced_row_fails_and_keeps_the_record(sessions: Sessions, target: str) -> None:
    _, member_id, activity_id, audited_id = await seed(sessions)
    statement = {
        "activity": delete(Activity).where(Activity.id == activity_id),
        "member": delete(Member).where(Member.id == member_id),
        "audited branch": delete(Branch).where(Branch.id == audited_id),
    }[target]
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await session.execute(statement)
            await session.commit()
        await session.rollback()
    assert await counts(sessions) == (1, 1, 1)


async def test_unreferenced_rows_can_still_be_deleted(sessions: Sessions) -> None:
    """RESTRICT guards records, not everything: an activity nobody attended goes, with its kind links."""
    branch_id, *_ = await seed(sessions)
    async with sessions() as session:
        empty = Activity(branch_id=branch_id, kind=ActivityKind.PARTY_LECTURE.value, starts_at=NOW)
        session.add(empty)
        await session.flush()
        assert empty.id is not None
        empty_id = empty.id
        session.add(ActivityKindLink(activity_id=empty_id, kind=ActivityKind.PARTY_LECTURE.value))
        await session.commit()
        await session.execute(delete(Activity).where(Activity.id == empty_id))
        await session.commit()
    async with sessions() as session:
        assert await session.get(Activity, empty_id) is None
        links = await session.scalar(
            select(func.count()).select_from(ActivityKindLink).where(ActivityKindLink.activity_id == empty_id)
        )
        assert links == 0
    assert await counts(sessions) == (1, 1, 1)


async def test_activities_held_before_rosters_existed_get_theirs_from_the_migration(database_url: str) -> None:
    """The migration that introduced rosters records one for every activity already held (from the branch's
    members then), so those ledger rows stop following the roster too."""
    await upgrade_database(database_url, ROSTER_REVISION_PARENT)
    engine = make_engine(database_url, enforce_foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO branch (id, name, timezone, created_at) VALUES (1, '支部', 'Asia/Shanghai', :at)"),
                {"at": datetime(2026, 1, 1)},
            )
            for member_id, name in ((1, "李明"), (2, "王芳")):
                await connection.execute(
                    text(
                        "INSERT INTO member (id, branch_id, name, status, role, reachable, reminders_enabled,"
                        " joined_at) VALUES (:id, 1, :name, '正式党员', '党员', true, true, :at)"
                    ),
                    {"id": member_id, "name": name, "at": datetime(2026, 1, 1)},
                )
            for activity_id, status in ((1, "held"), (2, "planned")):
                await connection.execute(
                    text(
                        "INSERT INTO activity (id, branch_id, kind, topic, starts_at, place, lecturer,"
                        " lecturer_is_secretary, checkin_opens_before_min, checkin_closes_after_min, status,"
                        " recorded_after, created_at)"
                        " VALUES (:id, 1, '支部党员大会', '', :at, '', '', false, 30, 60, :status, false, :at)"
                    ),
                    {"id": activity_id, "status": status, "at": datetime(2026, 11, 12, 7)},
                )
    finally:
        await engine.dispose()
    async with open_database(database_url) as sessions, sessions() as session:
        rosters = (await session.execute(select(ActivityRoster.activity_id, ActivityRoster.member_id))).all()
        held = await session.get(Activity, 1)
        planned = await session.get(Activity, 2)
    assert sorted(tuple(row) for row in rosters) == [(1, 1), (1, 2)]
    assert held is not None and held.roster_recorded_at is not None
    assert planned is not None and planned.roster_recorded_at is None
