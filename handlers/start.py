"""/start, /help, and the answer to commands the bot does not know.

An invite link (``/start join_<token>``) opened in a private chat belongs to the join flow (handlers/branch.py),
a claim link (``/start claim_<code>``) to handlers/membership.py; bot/app.py registers both before /start.
"""

from __future__ import annotations

from typing import cast

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.services.branch_members import mark_reachable
from handlers import branch_texts, texts
from handlers.branch import JOIN_PREFIX
from handlers.common import is_private, sessions
from handlers.membership import CLAIM_PREFIX


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: the welcome. An invite link reaching here was sent in a group: it is pointed to the private chat.

    A member who blocked the bot and unblocks it ("Restart" in Telegram sends /start) is reachable again.
    """
    message = cast(Message, update.effective_message)
    if context.args and context.args[0].startswith(JOIN_PREFIX):
        await message.reply_text(branch_texts.JOIN_OPEN_IN_PRIVATE)
        return
    if context.args and context.args[0].startswith(CLAIM_PREFIX):
        await message.reply_text(branch_texts.CLAIM_OPEN_IN_PRIVATE)
        return
    if is_private(update) and update.effective_user is not None:
        async with sessions(context).begin() as session:
            await mark_reachable(session, update.effective_user.id)
    await message.reply_text(texts.WELCOME)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the command list."""
    await cast(Message, update.effective_message).reply_text(texts.HELP)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /command no handler took (private chats only: in groups it may be meant for another bot)."""
    await cast(Message, update.effective_message).reply_text(texts.UNKNOWN_COMMAND)
