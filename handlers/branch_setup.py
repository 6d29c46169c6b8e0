"""A branch and its group: /setup binds a group to a new branch, the branch follows the group's move to a
supergroup, and /import loads the roster.

Roster import: /import ─▶ ROSTER_FILE ─ a .csv/.xlsx ─▶ imported; a file sent with the caption /import skips the
first step; a rejected file keeps the conversation waiting for the corrected one. The conversation is kept in the
database across restarts (bot.persistence).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, cast

from telegram import Document, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.ext import CommandHandler, ContextTypes, ConversationHandler, MessageHandler, filters

from bot.models import SECRETARY_ONLY
from bot.services import branch_setup, roster
from bot.services.access import Caller
from bot.services.branch_setup import BranchError
from bot.services.roster import RosterError
from handlers import branch_texts as texts
from handlers.branch_common import refuse, say
from handlers.common import caller_or_refuse, is_private, sessions, typed
from handlers.formatting import escape, split_message

IMPORT_CAPTION = filters.CaptionRegex(r"^/import(@\w+)?(\s|$)")
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})

# conversation state
ROSTER_FILE = 10

_CJK = re.compile(r"[\u3400-\u9fff]+")


# -- /setup ---------------------------------------------------------------------------------------------------------


async def setup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/setup 支部名称 — a group admin binds this group to a new branch and becomes its 书记."""
    message, user = cast(Message, update.effective_message), cast(User, update.effective_user)
    name = " ".join(context.args or [])
    if is_private(update):
        await message.reply_text(texts.SETUP_IN_GROUP)
        return
    if not name:
        await message.reply_text(texts.SETUP_USAGE)
        return
    if message.sender_chat is not None:  # an anonymous admin: Telegram hides who is asking
        await message.reply_text(texts.SETUP_NOT_ANONYMOUS)
        return
    chat_member = await context.bot.get_chat_member(message.chat_id, user.id)
    if chat_member.status not in ADMIN_STATUSES:
        await message.reply_text(texts.SETUP_ADMINS_ONLY)
        return
    try:
        async with sessions(context)() as session:
            caller = await branch_setup.setup_branch(
                session,
                name=name,
                chat_id=message.chat_id,
                telegram_user_id=user.id,
                member_name=telegram_name(user),
                now=datetime.now(UTC),
            )
    except BranchError as refusal:
        await refuse(update, refusal)
        return
    await message.reply_text(
        texts.SETUP_DONE.format(branch=escape(caller.branch.name), name=escape(caller.member.name))
    )


def telegram_name(user: User) -> str:
    """The user's Telegram name; a Chinese one is written without the space Telegram puts between the parts."""
    if user.last_name and _CJK.fullmatch(user.first_name + user.last_name):
        return user.first_name + user.last_name
    return user.full_name


# -- the group upgraded to a supergroup ------------------------------------------------------------------------------


async def chat_migrated(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Telegram moved the group to a supergroup (a new chat id), announced in the old chat and in the new one: the
    branch follows, once, and the new chat is told that nothing else changes."""
    message = cast(Message, update.effective_message)
    if message.migrate_to_chat_id is not None:
        old_chat_id, new_chat_id = message.chat_id, message.migrate_to_chat_id
    else:
        old_chat_id, new_chat_id = cast(int, message.migrate_from_chat_id), message.chat_id
    async with sessions(context).begin() as session:
        branch = await branch_setup.follow_chat_migration(session, old_chat_id, new_chat_id, datetime.now(UTC))
    if branch is not None:
        await context.bot.send_message(new_chat_id, texts.CHAT_MIGRATED.format(branch=escape(branch.name)))


# -- /import (roster upload) ----------------------------------------------------------------------------------------


def import_conversation() -> ConversationHandler[Any]:
    """/import, then the roster file; or the file with the caption /import (书记, private chat)."""
    return ConversationHandler(
        entry_points=[
            CommandHandler("import", _import_start),
            MessageHandler(filters.Document.ALL & IMPORT_CAPTION, _import_file),
        ],
        states={
            ROSTER_FILE: [
                MessageHandler(filters.Document.ALL, _import_file),
                typed(_import_waiting),
            ]
        },
        fallbacks=[CommandHandler("cancel", _import_cancel)],
        name="roster_import",
        persistent=True,  # kept across restarts (bot.persistence)
    )


async def _import_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    if await _importer(update, context) is None:
        return ConversationHandler.END
    await say(update, texts.IMPORT_ASK_FILE)
    return ROSTER_FILE


async def _import_file(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    caller = await _importer(update, context)
    if caller is None:
        return ConversationHandler.END
    document = cast(Document, cast(Message, update.effective_message).document)
    file_name = document.file_name or ""
    try:
        roster.check_file(file_name, document.file_size or 0)
        content = bytes(await (await context.bot.get_file(document.file_id)).download_as_bytearray())
        async with sessions(context)() as session:
            result = await roster.import_roster(
                session, caller.branch.id, file_name, content, datetime.now(UTC), caller
            )
    except RosterError as rejected:
        for chunk in split_message(texts.IMPORT_REJECTED.format(problems=escape(str(rejected)))):
            await say(update, chunk)
        return ROSTER_FILE
    created = "、".join(result.groups_created)
    groups = texts.IMPORT_GROUPS_CREATED.format(groups=escape(created)) if created else ""
    await say(update, texts.IMPORT_DONE.format(added=result.added, groups=groups))
    return ConversationHandler.END


async def _import_waiting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await say(update, texts.IMPORT_WAITING)


async def _import_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await say(update, texts.IMPORT_CANCELLED)
    return ConversationHandler.END


async def _importer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The 书记 importing, in a private chat (a roster holds personal data); otherwise None, refusal sent.

    The session ends here: the download that follows must not hold the database.
    """
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_IMPORT, SECRETARY_ONLY)
    if caller is not None and not is_private(update):
        await say(update, texts.IMPORT_PRIVATE_ONLY)
        return None
    return caller
