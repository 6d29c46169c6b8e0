"""/export survives text that was stored before input was scrubbed: control and bidi characters never reach a cell."""

from __future__ import annotations

import io

import openpyxl
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind, AttendanceStatus
from tests.progress.conftest import World, add_activity, local
from tests.telegram.helpers import ALICE, ChatHarness

# What an old row (or a direct database write) may hold: a bell, an escape sequence, a vertical tab, a
# right-to-left override and a zero-width space. openpyxl refuses the first three outright.
DIRTY_NOTE = "在北京\x07开会\x1b[31m\x0b\u202egnp.exe\u200b"
DIRTY_TOPIC = "学习\x01党章\u2066"
DIRTY_MINUTES = "第一项：\x08通过\n第二项：\x1f讨论"


async def seed_dirty_rows(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    ids = world.member_ids
    await add_activity(
        sessions,
        world.branch_id,
        ActivityKind.COMMITTEE_MEETING,
        local(2026, 11, 5, 15),
        topic=DIRTY_TOPIC,
        place="三楼\x0c会议室",
        minutes=DIRTY_MINUTES,
        attendance={
            ids["李明"]: (AttendanceStatus.PRESENT, None, None),
            ids["赵强"]: (AttendanceStatus.LEAVE, "出差", DIRTY_NOTE),
        },
    )


def cells(content: bytes, sheet: str) -> list[str]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    return [str(cell.value) for row in workbook[sheet].iter_rows() for cell in row if cell.value is not None]


async def test_xlsx_export_with_a_control_character_in_a_leave_note(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_dirty_rows(sessions, world)
    (sent,) = await bot.send("/export 2026Q4", user=ALICE)
    assert sent.method == "sendDocument", sent.params.get("text")
    values = cells(sent.files["document"][1], "支委会")
    assert "赵强（出差：在北京开会[31mgnp.exe）" in values
    assert "学习党章" in values and "三楼会议室" in values
    assert "第一项：通过\n第二项：讨论" in values  # newlines in minutes are kept
    for value in values:
        assert not any(ch in value for ch in "\x01\x07\x08\x0b\x0c\x1b\x1f\u202e\u2066\u200b"), value


async def test_csv_export_is_scrubbed_too(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await seed_dirty_rows(sessions, world)
    (sent,) = await bot.send("/export 2026Q4 csv", user=ALICE)
    text = sent.files["document"][1].decode("utf-8-sig")
    assert "赵强（出差：在北京开会[31mgnp.exe）" in text
    assert not any(ch in text for ch in "\x01\x07\x08\x0b\x0c\x1b\x1f\u202e\u2066\u200b")
