"""Concurrent update processing that keeps each user's updates in arrival order, and keeps one user's flood to
themselves.

`PerUserOrderedProcessor` lets the Application work on many people's updates at once (each waits on Bot API round
trips, so one at a time queues a whole branch meeting behind one another), while one person's updates run one after
the other, oldest first: the conversations (/new, join, /done, the leave note, /kb, /import) depend on it. An update
takes its person's turn *before* a processing slot, so however many updates one person has queued, they hold at
most one slot; past `MAX_PENDING_PER_KEY` queued updates, that person's further updates are dropped unprocessed.

`FloodGuard`, the first handler, applies per-user and per-group rate limits to what the bot would answer, and says
"请稍后再试" once per burst. `detach_send` sends a reply outside the processing slot when a rate limiter might make
it wait (a group's 20 messages a minute). The processor also bounds PTB's ``user_data`` mapping: every update
creates an entry, most stay empty (people who never started a flow), and past `MAX_IDLE_USER_DATA` entries the
empty ones of people with nothing in flight are dropped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, BaseUpdateProcessor, ContextTypes, filters

from handlers import texts

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

    __slots__ = ("_application", "_slots", "_sweep_at", "_turns", "dropped", "max_idle_user_data", "max_pending")

    def __init__(
        self,
        max_concurrent_updates: int,
        *,
        max_pending: int = MAX_PENDING_PER_KEY,
        max_idle_user_data: int = MAX_IDLE_USER_DATA,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
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

    @property
    def current_concurrent_updates(self) -> int:
        """Updates holding a slot now (an update waiting for its user's turn holds none)."""
        return self.max_concurrent_updates - self._slots._value

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:  # type: ignore[misc]
        """The key's turn first, then a slot (PTB's final version takes the slot first; see the class)."""
        key = ordering_key(update)
        if key is None:
            async with self._slots:
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
                async with self._slots:
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


# --- rate limits ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: up to ``burst`` at once, then one more every ``every`` seconds."""

    burst: int
    every: float


USER_RATE = Rate(burst=10, every=3.0)  # a person: 10 at once, then 20 a minute (private chats, commands, buttons)
CHAT_RATE = Rate(burst=10, every=4.0)  # a group: 10 at once, then 15 a minute — under Telegram's 20 messages a
# minute into one group, so answering a group's questions keeps within what the send limiter lets through


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    notified: bool = False  # "请稍后再试" said in this burst


class _Buckets:
    """Token buckets per key; a full bucket is the same as none, so those are pruned when the map grows."""

    PRUNE_AT = 10_000

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.rate.burst), now)
        else:
            bucket.tokens = min(float(self.rate.burst), bucket.tokens + (now - bucket.at) / self.rate.every)
            bucket.at = now
            if bucket.tokens >= self.rate.burst:
                bucket.notified = False  # quiet long enough: the burst is over
        return bucket

    def peek(self, key: Hashable) -> _Bucket:
        return self._refilled(key, self._clock())

    def prune(self) -> None:
        if len(self._buckets) < self.PRUNE_AT:
            return
        now = self._clock()
        for key in list(self._buckets):
            if self._refilled(key, now).tokens >= self.rate.burst:
                del self._buckets[key]


class FloodGuard:
    """The first handler (group -1): refuses what exceeds the per-user or per-group rate, with one notice a burst.

    Counted: every message in a private chat, commands and messages addressed to the bot in groups, and button
    presses (per user only: a group's 签到 presses come all at once and cost no group message). Other updates
    (group chatter the bot ignores, members joining and leaving) pass uncounted. A refused update stops there
    (``ApplicationHandlerStop``); a refused button press is still answered, so its spinner stops.
    """

    def __init__(
        self,
        addressed_to_bot: filters.MessageFilter,
        *,
        user_rate: Rate = USER_RATE,
        chat_rate: Rate = CHAT_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addressed = addressed_to_bot
        self.users = _Buckets(user_rate, clock)
        self.chats = _Buckets(chat_rate, clock)
        self.refused = 0

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        buckets = self._buckets_for(update)
        if not buckets:
            return
        if all(bucket.tokens >= 1 for bucket in buckets):
            for bucket in buckets:
                bucket.tokens -= 1
            return
        self.refused += 1
        notify = not any(bucket.notified for bucket in buckets)
        for bucket in buckets:
            bucket.notified = True
        self.users.prune()
        self.chats.prune()
        await self._refuse(update, context, notify)
        raise ApplicationHandlerStop

    def _buckets_for(self, update: Update) -> list[_Bucket]:
        user = update.effective_user
        if update.callback_query is not None:
            return [self.users.peek(user.id)] if user is not None else []
        message = update.message or update.edited_message
        if message is None:
            return []
        if message.chat.type == ChatType.PRIVATE:
            return [self.users.peek(message.chat.id)]
        if not (_is_command(message) or self._addressed.check_update(update)):
            return []
        buckets = [self.chats.peek(message.chat.id)]
        if user is not None and message.sender_chat is None:  # anonymous admins share one user id
            buckets.append(self.users.peek(user.id))
        return buckets

    async def _refuse(self, update: Update, context: ContextTypes.DEFAULT_TYPE, notify: bool) -> None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(texts.TRY_LATER if notify else None)
            elif notify and update.effective_message is not None:
                message = update.effective_message
                quote = message.chat.type != ChatType.PRIVATE
                send = message.reply_text(texts.TRY_LATER, do_quote=quote, allow_sending_without_reply=True)
                await detach_send(context, update, send)
        except TelegramError as error:
            logger.info("could not say 请稍后再试 for update %s: %s", update.update_id, error)


def _is_command(message: Message) -> bool:
    entities = message.entities or ()
    return bool(entities) and entities[0].type == MessageEntityType.BOT_COMMAND and entities[0].offset == 0


async def detach_send(context: ContextTypes.DEFAULT_TYPE, update: object, send: Coroutine[Any, Any, Any]) -> None:
    """Await ``send`` here, or, when the bot has a rate limiter (which can hold a group's message for seconds),
    run it as an Application task so the handler returns and frees its slot and its user's turn.

    Application.stop waits for such tasks; an error in one goes to the error handler with ``update``.
    """
    if getattr(context.bot, "rate_limiter", None) is None:
        await send
        return
    context.application.create_task(send, update=update, name="detached-send")
