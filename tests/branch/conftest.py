"""Fixtures for the branch and member tests: a set-up branch, row counts, and the bot over the in-process Bot API.

The bot answers questions from an empty knowledge base: these tests are about branches, not answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

from bot.app import build_application, serving
from bot.bot_api_objects import make_user
from bot.config import Settings
from bot.models import Member, MemberStatus, Role
from bot.services import branches
from bot.services.access import Caller
from bot.services.branch_setup import setup_branch
from bot.transport import BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
CAROL = make_user(1003, "张三")
DAVE = make_user(1004, "赵六")


async def count_rows(sessions: async_sessionmaker[AsyncSession], model: type[SQLModel]) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
async def branch(sessions: async_sessionmaker[AsyncSession]) -> Caller:
    """第一党支部, bound to GROUP, with ALICE (李明) as its 书记."""
    async with sessions() as session:
        return await setup_branch(
            session, name="第一党支部", chat_id=GROUP["id"], telegram_user_id=ALICE["id"], member_name="李明", now=NOW
        )


@pytest.fixture
def api() -> BotApiSimulator:
    return BotApiSimulator()


@pytest.fixture
async def bot(database_url: str, api: BotApiSimulator) -> AsyncIterator[ChatHarness]:
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]))
    async with serving(app):
        api.take_outgoing()  # start-up calls are not part of the conversation
        yield ChatHarness(app, api)


@pytest.fixture
async def staffed(sessions: async_sessionmaker[AsyncSession], branch: Caller) -> Caller:
    """第一党支部 with 李明 (书记, ALICE), 王芳 (组织委员, BOB) and 张三 (党员, CAROL); 赵六 (DAVE) is no member."""
    async with sessions() as session:
        token = (await branches.create_invite(session, branch, datetime.now(UTC))).token
    for user in (BOB, CAROL):
        async with sessions() as session:
            await branches.join_branch(
                session,
                token=token,
                telegram_user_id=user["id"],
                name=user["first_name"],
                status=MemberStatus.FULL,
                party_group_id=None,
                roster_member_id=None,
                now=NOW,
            )
    async with sessions() as session:
        bob = await session.scalar(select(Member.id).where(Member.telegram_user_id == BOB["id"]))
        await branches.set_role(session, branch, bob, Role.ORGANIZATION, NOW)
    return branch
