"""bot/services/roster.py: CSV in UTF-8, UTF-8 with BOM and GBK; XLSX; every bad row reported by its line, and a
rejected file stores nothing."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import AuditLog, Member, PartyGroup
from bot.services.access import Caller
from bot.services.roster import ImportResult, RosterError, check_rows, import_roster
from bot.services.roster_file import roster_rows
from tests.branch.conftest import NOW, count_rows

GOOD_CSV = (
    "姓名,状态,职务,党小组,手机\n"
    "王芳,正式党员,组织委员,第一党小组,138\n"
    "张三,预备,,第二党小组,\n"
    "赵六,正式,党小组长,第一党小组,\n"
)


async def run_import(
    sessions: async_sessionmaker[AsyncSession], caller: Caller, filename: str, content: bytes
) -> ImportResult:
    async with sessions() as session:
        return await import_roster(session, caller.branch.id, filename, content, NOW, caller)


async def members(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[str, str, str | None]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Member.name, Member.status, Member.role, PartyGroup.name).outerjoin(
                PartyGroup, PartyGroup.id == Member.party_group_id
            )
        )
        return {name: (status, role, group) for name, status, role, group in rows.all()}


def xlsx(rows: list[list[object]], path: Path) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
async def test_csv_import_in_each_encoding(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, encoding: str
) -> None:
    result = await run_import(sessions, branch, "名册.csv", GOOD_CSV.encode(encoding))
    assert result == ImportResult(3, ("第一党小组", "第二党小组"))
    assert await members(sessions) == {
        "李明": ("正式党员", "书记", None),
        "王芳": ("正式党员", "组织委员", "第一党小组"),
        "张三": ("预备党员", "党员", "第二党小组"),
        "赵六": ("正式党员", "党小组长", "第一党小组"),
    }
    async with sessions() as session:
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "roster.import"))
    assert entry is not None and entry.target == "名册.csv" and entry.actor_member_id == branch.member.id


async def test_tiny_gbk_csv_is_not_mistaken_for_big5(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    assert (await run_import(sessions, branch, "roster.CSV", "姓名\n王芳\n".encode("gbk"))).added == 1
    assert "王芳" in await members(sessions)


async def test_xlsx_import_uses_existing_groups(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, tmp_path: Path
) -> None:
    async with sessions() as session:
        session.add(PartyGroup(branch_id=branch.branch.id, name="第一党小组"))
        await session.commit()
    content = xlsx(
        [["序号", "姓名", "状态", "党小组"], [1, "王芳", "预备党员", "第一党小组"], [], [2, " 张三 ", None, None]],
        tmp_path / "名册.xlsx",
    )
    assert await run_import(sessions, branch, "名册.xlsx", content) == ImportResult(2, ())
    members_now = await members(sessions)
    assert members_now["王芳"] == ("预备党员", "党员", "第一党小组")
    assert members_now["张三"] == ("正式党员", "党员", None)
    assert await count_rows(sessions, PartyGroup) == 1


async def test_bad_rows_are_reported_by_line_and_nothing_is_stored(
    sessions: async_sessionmaker[AsyncSession], branch: Caller
) -> None:
    content = (
        "姓名,状态,职务,党小组\n"
        "王芳,正式党员,组织委员,新小组\n"  # 2: fine on its own
        ",正式党员,,\n"  # 3: no name
        "张三,积极分子,,\n"  # 4: unknown status
        "赵六,正式党员,主任,\n"  # 5: unknown role
        "\n"  # 6: blank, skipped
        "王芳,预备党员,,\n"  # 7: duplicate of line 2
        "李明,正式党员,,\n"  # 8: already a member
        "孙七,正式党员,书记,\n"  # 9: the branch has a 书记
    ).encode()
    before = [await count_rows(sessions, model) for model in (Member, PartyGroup, AuditLog)]
    with pytest.raises(RosterError) as rejected:
        await run_import(sessions, branch, "名册.csv", content)
    assert [(problem.line, problem.message) for problem in rejected.value.problems] == [
        (3, "请填写姓名。"),
        (4, "状态「积极分子」无法识别，请填写正式党员或预备党员。"),
        (5, "职务「主任」无法识别，可填写：书记、副书记、组织委员、宣传委员、纪检委员、党小组长、党员。"),
        (7, "姓名「王芳」与第 2 行重复。"),
        (8, "「李明」已在本支部名单中。"),
        (9, "本支部已有书记（李明），名册中不能再设书记。"),
    ]
    assert str(rejected.value).splitlines()[0] == "第 3 行：请填写姓名。"
    assert [await count_rows(sessions, model) for model in (Member, PartyGroup, AuditLog)] == before


def test_two_secretaries_in_one_file() -> None:
    entries, problems = read_roster_here("r.csv", "姓名,职务\n甲,书记\n乙,书记\n".encode())
    assert [entry.name for entry in entries] == ["甲"]
    assert [str(problem) for problem in problems] == ["第 3 行：名册中只能有一位书记（第 2 行已是书记）。"]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("名册.xls", b"whatever", "只能导入 .csv 或 .xlsx 文件"),
        ("名册.csv", "名字,状态\n王芳,正式\n".encode(), "没有找到表头「姓名」"),
        ("名册.csv", "姓名,状态\n\n".encode(), "名册里没有党员记录"),
        ("名册.csv", b"", "没有找到表头「姓名」"),
        ("名册.xlsx", b"PK\x03\x04 not really a workbook", "无法读取这个 Excel 文件"),
        ("名册.csv", b"\xff\xfe\x00\xd8" * 10, "无法识别文件的文字编码"),
        ("名册.csv", "姓名\n".encode() + "王\n".encode() * 1001, "名册超过 1000 行"),
        ("名册.csv", b"x" * 1_000_001, "文件太大"),
    ],
    ids=["xls", "no-header", "no-rows", "empty", "bad-xlsx", "bad-encoding", "too-many-rows", "too-big"],
)
def test_unreadable_files(filename: str, content: bytes, message: str) -> None:
    with pytest.raises(RosterError, match=message):
        read_roster_here(filename, content)


def test_many_problems_are_summarised() -> None:
    _, problems = read_roster_here("r.csv", ("姓名,状态\n" + "王,错\n" * 30).encode())
    text = str(RosterError(problems))
    assert len(text.splitlines()) == 21 and text.endswith("……另有 10 处问题未列出。")


def test_excel_number_cells_read_as_text() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["姓名", "党小组"])
    workbook.active.append(["王芳", 3.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    entries, problems = read_roster_here("r.xlsx", buffer.getvalue())
    assert problems == [] and entries[0].group == "3"


def read_roster_here(filename: str, content: bytes) -> tuple[list, list]:
    """A roster file read in this process (the bot reads it in a child) and checked on its own."""
    return check_rows(roster_rows(filename, content))
