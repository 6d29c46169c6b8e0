"""The error handler: log what went wrong with the update id, tell the user once, politely, in Chinese.

The user never sees a traceback or an exception message; operators find them in the log at ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import Message, Update
from telegram.error import Forbidden, TelegramError
from telegram.ext import ContextTypes

from handlers import texts

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or isinstance(context.error, Forbidden):
        return  # not a user's update, or the user cannot be reached (blocked the bot, left the group)
    if update.callback_query is not None:
        await _quietly(update.callback_query.answer(), update_id)
    if isinstance(update.effective_message, Message):  # replies in the same forum topic, if any
        await _quietly(update.effective_message.reply_text(texts.SORRY, do_quote=False), update_id)
    elif update.effective_chat is not None:
        await _quietly(context.bot.send_message(update.effective_chat.id, texts.SORRY), update_id)


async def _quietly(call: Awaitable[object], update_id: int | None) -> None:
    """Telling the user is best effort: a failure here is logged, never raised into another error round."""
    try:
        await call
    except TelegramError as error:
        logger.warning("update %s: could not tell the user about the failure: %s", update_id, error)
