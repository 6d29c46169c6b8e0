"""bot/services/untrusted_files.py: uploads are parsed in a child process that is killed at its time limit, cannot
grow past its memory limit, and leaves the event loop free meanwhile."""

from __future__ import annotations

import asyncio
import io
import time

import docx
import pytest

from bot.services import untrusted_files
from bot.services.roster_file import RosterError
from bot.services.untrusted_files import Limits, parse_document, read_roster_rows
from knowledge.ingest import MSG_TOO_COMPLEX, IngestError, parse_bytes
from tests.hostile_files import dimension_bomb_xlsx, zip_bomb_docx

QUICKLY = 2.0


def rules_docx() -> bytes:
    document = docx.Document()
    document.add_heading("读书分享会制度", level=0)
    document.add_paragraph("第一条 本支部读书分享会每月第二个星期三下午在图书室举行。")
    document.add_paragraph("第二条 读书分享会由宣传委员主持，每次推荐一本书。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def test_a_document_parsed_in_the_child_is_what_parse_bytes_gives() -> None:
    content = rules_docx()
    assert await parse_document(content, "rules.docx", None) == parse_bytes(content, "rules.docx")
    titled = await parse_document("一、值班\n每周五值班。\n".encode(), "duty.txt", "值班安排")
    assert titled == parse_bytes("一、值班\n每周五值班。\n".encode(), "duty.txt", "值班安排")


async def test_a_refusal_in_the_child_is_the_same_refusal_here() -> None:
    with pytest.raises(IngestError, match=r"暂不支持旧版 \.doc 文件"):
        await parse_document(b"\xd0\xcf\x11\xe0", "old.doc", None)
    with pytest.raises(RosterError, match="无法读取这个 Excel 文件"):
        await read_roster_rows("名册.xlsx", b"PK\x03\x04 not a workbook")
    assert await read_roster_rows("名册.csv", "名字\n王芳\n".encode()) == [(1, ["名字"]), (2, ["王芳"])]


async def test_hostile_files_are_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(IngestError, match="解压后超过 20 MB"):
        await parse_document(zip_bomb_docx(), "bomb.docx", None)
    with pytest.raises(RosterError, match="表格超过 10000 行"):
        await read_roster_rows("名册.xlsx", dimension_bomb_xlsx())
    assert time.perf_counter() - started < 2 * QUICKLY


async def test_the_child_is_killed_at_its_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    children: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recorded(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        child = await spawn(*args, **kwargs)  # type: ignore[arg-type]
        children.append(child)
        return child

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recorded)
    started = time.perf_counter()
    with pytest.raises(IngestError) as refused:
        # the child cannot even start Python in 10 ms: the limit is what ends it
        await parse_document(rules_docx(), "rules.docx", None, limits=Limits(seconds=0.01))
    assert str(refused.value) == MSG_TOO_COMPLEX
    assert time.perf_counter() - started < QUICKLY
    (child,) = children
    assert child.returncode is not None  # killed and reaped, not left running


async def test_the_child_cannot_grow_past_its_memory_limit() -> None:
    with pytest.raises(IngestError) as refused:  # python-docx and lxml alone need about 50 MB of address space
        await parse_document(rules_docx(), "rules.docx", None, limits=Limits(memory_bytes=32 * 1024 * 1024))
    assert str(refused.value) == MSG_TOO_COMPLEX


async def test_the_event_loop_runs_while_a_file_is_parsed() -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        started = time.perf_counter()
        await parse_document(rules_docx(), "rules.docx", None)
        elapsed = time.perf_counter() - started
    finally:
        ticker.cancel()
    assert ticks >= elapsed / 0.01 / 3  # the loop kept turning: nothing blocked it for long


async def test_forged_child_output_is_a_refusal_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    async def forged(*args: object, **kwargs: object) -> dict[str, object]:
        return {"title": 7, "passages": "nonsense"}

    monkeypatch.setattr(untrusted_files, "_run_child", forged)
    with pytest.raises(IngestError) as refused:
        await parse_document(rules_docx(), "rules.docx", None)
    assert str(refused.value) == MSG_TOO_COMPLEX
