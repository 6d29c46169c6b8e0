"""The database: async engine and session factory, a UTC datetime column type, and Alembic migrations.

SQLite connections get WAL, ``busy_timeout=5000`` and ``foreign_keys=ON``, and every transaction starts with
``BEGIN IMMEDIATE`` so that read-then-write transactions neither lose updates nor fail at once on a busy database
(PITFALLS.md). A new SQLite file is created with mode 0600 before SQLite opens it (its -wal and -shm files take the
same mode): it holds the members' names and attendance. PostgreSQL (``postgresql+asyncpg://``) needs nothing special.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, DateTime, and_, event, false, or_, text
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from bot.secrecy import create_private_file

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
SQLITE_BUSY_TIMEOUT_MS = 5000  # another process (a CLI command) holding the write lock
SQLITE_POOL_TIMEOUT_S = 60.0
# Alembic keeps its running environment in module globals: one upgrade at a time per process. (Several
# processes are fine: the migration transaction serialises them in the database.)
_UPGRADE_LOCK = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC; SQLite's naive values come back with ``tzinfo=UTC``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pairs_in(first: Any, second: Any, pairs: Iterable[tuple[Any, Any]]) -> ColumnElement[bool]:
    """``(first, second) IN pairs`` written as ``first = a AND second IN (…) OR …`` (one term per first value).

    SQLite answers a row-value ``IN (VALUES …)`` by scanning the whole table; this form it looks up in an index on
    (first, second), term by term. PostgreSQL does well with either.
    """
    grouped: dict[Any, list[Any]] = {}
    for one, other in pairs:
        grouped.setdefault(one, []).append(other)
    return or_(false(), *(and_(first == one, second.in_(others)) for one, others in grouped.items()))


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for PostgreSQL and in-memory databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def create_sqlite_file(database_url: str) -> None:
    """For a SQLite file URL whose directory exists: create the file, owner-only (0600), unless it exists."""
    path = sqlite_path(database_url)
    if path is not None and path.parent.is_dir():
        create_private_file(path)


def make_engine(database_url: str, *, enforce_foreign_keys: bool = True) -> AsyncEngine:
    """An async engine; for SQLite with the per-connection pragmas and ``BEGIN IMMEDIATE`` transactions.

    ``enforce_foreign_keys=False`` is for migrations only: SQLite batch mode recreates tables, which must not
    fire ``ON DELETE CASCADE``.
    """
    if not is_sqlite(database_url):
        return create_async_engine(database_url)
    create_sqlite_file(database_url)
    # One connection per process: SQLite has one writer at a time anyway (every transaction is BEGIN IMMEDIATE),
    # and waiting in the pool's queue is first come, first served, whereas waiting in SQLite's busy handler is
    # polling that a burst of check-ins can lose ("database is locked" after busy_timeout).
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=SQLITE_POOL_TIMEOUT_S)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the driver: SQLAlchemy emits BEGIN IMMEDIATE itself (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL keeps the database consistent after a crash and skips an fsync per commit; only the
        # last commits before a power cut can be lost.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _upgrade(database_url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    path = sqlite_path(database_url)
    if path is not None:  # migrations/env.py's make_engine creates the file (owner-only) in it
        path.parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(ALEMBIC_INI))
    # Passed as an attribute, not a main option: ConfigParser would treat a '%' in a password as interpolation.
    config.attributes["database_url"] = database_url
    with _UPGRADE_LOCK:
        command.upgrade(config, revision)


async def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema to the newest migration, or to ``revision`` (creating the SQLite file and its directory if
    needed)."""
    await asyncio.to_thread(_upgrade, database_url, revision)


@asynccontextmanager
async def open_database(database_url: str, *, migrate: bool = True) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions over the database (brought up to the newest migration first, unless ``migrate=False``); its
    connections are closed on leaving. For the CLI, tests and benchmarks; the bot itself uses `Database`."""
    if migrate:
        await upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


class Database:
    """The process's one database, opened on first use: migrated to the newest schema, then one engine.

    Whoever needs it first opens it — PTB's persistence loads conversations in ``Application.initialize``, before
    ``post_init`` runs — and everyone after shares the same engine (for SQLite: the one connection per process).
    """

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._opening = asyncio.Lock()

    async def sessions(self) -> async_sessionmaker[AsyncSession]:
        """The session factory; the first call migrates the database and makes the engine."""
        async with self._opening:
            if self._sessions is None:
                await upgrade_database(self.url)
                self.engine = make_engine(self.url)
                self._sessions = make_session_factory(self.engine)
        return self._sessions

    async def close_connections(self) -> None:
        """Close the pooled connections (idempotent); the engine would open new ones if used again."""
        if self.engine is not None:
            await self.engine.dispose()


async def _execute_outside_transaction(database_url: str, statement: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def scratch_postgresql_database(server_url: str, label: str = "scratch") -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database beside the one in ``server_url``, dropped afterwards.

    For tests and benchmarks: each gets its own database, so parallel runs never disturb each other.
    """
    url = make_url(server_url)
    name = f"{url.database or 'partybot'}_{label}_{uuid.uuid4().hex[:10]}"
    server = url.render_as_string(hide_password=False)
    await _execute_outside_transaction(server, f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _execute_outside_transaction(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
