"""Invite links and joining a branch by one: /invite, and the conversation ``/start join_<token>`` opens.

Joining is a conversation (per person, named states); /cancel leaves it at any step::

    /start join_<token> ─▶ NAME ─┬─ name is an unlinked roster entry ─▶ LINK ─ 是我本人 ─▶ registered
                                 │                                       └ 不是我 ─┐
                                 └─────────────────────────────────────────────────┴─▶ STATUS
    STATUS ─▶ GROUP* ─▶ CONFIRM ─ 确认登记 ─▶ registered
    * skipped when the branch has no 党小组

Joining through an invite makes a person at most 党员, also when they confirm a roster entry that names an office:
the office comes from the 书记 (/setrole, or a claim link; handlers/membership.py). The conversation is kept in the
database across restarts (bot.persistence), its draft stored under its class path ``handlers.branch:JoinDraft``:
hence this module's name. (/setup, /import: handlers/branch_setup.py; /members, /setrole, /group:
handlers/branch_roles.py.)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from telegram import Message, Update, User
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    filters,
)
from telegram.helpers import create_deep_linked_url
from telegram.warnings import PTBUserWarning

from bot.models import ORGANIZER_ROLES, MemberStatus, Role
from bot.services import branches
from bot.services.branches import BranchError
from bot.services.text_hygiene import parse_id
from bot.services.when import format_when
from handlers import branch_texts as texts
from handlers.branch_common import refuse, say
from handlers.common import caller_or_refuse, rollback_and_reply, sessions, typed
from handlers.formatting import escape
from handlers.keyboards import Action, button_rows, decode

JOIN_PREFIX = "join_"  # deep-link payload: join_<invite token>
JOIN_LINK = filters.Regex(rf"^/start(@\w+)?\s+{JOIN_PREFIX}")
JOIN_PATTERN = f"^{Action.JOIN}:"

REVOKE = "revoke"  # /invite revoke

# conversation states
NAME, LINK, STATUS, GROUP, CONFIRM = range(5)

_DRAFT_KEY = "join_draft"
_STATUS_CODES = {"f": MemberStatus.FULL, "p": MemberStatus.PROBATIONARY}
_YES, _NO = "y", "n"


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
                link=create_deep_linked_url(context.bot.username, f"{JOIN_PREFIX}{link.token}"),
                expires=format_when(link.expires_at, branches.branch_time(caller.branch, now)),
                uses=link.max_uses,
            )
    await message.reply_text(text)


# -- joining through an invite link ---------------------------------------------------------------------------------


def join_conversation() -> ConversationHandler[Any]:
    """The join flow: entered by ``/start join_<token>`` in a private chat."""
    pattern = f"^{Action.JOIN}:{{}}\\."
    pressed_instead = typed(_press_a_button)
    with warnings.catch_warnings():
        # The buttons belong to the person's flow, not to one message: tracking per chat and user is intended.
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("start", _join_start, filters.ChatType.PRIVATE & JOIN_LINK)],
            states={
                NAME: [typed(_join_name)],
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
        await refuse(update, refusal)
        return ConversationHandler.END
    _user_data(context)[_DRAFT_KEY] = JoinDraft(token, offer)
    await say(update, texts.JOIN_WELCOME.format(branch=escape(offer.branch_name)))
    return NAME


async def _join_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    draft = _draft(context)
    try:
        draft.name = branches.clean_name(
            cast(Message, update.effective_message).text or "", texts.NAME_FIELD, branches.MAX_MEMBER_NAME_CHARS
        )
    except BranchError as refusal:
        await refuse(update, refusal)
        return NAME
    async with sessions(context)() as session:
        entry = await branches.find_roster_entry(session, draft.offer.branch_id, draft.name)
        group = await branches.group_name(session, entry.party_group_id) if entry else None
    if entry is None:
        return await _ask_status(update, draft)
    draft.roster_member_id = entry.id
    office = texts.JOIN_ROSTER_OFFICE.format(role=entry.role) if entry.role != Role.MEMBER else ""
    await say(
        update,
        texts.JOIN_ROSTER_MATCH.format(
            name=escape(entry.name), status=entry.status, group=escape(group or texts.NO_GROUP), office=office
        ),
        button_rows(Action.JOIN, [[(texts.BUTTON_ROSTER_YES, f"l.{_YES}"), (texts.BUTTON_ROSTER_NO, f"l.{_NO}")]]),
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
    await say(update, texts.JOIN_ASK_GROUP, button_rows(Action.JOIN, [*rows, [(texts.BUTTON_SKIP_GROUP, "g.0")]]))
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
    await say(update, texts.JOIN_CANCELLED)
    return ConversationHandler.END


async def _press_a_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await say(update, texts.JOIN_PRESS_A_BUTTON)


async def _ask_status(update: Update, draft: JoinDraft) -> int:
    buttons = [(status.value, f"s.{code}") for code, status in _STATUS_CODES.items()]
    await say(update, texts.JOIN_ASK_STATUS.format(name=escape(draft.name)), button_rows(Action.JOIN, [buttons]))
    return STATUS


async def _ask_confirm(update: Update, draft: JoinDraft) -> int:
    summary = texts.JOIN_CONFIRM.format(
        branch=escape(draft.offer.branch_name),
        name=escape(draft.name),
        status=draft.status.value,
        group=escape(draft.group_name),
    )
    buttons = [(texts.BUTTON_CONFIRM, f"c.{_YES}"), (texts.BUTTON_CANCEL, f"c.{_NO}")]
    await say(update, summary, button_rows(Action.JOIN, [buttons]))
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
        await say(update, escape(str(refusal)))
        return ConversationHandler.END
    await say(update, texts.JOIN_DONE.format(branch=escape(joined.branch.name)))
    return ConversationHandler.END


def _user_data(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    return cast(dict[Any, Any], context.user_data)


def _draft(context: ContextTypes.DEFAULT_TYPE) -> JoinDraft:
    return cast(JoinDraft, _user_data(context)[_DRAFT_KEY])


async def _choice(update: Update) -> str:
    """Acknowledge a join-flow button, take the buttons off its message, and return what was chosen."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    button = decode(query.data)
    return button.argument.partition(".")[2] if button else ""
