"""/import with hostile rosters, through the real Application: refused quickly with a clear message, nothing stored;
sheets are read only within the header's width; imported names are stored clean (NFKC, no invisible characters)."""

from __future__ import annotations

import io
import time
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import AuditLog, Member, PartyGroup
from bot.services import roster, untrusted_files
from bot.services.access import Caller
from bot.services.roster_file import MAX_HEADER_COLUMNS, roster_rows
from handlers.common import SESSIONS_KEY
from tests.branch.conftest import count_rows
from tests.branch.test_branch_bot import upload
from tests.hostile_files import dimension_bomb_xlsx, zip_bomb_xlsx
from tests.telegram.helpers import ChatHarness, messages, plain

QUICKLY = 2.0  # seconds, the bound for refusing any hostile file (a child process included)


async def rows_stored(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    return [await count_rows(sessions, model) for model in (Member, PartyGroup, AuditLog)]


async def timed_import(bot: ChatHarness, content: bytes, name: str) -> tuple[str, float]:
    started = time.perf_counter()
    (reply,) = messages(await upload(bot, content, name, caption="/import"))
    return plain(reply), time.perf_counter() - started


async def test_a_dimension_bomb_is_refused_quickly_and_imports_nobody(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    before = await rows_stored(sessions)
    said, seconds = await timed_import(bot, dimension_bomb_xlsx(), "名册.xlsx")
    assert "没有导入任何人" in said
    assert "表格超过 10000 行（空行也算在内）。请删去名册下方多余的行" in said
    assert seconds < QUICKLY
    assert await rows_stored(sessions) == before


async def test_a_zip_bomb_roster_is_refused_quickly_and_imports_nobody(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    before = await rows_stored(sessions)
    said, seconds = await timed_import(bot, zip_bomb_xlsx(), "名册.xlsx")
    assert "这个 Excel 文件解压后超过 20 MB" in said
    assert seconds < QUICKLY
    assert await rows_stored(sessions) == before


async def test_the_roster_is_read_while_no_database_connection_is_held(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], branch: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = bot.app.bot_data[SESSIONS_KEY].kw["bind"]
    held: list[int] = []

    async def watched(filename: str, content: bytes) -> list[tuple[int, list[str]]]:
        held.append(engine.sync_engine.pool.checkedout())
        return await untrusted_files.read_roster_rows(filename, content)

    monkeypatch.setattr(roster, "read_roster_rows", watched)
    said, _ = await timed_import(bot, "姓名\n王芳\n".encode(), "名册.csv")
    assert said.startswith("已导入 1 名党员。")
    assert held == [0]


def xlsx(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_cells_beyond_the_header_are_not_read() -> None:
    wide = ["x"] * 200
    rows = roster_rows("名册.xlsx", xlsx([["姓名", "状态", None, *wide], ["王芳", "正式党员", None, *wide]]))
    assert rows == [
        (1, ["姓名", "状态", "", *["x"] * (MAX_HEADER_COLUMNS - 3)]),
        (2, ["王芳", "正式党员", "", *["x"] * 47]),
    ]
    narrow = roster_rows("名册.xlsx", xlsx([[None, "姓名"], [None, "王芳", "备注", *wide]]))
    assert narrow == [(1, ["", "姓名"]), (2, ["", "王芳"])]
    csv_rows = roster_rows("名册.csv", ("姓名,状态\n王芳,正式党员," + ",x" * 10_000 + "\n").encode())
    assert csv_rows == [(1, ["姓名", "状态"]), (2, ["王芳", "正式党员"])]


def test_blank_rows_below_the_roster_are_fine_up_to_the_sheet_limit() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["姓名"])
    workbook.active.append(["王芳"])
    workbook.active.cell(row=9000, column=1).value = " "  # a formatted, blank cell far down
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert roster_rows("名册.xlsx", buffer.getvalue()) == [(1, ["姓名"]), (2, ["王芳"])]


async def test_imported_names_are_nfkc_and_without_invisible_characters(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    content = "姓名,党小组\n王\u200b芳,第一\u202e党小组\nＬＩ　Ｍｉｎｇ,\n张\x07三,\n".encode()
    said, _ = await timed_import(bot, content, "名册.csv")
    assert said.startswith("已导入 3 名党员。")
    async with sessions() as session:
        names = set((await session.scalars(select(Member.name))).all())
        groups = (await session.scalars(select(PartyGroup.name))).all()
    assert names == {"李明", "王芳", "LI Ming", "张三"}
    assert groups == ["第一党小组"]
