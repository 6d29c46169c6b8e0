"""A member's lifecycle in Telegram: /remove and /restore (书记), claim links for imported roster rows (/claimcode and
``/start claim_<code>``), and members leaving the branch's group (chat_member updates and "left the group" messages).

The rules live in bot.services.membership; these handlers read the update, call it, and word the answer.
Leaving the group is handled silently: the group is not told, the member's registration simply stops working.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ChatMember, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.ext import ContextTypes, filters
from telegram.helpers import create_deep_linked_url

from bot.models import SECRETARY_ONLY, Member
from bot.services import membership
from bot.services.access import Caller
from bot.services.branch_members import members_named
from bot.services.branch_setup import BranchError, branch_time
from bot.services.text_hygiene import typed_words
from bot.services.when import format_when
from handlers import branch_texts as texts
from handlers.branch_roles import named_members, nobody_named, replied_user
from handlers.common import caller_or_refuse, rollback_and_reply, sessions
from handlers.formatting import escape

CLAIM_PREFIX = "claim_"  # deep-link payload: claim_<code>
CLAIM_LINK = filters.Regex(rf"^/start(@\w+)?\s+{CLAIM_PREFIX}")
_GONE = frozenset({ChatMemberStatus.LEFT, ChatMemberStatus.BANNED})


# -- /remove and /restore -------------------------------------------------------------------------------------------


async def remove(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/remove 姓名, or /remove in reply to the member's message (书记): inactive from now on, records kept."""
    message, name = cast(Message, update.effective_message), typed_words(context.args) or None
    replied = replied_user(message)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_REMOVE, SECRETARY_ONLY)
        if caller is None:
            return
        if name is None and replied is None:
            await rollback_and_reply(update, session, texts.REMOVE_USAGE)
            return
        text = await _remove(session, caller, name, replied)
    await message.reply_text(text)


async def _remove(session: AsyncSession, caller: Caller, name: str | None, replied: User | None) -> str:
    targets = await named_members(session, caller, name, replied)
    if len(targets) > 1:
        return texts.REMOVE_AMBIGUOUS.format(count=len(targets), name=escape(name or ""))
    if not targets:
        removed_before = name is not None and await members_named(session, caller.branch.id, name, active=False)
        return escape(membership.MSG_ALREADY_REMOVED.format(name=name)) if removed_before else nobody_named(name)
    try:
        removed = await membership.remove_member(session, caller, cast(int, targets[0].id), datetime.now(UTC))
    except BranchError as refusal:
        return escape(str(refusal))
    return texts.REMOVE_DONE.format(name=escape(removed.name))


async def restore(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/restore 姓名 (书记): a removed member is active again, as 党员."""
    message, name = cast(Message, update.effective_message), typed_words(context.args)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_RESTORE, SECRETARY_ONLY)
        if caller is None:
            return
        if not name:
            await rollback_and_reply(update, session, texts.RESTORE_USAGE)
            return
        targets = await members_named(session, caller.branch.id, name, active=False)
        if len(targets) != 1:
            template = texts.RESTORE_AMBIGUOUS if targets else texts.RESTORE_NOBODY
            await rollback_and_reply(update, session, template.format(count=len(targets), name=escape(name)))
            return
        restored = await membership.restore_member(session, caller, cast(int, targets[0].id), datetime.now(UTC))
    await message.reply_text(texts.RESTORE_DONE.format(name=escape(restored.name)))


# -- claim links ----------------------------------------------------------------------------------------------------


async def claimcode(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/claimcode 姓名 (书记, private chat): a one-time link that registers its opener as that roster row, office
    included."""
    message, name = cast(Message, update.effective_message), typed_words(context.args)
    now = datetime.now(UTC)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(
            update, session, texts.ACTION_CLAIMCODE, SECRETARY_ONLY, private_only=texts.CLAIM_PRIVATE_ONLY
        )
        if caller is None:
            return
        if not name:
            await rollback_and_reply(update, session, texts.CLAIM_USAGE)
            return
        named = await members_named(session, caller.branch.id, name)
        unlinked = [member for member in named if member.telegram_user_id is None]
        text = _claim_refusal(name, named, unlinked)
        if text is None:
            try:
                issued = await membership.issue_claim_code(session, caller, cast(int, unlinked[0].id), now)
            except BranchError as refusal:
                text = escape(str(refusal))
            else:
                text = texts.CLAIM_LINK.format(
                    name=escape(issued.name),
                    role=issued.role,
                    link=create_deep_linked_url(context.bot.username, f"{CLAIM_PREFIX}{issued.code}"),
                    expires=format_when(issued.expires_at, branch_time(caller.branch, now)),
                )
    await message.reply_text(text)


def _claim_refusal(name: str, named: Sequence[Member], unlinked: list[Member]) -> str | None:
    """Why no claim link can be made for ``name`` (None: exactly one unlinked row, go ahead)."""
    if len(unlinked) == 1:
        return None
    if len(unlinked) > 1:
        return texts.CLAIM_AMBIGUOUS.format(count=len(unlinked), name=escape(name))
    if named:
        return escape(membership.MSG_CLAIM_LINKED.format(name=name))
    return texts.CLAIM_NOBODY.format(name=escape(name))


async def claim_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """``/start claim_<code>`` in a private chat: register as the roster row the code was made for."""
    message, user = cast(Message, update.effective_message), cast(User, update.effective_user)
    code = (context.args or [""])[0].removeprefix(CLAIM_PREFIX)
    try:
        async with sessions(context)() as session:
            claimed = await membership.claim_roster_entry(session, code, user.id, datetime.now(UTC))
    except BranchError as refusal:
        await message.reply_text(escape(str(refusal)))
        return
    await message.reply_text(texts.CLAIM_DONE.format(branch=escape(claimed.branch.name), role=claimed.member.role))


# -- leaving the branch's group -------------------------------------------------------------------------------------


async def member_changed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A chat_member update (the bot must be a group admin to get them): someone left or was removed."""
    changed = update.chat_member
    if changed is None or not _gone(changed.new_chat_member) or _gone(changed.old_chat_member):
        return
    await _left(context, changed.chat.id, changed.new_chat_member.user.id)


async def left_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "… left the group" service message: the same, for groups where the bot is no admin."""
    message = cast(Message, update.effective_message)
    if message.left_chat_member is not None and not message.left_chat_member.is_bot:
        await _left(context, message.chat_id, message.left_chat_member.id)


def _gone(member: ChatMember) -> bool:
    """No longer in the chat: left, banned, or restricted and no longer a member."""
    return member.status in _GONE or (
        member.status == ChatMemberStatus.RESTRICTED and not getattr(member, "is_member", True)
    )


async def _left(context: ContextTypes.DEFAULT_TYPE, chat_id: int, telegram_user_id: int) -> None:
    async with sessions(context)() as session:
        await membership.leave_group(session, chat_id, telegram_user_id, datetime.now(UTC))
