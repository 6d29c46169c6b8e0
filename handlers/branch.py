"""Branches and members in Telegram: /setup, /invite, joining by invite link, /members, /setrole, /group, /import.
(/remove, /restore, claim links and leaving the group: handlers/membership.py.)

Joining is a conversation (per person, named states); /cancel leaves it at any step::

    /start join_<token> ─▶ NAME ─┬─ name is an unlinked roster entry ─▶ LINK ─ 是我本人 ─▶ registered
                                 │                                       └ 不是我 ─┐
                                 └─────────────────────────────────────────────────┴─▶ STATUS
    STATUS ─▶ GROUP* ─▶ CONFIRM ─ 确认登记 ─▶ registered
    * skipped when the branch has no 党小组

Joining through an invite makes a person at most 党员, also when they confirm a roster entry that names an office:
the office comes from the 书记 (/setrole, or a claim link; handlers/membership.py).

Roster import: /import ─▶ ROSTER_FILE ─ a .csv/.xlsx ─▶ imported; a file sent with the caption /import skips the
first step; a rejected file keeps the conversation waiting for the corrected one. Both conversations are kept in
the database across restarts (bot.persistence).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Document, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.constants import ChatMemberStatus
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.models import ORGANIZER_ROLES, Member, MemberStatus, Role
from bot.services import branches, roster
from bot.services.access import Caller
from bot.services.branches import BranchError
from bot.services.roster import RosterError
from bot.services.text_hygiene import parse_id
from bot.services.when import format_when
from handlers import branch_texts as texts
from handlers.common import caller_or_refuse, is_private, reply, rollback_and_reply, sessions
from handlers.formatting import escape, split_message
from handlers.keyboards import Action, decode, encode

JOIN_PREFIX = "join_"  # deep-link payload: join_<invite token>
JOIN_LINK = filters.Regex(rf"^/start(@\w+)?\s+{JOIN_PREFIX}")
IMPORT_CAPTION = filters.CaptionRegex(r"^/import(@\w+)?(\s|$)")
MEMBER_PATTERN = f"^{Action.MEMBER}:"
JOIN_PATTERN = f"^{Action.JOIN}:"

REVOKE = "revoke"  # /invite revoke
SECRETARY_ONLY = frozenset({Role.SECRETARY})
GROUP_MANAGERS = frozenset({Role.SECRETARY, Role.ORGANIZATION})
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
ROLE_LIST = "、".join(Role)
_ROLE_VALUES = frozenset(role.value for role in Role)

# conversation states
NAME, LINK, STATUS, GROUP, CONFIRM = range(5)
ROSTER_FILE = 10

_DRAFT_KEY = "join_draft"
_STATUS_CODES = {"f": MemberStatus.FULL, "p": MemberStatus.PROBATIONARY}
_YES, _NO = "y", "n"
_CJK = re.compile(r"[\u3400-\u9fff]+")


@dataclass(slots=True)
class JoinDraft:
    """What the person has answered so far in the join conversation."""

    token: str
    offer: branches.JoinOffer
    name: str = ""
    status: MemberStatus = MemberStatus.FULL
    group_id: int | None = None
    roster_member_id: int | None = None

    @property
    def group_name(self) -> str:
        return dict(self.offer.groups).get(self.group_id or 0, texts.NO_GROUP)


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
            caller = await branches.setup_branch(
                session,
                name=name,
                chat_id=message.chat_id,
                telegram_user_id=user.id,
                member_name=telegram_name(user),
                now=datetime.now(UTC),
            )
    except BranchError as refusal:
        await _refuse(update, refusal)
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
        branch = await branches.follow_chat_migration(session, old_chat_id, new_chat_id, datetime.now(UTC))
    if branch is not None:
        await context.bot.send_message(new_chat_id, texts.CHAT_MIGRATED.format(branch=escape(branch.name)))


# -- /invite --------------------------------------------------------------------------------------------------------


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite — a join link for the caller's branch; /invite revoke — every link of the branch stops working
    (书记, 副书记, 组织委员)."""
    now, args = datetime.now(UTC), [arg.lower() for arg in context.args or []]
    message = cast(Message, update.effective_message)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_INVITE, ORGANIZER_ROLES)
        if caller is None:
            return
        if args and args != [REVOKE]:
            await rollback_and_reply(update, session, texts.INVITE_USAGE)
            return
        if args:
            revoked = await branches.revoke_invites(session, caller, now)
            text = texts.INVITE_REVOKED.format(count=revoked) if revoked else texts.INVITE_NONE_TO_REVOKE
        else:
            link = await branches.create_invite(session, caller, now)
            text = texts.INVITE_LINK.format(
                branch=escape(caller.branch.name),
                link=f"https://t.me/{context.bot.username}?start={JOIN_PREFIX}{link.token}",
                expires=format_when(link.expires_at, branches.branch_time(caller.branch, now)),
                uses=link.max_uses,
            )
    await message.reply_text(text)


