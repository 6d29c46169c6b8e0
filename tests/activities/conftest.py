"""Fixtures for the activity tests: the real Application over the in-process Bot API, and a branch to work in.

The branch rows are written directly with the models (not through /setup), so these tests do not depend on the
branch commands. Everyone is identified by their Telegram user; `World` keeps the ids the tests need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_application, serving
from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.models import Activity, ActivityKind, ActivityKindLink, AuditLog, Branch, Member, PartyGroup, Role
from bot.transport import ApiCall, BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness

ORGANIZER = make_user(1003, "赵强")  # 组织委员
LEADER = make_user(1004, "陈静")  # 党小组长 of 第一党小组
STRANGER = make_user(1009, "路人")  # not registered
OTHER_SECRETARY = make_user(1005, "周红")  # 书记 of the other branch
OTHER_GROUP = group_chat(-1009876543210, "第二党支部")

USERS = {"书记": ALICE, "组织委员": ORGANIZER, "党员": BOB, "党小组长": LEADER, "非党员": STRANGER}
CHATS: dict[str, dict[str, Any] | None] = {"私聊": None, "本支部群": GROUP, "其他群": OTHER_GROUP}


@dataclass(frozen=True, slots=True)
class World:
    branch_id: int
    other_branch_id: int
    group_ids: dict[str, int]  # 党小组 name -> id
    member_ids: dict[int, int]  # telegram user id -> member id


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[ChatHarness]:
    """The Application (no knowledge needed here) with both branches' groups known to the simulator."""
    api = BotApiSimulator()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]))
    async with serving(app):
        for chat in (GROUP, OTHER_GROUP):  # the bot can post only in chats it has seen
            api.user_message("（群消息）", user=STRANGER, chat=chat)
        api.take_outgoing()
        yield ChatHarness(app, api)


@pytest.fixture
async def world(bot: ChatHarness, sessions: async_sessionmaker[AsyncSession]) -> World:
    """第一党支部 (bound to GROUP; two 党小组) with 书记 李明, 组织委员, 党员 王芳, 党小组长; and a second branch."""
    async with sessions() as session:
        branch = Branch(name="第一党支部", chat_id=GROUP["id"])
        other = Branch(name="第二党支部", chat_id=OTHER_GROUP["id"])
        session.add_all([branch, other])
        await session.flush()
        assert branch.id is not None and other.id is not None
        groups = [PartyGroup(branch_id=branch.id, name=name) for name in ("第一党小组", "第二党小组")]
        session.add_all(groups)
        await session.flush()
        people = [
            (ALICE, branch.id, Role.SECRETARY, None),
            (ORGANIZER, branch.id, Role.ORGANIZATION, None),
            (BOB, branch.id, Role.MEMBER, None),
            (LEADER, branch.id, Role.GROUP_LEADER, groups[0].id),
            (OTHER_SECRETARY, other.id, Role.SECRETARY, None),
        ]
        members = [
            Member(branch_id=b, telegram_user_id=u["id"], name=u["first_name"], role=r.value, party_group_id=g)
            for u, b, r, g in people
        ]
        session.add_all(members)
        await session.commit()
        return World(
            branch_id=branch.id,
            other_branch_id=other.id,
            group_ids={g.name: g.id for g in groups if g.id is not None},
            member_ids={m.telegram_user_id: m.id for m in members if m.telegram_user_id and m.id},
        )


async def add_activity(
    sessions: async_sessionmaker[AsyncSession],
    branch_id: int,
    *,
    starts_in: timedelta,
    kind: ActivityKind = ActivityKind.COMMITTEE_MEETING,
    party_group_id: int | None = None,
    announcement_message_id: int | None = None,
) -> int:
    """An activity written directly (for /cancel, /done, /move); ``starts_in`` from now, negative for the past."""
    async with sessions() as session:
        activity = Activity(
            branch_id=branch_id,
            kind=kind.value,
            topic="学习党章",
            place="会议室",
            starts_at=datetime.now(UTC) + starts_in,
            party_group_id=party_group_id,
            announcement_message_id=announcement_message_id,
        )
        session.add(activity)
        await session.flush()
        assert activity.id is not None
        session.add(ActivityKindLink(activity_id=activity.id, kind=kind.value))
        await session.commit()
        return activity.id


async def counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    """Rows in activity, activity_kind and audit_log."""
    async with sessions() as session:
        return tuple(  # type: ignore[return-value]
            [
                await session.scalar(select(func.count()).select_from(t)) or 0
                for t in (Activity, ActivityKindLink, AuditLog)
            ]
        )


async def fetch(sessions: async_sessionmaker[AsyncSession], activity_id: int) -> Activity:
    async with sessions() as session:
        activity = await session.get(Activity, activity_id)
        assert activity is not None
        return activity


async def only_activity(sessions: async_sessionmaker[AsyncSession]) -> tuple[Activity, set[str]]:
    """The one activity in the database and its kinds."""
    async with sessions() as session:
        (activity,) = (await session.scalars(select(Activity))).all()
        kinds = set((await session.scalars(select(ActivityKindLink.kind))).all())
        return activity, kinds


async def send_document(
    bot: ChatHarness, file_name: str, *, user: dict[str, Any], chat: dict[str, Any] | None = None
) -> list[ApiCall]:
    """A user sends a document (built like Telegram's message with a Document)."""
    update = bot.api.user_message("x", user=user, chat=chat)
    message = update["message"]
    del message["text"]
    message["document"] = {"file_id": f"BQAC-{file_name}", "file_unique_id": "u-minutes", "file_name": file_name}
    return await bot.process(update)
