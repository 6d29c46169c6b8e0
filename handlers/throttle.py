"""Answering within rate limits: the flood guard in front of every handler, and replies sent outside the slot.

`FloodGuard`, the first handler, applies per-user and per-group rate limits to what the bot would answer, and says
"请稍后再试" once per burst. `detach_send` sends a reply outside the processing slot when a rate limiter might make
it wait (a group's 20 messages a minute). One person's updates keeping their order and their one slot is the
update processor's job (bot.update_order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from handlers import texts

logger = logging.getLogger(__name__)


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
    """Token buckets per key; a full bucket is the same as none, so those are pruned when the map grows (each time
    it doubles past PRUNE_AT, so a crowd of strangers costs one sweep per doubling, not one per update)."""

    PRUNE_AT = 10_000

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._prune_at = self.PRUNE_AT

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: Hashable, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.rate.burst), now)
        else:
            bucket.tokens = min(float(self.rate.burst), bucket.tokens + (now - bucket.at) / self.rate.every)
            bucket.at = now
            if bucket.tokens >= self.rate.burst:
                bucket.notified = False  # quiet long enough: the burst is over
        return bucket

    def peek(self, key: Hashable) -> _Bucket:
        return self._refilled(key, self._clock())

    def _prune(self, now: float) -> None:
        for key in list(self._buckets):
            if self._refilled(key, now).tokens >= self.rate.burst:
                del self._buckets[key]
        self._prune_at = max(self.PRUNE_AT, 2 * len(self._buckets))


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
        self._counted = filters.COMMAND | addressed_to_bot  # in a group: commands and what is addressed to the bot
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
        if not self._counted.check_update(update):
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


async def detach_send(context: ContextTypes.DEFAULT_TYPE, update: object, send: Coroutine[Any, Any, Any]) -> None:
    """Await ``send`` here, or, when the bot has a rate limiter (which can hold a group's message for seconds),
    run it as an Application task so the handler returns and frees its slot and its user's turn.

    Application.stop waits for such tasks; an error in one goes to the error handler with ``update``.
    """
    if getattr(context.bot, "rate_limiter", None) is None:
        await send
        return
    context.application.create_task(send, update=update, name="detached-send")
