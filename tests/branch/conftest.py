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
from bot.config import Settings
from bot.services.access import Caller
from bot.services.branches import setup_branch
from bot.transport import BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, GROUP, ChatHarness

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


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
