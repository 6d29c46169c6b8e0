"""Concurrent update processing that keeps each user's updates in arrival order, and keeps one user's flood to
themselves.

`PerUserOrderedProcessor` lets the Application work on many people's updates at once (each waits on Bot API round
trips, so one at a time queues a whole branch meeting behind one another), while one person's updates run one after
the other, oldest first: the conversations (/new, join, /done, the leave note, /kb, /import) depend on it. An update
takes its person's turn *before* a processing slot, so however many updates one person has queued, they hold at
most one slot; past `MAX_PENDING_PER_KEY` queued updates, that person's further updates are dropped unprocessed.

The per-user and per-group rate limits on what the bot answers are a handler (handlers.throttle). The processor
also bounds PTB's ``user_data`` mapping: every update
creates an entry, most stay empty (people who never started a flow), and past `MAX_IDLE_USER_DATA` entries the
empty ones of people with nothing in flight are dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

logger = logging.getLogger(__name__)

MAX_PENDING_PER_KEY = 50  # one person's updates held or waiting; a flood beyond this is dropped unprocessed
MAX_IDLE_USER_DATA = 10_000  # PTB user_data entries kept before empty ones are dropped


@dataclass(slots=True)
class _Turns:
    """One key's lock and how many updates hold or wait for it (the entry goes when that reaches zero)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    updates: int = 0


class PerUserOrderedProcessor(BaseUpdateProcessor):
    """Up to ``max_concurrent_updates`` updates at once; updates with the same key one at a time, in arrival order.

    The key is the update's user (``effective_user``), else its chat (``effective_chat``, e.g. a channel post);
    an update with neither, or an object that is not an `Update`, runs as soon as a slot is free. Every
    conversation is tracked per chat and user, so serialising per user covers all of them, and a user's updates
    from several chats stay in order too.

    Order and slots: the Application starts one task per update in the order it took them from ``update_queue``.
    PTB's own ``process_update`` takes a slot before `do_process_update`, so a user's queued updates would each
    hold a slot while waiting for that user's earlier ones (PITFALLS.md): 84 @mentions from one stranger stalled
    everyone. This ``process_update`` therefore queues on the key's `asyncio.Lock` first, without awaiting
    anything before (the lock wakes its waiters in the order they came), and takes one of the
    ``max_concurrent_updates`` slots only when it is that key's turn.
    """

    __slots__ = ("_application", "_sweep_at", "_turns", "dropped", "max_idle_user_data", "max_pending")

    def __init__(
        self,
        max_concurrent_updates: int,
        *,
        max_pending: int = MAX_PENDING_PER_KEY,
        max_idle_user_data: int = MAX_IDLE_USER_DATA,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[Hashable, _Turns] = {}
        self._application: Application | None = None
        self.max_pending = max_pending
        self.max_idle_user_data = max_idle_user_data
        self._sweep_at = max_idle_user_data
        self.dropped = 0  # updates dropped because their key had max_pending queued already

    def bind(self, application: Application) -> None:
        """The Application whose ``user_data`` is kept bounded (see `_forget_idle_user_data`)."""
        self._application = application

    @property
    def busy_keys(self) -> int:
        """How many users (or chats) have an update running or waiting; zero once everything is processed."""
        return len(self._turns)

    @property
    def queued_updates(self) -> int:
        """Updates running or waiting for their key's turn (those without a key not counted)."""
        return sum(turns.updates for turns in self._turns.values())

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        """The key's turn first, then a slot (PTB's final version takes the slot first; see the class)."""
        key = ordering_key(update)
        if key is None:
            async with self._semaphore:  # PTB's own slots (an update waiting for its turn holds none)
                await self.do_process_update(update, coroutine)
            return
        # No await before lock.acquire() below: the order of arrival is the order of the lock's queue.
        turns = self._turns.get(key)
        if turns is None:
            turns = self._turns[key] = _Turns()
        elif turns.updates >= self.max_pending:
            self.dropped += 1
            logger.debug("dropping an update of %s: %d of its updates are queued already", key, turns.updates)
            _close(coroutine)
            return
        turns.updates += 1
        try:
            async with turns.lock:
                async with self._semaphore:
                    await self.do_process_update(update, coroutine)
                self._forget_idle_user_data()
        finally:
            turns.updates -= 1
            if turns.updates == 0:
                del self._turns[key]
            _close(coroutine)  # cancelled while waiting for its turn: it never ran; no "never awaited" warning

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    def _forget_idle_user_data(self) -> None:
        """Past ``max_idle_user_data`` entries, drop the empty user_data of people with no update in flight.

        PTB creates an entry for everyone whose update reaches a handler; a stranger's stays empty forever.
        The next sweep waits until the drafts kept have doubled, so sweeping costs O(1) per update on average
        (the empty entries of people in flight, at most one per slot, are dropped by a later sweep).
        """
        application = self._application
        if application is None or len(application.user_data) <= self._sweep_at:
            return
        busy = {key[1] for key in self._turns if key[0] == "user"}  # type: ignore[index]
        idle = [user_id for user_id, data in application.user_data.items() if not data and user_id not in busy]
        for user_id in idle:
            application.drop_user_data(user_id)
        drafts = sum(1 for data in application.user_data.values() if data)
        self._sweep_at = max(self.max_idle_user_data, 2 * drafts)

    async def initialize(self) -> None:
        """Nothing to open: locks are made per key as updates arrive."""

    async def shutdown(self) -> None:
        """Nothing to close: every lock goes with the last update of its key."""


def _close(coroutine: Awaitable[Any]) -> None:
    if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
        coroutine.close()


def ordering_key(update: object) -> Hashable | None:
    """Whose turn an update waits for: ("user", id), else ("chat", id), else None (no ordering)."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    return None
