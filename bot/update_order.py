"""Concurrent update processing that keeps each user's updates in arrival order.

`PerUserOrderedProcessor` lets the Application work on many people's updates at once (each waits on Bot API round
trips, so one at a time queues a whole branch meeting behind one another), while one person's updates run one after
the other, oldest first: the conversations (/new, join, /done, the leave note, /kb, /import) depend on it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


@dataclass(slots=True)
class _Turns:
    """One key's lock and how many updates hold or wait for it (the entry goes when that reaches zero)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    updates: int = 0


class PerUserOrderedProcessor(BaseUpdateProcessor):
    """Up to ``max_concurrent_updates`` updates at once; updates with the same key one at a time, in arrival order.

    The key is the update's user (``effective_user``), else its chat (``effective_chat``, e.g. a channel post);
    an update with neither, or an object that is not an `Update`, runs at once. Every conversation is tracked per
    chat and user, so serialising per user covers all of them, and a user's updates from several chats stay in order
    too.

    Order: the Application starts one task per update in the order it took them from ``update_queue``. PTB's final
    ``process_update`` takes a slot of the ``max_concurrent_updates`` semaphore before calling `do_process_update`
    (asyncio's semaphore hands out slots first come, first served), and `do_process_update` queues on the key's
    `asyncio.Lock` without awaiting anything first; the lock wakes its waiters in the order they came. A user's
    queued updates therefore occupy slots while they wait for that user's earlier ones — acceptable: one person
    rarely has more than a few updates in flight, and their slots come free as soon as their turn has run.
    """

    __slots__ = ("_turns",)

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[Hashable, _Turns] = {}

    @property
    def busy_keys(self) -> int:
        """How many users (or chats) have an update running or waiting; zero once everything is processed."""
        return len(self._turns)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = ordering_key(update)
        if key is None:
            await coroutine
            return
        # No await before lock.acquire() below: the order of arrival is the order of the lock's queue.
        turns = self._turns.get(key)
        if turns is None:
            turns = self._turns[key] = _Turns()
        turns.updates += 1
        try:
            async with turns.lock:
                await coroutine
        finally:
            turns.updates -= 1
            if turns.updates == 0:
                del self._turns[key]
            if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                coroutine.close()  # cancelled while waiting for its turn: it never ran; no "never awaited" warning

    async def initialize(self) -> None:
        """Nothing to open: locks are made per key as updates arrive."""

    async def shutdown(self) -> None:
        """Nothing to close: every lock goes with the last update of its key."""


def ordering_key(update: object) -> Hashable | None:
    """Whose turn an update waits for: ("user", id), else ("chat", id), else None (no ordering)."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    return None
