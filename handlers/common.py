"""What every branch handler needs: the database sessions (and the check-in batcher), the caller's access check, and
a polite refusal.

No handler awaits Telegram while its session holds a connection (tests/telegram/test_no_call_in_transaction.py):
it decides inside the session, leaves it (commit, rollback, or the end of the ``async with``), then replies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.models import Role
from bot.services.access import AccessDenied, Caller, authorize
from bot.services.checkin_batch import CheckinBatcher
from bot.services.reminders import QuietHours

SESSIONS_KEY = "db_sessions"
CHECKINS_KEY = "checkin_batcher"
QUIET_HOURS_KEY = "quiet_hours"
REPLAN_KEY = "replan_branch"  # set while the reminder runner runs: plans one branch now


def sessions(context: ContextTypes.DEFAULT_TYPE) -> async_sessionmaker[AsyncSession]:
    return context.application.bot_data[SESSIONS_KEY]


def checkins(context: ContextTypes.DEFAULT_TYPE) -> CheckinBatcher:
    """Where 签到 presses are written (together, when many arrive at once)."""
    return context.application.bot_data[CHECKINS_KEY]


def quiet_hours(context: ContextTypes.DEFAULT_TYPE) -> QuietHours | None:
    """The quiet hours the operator set (PARTYBOT_QUIET_HOURS; None when switched off)."""
    return context.application.bot_data[QUIET_HOURS_KEY]


def replan_soon(context: ContextTypes.DEFAULT_TYPE, branch_id: int) -> None:
    """The branch's activities or reminder rules changed: have its reminders planned again now, not at the next
    planning pass (when this process delivers reminders; otherwise the process that does plans it in time)."""
    replan = context.application.bot_data.get(REPLAN_KEY)
    if replan is not None:
        replan(branch_id)


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE


async def reply(update: Update, text: str) -> None:
    """Answer where the update came from: a message gets a reply, a button press an alert."""
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)


async def rollback_and_reply(update: Update, session: AsyncSession, text: str) -> None:
    """Answer a request that writes nothing, ending the session's transaction first: the database (SQLite: the one
    connection, with its write lock) is not held while the answer travels to Telegram and back. ``text`` is computed
    before the call: the rollback expires the session's objects."""
    await session.rollback()
    await reply(update, text)


async def caller_or_refuse(
    update: Update,
    session: AsyncSession,
    action: str,
    roles: frozenset[Role] | None = None,
    *,
    private_only: str | None = None,
) -> Caller | None:
    """The caller if they may do ``action`` here; otherwise the refusal is sent and None returned. With
    ``private_only``, an allowed caller outside a private chat is told that text instead (personal data, codes)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    try:
        caller = await authorize(
            session, user.id, chat_id=chat.id, private=is_private(update), action=action, roles=roles
        )
    except AccessDenied as refusal:
        await rollback_and_reply(update, session, str(refusal))  # nothing is written after a refusal
        return None
    if private_only is not None and not is_private(update):
        await rollback_and_reply(update, session, private_only)
        return None
    return caller


def typed(callback: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int | None]]) -> MessageHandler:
    """A step that takes typed text (not a command)."""
    return MessageHandler(filters.TEXT & ~filters.COMMAND, callback)
