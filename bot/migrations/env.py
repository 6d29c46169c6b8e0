"""Alembic environment: runs migrations over the async engine for SQLite (batch mode) and PostgreSQL.

The URL comes from ``config.attributes["database_url"]`` (bot.db.upgrade_database) or, on the alembic command
line, from the settings (DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationInfo
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import bot.models  # noqa: F401 (registers the tables on SQLModel.metadata)
from bot.db import UTCDateTime, make_engine

log = logging.getLogger("bot.migrations")

# Any constant: serialises concurrent upgrades from several instances on PostgreSQL.
_PG_MIGRATION_LOCK = 7_347_001


def _database_url() -> str:
    url = context.config.attributes.get("database_url")
    if url:
        return str(url)
    from bot.config import load_settings

    return load_settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render our UTC type as the plain column type it stores, so migrations do not import bot code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _log_step(*, step: MigrationInfo, **_: Any) -> None:
    source = ",".join(step.source_revision_ids) or "base"
    destination = ",".join(step.destination_revision_ids) or "base"
    log.info("migration %s %s -> %s", "upgrade" if step.is_upgrade else "downgrade", source, destination)


def _run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=sqlite,
        # SQLite DDL is transactional: the whole upgrade is one BEGIN IMMEDIATE transaction, so a second
        # process upgrading at the same moment waits and then finds nothing to do.
        transactional_ddl=True,
        render_item=_render_item,
        compare_type=True,
        on_version_apply=_log_step,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = make_engine(url, enforce_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=SQLModel.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline(_database_url())
else:
    asyncio.run(_run_online(_database_url()))