# -- joining through an invite link ---------------------------------------------------------------------------------


def join_conversation() -> ConversationHandler[Any]:
    """The join flow: entered by ``/start join_<token>`` in a private chat."""
    pattern = f"^{Action.JOIN}:{{}}\\."
    pressed_instead = MessageHandler(filters.TEXT & ~filters.COMMAND, _press_a_button)
    with warnings.catch_warnings():
        # The buttons belong to the person's flow, not to one message: tracking per chat and user is intended.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("start", _join_start, filters.ChatType.PRIVATE & JOIN_LINK)],
            states={
                NAME: [MessageHandler(filters.TEXT & ~filters.COMMAND, _join_name)],
                LINK: [CallbackQueryHandler(_join_link, pattern=pattern.format("l")), pressed_instead],
                STATUS: [CallbackQueryHandler(_join_status, pattern=pattern.format("s")), pressed_instead],
                GROUP: [CallbackQueryHandler(_join_group, pattern=pattern.format("g")), pressed_instead],
                CONFIRM: [CallbackQueryHandler(_join_confirm, pattern=pattern.format("c")), pressed_instead],
            },
            fallbacks=[CommandHandler("cancel", _join_cancel)],
            allow_reentry=True,
            name="join",
            persistent=True,  # kept across restarts (bot.persistence)
        )


