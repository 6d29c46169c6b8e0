"""The Telegram side of reminder delivery: scheduler.runner's Notifier over python-telegram-bot.

`TelegramNotifier` sends through the Application's bot and turns telegram.error into the runner's errors
(403 → Blocked, 429 → RetryLater, 400 → BadRequest, 5xx/timeouts/network → TransientError). Reminders are paced
by scheduler.pacing, which also owns their ``RetryAfter`` handling, so their sends pass straight through
`ReplyRateLimiter`; that limiter (PTB's AIORateLimiter) keeps pacing the handlers' replies.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest as TelegramBadRequest
from telegram.error import ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from handlers import keyboards
from scheduler.runner import SNOOZE, BadRequest, Blocked, Button, RetryLater, TransientError

# rate_limit_args marking a send that scheduler.pacing has paced already (PTB treats 0 as "not given").
PACED_BY_OUTBOX = -1
SNOOZE_LABEL = "稍后提醒"


class ReplyRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter for handler replies; sends marked ``PACED_BY_OUTBOX`` go through untouched."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if rate_limit_args == PACED_BY_OUTBOX:
            return await callback(*args, **kwargs)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class TelegramNotifier:
    """Sends reminders with ``bot``; every request gives up after ``timeout`` seconds (then TransientError)."""

    def __init__(self, bot: Bot, *, timeout: float = 10.0) -> None:
        self._bot = bot
        self._timeout = timeout
        limited = isinstance(bot, ExtBot) and bot.rate_limiter is not None
        self._rate_limit_args: dict[str, Any] = {"rate_limit_args": PACED_BY_OUTBOX} if limited else {}

    async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
        try:
            await self._bot.send_message(
                chat_id,
                text,
                reply_markup=reminder_keyboard(buttons),
                read_timeout=self._timeout,
                write_timeout=self._timeout,
                connect_timeout=self._timeout,
                pool_timeout=self._timeout,
                **self._rate_limit_args,
            )
        except Forbidden as error:
            raise Blocked(error.message) from error
        except RetryAfter as error:
            raise RetryLater(_seconds(error.retry_after), error.message) from error
        except (TelegramBadRequest, ChatMigrated) as error:  # BadRequest is a NetworkError: test it first
            raise BadRequest(error.message) from error
        except TelegramError as error:  # TimedOut, NetworkError (502 …), and the rest: worth another try
            raise TransientError(f"{type(error).__name__}: {error.message}") from error


def reminder_keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """The inline buttons under a reminder (today: 稍后提醒), or None."""
    rows = [
        [
            InlineKeyboardButton(
                SNOOZE_LABEL, callback_data=keyboards.encode(keyboards.Action.SNOOZE, str(b.reminder_id))
            )
        ]
        for b in buttons
        if b.action == SNOOZE
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def _seconds(retry_after: timedelta | float) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
