"""The engine, the UTC column type and the migrations, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import ALEMBIC_INI, make_engine, make_session_factory, sqlite_path, upgrade_database
from bot.models import Document

REPO = Path(__file__).resolve().parents[2]


async def test_upgrade_creates_tables_and_is_idempotent(database_url: str) -> None:
    await upgrade_database(database_url)
    await upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert {"document", "document_passage", "alembic_version"} <= tables
    assert version == ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def test_concurrent_upgrades_from_several_processes_apply_the_migration_once(database_url: str, tmp_path: Path) -> None:
    environment = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    command = [sys.executable, "-m", "bot", "db", "upgrade"]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outcomes = [(process.wait(timeout=60), process.stderr.read() if process.stderr else b"") for process in processes]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    applied = b"".join(stderr for _, stderr in outcomes).count(b"migration upgrade base -> 0001")
    assert applied == 1


async def test_sqlite_read_then_write_transactions_do_not_lose_updates(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    async with sessions() as session:
        document = Document(title="t", filename="t.txt", passage_count=0)
        session.add(document)
        await session.commit()

    async def increment() -> None:
        async with sessions() as session:
            current = await session.get(Document, document.id)
            assert current is not None
            await asyncio.sleep(0.02)  # let the other transactions try to interleave
            current.passage_count += 1
            await session.commit()

    try:
        await asyncio.gather(*(increment() for _ in range(5)))
        async with sessions() as session:
            final = await session.get(Document, document.id)
    finally:
        await engine.dispose()
    assert final is not None and final.passage_count == 5


async def test_upgrade_creates_the_sqlite_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'bot.db'}"
    await upgrade_database(url)
    path = sqlite_path(url)
    assert path is not None and path.is_file()


async def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
    finally:
        await engine.dispose()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}


async def test_times_come_back_aware_in_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    beijing = timezone(timedelta(hours=8))
    async with sessions() as session:
        document = Document(
            title="t", filename="t.txt", created_at=datetime(2026, 3, 1, 9, 0, tzinfo=beijing), passage_count=0
        )
        session.add(document)
        await session.commit()
        document_id = document.id
    async with sessions() as session:
        stored = await session.get(Document, document_id)
    assert stored is not None
    assert stored.created_at == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)


async def test_naive_times_are_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        session.add(Document(title="t", filename="t.txt", created_at=datetime(2026, 3, 1, 9, 0)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()