async def stale_join_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A join-flow button pressed after that flow ended (finished, cancelled, restarted)."""
    query = update.callback_query
    assert query is not None  # routed here by CallbackQueryHandler
    await query.answer(texts.JOIN_BUTTON_STALE)


async def _join_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    token = (context.args or [""])[0].removeprefix(JOIN_PREFIX)
    try:
        async with sessions(context)() as session:
            offer = await branches.open_invite(session, token, cast(User, update.effective_user).id, datetime.now(UTC))
    except BranchError as refusal:
        await _refuse(update, refusal)
        return ConversationHandler.END
    _user_data(context)[_DRAFT_KEY] = JoinDraft(token, offer)
    await _say(update, texts.JOIN_WELCOME.format(branch=escape(offer.branch_name)))
    return NAME


async def _join_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    try:
        draft.name = branches.clean_name(
            cast(Message, update.effective_message).text or "", texts.NAME_FIELD, branches.MAX_MEMBER_NAME_CHARS
        )
    except BranchError as refusal:
        await _refuse(update, refusal)
        return NAME
    async with sessions(context)() as session:
        entry = await branches.find_roster_entry(session, draft.offer.branch_id, draft.name)
        group = await branches.group_name(session, entry.party_group_id) if entry else None
    if entry is None:
        return await _ask_status(update, draft)
    draft.roster_member_id = entry.id
    office = texts.JOIN_ROSTER_OFFICE.format(role=entry.role) if entry.role != Role.MEMBER else ""
    await _say(
        update,
        texts.JOIN_ROSTER_MATCH.format(
            name=escape(entry.name), status=entry.status, group=escape(group or texts.NO_GROUP), office=office
        ),
        _keyboard(Action.JOIN, [[(texts.BUTTON_ROSTER_YES, f"l.{_YES}"), (texts.BUTTON_ROSTER_NO, f"l.{_NO}")]]),
    )
    return LINK


async def _join_link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    if await _choice(update) == _YES:
        return await _finish_join(update, context, draft)
    draft.roster_member_id = None
    return await _ask_status(update, draft)


async def _join_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    draft.status = _STATUS_CODES.get(await _choice(update), MemberStatus.FULL)
    if not draft.offer.groups:
        return await _ask_confirm(update, draft)
    rows = [[(name, f"g.{group_id}")] for group_id, name in draft.offer.groups]
    await _say(update, texts.JOIN_ASK_GROUP, _keyboard(Action.JOIN, [*rows, [(texts.BUTTON_SKIP_GROUP, "g.0")]]))
    return GROUP


async def _join_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    choice = await _choice(update)
    group_id = parse_id(choice)
    draft.group_id = group_id if group_id in dict(draft.offer.groups) else None
    return await _ask_confirm(update, draft)


async def _join_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    if await _choice(update) == _YES:
        return await _finish_join(update, context, _draft(context))
    return await _join_cancel(update, context)


async def _join_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    _user_data(context).pop(_DRAFT_KEY, None)
    await _say(update, texts.JOIN_CANCELLED)
    return ConversationHandler.END


async def _press_a_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _say(update, texts.JOIN_PRESS_A_BUTTON)


async def _ask_status(update: Update, draft: JoinDraft) -> int:
    buttons = [(status.value, f"s.{code}") for code, status in _STATUS_CODES.items()]
    await _say(update, texts.JOIN_ASK_STATUS.format(name=escape(draft.name)), _keyboard(Action.JOIN, [buttons]))
    return STATUS


async def _ask_confirm(update: Update, draft: JoinDraft) -> int:
    summary = texts.JOIN_CONFIRM.format(
        branch=escape(draft.offer.branch_name),
        name=escape(draft.name),
        status=draft.status.value,
        group=escape(draft.group_name),
    )
    buttons = [(texts.BUTTON_CONFIRM, f"c.{_YES}"), (texts.BUTTON_CANCEL, f"c.{_NO}")]
    await _say(update, summary, _keyboard(Action.JOIN, [buttons]))
    return CONFIRM


async def _finish_join(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: JoinDraft) -> int:
    _user_data(context).pop(_DRAFT_KEY, None)
    try:
        async with sessions(context)() as session:
            joined = await branches.join_branch(
                session,
                token=draft.token,
                telegram_user_id=cast(User, update.effective_user).id,
                name=draft.name,
                status=draft.status,
                party_group_id=draft.group_id,
                roster_member_id=draft.roster_member_id,
                now=datetime.now(UTC),
            )
    except BranchError as refusal:
        await _say(update, escape(str(refusal)))
        return ConversationHandler.END
    await _say(update, texts.JOIN_DONE.format(branch=escape(joined.branch.name)))
    return ConversationHandler.END


def _user_data(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    return cast(dict[Any, Any], context.user_data)


def _draft(context: ContextTypes.DEFAULT_TYPE) -> JoinDraft:
    return cast(JoinDraft, _user_data(context)[_DRAFT_KEY])


# -- /members -------------------------------------------------------------------------------------------------------


async def members(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/members — the branch's members: counts, then by 党小组 with status and role (any member)."""
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_MEMBERS)
        if caller is None:
            return
        listing = await branches.branch_roster(session, caller.branch.id)
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
        name, role_text = None, args[0]
    elif len(args) >= 2:
        name, role_text = " ".join(args[:-1]), args[-1]
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
                target = await branches.branch_member(session, caller, int(member_id))
                text, keyboard = await _setrole_step(session, caller, [target], target.name, Role(role_text))
            else:
                text, keyboard = await _apply_role(session, caller, int(member_id), Role.SECRETARY), None
    except BranchError as refusal:
        await _refuse(update, refusal)
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
        groups = {group.id: group.name for group in await branches.list_groups(session, caller.branch.id)}

        def label(member: Member) -> str:
            group = groups.get(member.party_group_id or 0, texts.NO_GROUP)
            return texts.MEMBER_CHOICE.format(name=member.name, group=group, role=member.role)

        rows = [[(label(member), f"p.{member.id}.{role}")] for member in targets]
        pick = texts.SETROLE_PICK.format(count=len(targets), name=escape(name or ""), role=role.value)
        return pick, _keyboard(Action.MEMBER, rows)
    (target,) = targets
    if role == Role.SECRETARY and target.role != Role.SECRETARY:
        buttons = [(texts.BUTTON_TRANSFER, f"t.{target.id}"), (texts.BUTTON_CANCEL, "x")]
        return texts.SETROLE_CONFIRM_TRANSFER.format(name=escape(target.name)), _keyboard(Action.MEMBER, [buttons])
    try:
        return await _apply_role(session, caller, target.id, role), None
    except BranchError as refusal:
        return escape(str(refusal)), None


