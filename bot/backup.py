"""`partybot db backup FILE`: a consistent copy of the live database, and how to restore it.

SQLite: the sqlite3 backup API copies the database in one step, inside one read transaction, so the copy is the
database as of one moment — every transaction committed before the backup began, none half-written — while the
bot keeps running: in WAL mode readers do not block writers, so check-ins go on during the copy. (Copying in
several steps would restart whenever the bot wrote in between, and a plain ``cp`` of a live WAL database can miss
committed transactions still in the -wal file.) The copy is written beside FILE under a temporary name, switched
out of WAL mode so that it is one self-contained file, checked (``PRAGMA quick_check``), made owner-only (0600),
and only then given its name; an existing FILE is never overwritten.

PostgreSQL: nothing is copied here; the report gives the pg_dump command (a consistent snapshot too, taken while
the bot runs) and the pg_restore command, without the password.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.secrecy import create_private_file

BUSY_TIMEOUT_S = 30.0  # the bot may hold the write lock briefly; the copy only reads


class BackupError(Exception):
    """The backup could not be made; the message is one line for the operator."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What was copied, and the commands that put it back."""

    path: Path
    size: int
    restore: str


def _exists(destination: Path) -> BackupError:
    return BackupError(f"{destination} 已存在，不会覆盖 / already exists; not overwritten")


def backup_sqlite(source: Path, destination: Path) -> BackupReport:
    """Copy the live SQLite database ``source`` to ``destination`` (which must not exist); see the module."""
    source, destination = source.resolve(), destination.resolve()
    if not source.is_file():
        raise BackupError(f"数据库文件不存在 / no database file at {source}")
    if destination.exists() or destination == source:
        raise _exists(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    create_private_file(partial)
    try:
        with (
            closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)) as live,
            closing(sqlite3.connect(partial)) as copy,
        ):
            live.backup(copy)  # pages=-1: the whole database in one step, one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            (verdict,) = copy.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"备份校验失败 / the copy failed its check: {verdict}")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.link(partial, destination)  # fails rather than overwrite a file that appeared meanwhile
    except sqlite3.Error as error:
        raise BackupError(f"备份失败 / backup failed: {error}") from error
    except FileExistsError as error:
        raise _exists(destination) from error
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(destination, destination.stat().st_size, sqlite_restore_steps(destination, source))


def sqlite_restore_steps(backup: Path, database: Path) -> str:
    """How to put ``backup`` back as ``database``: stop the bot, replace the file, drop the old -wal and -shm."""
    wal, shm = (database.with_name(database.name + suffix) for suffix in ("-wal", "-shm"))
    return "\n".join(
        [
            "恢复方法 / to restore:",
            "  1. 停止机器人（所有实例） / stop the bot (every instance)",
            f"  2. cp {shlex.quote(str(backup))} {shlex.quote(str(database))}"
            f" && rm -f {shlex.quote(str(wal))} {shlex.quote(str(shm))}",
            "  3. 启动机器人 / start the bot again",
        ]
    )


def postgresql_backup_steps(database_url: str, file: str) -> str:
    """The pg_dump command that backs up ``database_url`` to ``file``, and the pg_restore that puts it back."""
    parts = urlsplit(database_url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    target = shlex.quote(f"postgresql://{user}{parts.hostname or 'localhost'}{port}{parts.path}")
    dump = shlex.quote(file)
    return "\n".join(
        [
            "PostgreSQL 数据库请用 pg_dump 备份（一致的快照，机器人无需停止）"
            " / back up PostgreSQL with pg_dump (a consistent snapshot; the bot keeps running):",
            f"  pg_dump --format=custom --file {dump} {target}",
            "密码请通过 PGPASSWORD 环境变量或 ~/.pgpass 提供 / give the password with PGPASSWORD or ~/.pgpass.",
            "恢复方法 / to restore (stop the bot first):",
            f"  pg_restore --clean --if-exists --no-owner --dbname {target} {dump}",
        ]
    )
