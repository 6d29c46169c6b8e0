"""The engine, the UTC column type and the migrations, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import make_engine, sqlite_path, upgrade_database
from bot.models import Document


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
    assert version == "0001"


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
