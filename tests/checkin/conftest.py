"""Fixtures for check-in, leave and attendance: two branches with people in every role, activities made on demand,
and the real Application over the in-process Bot API (the fixtures of tests/telegram/conftest.py, imported).

Rows are written with the models directly, so these tests depend on no other command (/setup, /new …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import group_chat, make_user
from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    Attendance,
    AuditLog,
    Branch,
    CheckinCodeAttempt,
    Member,
    MemberStatus,
    PartyGroup,
    Role,
)
from bot.services.access import Caller
from tests.telegram.conftest import api, fixed_answerer, settings, test_bot  # noqa: F401  (fixtures reused)
from tests.telegram.helpers import ALICE, BOB, GROUP

OTHER_GROUP = group_chat(-1009876543210, "第二党支部")
ORGANIZER = make_user(1003, "张华")
LEADER = make_user(1004, "赵强")
PROBATIONER = make_user(1005, "陈静")
PROPAGANDIST = make_user(1006, "刘洋")
MEMBER_TWO = make_user(1007, "周敏")
OTHER_SECRETARY = make_user(2001, "孙丽")
OUTSIDER = make_user(3001, "路人甲")

# (Telegram user, role, status, 党小组) of the first branch; ALICE is its 书记, BOB (王芳) an ordinary 党员.
FIRST_BRANCH = (
    (ALICE, Role.SECRETARY, MemberStatus.FULL, "第一党小组"),
    (ORGANIZER, Role.ORGANIZATION, MemberStatus.FULL, "第一党小组"),
    (BOB, Role.MEMBER, MemberStatus.FULL, "第一党小组"),
    (LEADER, Role.GROUP_LEADER, MemberStatus.FULL, "第二党小组"),
    (PROBATIONER, Role.MEMBER, MemberStatus.PROBATIONARY, "第二党小组"),
    (PROPAGANDIST, Role.PROPAGANDA, MemberStatus.FULL, "第二党小组"),
    (MEMBER_TWO, Role.MEMBER, MemberStatus.FULL, "第二党小组"),
)


@dataclass(frozen=True, slots=True)
class World:
    branch_id: int
    other_branch_id: int
    party_groups: dict[str, int]
    members: dict[int, int]  # Telegram user id -> member id
    sessions: async_sessionmaker[AsyncSession]

    def member_id(self, user: dict[str, Any]) -> int:
        return self.members[user["id"]]

    async def member(self, user: dict[str, Any]) -> Member:
        async with self.sessions() as session:
            return await session.get_one(Member, self.member_id(user))

    async def caller(self, user: dict[str, Any]) -> Caller:
        async with self.sessions() as session:
            member = await session.get_one(Member, self.member_id(user))
            return Caller(member, await session.get_one(Branch, member.branch_id))

    async def add_activity(
        self,
        kind: ActivityKind,
        starts_at: datetime,
        *,
        branch_id: int | None = None,
        also: tuple[ActivityKind, ...] = (),
        **fields: Any,
    ) -> int:
        """An activity of the first branch (unless ``branch_id``), counting also as the kinds in ``also``."""
        async with self.sessions.begin() as session:
            activity = Activity(branch_id=branch_id or self.branch_id, kind=kind, starts_at=starts_at, **fields)
            session.add(activity)
            await session.flush()
            assert activity.id is not None
            session.add_all(ActivityKindLink(activity_id=activity.id, kind=k) for k in {kind, *also})
            return activity.id

    async def rows(self, activity_id: int) -> dict[int, Attendance]:
        """Attendance rows of an activity by member id."""
        async with self.sessions() as session:
            found = await session.scalars(select(Attendance).where(Attendance.activity_id == activity_id))
            return {row.member_id: row for row in found}

    async def snapshot(self) -> tuple[Any, ...]:
        """Everything a refused command must leave untouched."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Attendance.activity_id, Attendance.member_id, Attendance.status, Attendance.leave_reason)
            )
            codes = await session.execute(select(Activity.id, Activity.checkin_code).order_by(Activity.id))
            attempts = await session.execute(select(CheckinCodeAttempt.member_id, CheckinCodeAttempt.failures))
            audit = await session.scalar(select(func.count()).select_from(AuditLog))
            return sorted(rows.all()), codes.all(), sorted(attempts.all()), audit


async def seed(sessions: async_sessionmaker[AsyncSession]) -> World:
    async with sessions.begin() as session:
        first = Branch(name="第一党支部", chat_id=GROUP["id"])
        second = Branch(name="第二党支部", chat_id=OTHER_GROUP["id"])
        session.add_all([first, second])
        await session.flush()
        assert first.id is not None and second.id is not None
        groups = {name: PartyGroup(branch_id=first.id, name=name) for name in ("第一党小组", "第二党小组")}
        session.add_all(groups.values())
        await session.flush()
        people = [
            Member(
                branch_id=first.id,
                telegram_user_id=user["id"],
                name=user["first_name"],
                role=role,
                status=status,
                party_group_id=groups[group].id,
            )
            for user, role, status, group in FIRST_BRANCH
        ]
        people.append(
            Member(
                branch_id=second.id,
                telegram_user_id=OTHER_SECRETARY["id"],
                name=OTHER_SECRETARY["first_name"],
                role=Role.SECRETARY,
            )
        )
        session.add_all(people)
        await session.flush()
        return World(
            branch_id=first.id,
            other_branch_id=second.id,
            party_groups={name: group.id for name, group in groups.items() if group.id is not None},
            members={m.telegram_user_id: m.id for m in people if m.telegram_user_id and m.id},
            sessions=sessions,
        )


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> World:
    return await seed(sessions)


def soon() -> datetime:
    """A start time whose check-in window (30 minutes before, 60 after) is open now."""
    return datetime.now(UTC) + timedelta(minutes=10)
