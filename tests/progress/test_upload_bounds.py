"""/kb with hostile files, through the real Application: each is refused (or bounded) quickly, politely, in Chinese,
and a refused file stores nothing. Also the per-branch passage cap, title hygiene and odd ids in /kb remove."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Document, DocumentPassage
from bot.services import knowledge_base
from knowledge.ingest import MAX_PASSAGES
from tests.hostile_files import huge_text_many_items, huge_text_one_line, quadratic_heading_md, zip_bomb_docx
from tests.progress.conftest import World, snapshot
from tests.progress.test_kb import DUTY_TEXT, upload
from tests.telegram.helpers import ALICE, ChatHarness, messages, plain

QUICKLY = 2.0  # seconds, the bound for refusing any hostile file (a child process included)


async def timed_upload(bot: ChatHarness, content: bytes, name: str, caption: str = "/kb") -> tuple[str, float]:
    started = time.perf_counter()
    (reply,) = messages(await upload(bot, content, name, caption=caption))
    return plain(reply), time.perf_counter() - started


@pytest.mark.parametrize(
    ("make", "name", "problem"),
    [
        (zip_bomb_docx, "通知.docx", "这个 Word 文件解压后超过 20 MB，请删去图片或拆分成几个文件后再上传。"),
        (huge_text_many_items, "名单.txt", f"文件内容太多（超过 {MAX_PASSAGES} 段），请拆分成几个文件后再上传。"),
    ],
)
async def test_hostile_uploads_are_refused_quickly_and_store_nothing(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World, make, name: str, problem: str
) -> None:
    before = await snapshot(sessions)
    said, seconds = await timed_upload(bot, make(), name)
    assert said == problem
    assert seconds < QUICKLY
    assert await snapshot(sessions) == before


async def test_a_quadratic_heading_is_read_in_linear_time(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    said, seconds = await timed_upload(bot, quadratic_heading_md(), "标题.md")
    assert said.startswith("已添加《标题》")
    assert seconds < QUICKLY


async def test_a_megabyte_in_one_line_is_stored_in_bounded_passages(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    said, seconds = await timed_upload(bot, huge_text_one_line(), "一行.txt")
    assert said.startswith("已添加《一行》")
    assert seconds < 3 * QUICKLY  # stored, and the index rebuilt with a megabyte of new text
    assert 0 < (await snapshot(sessions))[2] <= MAX_PASSAGES


async def test_a_branch_cannot_store_more_passages_than_its_cap(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(knowledge_base, "MAX_BRANCH_PASSAGES", 3)
    first, _ = await timed_upload(bot, DUTY_TEXT.encode(), "duty.txt")
    assert first.startswith("已添加")
    before = await snapshot(sessions)
    said, _ = await timed_upload(bot, "一、甲\n甲。\n二、乙\n乙。\n三、丙\n丙。\n".encode(), "more.txt")
    assert said == "本支部的资料已达上限（3 段），请先用 /kb remove 编号 删除不再需要的资料，再上传。"
    assert await snapshot(sessions) == before


async def test_titles_and_passages_are_stored_clean_and_titles_short(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    caption = "/kb 党员活动室\u202e值班\x07安排" + "很长" * 100
    said, _ = await timed_upload(
        bot, f"一、值班\n每周五\u200b下午值守\x1b。\n{DUTY_TEXT}".encode(), "duty.txt", caption
    )
    async with sessions() as session:
        document = (await session.scalars(select(Document))).one()
        texts = (await session.scalars(select(DocumentPassage.text))).all()
    assert document.title.startswith("党员活动室值班安排很长很长") and len(document.title) <= 100
    assert said.startswith(f"已添加《{document.title}》")
    assert "每周五下午值守。" in texts[0]


@pytest.mark.parametrize("number", ["²", "١", "12345678901234567890"])
async def test_kb_remove_with_an_odd_id_gets_the_usage_quietly(
    bot: ChatHarness, world: World, caplog: pytest.LogCaptureFixture, number: str
) -> None:
    with caplog.at_level(logging.INFO):
        (reply,) = messages(await bot.send(f"/kb remove {number}", user=ALICE))
    assert "/kb remove 编号" in plain(reply)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
