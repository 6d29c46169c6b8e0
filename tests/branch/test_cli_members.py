"""`partybot members import|list|move`, run as the operator runs it (a separate process) on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Member
from bot.services.access import Caller
from bot.services.branch_setup import setup_branch
from tests.branch.conftest import NOW, count_rows

REPO = Path(__file__).resolve().parents[2]


def members_command(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PARTYBOT_", "DATABASE_"))}
    environment |= {"PYTHONPATH": str(REPO), "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", "members", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


async def test_import_list_and_move(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, database_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "名册.csv"
    roster.write_bytes("姓名,状态,党小组\n王芳,预备党员,第一党小组\n张三,正式党员,\n".encode("gbk"))
    imported = members_command(
        "import", str(roster), "--branch", str(branch.branch.id), database_url=database_url, cwd=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    assert "已导入 / imported: 2 名党员，新建党小组：第一党小组" in imported.stdout

    listed = members_command("list", database_url=database_url, cwd=tmp_path)
    assert listed.stdout.splitlines() == [f"#{branch.branch.id}\t第一党支部\t3 人"]
    listed = members_command("list", "--branch", str(branch.branch.id), database_url=database_url, cwd=tmp_path)
    assert "王芳\t预备党员\t党员\t第一党小组\t未登记" in listed.stdout

    async with sessions() as session:
        wang = await session.scalar(select(Member).where(Member.name == "王芳"))
    assert wang is not None
    refused = members_command("move", str(wang.id), "--to", "999", database_url=database_url, cwd=tmp_path)
    assert refused.returncode == 1 and "没有编号为 999 的支部" in refused.stderr
    async with sessions() as session:
        other = await setup_branch(
            session, name="第二党支部", chat_id=-100777, telegram_user_id=3, member_name="赵六", now=NOW
        )
    moved = members_command("move", str(wang.id), "--to", str(other.branch.id), database_url=database_url, cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert f"{wang.name} → 支部 #{other.branch.id}" in moved.stdout


async def test_a_bad_roster_imports_nobody(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, database_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "名册.csv"
    roster.write_text("姓名,职务\n王芳,主任\n李明,\n", encoding="utf-8")
    result = members_command(
        "import", str(roster), "--branch", str(branch.branch.id), database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "第 2 行：职务「主任」无法识别" in result.stderr and "第 3 行：「李明」已在本支部名单中" in result.stderr
    assert await count_rows(sessions, Member) == 1
    missing = members_command(
        "import", str(tmp_path / "nope.csv"), "--branch", "1", database_url=database_url, cwd=tmp_path
    )
    assert missing.returncode == 1 and "无法读取文件" in missing.stderr
