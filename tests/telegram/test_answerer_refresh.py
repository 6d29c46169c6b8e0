"""An instance notices documents another instance stored, and answers from them after a background rebuild."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.knowledge_base import add_document
from handlers import qa
from knowledge.ingest import parse_bytes
from tests.telegram.helpers import ChatHarness, messages, plain

NOTICE = "关于开展读书月活动的通知\n\n一、活动安排\n各支部在读书月期间组织党员共读一本红色经典，并撰写读书心得。\n"
QUESTION = "读书月活动怎么安排"


async def test_documents_stored_elsewhere_are_picked_up(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (before,) = messages(await bot.send(QUESTION))
    assert "读书月" not in plain(before)

    async with sessions() as session:  # as if another instance had handled the upload
        await add_document(session, parse_bytes(NOTICE.encode(), "通知.txt"), "通知.txt")

    await bot.send(QUESTION)  # within the check interval: nothing is looked up yet
    assert qa.REBUILD_TASK_KEY not in bot.app.bot_data

    bot.app.bot_data[qa.CHECKED_AT_KEY] = time.monotonic() - qa.VERSION_CHECK_SECONDS - 1
    await bot.send(QUESTION)
    await bot.app.bot_data[qa.REBUILD_TASK_KEY]
    (after,) = messages(await bot.send(QUESTION))
    assert "读书心得" in plain(after)
    assert "关于开展读书月活动的通知" in plain(after)
