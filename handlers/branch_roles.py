"""Members, roles and 党小组: /members lists the branch, /setrole (and its buttons) sets a member's office, /group
adds 党小组 and assigns members to them; also how a command names a member (by name or by replying to them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update, User
from telegram.ext import ContextTypes

from bot.models import SECRETARY_AND_ORGANIZATION, SECRETARY_ONLY, Member, Role
from bot.services import branch_members, branch_setup
from bot.services.access import Caller
from bot.services.branch_setup import BranchError
from bot.services.text_hygiene import parse_id, typed_words
from handlers import branch_texts as texts
from handlers.branch_common import refuse
from handlers.common import caller_or_refuse, sessions
from handlers.formatting import escape, split_message
from handlers.keyboards import Action, button_rows, decode

MEMBER_PATTERN = f"^{Action.MEMBER}:"

ROLE_LIST = "、".join(Role)
_ROLE_VALUES = frozenset(role.value for role in Role)


# -- /members -------------------------------------------------------------------------------------------------------


async def members(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/members — the branch's members: counts, then by 党小组 with status and role (any member)."""
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_MEMBERS)
        if caller is None:
            return
        listing = await branch_members.branch_roster(session, caller.branch.id)
    lines = [
        texts.MEMBERS_HEADING.format(
            branch=escape(caller.branch.name), full=listing.full, probationary=listing.probationary
        )
    ]
    for group in listing.groups:
        lines.append(texts.MEMBERS_GROUP.format(group=escape(group.name or texts.NO_GROUP)))
        lines.extend(
            texts.MEMBERS_LINE.format(
                name=escape(member.name),
                status=member.status,
                role=member.role,
                unlinked=texts.MEMBERS_UNLINKED if member.telegram_user_id is None else "",
            )
            for member in group.members
        )
    if not listing.groups:
        lines.append(texts.MEMBERS_EMPTY)
    if listing.inactive:
        lines.append(texts.MEMBERS_INACTIVE.format(count=listing.inactive))
    for chunk in split_message("\n".join(lines)):
        await cast(Message, update.effective_message).reply_text(chunk)


# -- /setrole -------------------------------------------------------------------------------------------------------


