"""What the activity handlers share: the conversations' steps and timeout, replies, refusals and the caller check.

The guided /new flow (handlers/activities.py) and /done's request for minutes (handlers/activity_manage.py) are
conversations of one chat and user: their drafts live in user_data under a per-chat key, /cancel leaves either
(`leave_flow`), and each ends by itself after FLOW_TIMEOUT.

In groups the bot sees only messages addressed to it (privacy mode), so typed answers there are asked for with
ForceReply (`ask`): the user's client opens a reply to the bot's question.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram import ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes, ConversationHandler

from bot.models import MANAGER_ROLES, Role
from bot.services import when
from bot.services.access import Caller
from bot.services.activities import ActivityInfo, ActivityRefused, branch_time
from handlers import activities_texts as texts
from handlers.common import caller_or_refuse, reply, sessions
from handlers.formatting import escape

logger = logging.getLogger(__name__)

# The steps of both conversations (the numbers are stored with them: bot.persistence).
KIND, DATE, TIME, PLACE, TOPIC, LECTURER, PARTY_GROUP, CONFIRM, MINUTES = range(9)
FLOW_TIMEOUT = timedelta(minutes=15)
DRAFT_KEY = "activities.new"
MINUTES_KEY = "activities.minutes"
_GROUP_ANSWER = ForceReply(selective=True)

Problem = ActivityRefused | when.WhenError


def activity_when(info: ActivityInfo, now: datetime) -> str:
    """When the activity starts, in its branch's time."""
    return when.format_when(info.starts_at, branch_time(info.timezone, now))


def kinds_text(info: ActivityInfo) -> str:
    return "+".join(info.kinds)


def message_of(update: Update) -> Message:
    message = update.effective_message
    assert isinstance(message, Message)  # the activity handlers are only routed messages
    return message


def command_rest(message: Message) -> str:
    """The text after the /command word, line breaks kept."""
    parts = (message.text or "").split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def refusal_text(refusal: Problem) -> str:
    if isinstance(refusal, ActivityRefused):
        details = {name: escape(value) for name, value in refusal.details.items()}
        return texts.REFUSALS[refusal.reason].format(**details)
    return escape(str(refusal))


async def refuse(update: Update, refusal: Problem) -> None:
    logger.info("refused update %s: %s", update.update_id, refusal)
    await reply(update, refusal_text(refusal))


async def authorized(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: str, roles: frozenset[Role] | None = MANAGER_ROLES
) -> Caller | None:
    """The caller if they may do ``action`` in this chat (else the refusal is sent)."""
    async with sessions(context)() as session:
        return await caller_or_refuse(update, session, action, roles)


async def ask(message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None) -> Message:
    """Ask the user for the next answer; in groups a typed answer must be a reply to this question."""
    markup = keyboard if keyboard is not None or message.chat.type == ChatType.PRIVATE else _GROUP_ANSWER
    return await message.reply_text(text, reply_markup=markup)


# -- the conversations' state -----------------------------------------------------------------------------------


def flow_key(prefix: str, update: Update) -> str:
    chat = update.effective_chat
    return f"{prefix}:{chat.id if chat else 0}"


def forget_flows(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drop this chat's /new draft and the activity /done waits minutes for."""
    if context.user_data is not None:
        context.user_data.pop(flow_key(DRAFT_KEY, update), None)
        context.user_data.pop(flow_key(MINUTES_KEY, update), None)


def changed_outside_an_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A timeout runs as a job, not an update: tell the persistence that this person's user_data changed."""
    if update.effective_user is not None:
        context.application.mark_data_for_update_persistence(user_ids=update.effective_user.id)


async def leave_flow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/cancel inside a flow: leave it, nothing saved."""
    forget_flows(update, context)
    await message_of(update).reply_text(texts.FLOW_LEFT)
    return ConversationHandler.END
