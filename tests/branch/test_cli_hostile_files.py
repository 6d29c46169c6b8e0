"""`partybot kb add` and `partybot members import` with hostile files: refused with the same Chinese message the
bot gives, nothing stored, no traceback."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Member
from bot.services.access import Caller
from tests.bot.test_cli import partybot
from tests.branch.conftest import count_rows
from tests.branch.test_cli_members import members_command
from tests.hostile_files import dimension_bomb_xlsx, zip_bomb_docx


def test_kb_add_refuses_a_zip_bomb(tmp_path: Path) -> None:
    (tmp_path / "通知.docx").write_bytes(zip_bomb_docx())
    result = partybot("kb", "add", "通知.docx", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "这个 Word 文件解压后超过 20 MB" in result.stderr
    assert "还没有" in partybot("kb", "list", cwd=tmp_path).stdout


async def test_members_import_refuses_a_dimension_bomb(
    sessions: async_sessionmaker[AsyncSession], branch: Caller, database_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "名册.xlsx"
    roster.write_bytes(dimension_bomb_xlsx())
    result = members_command(
        "import", str(roster), "--branch", str(branch.branch.id), database_url=database_url, cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "表格超过 10000 行" in result.stderr
    assert await count_rows(sessions, Member) == 1
