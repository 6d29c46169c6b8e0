"""Fixtures for /progress, /require, /export and /kb: the real Application over the in-process Bot API, two
branches written directly with the models, and a helper that records activities with their attendance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_application, serving
from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    AuditLog,
    Branch,
    Document,
    Member,
    PartyGroup,
    RequirementOverride,
    Role,
)
from bot.transport import BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORGANIZER = make_user(1003, "赵强")  # 组织委员
DEPUTY = make_user(1007, "孙伟")  # 副书记, never opened a private chat with the bot
CAROL = make_user(1006, "刘洋")  # 党员, 第二党小组
STRANGER = make_user(1009, "路人")  # not registered
OTHER_SECRETARY = make_user(1005, "周红")  # 书记 of 第二党支部
OTHER_GROUP = group_chat(-1009876543210, "第二党支部")

USERS = {"书记": ALICE, "组织委员": ORGANIZER, "党员": BOB, "非党员": STRANGER}
CHATS: dict[str, dict[str, Any] | None] = {"私聊": None, "本支部群": GROUP, "其他群": OTHER_GROUP}


@dataclass(frozen=True, slots=True)
class World:
    branch_id: int
    other_branch_id: int
    group_ids: dict[str, int]  # 党小组 name -> id
    member_ids: dict[str, int]  # member name -> id


def local(year: int, month: int, day: int, hour: int = 15, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[ChatHarness]:
    """The Application with an empty Answerer (uploads rebuild it with the curated knowledge); the simulator has
    seen both groups and the private chats of everyone but DEPUTY."""
    api = BotApiSimulator()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]))
    async with serving(app):
        for chat in (GROUP, OTHER_GROUP):
            api.user_message("（群消息）", user=STRANGER, chat=chat)
        for user in (ALICE, ORGANIZER, BOB, CAROL, STRANGER, OTHER_SECRETARY):
            api.user_message("（私聊）", user=user)
        api.take_outgoing()
        yield ChatHarness(app, api)


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> World:
    """第一党支部 (bound to GROUP; 第一党小组, 第二党小组): 书记 李明, 副书记 孙伟, 组织委员 赵强,
    党员 王芳 (第一党小组), 党员 刘洋 and 陈红 (第二党小组; 陈红 has not linked Telegram).
    第二党支部 (OTHER_GROUP): 书记 周红."""
    async with sessions() as session:
        branch = Branch(name="第一党支部", chat_id=GROUP["id"])
        other = Branch(name="第二党支部", chat_id=OTHER_GROUP["id"])
        session.add_all([branch, other])
        await session.flush()
        assert branch.id is not None and other.id is not None
        groups = {name: PartyGroup(branch_id=branch.id, name=name) for name in ("第一党小组", "第二党小组")}
        session.add_all(groups.values())
        await session.flush()
        people: list[tuple[str, int | None, int, Role, str | None]] = [
            ("李明", ALICE["id"], branch.id, Role.SECRETARY, None),
            ("孙伟", DEPUTY["id"], branch.id, Role.DEPUTY_SECRETARY, None),
            ("赵强", ORGANIZER["id"], branch.id, Role.ORGANIZATION, None),
            ("王芳", BOB["id"], branch.id, Role.MEMBER, "第一党小组"),
            ("刘洋", CAROL["id"], branch.id, Role.MEMBER, "第二党小组"),
            ("陈红", None, branch.id, Role.MEMBER, "第二党小组"),
            ("周红", OTHER_SECRETARY["id"], other.id, Role.SECRETARY, None),
        ]
        members = {
            name: Member(
                branch_id=branch_id,
                telegram_user_id=user_id,
                name=name,
                role=role.value,
                party_group_id=groups[group].id if group else None,
            )
            for name, user_id, branch_id, role, group in people
        }
        session.add_all(members.values())
        await session.commit()
        return World(
            branch_id=branch.id,
            other_branch_id=other.id,
            group_ids={name: g.id for name, g in groups.items() if g.id is not None},
            member_ids={name: m.id for name, m in members.items() if m.id is not None},
        )


async def add_activity(
    sessions: async_sessionmaker[AsyncSession],
    branch_id: int,
    kind: ActivityKind,
    starts_at: datetime,
    *,
    also: Iterable[ActivityKind] = (),
    status: ActivityStatus = ActivityStatus.HELD,
    party_group_id: int | None = None,
    topic: str = "",
    place: str = "",
    lecturer: str = "",
    by_secretary: bool = False,
    minutes: str | None = None,
    attendance: Mapping[int, tuple[AttendanceStatus, str | None, str | None]] | None = None,
) -> int:
    """One activity (every kind linked), with attendance rows member id -> (status, leave reason, leave note)."""
    async with sessions() as session:
        activity = Activity(
            branch_id=branch_id,
            kind=kind.value,
            topic=topic,
            starts_at=starts_at.astimezone(UTC),
            place=place,
            lecturer=lecturer,
            lecturer_is_secretary=by_secretary,
            party_group_id=party_group_id,
            status=status.value,
            minutes=minutes,
        )
        session.add(activity)
        await session.flush()
        assert activity.id is not None
        session.add_all(ActivityKindLink(activity_id=activity.id, kind=k.value) for k in {kind, *also})
        for member_id, (state, reason, note) in (attendance or {}).items():
            session.add(
                Attendance(
                    activity_id=activity.id,
                    member_id=member_id,
                    status=state.value,
                    method=AttendanceMethod.BUTTON.value,
                    leave_reason=reason,
                    leave_note=note,
                )
            )
        await session.commit()
        return activity.id


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int, tuple[tuple[str, int], ...]]:
    """What a refused command must leave alone: audit rows, documents, passages, and the overrides."""
    async with sessions() as session:
        audits = await session.scalar(select(func.count()).select_from(AuditLog))
        documents = await session.scalar(select(func.count()).select_from(Document))
        passages = await session.scalar(select(func.coalesce(func.sum(Document.passage_count), 0)))
        overrides = await session.execute(
            select(RequirementOverride.requirement_key, RequirementOverride.minimum).order_by(
                RequirementOverride.requirement_key
            )
        )
        return int(audits or 0), int(documents or 0), int(passages or 0), tuple(overrides.all())