async def _apply_role(session: AsyncSession, caller: Caller, member_id: int, role: Role) -> str:
    member, previous = await branches.set_role(session, caller, member_id, role, datetime.now(UTC))
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
        caller = await caller_or_refuse(update, session, texts.ACTION_GROUP, GROUP_MANAGERS)
        if caller is None:
            return
        try:
            if args[:1] == ["add"] and len(args) >= 2:
                added = await branches.add_group(session, caller, " ".join(args[1:]), now)
                text = texts.GROUP_ADDED.format(group=escape(added.name))
            elif args[:1] == ["set"] and (len(args) >= 3 or (len(args) == 2 and replied is not None)):
                name, group_name = (args[1], " ".join(args[2:])) if len(args) >= 3 else (None, args[1])
                text = await _group_set(session, caller, name, cast(User, replied), group_name, now)
            else:
                names = [g.name for g in await branches.list_groups(session, caller.branch.id)]
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
    member = await branches.assign_group(session, caller, targets[0].id, group_name, now)
    return texts.GROUP_SET.format(name=escape(member.name), group=escape(group_name.strip()))


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
                MessageHandler(filters.TEXT & ~filters.COMMAND, _import_waiting),
            ]
        },
        fallbacks=[CommandHandler("cancel", _import_cancel)],
        name="roster_import",
        persistent=True,  # kept across restarts (bot.persistence)
    )


async def _import_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    if await _importer(update, context) is None:
        return ConversationHandler.END
    await _say(update, texts.IMPORT_ASK_FILE)
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
            await _say(update, chunk)
        return ROSTER_FILE
    created = "、".join(result.groups_created)
    groups = texts.IMPORT_GROUPS_CREATED.format(groups=escape(created)) if created else ""
    await _say(update, texts.IMPORT_DONE.format(added=result.added, groups=groups))
    return ConversationHandler.END


async def _import_waiting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _say(update, texts.IMPORT_WAITING)


async def _import_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await _say(update, texts.IMPORT_CANCELLED)
    return ConversationHandler.END


async def _importer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Caller | None:
    """The 书记 importing, in a private chat (a roster holds personal data); otherwise None, refusal sent.

    The session ends here: the download that follows must not hold the database.
    """
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_IMPORT, SECRETARY_ONLY)
    if caller is not None and not is_private(update):
        await _say(update, texts.IMPORT_PRIVATE_ONLY)
        return None
    return caller


# -- shared pieces --------------------------------------------------------------------------------------------------


async def named_members(session: AsyncSession, caller: Caller, name: str | None, replied: User | None) -> list[Member]:
    """The members a command means: those with ``name``, or (name None) the author of the replied-to message."""
    if name is not None:
        return list(await branches.members_named(session, caller.branch.id, name))
    member = await branches.member_by_telegram_id(session, caller.branch.id, cast(User, replied).id)
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


def _keyboard(action: Action, rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Rows of (label, argument) as buttons whose data is ``encode(action, argument)``."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=encode(action, argument)) for label, argument in row]
            for row in rows
        ]
    )


async def _choice(update: Update) -> str:
    """Acknowledge a join-flow button, take the buttons off its message, and return what was chosen."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    button = decode(query.data)
    return button.argument.partition(".")[2] if button else ""


async def _say(update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    await cast(Message, update.effective_message).reply_text(text, reply_markup=keyboard, do_quote=False)


async def _refuse(update: Update, refusal: BranchError) -> None:
    """A service's refusal: escaped for a message, as-is for a button's alert (plain text)."""
    await reply(update, str(refusal) if update.callback_query is not None else escape(str(refusal)))
