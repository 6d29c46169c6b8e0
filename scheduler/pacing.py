"""Telegram's flood limits as a send schedule: about 30 messages/s overall, 1/s per chat, 20/min per group.

PTB's AIORateLimiter paces groups and the overall rate but not private chats, and gives up on ``RetryAfter``
unless told to retry; reminders are paced here instead. The clock and the sleep are injected, so tests and
bench/reminders.py run it on virtual time. Group chats are the ones with negative ids (groups, supergroups).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

TELEGRAM_MESSAGES_PER_SECOND = 30.0
TELEGRAM_CHAT_INTERVAL = 1.0  # seconds between two messages to one chat
TELEGRAM_GROUP_MESSAGES = 20  # per group ...
TELEGRAM_GROUP_WINDOW = 60.0  # ... per this many seconds
_PRUNE_EVERY = 1024  # sends between sweeps of chats that are idle again


class Pacer:
    """When the next message to a chat may go; ``record`` a send when it goes, ``pause`` on ``RetryAfter``.

    The overall rate keeps a fixed grid (the next slot follows the previous slot, not the moment the sender woke
    up), so a sender that wakes a little late does not fall behind it, and no second ever holds more messages than
    the rate. Messages to one chat are spaced from the actual send. Single-task use: one dispatcher asks
    ``ready_at`` and calls ``record``.
    """

    def __init__(
        self,
        *,
        overall_rate: float = TELEGRAM_MESSAGES_PER_SECOND,
        chat_interval: float = TELEGRAM_CHAT_INTERVAL,
        group_limit: int = TELEGRAM_GROUP_MESSAGES,
        group_window: float = TELEGRAM_GROUP_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if overall_rate <= 0 or chat_interval < 0 or group_limit < 1 or group_window < 0:
            raise ValueError("pacing limits must be positive")
        self.overall_interval = 1.0 / overall_rate
        self._last_second: deque[float] = deque(maxlen=max(1, math.floor(overall_rate)))  # the latest sends
        self.chat_interval = chat_interval
        self.group_limit = group_limit
        self.group_window = group_window
        self.clock = clock
        self.sleep = sleep
        self._next_overall = -math.inf
        self._paused_until = -math.inf
        self._next_for_chat: dict[int, float] = {}
        self._group_sends: dict[int, deque[float]] = {}
        self._sends = 0

    def now(self) -> float:
        return self.clock()

    def ready_at(self, chat_id: int) -> float:
        """The earliest clock time at which a message to ``chat_id`` respects every limit."""
        ready = max(self._next_overall, self._paused_until, self._next_for_chat.get(chat_id, -math.inf))
        if len(self._last_second) == self._last_second.maxlen:
            ready = max(ready, self._last_second[0] + 1.0)  # never more than the rate within one second
        recent = self._group_sends.get(chat_id)
        if recent is not None and len(recent) >= self.group_limit:
            ready = max(ready, recent[0] + self.group_window)
        return ready

    def record(self, chat_id: int) -> None:
        """A message to ``chat_id`` goes now."""
        now = self.clock()
        self._next_overall = _next_slot(self._next_overall, now, self.overall_interval)
        self._last_second.append(now)
        self._next_for_chat[chat_id] = now + self.chat_interval  # from the actual send: a chat has no backlog
        if chat_id < 0:
            recent = self._group_sends.setdefault(chat_id, deque(maxlen=self.group_limit))
            recent.append(now)
        self._sends += 1
        if self._sends % _PRUNE_EVERY == 0:
            self._prune(now)

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message to ``chat_id`` may go, and record it."""
        while (wait := self.ready_at(chat_id) - self.clock()) > 0:
            await self.sleep(wait)
        self.record(chat_id)

    def pause(self, seconds: float) -> None:
        """Telegram answered 429 ``retry_after``: nothing goes for ``seconds`` (the flood may be bot-wide)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _prune(self, now: float) -> None:
        """Forget chats whose limits no longer hold anything back (keeps memory flat over many chats)."""
        self._next_for_chat = {chat: ready for chat, ready in self._next_for_chat.items() if ready > now}
        horizon = now - self.group_window
        self._group_sends = {chat: sends for chat, sends in self._group_sends.items() if sends[-1] > horizon}


def _next_slot(previous: float, now: float, interval: float) -> float:
    """The slot after a send at ``now``: on the grid while the sender keeps up, else restarting from ``now``."""
    base = previous if previous > now - interval else now
    return base + interval
