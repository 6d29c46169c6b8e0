"""`partybot db backup FILE`: a consistent copy of a live SQLite database, taken while members keep checking in,
restores with every check-in committed before it began; for PostgreSQL it prints the pg_dump command to use."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.backup import backup_sqlite
from bot.db import open_database
from bot.models import (
    Activity,
    ActivityKind,
    Attendance,
    AttendanceMethod,
    Branch,
    Document,
    DocumentPassage,
    Member,
)
from bot.services import attendance
from tests.bot.test_cli import partybot

NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)
MEMBERS = 400
BULK_PASSAGES = 1500  # about 15 MB, so that the copy takes long enough for check-ins to land while it runs


async def seed(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, list[Member]]:
    async with sessions() as session:
        branch = Branch(name="第一党支部")
        session.add(branch)
        await session.flush()
        assert branch.id is not None
        activity = Activity(
            branch_id=branch.id, kind=ActivityKind.MEMBERS_MEETING.value, starts_at=NOW + timedelta(minutes=10)
        )
        document = Document(title="资料", filename="资料.txt")
        session.add_all([activity, document])
        await session.flush()
        await session.execute(
            insert(Member), [{"branch_id": branch.id, "name": f"党员{i:03d}"} for i in range(MEMBERS)]
        )
        await session.execute(
            insert(DocumentPassage),
            [{"document_id": document.id, "position": i, "text": f"第{i}段。" * 2000} for i in range(BULK_PASSAGES)],
        )
        await session.commit()
        members = list(await session.scalars(select(Member).order_by(Member.id)))
        assert activity.id is not None
        return activity.id, members


async def test_a_backup_taken_during_check_ins_restores_every_committed_row(tmp_path: Path) -> None:
    live = tmp_path / "partybot.db"
    copy = tmp_path / "backup" / "partybot-backup.db"
    committed: list[tuple[float, int]] = []  # (when the commit returned, member id)
    started: list[tuple[float, int]] = []  # (when the check-in began, member id)
    async with open_database(f"sqlite+aiosqlite:///{live}") as sessions:
        activity_id, members = await seed(sessions)

        async def check_in(member: Member) -> None:
            assert member.id is not None
            started.append((time.monotonic(), member.id))
            async with sessions() as session:
                result = await attendance.check_in(
                    session, member, activity_id, method=AttendanceMethod.BUTTON, now=NOW
                )
                await session.commit()
            assert result.outcome is attendance.Outcome.CHECKED_IN
            assert member.id is not None
            committed.append((time.monotonic(), member.id))

        async def crowd(quarter_done: asyncio.Event) -> None:
            for start in range(0, MEMBERS, 8):  # eight presses at a time, one after another
                await asyncio.gather(*(check_in(m) for m in members[start : start + 8]))
                if len(committed) >= MEMBERS // 4:
                    quarter_done.set()

        quarter_done = asyncio.Event()
        checking_in = asyncio.create_task(crowd(quarter_done))
        await quarter_done.wait()
        began = time.monotonic()
        before = {member_id for _, member_id in committed}
        report = await asyncio.to_thread(backup_sqlite, live, copy)
        ended = time.monotonic()
        await checking_in
    during = [m for when, m in committed if began < when < ended]
    assert during, "no check-in landed while the backup ran: the test proves nothing"
    assert len(committed) == MEMBERS

    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "cp " in report.restore and str(copy) in report.restore
    # restore: the copy becomes the bot's database
    restored = tmp_path / "restored" / "partybot.db"
    restored.parent.mkdir()
    shutil.copyfile(copy, restored)
    with sqlite3.connect(restored) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with open_database(f"sqlite+aiosqlite:///{restored}") as sessions, sessions() as session:
        found = set(await session.scalars(select(Attendance.member_id).where(Attendance.activity_id == activity_id)))
        passages = len(list(await session.scalars(select(DocumentPassage.id))))
    assert before <= found
    assert found.isdisjoint({m for when, m in started if when > ended})  # nothing begun after the copy is in it
    assert passages == BULK_PASSAGES


def test_db_backup_command_copies_sqlite_and_says_how_to_restore(tmp_path: Path) -> None:
    assert partybot("db", "upgrade", cwd=tmp_path).returncode == 0
    result = partybot("db", "backup", "copy.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy.db").exists()
    assert "copy.db" in result.stdout and "partybot.db" in result.stdout
    assert "partybot.db-wal" in result.stdout  # restoring removes the old write-ahead log
    again = partybot("db", "backup", "copy.db", cwd=tmp_path)
    assert again.returncode != 0 and "copy.db" in again.stderr  # never overwrites


def test_db_backup_for_postgresql_prints_the_pg_dump_command(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://partybot:s3cret@db.internal:5433/party"
    result = partybot("db", "backup", "party.dump", cwd=tmp_path, database_url=url)
    assert result.returncode == 0, result.stderr
    assert "pg_dump" in result.stdout and "pg_restore" in result.stdout
    assert "postgresql://partybot@db.internal:5433/party" in result.stdout
    assert "party.dump" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    assert not (tmp_path / "party.dump").exists()
