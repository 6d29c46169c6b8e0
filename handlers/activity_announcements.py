"""An activity's announcement in its branch's group: the text, the 签到/请假 buttons, posting and updating it.

A created activity is announced with `announcement_keyboard` (its buttons are answered by the check-in handlers);
/cancel and /move edit the announcement (`sync_group`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import Enum, auto

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.models import ActivityStatus
from bot.services.activities import ActivityInfo, set_announcement
from handlers import activities_texts as texts
from handlers.activity_common import activity_when
from handlers.common import sessions
from handlers.formatting import escape
from handlers.keyboards import Action, encode

logger = logging.getLogger(__name__)


def announcement_keyboard(activity_id: int) -> InlineKeyboardMarkup:
    """The 签到 and 请假 buttons under an announcement."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.CHECKIN_BUTTON, callback_data=encode(Action.CHECKIN, str(activity_id))),
                InlineKeyboardButton(texts.LEAVE_BUTTON, callback_data=encode(Action.LEAVE, str(activity_id))),
            ]
        ]
    )


def announcement_text(info: ActivityInfo, now: datetime) -> str:
    """The group announcement (HTML); a cancelled activity's says so."""
    cancelled = info.status is ActivityStatus.CANCELLED
    title = texts.CANCELLED_TITLE if cancelled else texts.ANNOUNCEMENT_TITLE
    lines = [title.format(kind=escape(info.kind))]
    if len(info.kinds) > 1:
        lines.append(texts.ALSO_COUNTS.format(kinds="、".join(info.kinds[1:])))
    lines.append(texts.WHEN_LINE.format(when=activity_when(info, now)))
    lines.append(texts.PLACE_LINE.format(place=escape(info.place)))
    lines.append(texts.TOPIC_LINE.format(topic=escape(info.topic)))
    if info.lecturer:
        lines.append(texts.LECTURER_LINE.format(lecturer=escape(info.lecturer)))
    if info.party_group:
        lines.append(texts.PARTY_GROUP_LINE.format(group=escape(info.party_group)))
    lines += ["", texts.CANCELLED_FOOTER if cancelled else texts.ANNOUNCEMENT_FOOTER]
    return "\n".join(lines)


class Posted(Enum):
    IN_GROUP = auto()
    NO_GROUP = auto()
    FAILED = auto()


async def announce(context: ContextTypes.DEFAULT_TYPE, info: ActivityInfo, now: datetime) -> Posted:
    """Post the announcement with its buttons in the branch's group and remember the message."""
    if info.group_chat_id is None or info.id is None:
        return Posted.NO_GROUP
    try:
        sent = await context.bot.send_message(
            info.group_chat_id, announcement_text(info, now), reply_markup=announcement_keyboard(info.id)
        )
    except TelegramError as error:
        logger.info("activity %s: announcement not posted in chat %s: %s", info.id, info.group_chat_id, error)
        return Posted.FAILED
    async with sessions(context)() as session:
        await set_announcement(session, activity_id=info.id, message_id=sent.message_id)
    return Posted.IN_GROUP


def created_text(info: ActivityInfo, posted: Posted, chat_id: int, now: datetime) -> str:
    """The organizer's reply after creating an activity: where it was announced, and the announcement."""
    if posted is Posted.IN_GROUP and chat_id == info.group_chat_id:
        template = texts.CREATED_IN_GROUP
    else:
        template = {
            Posted.IN_GROUP: texts.CREATED_POSTED,
            Posted.NO_GROUP: texts.CREATED_NO_GROUP,
            Posted.FAILED: texts.CREATED_NOT_POSTED,
        }[posted]
    return template.format(id=info.id, announcement=announcement_text(info, now))


async def sync_group(
    context: ContextTypes.DEFAULT_TYPE, info: ActivityInfo, now: datetime, notice: str, chat_id: int
) -> str:
    """Edit the announcement after a change; from outside the group also post ``notice`` under it.

    Returns the note for the organizer's reply ("" when the activity was never announced).
    """
    if info.group_chat_id is None or info.announcement_message_id is None or info.id is None:
        return ""
    keyboard = announcement_keyboard(info.id) if info.status is ActivityStatus.PLANNED else None
    try:
        await context.bot.edit_message_text(
            announcement_text(info, now),
            chat_id=info.group_chat_id,
            message_id=info.announcement_message_id,
            reply_markup=keyboard,
        )
        if chat_id != info.group_chat_id:
            await context.bot.send_message(
                info.group_chat_id,
                notice,
                reply_parameters=ReplyParameters(info.announcement_message_id, allow_sending_without_reply=True),
            )
    except TelegramError as error:
        logger.info("activity %s: announcement not updated: %s", info.id, error)
        return "\n" + texts.GROUP_NOTE_NOT_UPDATED
    return "\n" + texts.GROUP_NOTE_UPDATED
