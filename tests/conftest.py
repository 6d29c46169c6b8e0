"""Shared fixtures: a fresh database per test (SQLite always; PostgreSQL too when PARTYBOT_TEST_DATABASE_URL is set).

Each PostgreSQL test gets its own throw-away database created next to the one in the URL, so test runs in
parallel checkouts do not disturb each other.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import open_database, scratch_postgresql_database

os.environ["PTB_TIMEDELTA"] = "1"

PG_URL_ENV = "PARTYBOT_TEST_DATABASE_URL"
_BACKENDS = ["sqlite", "postgresql"] if os.environ.get(PG_URL_ENV) else ["sqlite"]


@pytest.fixture
async def postgresql_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards; skips the test without PARTYBOT_TEST_DATABASE_URL."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set")
    async with scratch_postgresql_database(base, "test") as url:
        yield url


@pytest.fixture(params=_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not yet migrated): a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'partybot.db'}"
    return request.getfixturevalue("postgresql_url")


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory over the migrated test database."""
    async with open_database(database_url) as sessions:
        yield sessions
