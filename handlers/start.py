"""/start (with the ``join_<token>`` deep link), /help, and the answer to commands the bot does not know."""

from __future__ import annotations

from typing import cast

from telegram import Message, Update
from telegram.ext import ContextTypes

from handlers import texts

JOIN_PREFIX = "join_"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: the welcome. ``/start join_<token>`` (an invite link) is answered politely until joining exists."""
    message = cast(Message, update.effective_message)
    if context.args and context.args[0].startswith(JOIN_PREFIX):
        await message.reply_text(texts.JOIN_NOT_READY)
        return
    await message.reply_text(texts.WELCOME)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the command list."""
    await cast(Message, update.effective_message).reply_text(texts.HELP)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command no handler took (private chats only: in groups it may be meant for another bot)."""
    await cast(Message, update.effective_message).reply_text(texts.UNKNOWN_COMMAND)
