"""Builders for reminder tests: branch-local times, members, activities and attendance made directly with the models."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Branch,
    Member,
    MemberStatus,
    PartyGroup,
    Reminder,
    Role,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """'2026-10-13 15:00' in the zone, as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone).astimezone(UTC)


def shown(moment: datetime, zone: ZoneInfo = SHANGHAI) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


async def add(sessions: async_sessionmaker[AsyncSession], *rows: object) -> None:
    async with sessions() as session:
        session.add_all(rows)
        await session.commit()


async def make_branch(
    sessions: async_sessionmaker[AsyncSession],
    name: str = "第一党支部",
    *,
    chat_id: int | None = -1001,
    timezone: str = "Asia/Shanghai",
    theme_day_rule: str | None = None,
) -> Branch:
    branch = Branch(name=name, chat_id=chat_id, timezone=timezone, theme_day_rule=theme_day_rule)
    await add(sessions, branch)
    return branch


async def make_group(sessions: async_sessionmaker[AsyncSession], branch: Branch, name: str) -> PartyGroup:
    group = PartyGroup(branch_id=branch.id, name=name)
    await add(sessions, group)
    return group


async def make_member(
    sessions: async_sessionmaker[AsyncSession],
    branch: Branch,
    name: str,
    chat: int | None,
    *,
    role: Role = Role.MEMBER,
    group: PartyGroup | None = None,
    probationary: bool = False,
    reminders: bool = True,
    reachable: bool = True,
    joined: str = "2026-01-01 09:00",
) -> Member:
    member = Member(
        branch_id=branch.id,
        name=name,
        telegram_user_id=chat,
        role=role.value,
        status=(MemberStatus.PROBATIONARY if probationary else MemberStatus.FULL).value,
        party_group_id=group.id if group else None,
        reminders_enabled=reminders,
        reachable=reachable,
        joined_at=local(joined),
    )
    await add(sessions, member)
    return member


async def make_activity(
    sessions: async_sessionmaker[AsyncSession],
    branch: Branch,
    kinds: tuple[ActivityKind, ...],
    starts: str,
    *,
    topic: str = "",
    place: str = "党员活动室",
    group: PartyGroup | None = None,
    by: Member | None = None,
    held: bool = False,
    minutes: str | None = None,
    secretary_lectures: bool = False,
    zone: ZoneInfo = SHANGHAI,
) -> Activity:
    activity = Activity(
        branch_id=branch.id,
        kind=kinds[0].value,
        topic=topic,
        place=place,
        starts_at=local(starts, zone),
        party_group_id=group.id if group else None,
        created_by=by.id if by else None,
        status=(ActivityStatus.HELD if held else ActivityStatus.PLANNED).value,
        minutes=minutes,
        lecturer_is_secretary=secretary_lectures,
    )
    await add(sessions, activity)
    await add(sessions, *(ActivityKindLink(activity_id=activity.id, kind=kind.value) for kind in kinds))
    return activity


async def attend(
    sessions: async_sessionmaker[AsyncSession],
    activity: Activity,
    member: Member,
    status: AttendanceStatus = AttendanceStatus.PRESENT,
    at: datetime | None = None,
) -> None:
    await add(
        sessions,
        Attendance(
            activity_id=activity.id,
            member_id=member.id,
            status=status.value,
            method=AttendanceMethod.PROXY.value,
            at=at or activity.starts_at,
        ),
    )


async def reminders(sessions: async_sessionmaker[AsyncSession], **where: object) -> list[Reminder]:
    async with sessions() as session:
        statement = select(Reminder).order_by(Reminder.due_at, Reminder.dedup_key)
        for name, value in where.items():
            statement = statement.where(getattr(Reminder, name) == value)
        return list((await session.scalars(statement)).all())
