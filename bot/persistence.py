"""PTB persistence in our own database: the guided conversations (their steps and drafts) survive a restart.

`DatabasePersistence` is a ``telegram.ext.BasePersistence`` that stores two things, in the ``conversation_state``
table of the bot's database (the same DATABASE_URL, SQLite or PostgreSQL): each person's ``context.user_data`` (the
drafts of /new, the join flow, /done, the leave note) and the current step of every persistent, named
ConversationHandler. Chat data, bot data and callback data are not stored (bot_data holds the engine, the answerer
and other live objects that start-up builds anew).

How PTB drives it: ``Application.initialize`` loads everything once (``get_user_data``, then ``get_conversations``
per handler), before ``post_init``; so the first ``get_*`` opens the shared `bot.db.Database` (migrating it), and
start-up reuses that engine. While running, PTB hands over what changed every ``update_interval`` seconds (5 s: a
crash loses at most those seconds), and once more at shutdown, followed by `flush`. ``refresh_*`` run before every
update and do nothing here: the hot paths (签到) never pay a query for this. Unchanged values are not written again
(most updates touch an empty user_data that has no row), and the changes of one run are written in one transaction.

Values are stored as tagged JSON (bot.state_json), never pickled: whoever can write the table can at most make
the bot rebuild one of its own dataclasses or enums, not run code. A value of any other type is not stored (an
error is logged once per write). Loading is forgiving: a row that no longer loads (the code changed between
versions, or the row names a type that is not allowed) is deleted with a warning and start-up goes on; a person
whose drafts are dropped also loses their conversation steps, since a step without its draft cannot continue. An
emptied user_data and an ended conversation delete their rows, so the table holds only flows in progress.

Limits: PTB does not restore ``conversation_timeout`` after a restart — a restored flow simply waits for the
person's next step or /cancel. PTB reads conversations only at start-up, so several instances do not share a flow
in progress (each continues the flows it has seen).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from bot import state_json
from bot.db import Database, utcnow
from bot.models import ConversationState, ConversationStateKind

logger = logging.getLogger(__name__)

UPDATE_INTERVAL = 5.0  # seconds between PTB's writes of what changed
STORED = PersistenceInput(bot_data=False, chat_data=False, user_data=True, callback_data=False)

_Row = tuple[str, str, str]  # (kind, name, key): the table's primary key
UserData = dict[Any, Any]


def _user_row(user_id: int) -> _Row:
    return (ConversationStateKind.USER_DATA.value, "", str(user_id))


def _conversation_row(name: str, key: ConversationKey) -> _Row:
    return (ConversationStateKind.CONVERSATION.value, name, json.dumps(list(key)))


class DatabasePersistence(BasePersistence[UserData, dict[Any, Any], dict[Any, Any]]):
    """Conversations and user_data in the ``conversation_state`` table (see the module docstring)."""

    def __init__(self, database: Database, *, update_interval: float = UPDATE_INTERVAL) -> None:
        super().__init__(store_data=STORED, update_interval=update_interval)
        self._database = database
        self._user_data: dict[int, UserData] = {}
        self._conversations: dict[str, ConversationDict] = {}
        self._loaded = False
        # what the table holds, as far as this process knows: a value equal to it is not written again
        self._stored: dict[_Row, str] = {}
        self._pending: dict[_Row, str | None] = {}  # None: delete the row
        self._batch: asyncio.Future[None] | None = None
        self._writing = asyncio.Lock()

    # --- loading (Application.initialize) ---------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, UserData]:
        await self._load()  # first of the get_* PTB calls at initialize: read the table afresh
        return dict(self._user_data)

    async def get_conversations(self, name: str) -> ConversationDict:
        if not self._loaded:
            await self._load()
        return dict(self._conversations.get(name, {}))

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_bot_data(self) -> dict[Any, Any]:
        return {}

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def _load(self) -> None:
        sessions = await self._database.sessions()
        user_data: dict[int, UserData] = {}
        conversations: dict[str, ConversationDict] = {}
        stored: dict[_Row, str] = {}
        broken: list[_Row] = []
        async with sessions() as session:
            rows = (await session.scalars(select(ConversationState))).all()
            steps: list[tuple[_Row, ConversationKey, object]] = []
            for row in rows:
                key: _Row = (row.kind, row.name, row.key)
                try:
                    value = state_json.loads(row.data)
                    if row.kind == ConversationStateKind.USER_DATA:
                        if not isinstance(value, dict):
                            raise TypeError(f"user_data is a {type(value).__name__}")
                        user_data[int(row.key)] = value
                    else:
                        steps.append((key, tuple(json.loads(row.key)), value))
                except Exception as error:  # any failure to load: the row is dropped
                    logger.warning("dropping stored %s %s %s: it no longer loads (%r)", *key, error)
                    broken.append(key)
                    continue
                stored[key] = row.data
            lost_users = {
                int(k) for kind, _, k in broken if kind == ConversationStateKind.USER_DATA and k.lstrip("-").isdigit()
            }
            for key, conversation_key, state in steps:
                if conversation_key and conversation_key[-1] in lost_users:  # per_user: the key ends with the user
                    logger.warning("dropping stored conversation %s %s: its drafts no longer load", key[1], key[2])
                    broken.append(key)
                    del stored[key]
                    continue
                conversations.setdefault(key[1], {})[conversation_key] = state
            for kind, name, key_text in broken:
                await session.execute(_where(delete(ConversationState), (kind, name, key_text)))
            await session.commit()
        self._user_data, self._conversations, self._stored = user_data, conversations, stored
        self._pending.clear()
        self._loaded = True

    # --- what changed (Application.update_persistence, every update_interval and at shutdown) ----------------

    async def update_user_data(self, user_id: int, data: UserData) -> None:
        await self._stage(_user_row(user_id), data or None)

    async def drop_user_data(self, user_id: int) -> None:
        await self._stage(_user_row(user_id), None)

    async def update_conversation(self, name: str, key: ConversationKey, new_state: object | None) -> None:
        await self._stage(_conversation_row(name, key), new_state)

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        return None

    async def drop_chat_data(self, chat_id: int) -> None:
        return None

    async def update_bot_data(self, data: dict[Any, Any]) -> None:
        return None

    async def update_callback_data(self, data: CDCData) -> None:
        return None

    # --- before every update: nothing to refresh, and no query on the hot path -------------------------------

    async def refresh_user_data(self, user_id: int, user_data: UserData) -> None:
        return None

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        return None

    async def refresh_bot_data(self, bot_data: dict[Any, Any]) -> None:
        return None

    async def flush(self) -> None:
        """Shutdown (PTB calls it last): write what is still pending, then close the database connections."""
        if self._pending:
            await self._write_batch()
        await self._database.close_connections()

    # --- writing --------------------------------------------------------------------------------------------

    async def _stage(self, row: _Row, state: object) -> None:
        """Queue one row's new state, stored as JSON (None: delete), and wait until this run's batch is written."""
        try:
            value = None if state is None else state_json.dumps(state)
        except state_json.StateFormatError as error:
            logger.error("not storing %s %s %s: %s", *row, error)
            return  # the row keeps its last storable value
        current = self._pending[row] if row in self._pending else self._stored.get(row)
        if value == current:
            return  # unchanged, or empty and never stored: no query
        self._pending[row] = value
        if self._batch is None:
            self._batch = asyncio.ensure_future(self._write_soon())
        await asyncio.shield(self._batch)

    async def _write_soon(self) -> None:
        # PTB hands over one run's changes as concurrent calls: let them all stage before writing them together.
        await asyncio.sleep(0)
        self._batch = None
        await self._write_batch()

    async def _write_batch(self) -> None:
        """Write everything pending in one transaction. On failure it stays pending for the next write or flush;
        the error is logged once here rather than once per person."""
        async with self._writing:
            batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                sessions = await self._database.sessions()
                async with sessions() as session:
                    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
                    now = utcnow()
                    for row, value in batch.items():
                        if value is None:
                            await session.execute(_where(delete(ConversationState), row))
                            continue
                        kind, name, key = row
                        insert = dialect.insert(ConversationState).values(
                            kind=kind, name=name, key=key, data=value, updated_at=now
                        )
                        await session.execute(
                            insert.on_conflict_do_update(
                                index_elements=["kind", "name", "key"],
                                set_={"data": insert.excluded.data, "updated_at": insert.excluded.updated_at},
                            )
                        )
                    await session.commit()
            except Exception:
                logger.exception("could not store %d conversation rows; kept for the next write", len(batch))
                for row, value in batch.items():
                    self._pending.setdefault(row, value)
                return
            for row, value in batch.items():
                if value is None:
                    self._stored.pop(row, None)
                else:
                    self._stored[row] = value


def _where(statement: Any, row: _Row) -> Any:
    kind, name, key = row
    return statement.where(ConversationState.kind == kind, ConversationState.name == name, ConversationState.key == key)