async def setrole(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/setrole 姓名 职务, or /setrole 职务 in reply to the member's message (书记 only).

    Ambiguous names get a button per person; making someone 书记 asks the 书记 to confirm first.
    """
    message, args = cast(Message, update.effective_message), context.args or []
    replied = replied_user(message)
    if replied is not None and len(args) == 1:
        name, role_text = None, typed_words(args)
    elif len(args) >= 2:
        name, role_text = typed_words(args[:-1]), typed_words(args[-1:])
    else:
        name = role_text = None
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_SETROLE, SECRETARY_ONLY)
        if caller is None:
            return
        if role_text is None:
            text, keyboard = texts.SETROLE_USAGE.format(roles=ROLE_LIST), None
        elif role_text not in _ROLE_VALUES:
            text, keyboard = texts.SETROLE_UNKNOWN_ROLE.format(role=escape(role_text), roles=ROLE_LIST), None
        else:
            role = Role(role_text)
            targets = await named_members(session, caller, name, cast(User, replied))
            text, keyboard = await _setrole_step(session, caller, targets, name, role)
    await message.reply_text(text, reply_markup=keyboard)


async def member_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The /setrole buttons: ``p.<member id>.<role>`` a person picked, ``t.<member id>`` a confirmed 书记 handover,
    ``x`` cancelled. The presser is checked again: only the branch's 书记 may press them."""
    query = update.callback_query
    assert query is not None  # routed here by CallbackQueryHandler
    button = decode(query.data)
    kind, _, rest = button.argument.partition(".") if button else ("", "", "")
    member_id, _, role_text = rest.partition(".")
    well_formed = parse_id(member_id) is not None  # then int(member_id) below is safe
    picked = kind == "p" and well_formed and role_text in _ROLE_VALUES
    if not (picked or kind == "x" or (kind == "t" and well_formed)):
        await query.answer(texts.MEMBER_BUTTON_STALE)
        return
    try:
        async with sessions(context)() as session:
            caller = await caller_or_refuse(update, session, texts.ACTION_SETROLE, SECRETARY_ONLY)
            if caller is None:
                return
            if kind == "x":
                text, keyboard = texts.SETROLE_CANCELLED, None
            elif picked:
                target = await branch_setup.branch_member(session, caller, int(member_id))
                text, keyboard = await _setrole_step(session, caller, [target], target.name, Role(role_text))
            else:
                text, keyboard = await _apply_role(session, caller, int(member_id), Role.SECRETARY), None
    except BranchError as refusal:
        await refuse(update, refusal)
        return
    await query.answer()
    await query.edit_message_text(text, reply_markup=keyboard)


async def _setrole_step(
    session: AsyncSession, caller: Caller, targets: list[Member], name: str | None, role: Role
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The next reply for /setrole once the role is known: a refusal, a choice, a confirmation, or done."""
    if not targets:
        return nobody_named(name), None
    if len(targets) > 1:
        groups = {group.id: group.name for group in await branch_setup.list_groups(session, caller.branch.id)}

        def label(member: Member) -> str:
            group = groups.get(member.party_group_id or 0, texts.NO_GROUP)
            return texts.MEMBER_CHOICE.format(name=member.name, group=group, role=member.role)

        rows = [[(label(member), f"p.{member.id}.{role}")] for member in targets]
        pick = texts.SETROLE_PICK.format(count=len(targets), name=escape(name or ""), role=role.value)
        return pick, button_rows(Action.MEMBER, rows)
    (target,) = targets
    if role == Role.SECRETARY and target.role != Role.SECRETARY:
        buttons = [(texts.BUTTON_TRANSFER, f"t.{target.id}"), (texts.BUTTON_CANCEL, "x")]
        return texts.SETROLE_CONFIRM_TRANSFER.format(name=escape(target.name)), button_rows(Action.MEMBER, [buttons])
    try:
        return await _apply_role(session, caller, target.id, role), None
    except BranchError as refusal:
        return escape(str(refusal)), None


async def _apply_role(session: AsyncSession, caller: Caller, member_id: int, role: Role) -> str:
    member, previous = await branch_members.set_role(session, caller, member_id, role, datetime.now(UTC))
    if role == Role.SECRETARY:
        return texts.SETROLE_TRANSFERRED.format(name=escape(member.name))
    return texts.SETROLE_DONE.format(name=escape(member.name), previous=previous.value, role=role.value)


# -- /group ---------------------------------------------------------------------------------------------------------


async def group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/group add 名称, /group set 姓名 名称 (or /group set 名称 in reply to the member's message) — 书记, 组织委员."""
    message, args = cast(Message, update.effective_message), context.args or []
    replied = replied_user(message)
    now = datetime.now(UTC)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_GROUP, SECRETARY_AND_ORGANIZATION)
        if caller is None:
            return
        try:
            if args[:1] == ["add"] and len(args) >= 2:
                added = await branch_members.add_group(session, caller, " ".join(args[1:]), now)
                text = texts.GROUP_ADDED.format(group=escape(added.name))
            elif args[:1] == ["set"] and (len(args) >= 3 or (len(args) == 2 and replied is not None)):
                name, group_name = (typed_words(args[1:2]), " ".join(args[2:])) if len(args) >= 3 else (None, args[1])
                text = await _group_set(session, caller, name, cast(User, replied), group_name, now)
            else:
                names = [g.name for g in await branch_setup.list_groups(session, caller.branch.id)]
                text = texts.GROUP_USAGE.format(groups=escape("、".join(names) or texts.GROUP_NONE_YET))
        except BranchError as refusal:
            text = escape(str(refusal))
    await message.reply_text(text)


async def _group_set(
    session: AsyncSession, caller: Caller, name: str | None, replied: User | None, group_name: str, now: datetime
) -> str:
    targets = await named_members(session, caller, name, replied)
    if not targets:
        return nobody_named(name)
    if len(targets) > 1:
        return texts.GROUP_AMBIGUOUS.format(count=len(targets), name=escape(name or ""))
    member = await branch_members.assign_group(session, caller, targets[0].id, group_name, now)
    return texts.GROUP_SET.format(name=escape(member.name), group=escape(group_name.strip()))


# -- naming a member ---------------------------------------------------------------------------------------------------


async def named_members(session: AsyncSession, caller: Caller, name: str | None, replied: User | None) -> list[Member]:
    """The members a command means: those with ``name``, or (name None) the author of the replied-to message."""
    if name is not None:
        return list(await branch_members.members_named(session, caller.branch.id, name))
    member = await branch_members.member_by_telegram_id(session, caller.branch.id, cast(User, replied).id)
    return [member] if member is not None else []


def nobody_named(name: str | None) -> str:
    """No member matched: by ``name``, or (None) the author of the replied-to message is not registered."""
    return texts.NO_SUCH_MEMBER.format(name=escape(name)) if name is not None else texts.REPLIED_NOT_MEMBER


def replied_user(message: Message) -> User | None:
    """The person whose message this one replies to (not a bot, not a forum topic's opening message)."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.is_bot or replied.forum_topic_created:
        return None
    return replied.from_user
