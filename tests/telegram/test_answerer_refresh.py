"""An instance answers from documents another instance stored, from the first question after the upload."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.knowledge_base import add_document
from handlers import qa
from knowledge.ingest import parse_bytes
from tests.telegram.helpers import ChatHarness, messages, plain

NOTICE = "关于开展读书月活动的通知\n\n一、活动安排\n各支部在读书月期间组织党员共读一本红色经典，并撰写读书心得。\n"
QUESTION = "读书月活动怎么安排"


async def test_documents_stored_elsewhere_answer_the_next_question(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (before,) = messages(await bot.send(QUESTION))
    assert "读书月" not in plain(before)

    async with sessions() as session:  # as if another instance had handled the upload
        await add_document(session, parse_bytes(NOTICE.encode(), "通知.txt"), "通知.txt")

    (after,) = messages(await bot.send(QUESTION))
    assert "读书心得" in plain(after)
    assert "关于开展读书月活动的通知" in plain(after)


async def test_a_rebuild_that_takes_too_long_leaves_the_previous_index_answering(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], monkeypatch
) -> None:
    monkeypatch.setattr(qa, "REBUILD_WAIT_SECONDS", 0.2)
    async with sessions() as session:
        await add_document(session, parse_bytes(NOTICE.encode(), "通知.txt"), "通知.txt")
    lock = bot.app.bot_data.setdefault(qa.REBUILD_LOCK_KEY, asyncio.Lock())
    async with lock:  # the rebuild cannot finish: the question waits its bounded time, then is answered anyway
        (meanwhile,) = messages(await bot.send(QUESTION))
        assert "没有找到可靠的答案" in plain(meanwhile)
    await bot.app.bot_data[qa.REBUILD_TASK_KEY]
    (after,) = messages(await bot.send(QUESTION))
    assert "读书心得" in plain(after)
