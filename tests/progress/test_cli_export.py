"""`partybot export`: the 台账 from the command line, run as a separate process like an operator would."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind
from tests.progress.conftest import World, add_activity, local

REPO = Path(__file__).resolve().parents[2]


def partybot(*args: str, cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PARTYBOT_", "DATABASE_"))}
    environment |= {"PYTHONPATH": str(REPO), "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


async def test_export_writes_the_file(
    sessions: async_sessionmaker[AsyncSession], world: World, database_url: str, tmp_path: Path
) -> None:
    await add_activity(sessions, world.branch_id, ActivityKind.COMMITTEE_MEETING, local(2026, 11, 5), topic="研究工作")
    branch = str(world.branch_id)

    done = partybot("export", "--branch", branch, "--period", "2026Q4", cwd=tmp_path, database_url=database_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "已导出 / exported: 第一党支部_台账_2026Q4.xlsx（2026年第四季度，1 项活动）"
    workbook = openpyxl.load_workbook(io.BytesIO((tmp_path / "第一党支部_台账_2026Q4.xlsx").read_bytes()))
    assert workbook["支委会"]["F2"].value == "研究工作"

    out = tmp_path / "ledger.csv"
    as_csv = partybot("export", "--branch", branch, "--period", "2026-11", "--out", str(out), cwd=tmp_path,
                      database_url=database_url)  # fmt: skip
    assert as_csv.returncode == 0, as_csv.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbf\xe5\xba\x8f\xe5\x8f\xb7")  # BOM, then 序号

    bad = partybot("export", "--branch", branch, "--period", "2026Q5", cwd=tmp_path, database_url=database_url)
    assert bad.returncode == 2 and "没有第5季度" in bad.stderr and "2026-11" in bad.stderr
    missing = partybot("export", "--branch", "999", cwd=tmp_path, database_url=database_url)
    assert missing.returncode == 1 and "没有编号为 999 的支部" in missing.stderr
