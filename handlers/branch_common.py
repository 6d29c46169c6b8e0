"""What the branch handlers share: the 书记-only check, button rows, and replies and refusals in their style."""

from __future__ import annotations

from typing import cast

from telegram import InlineKeyboardMarkup, Message, Update

from bot.services.branch_setup import BranchError
from handlers.common import reply
from handlers.formatting import escape


async def say(update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    await cast(Message, update.effective_message).reply_text(text, reply_markup=keyboard, do_quote=False)


async def refuse(update: Update, refusal: BranchError) -> None:
    """A service's refusal: escaped for a message, as-is for a button's alert (plain text)."""
    await reply(update, str(refusal) if update.callback_query is not None else escape(str(refusal)))
