"""conversation_state holds tagged JSON (bot.state_json) instead of pickles: ``value`` (bytes) becomes ``data`` (text).

Each stored pickle is read once with bot.state_json's restricted unpickler, which resolves only dates, times and
the bot's own dataclasses and enums, and is written back as JSON. A row that it cannot read — a class that no longer
exists, or a pickle naming anything else (os.system …), which is never called — is dropped with a warning, and with
a person's dropped drafts go their conversation steps (a step without its draft cannot continue).

This migration imports bot.state_json at run time: it converts data written by the bot's own earlier code.
Downgrading drops every conversation in progress (people start their flow again).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 02:40:00
"""

import json
import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("bot.migrations")

_state = sa.table(
    "conversation_state",
    sa.column("kind", sa.String()),
    sa.column("name", sa.String()),
    sa.column("key", sa.String()),
    sa.column("value", sa.LargeBinary()),
    sa.column("data", sa.Text()),
)


def _key_of(row: sa.Row[tuple[object, ...]]) -> sa.ColumnElement[bool]:
    return sa.and_(_state.c.kind == row.kind, _state.c.name == row.name, _state.c.key == row.key)


def _last_user(key: str) -> object:
    """The user a conversation key belongs to (per-user conversations end with the user id)."""
    try:
        parts = json.loads(key)
    except ValueError:
        return None
    return parts[-1] if isinstance(parts, list) and parts else None


def _convert() -> None:
    from bot import state_json

    connection = op.get_bind()
    rows = connection.execute(sa.select(_state.c.kind, _state.c.name, _state.c.key, _state.c.value)).all()
    dropped_users: set[object] = set()
    steps: list[tuple[sa.Row[tuple[object, ...]], str]] = []
    for row in rows:
        try:
            value = state_json.unpickle_legacy(bytes(row.value))
            if row.kind == "user_data" and not isinstance(value, dict):
                raise state_json.StateFormatError(f"user_data is a {type(value).__name__}")
            data = state_json.dumps(value)
        except state_json.StateFormatError as error:
            log.warning(
                "dropping stored %s %s %s: it cannot be converted to JSON (%s)", row.kind, row.name, row.key, error
            )
            connection.execute(sa.delete(_state).where(_key_of(row)))
            if row.kind == "user_data":
                dropped_users.add(int(row.key) if row.key.lstrip("-").isdigit() else row.key)
            continue
        if row.kind == "user_data":
            connection.execute(sa.update(_state).where(_key_of(row)).values(data=data))
        else:
            steps.append((row, data))
    for row, data in steps:
        if _last_user(row.key) in dropped_users:
            log.warning("dropping stored conversation %s %s: its drafts could not be converted", row.name, row.key)
            connection.execute(sa.delete(_state).where(_key_of(row)))
        else:
            connection.execute(sa.update(_state).where(_key_of(row)).values(data=data))


def upgrade() -> None:
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.Text(), nullable=True))
    _convert()
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.drop_column("value")
        batch_op.alter_column("data", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM conversation_state"))
    with op.batch_alter_table("conversation_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value", sa.LargeBinary(), nullable=False))
        batch_op.drop_column("data")
