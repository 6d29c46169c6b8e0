"""Activities: /new (guided with buttons, or one line), /record, /activities, /cancel, /done and /move.

``/new`` alone starts the guided flow, one conversation per chat and user. ``/cancel`` leaves it at any step,
``/new`` starts over, and a flow left alone for FLOW_TIMEOUT ends by itself (so a forgotten flow does not keep
reading someone's group messages). A 党小组长 skips KIND: only a 党小组会 of their own 党小组 is theirs to set up.

```mermaid
flowchart LR
    start(["/new"]) --> KIND
    KIND -- "kind, 同时作为 toggles, 下一步" --> DATE
    DATE -- "今天/明天/后天, or typed" --> TIME --> PLACE --> TOPIC
    TOPIC -- 党课 --> LECTURER
    TOPIC -- "党小组会, several 党小组" --> PARTY_GROUP
    LECTURER -- "党小组会, several 党小组" --> PARTY_GROUP
    TOPIC --> CONFIRM
    LECTURER --> CONFIRM
    PARTY_GROUP --> CONFIRM
    CONFIRM -- 确认发布 --> posted(["announced in the group"])
    CONFIRM -- 取消 --> dropped(["nothing saved"])
```

CONFIRM shows the announcement exactly as it will be posted. ``/new 支委会 2026-12-03 15:00 会议室 主题`` creates at
once and ``/new 预览 …`` only shows the announcement (the syntax is in bot.services.activities). The announcement
carries 签到/请假 buttons (`announcement_keyboard`, answered by the check-in handlers); /cancel and /move edit it.
``/done ID`` without minutes asks for them (state MINUTES): the next text, or a .docx/.pdf/.txt document.

In groups the bot sees only messages addressed to it (privacy mode), so typed answers there are asked for with
ForceReply: the user's client opens a reply to the bot's question.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum, auto

from telegram import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.models import ActivityKind, ActivityStatus, Role
from bot.services import when
from bot.services.access import Caller
from bot.services.activities import (
    MANAGER_ROLES,
    MAX_PLACE_CHARS,
    MAX_TOPIC_CHARS,
    ActivityInfo,
    ActivityListing,
    ActivityRefused,
    ActivityRequest,
    Refusal,
    branch_time,
    cancel_activity,
    check_future,
    check_lecturer,
    check_place,
    check_topic,
    creatable_kinds,
    create_activity,
    list_activities,
    mark_held,
    move_activity,
    parse_activity_line,
    party_group_choices,
    preview_activity,
    ready_for_minutes,
    record_activity,
    set_announcement,
)
from bot.services.text_hygiene import parse_id
from handlers import activities_texts as texts
from handlers.common import caller_or_refuse, replan_soon, reply, sessions
from handlers.formatting import escape
from handlers.keyboards import Action, decode, encode

logger = logging.getLogger(__name__)

KIND, DATE, TIME, PLACE, TOPIC, LECTURER, PARTY_GROUP, CONFIRM, MINUTES = range(9)
FLOW_TIMEOUT = timedelta(minutes=15)
NEW_PATTERN = f"^{Action.NEW}:"

_KINDS = list(ActivityKind)
# Kinds offered as "also counts as": 其他 adds nothing to any requirement.
_ALSO_KINDS = [kind for kind in ActivityKind if kind is not ActivityKind.OTHER]
_DRAFT_KEY = "activities.new"
_MINUTES_KEY = "activities.minutes"
# An id is [0-9]{1,9} (as text_hygiene.parse_id): "²" or "١" is a mistyped id, answered with the usage.
_ID_AND_REST = re.compile(r"\s*#?([0-9]{1,9})(?:\s+(.*?))?\s*", re.DOTALL)
_GROUP_ANSWER = ForceReply(selective=True)

_Problem = ActivityRefused | when.WhenError


# -- the announcement -----------------------------------------------------------------------------------------------


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
    lines.append(texts.WHEN_LINE.format(when=_when(info, now)))
    lines.append(texts.PLACE_LINE.format(place=escape(info.place)))
    lines.append(texts.TOPIC_LINE.format(topic=escape(info.topic)))
    if info.lecturer:
        lines.append(texts.LECTURER_LINE.format(lecturer=escape(info.lecturer)))
    if info.party_group:
        lines.append(texts.PARTY_GROUP_LINE.format(group=escape(info.party_group)))
    lines += ["", texts.CANCELLED_FOOTER if cancelled else texts.ANNOUNCEMENT_FOOTER]
    return "\n".join(lines)


class _Posted(Enum):
    IN_GROUP = auto()
    NO_GROUP = auto()
    FAILED = auto()


async def _announce(context: ContextTypes.DEFAULT_TYPE, info: ActivityInfo, now: datetime) -> _Posted:
    """Post the announcement with its buttons in the branch's group and remember the message."""
    if info.group_chat_id is None or info.id is None:
        return _Posted.NO_GROUP
    try:
        sent = await context.bot.send_message(
            info.group_chat_id, announcement_text(info, now), reply_markup=announcement_keyboard(info.id)
        )
    except TelegramError as error:
        logger.info("activity %s: announcement not posted in chat %s: %s", info.id, info.group_chat_id, error)
        return _Posted.FAILED
    async with sessions(context)() as session:
        await set_announcement(session, activity_id=info.id, message_id=sent.message_id)
    return _Posted.IN_GROUP


def _created_text(info: ActivityInfo, posted: _Posted, chat_id: int, now: datetime) -> str:
    if posted is _Posted.IN_GROUP and chat_id == info.group_chat_id:
        template = texts.CREATED_IN_GROUP
    else:
        template = {
            _Posted.IN_GROUP: texts.CREATED_POSTED,
            _Posted.NO_GROUP: texts.CREATED_NO_GROUP,
            _Posted.FAILED: texts.CREATED_NOT_POSTED,
        }[posted]
    return template.format(id=info.id, announcement=announcement_text(info, now))


async def _sync_group(
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


# -- small helpers --------------------------------------------------------------------------------------------------


def _when(info: ActivityInfo, now: datetime) -> str:
    return when.format_when(info.starts_at, branch_time(info.timezone, now))


def _kinds(info: ActivityInfo) -> str:
    return "+".join(info.kinds)


def _message(update: Update) -> Message:
    message = update.effective_message
    assert isinstance(message, Message)  # the handlers below are only routed messages
    return message


def _command_rest(message: Message) -> str:
    """The text after the /command word, line breaks kept."""
    parts = (message.text or "").split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def _refusal_text(refusal: _Problem) -> str:
    if isinstance(refusal, ActivityRefused):
        details = {name: escape(value) for name, value in refusal.details.items()}
        return texts.REFUSALS[refusal.reason].format(**details)
    return escape(str(refusal))


async def _refuse(update: Update, refusal: _Problem) -> None:
    logger.info("refused update %s: %s", update.update_id, refusal)
    await reply(update, _refusal_text(refusal))


async def _authorized(
    update: Update, context: ContextTypes.DEFAULT_TYPE, action: str, roles: frozenset[Role] | None = MANAGER_ROLES
) -> Caller | None:
    """The caller if they may do ``action`` in this chat (else the refusal is sent)."""
    async with sessions(context)() as session:
        return await caller_or_refuse(update, session, action, roles)


async def _ask(message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None) -> Message:
    """Ask the user for the next answer; in groups a typed answer must be a reply to this question."""
    markup = keyboard if keyboard is not None or message.chat.type == ChatType.PRIVATE else _GROUP_ANSWER
    return await message.reply_text(text, reply_markup=markup)


# -- one-line /new and /record --------------------------------------------------------------------------------------


async def _new_one_line(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller, line: str) -> None:
    message = _message(update)
    now = datetime.now(UTC)
    words = line.split(maxsplit=1)
    dry_run = words[0] == texts.PREVIEW_WORD
    if dry_run:
        line = words[1] if len(words) > 1 else ""
    try:
        request = parse_activity_line(line, now=now, timezone=caller.branch.timezone)
        async with sessions(context)() as session:
            act = preview_activity if dry_run else create_activity
            info = await act(session, member_id=caller.member.id, request=request, now=now)
    except (ActivityRefused, when.WhenError) as refusal:
        await _refuse(update, refusal)
        return
    if dry_run:
        await message.reply_text(texts.PREVIEW.format(announcement=announcement_text(info, now)))
        return
    replan_soon(context, info.branch_id)
    posted = await _announce(context, info, now)
    await message.reply_text(_created_text(info, posted, message.chat_id, now))


async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/record KINDS WHEN PLACE TOPIC — 补录 an activity that already took place."""
    message = _message(update)
    line = _command_rest(message)
    if not line.strip():
        await message.reply_text(texts.RECORD_USAGE)
        return
    caller = await _authorized(update, context, texts.ACTION_RECORD)
    if caller is None:
        return
    now = datetime.now(UTC)
    try:
        request = parse_activity_line(line, now=now, timezone=caller.branch.timezone)
        async with sessions(context)() as session:
            info = await record_activity(session, member_id=caller.member.id, request=request, now=now)
    except (ActivityRefused, when.WhenError) as refusal:
        await _refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    await message.reply_text(
        texts.RECORDED.format(
            id=info.id,
            kinds=_kinds(info),
            when=_when(info, now),
            place=escape(info.place),
            topic=escape(info.topic),
        )
    )


# -- the guided /new flow -------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """What the organizer has chosen so far in this chat; ``prompt_id`` is the message whose buttons are live."""

    member_id: int
    timezone: str
    kinds: list[ActivityKind] = field(default_factory=list)
    day: date | None = None
    starts_at: datetime | None = None
    place: str = ""
    topic: str = ""
    lecturer: str = ""
    party_group: str | None = None
    group_choices: dict[int, str] = field(default_factory=dict)
    prompt_id: int | None = None

    def request(self) -> ActivityRequest:
        assert self.starts_at is not None
        return ActivityRequest(
            kinds=tuple(self.kinds),
            starts_at=self.starts_at,
            place=self.place,
            topic=self.topic,
            lecturer=self.lecturer,
            party_group=self.party_group,
        )


def _flow_key(prefix: str, update: Update) -> str:
    chat = update.effective_chat
    return f"{prefix}:{chat.id if chat else 0}"


def _draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> _Draft | None:
    user_data = context.user_data if context.user_data is not None else {}
    return user_data.get(_flow_key(_DRAFT_KEY, update))


def _keep(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: _Draft) -> None:
    if context.user_data is not None:
        context.user_data[_flow_key(_DRAFT_KEY, update)] = draft


def _forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if context.user_data is not None:
        context.user_data.pop(_flow_key(_DRAFT_KEY, update), None)
        context.user_data.pop(_flow_key(_MINUTES_KEY, update), None)


async def _new_timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """FLOW_TIMEOUT passed in the /new flow: its draft goes with it (not left in user_data, nor stored)."""
    if context.user_data is not None:
        context.user_data.pop(_flow_key(_DRAFT_KEY, update), None)
    _changed_outside_an_update(update, context)


async def _minutes_timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """FLOW_TIMEOUT passed while /done waited for minutes: forget which activity they were for."""
    if context.user_data is not None:
        context.user_data.pop(_flow_key(_MINUTES_KEY, update), None)
    _changed_outside_an_update(update, context)


def _changed_outside_an_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A timeout runs as a job, not an update: tell the persistence that this person's user_data changed."""
    if update.effective_user is not None:
        context.application.mark_data_for_update_persistence(user_ids=update.effective_user.id)


async def new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/new: with text, the one-line form; alone, the first step of the guided flow."""
    message = _message(update)
    caller = await _authorized(update, context, texts.ACTION_NEW)
    if caller is None:
        return ConversationHandler.END
    line = _command_rest(message)
    if line.strip():
        await _new_one_line(update, context, caller, line)
        return ConversationHandler.END
    assert caller.member.id is not None
    draft = _Draft(member_id=caller.member.id, timezone=caller.branch.timezone)
    _keep(update, context, draft)
    kinds = creatable_kinds(caller.role)
    if len(kinds) == 1:
        draft.kinds = [kinds[0]]
        await message.reply_text(texts.ONLY_KIND)
        return await _ask_date(message, draft)
    rows = [
        [InlineKeyboardButton(kind, callback_data=encode(Action.NEW, f"k.{_KINDS.index(kind)}")) for kind in pair]
        for pair in (kinds[i : i + 2] for i in range(0, len(kinds), 2))
    ]
    draft.prompt_id = (await _ask(message, texts.ASK_KIND, InlineKeyboardMarkup(rows))).message_id
    return KIND


async def _flow_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> tuple[CallbackQuery, _Draft, str] | None:
    """The press, the draft and the button's argument, if the press is on this flow's live question.

    Anything else (an older question's buttons, forged data) is answered as stale and gives None.
    """
    query = update.callback_query
    assert query is not None
    draft = _draft(update, context)
    button = decode(query.data)
    if (
        draft is None
        or button is None
        or button.action is not Action.NEW
        or query.message is None
        or query.message.message_id != draft.prompt_id
    ):
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    return query, draft, button.argument


def _index(argument: str, prefix: str, size: int) -> int | None:
    """N from ``<prefix>.N`` when 0 <= N < size."""
    head, _, number = argument.partition(".")
    index = parse_id(number) if head == prefix else None
    return index if index is not None and index < size else None


async def on_kind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """KIND: the main kind (``k.N``), then "also counts as" toggles (``a.N``) and 下一步 (``go``)."""
    press = await _flow_press(update, context)
    if press is None:
        return None
    query, draft, argument = press
    message = query.message
    assert isinstance(message, Message)
    if (main := _index(argument, "k", len(_KINDS))) is not None:
        draft.kinds = [_KINDS[main]]
    elif draft.kinds and (also := _index(argument, "a", len(_ALSO_KINDS))) is not None:
        kind = _ALSO_KINDS[also]
        if kind in draft.kinds[1:]:
            draft.kinds.remove(kind)
        elif kind is not draft.kinds[0]:
            draft.kinds.append(kind)
    elif draft.kinds and argument == "go":
        await query.answer()
        await message.edit_text(texts.ALSO_CHOSEN.format(kinds="+".join(draft.kinds)))
        return await _ask_date(message, draft)
    else:
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    await query.answer()
    await message.edit_text(texts.ASK_ALSO.format(kind=draft.kinds[0]), reply_markup=_also_keyboard(draft))
    return KIND


def _also_keyboard(draft: _Draft) -> InlineKeyboardMarkup:
    main = draft.kinds[0]
    buttons = [
        InlineKeyboardButton(
            f"{'☑️' if kind in draft.kinds else '⬜'} {kind}", callback_data=encode(Action.NEW, f"a.{index}")
        )
        for index, kind in enumerate(_ALSO_KINDS)
        if kind is not main
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(texts.NEXT_BUTTON, callback_data=encode(Action.NEW, "go"))])
    return InlineKeyboardMarkup(rows)


async def _ask_date(message: Message, draft: _Draft) -> int:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label, callback_data=encode(Action.NEW, f"d.{offset}"))
                for offset, label in enumerate(texts.DATE_BUTTONS)
            ]
        ]
    )
    draft.prompt_id = (await _ask(message, texts.ASK_DATE, keyboard)).message_id
    return DATE


async def on_date_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """DATE: 今天/明天/后天 (``d.0``–``d.2``)."""
    press = await _flow_press(update, context)
    if press is None:
        return None
    query, draft, argument = press
    offset = _index(argument, "d", len(texts.DATE_BUTTONS))
    if offset is None:
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    await query.answer()
    draft.day = branch_time(draft.timezone, datetime.now(UTC)).date() + timedelta(days=offset)
    message = query.message
    assert isinstance(message, Message)
    await message.edit_text(texts.DATE_CHOSEN.format(date=f"{draft.day:%Y-%m-%d}"))
    await _ask(message, texts.ASK_TIME)
    return TIME


async def on_date_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """DATE: a typed date (when.parse_date); a day already past is refused."""
    message, draft = _message(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    today = branch_time(draft.timezone, datetime.now(UTC))
    try:
        day = when.parse_date(message.text or "", today)
        if day < today.date():
            raise ActivityRefused(Refusal.IN_PAST)
    except (ActivityRefused, when.WhenError) as refusal:
        await _refuse(update, refusal)
        return None
    draft.day = day
    draft.prompt_id = None
    await _ask(message, texts.ASK_TIME)
    return TIME


async def on_time_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """TIME: a typed time of day (when.parse_time); together with the date it must be in the future."""
    message, draft = _message(update), _draft(update, context)
    if draft is None or draft.day is None:
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        starts_at = datetime.combine(
            draft.day, when.parse_time(message.text or ""), tzinfo=branch_time(draft.timezone, now).tzinfo
        )
        check_future(starts_at, now)
    except (ActivityRefused, when.WhenError) as refusal:
        await _refuse(update, refusal)
        return None
    draft.starts_at = starts_at
    await _ask(message, texts.ASK_PLACE.format(limit=MAX_PLACE_CHARS))
    return PLACE


async def on_place_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = _message(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    place = await _checked(update, check_place)
    if place is None:
        return None
    draft.place = place
    await _ask(message, texts.ASK_TOPIC.format(limit=MAX_TOPIC_CHARS))
    return TOPIC


async def on_topic_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = _message(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    topic = await _checked(update, check_topic)
    if topic is None:
        return None
    draft.topic = topic
    if ActivityKind.PARTY_LECTURE in draft.kinds:
        await _ask(message, texts.ASK_LECTURER)
        return LECTURER
    return await _after_lecturer(update, context, message, draft)


async def on_lecturer_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = _message(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    lecturer = await _checked(update, check_lecturer)
    if lecturer is None:
        return None
    draft.lecturer = lecturer
    if not draft.lecturer:
        await _ask(message, texts.ASK_LECTURER)
        return None
    return await _after_lecturer(update, context, message, draft)


async def _checked(update: Update, check: Callable[[str], str]) -> str | None:
    """The typed text as ``check`` accepts it, or None after telling the organizer what is wrong."""
    try:
        return check(_message(update).text or "")
    except ActivityRefused as refusal:
        await _refuse(update, refusal)
        return None


async def _after_lecturer(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, draft: _Draft) -> int:
    """PARTY_GROUP when an organizer must pick the 党小组 of a 党小组会, else CONFIRM."""
    if ActivityKind.PARTY_GROUP_MEETING in draft.kinds:
        async with sessions(context)() as session:
            choices = await party_group_choices(session, member_id=draft.member_id)
        if choices:
            draft.group_choices = {choice.id: choice.name for choice in choices}
            keyboard = InlineKeyboardMarkup(
                [[InlineKeyboardButton(c.name, callback_data=encode(Action.NEW, f"g.{c.id}"))] for c in choices]
            )
            draft.prompt_id = (await _ask(message, texts.ASK_PARTY_GROUP, keyboard)).message_id
            return PARTY_GROUP
    return await _ask_confirmation(update, context, message, draft)


async def on_party_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """PARTY_GROUP: ``g.<党小组 id>`` among the offered ones."""
    press = await _flow_press(update, context)
    if press is None:
        return None
    query, draft, argument = press
    head, _, number = argument.partition(".")
    group_id = parse_id(number) if head == "g" else None
    name = draft.group_choices.get(group_id) if group_id is not None else None
    if name is None:
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    await query.answer()
    draft.party_group = name
    message = query.message
    assert isinstance(message, Message)
    await message.edit_text(texts.PARTY_GROUP_CHOSEN.format(group=escape(name)))
    return await _ask_confirmation(update, context, message, draft)


async def _ask_confirmation(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, draft: _Draft) -> int:
    """CONFIRM: the dry run of the announcement with 确认发布 / 取消; a refusal here ends the flow."""
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await preview_activity(session, member_id=draft.member_id, request=draft.request(), now=now)
    except ActivityRefused as refusal:
        _forget(update, context)
        await message.reply_text(f"{_refusal_text(refusal)}\n{texts.FLOW_RESTART}")
        return ConversationHandler.END
    template = texts.CONFIRM if info.group_chat_id is not None else texts.CONFIRM_NO_GROUP
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts.CONFIRM_BUTTON, callback_data=encode(Action.NEW, "ok")),
                InlineKeyboardButton(texts.ABORT_BUTTON, callback_data=encode(Action.NEW, "no")),
            ]
        ]
    )
    sent = await message.reply_text(
        template.format(announcement=announcement_text(info, now)), reply_markup=keyboard, do_quote=False
    )
    draft.prompt_id = sent.message_id
    return CONFIRM


async def on_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """CONFIRM: ``ok`` creates and posts the activity, ``no`` drops the draft."""
    press = await _flow_press(update, context)
    if press is None:
        return None
    query, draft, argument = press
    message = query.message
    assert isinstance(message, Message)
    if argument == "no":
        _forget(update, context)
        await query.answer()
        await message.edit_text(texts.ABORTED)
        return ConversationHandler.END
    if argument != "ok":
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    caller = await _authorized(update, context, texts.ACTION_NEW)
    _forget(update, context)
    if caller is None:
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await create_activity(session, member_id=caller.member.id, request=draft.request(), now=now)
    except ActivityRefused as refusal:
        await _refuse(update, refusal)
        await message.edit_text(f"{_refusal_text(refusal)}\n{texts.FLOW_RESTART}")
        return ConversationHandler.END
    await query.answer()
    replan_soon(context, info.branch_id)
    posted = await _announce(context, info, now)
    await message.edit_text(_created_text(info, posted, message.chat_id, now))
    return ConversationHandler.END


async def leave_flow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/cancel inside a flow: leave it, nothing saved."""
    _forget(update, context)
    await _message(update).reply_text(texts.FLOW_LEFT)
    return ConversationHandler.END


async def stale_new_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /new button outside a live flow (finished, timed out, someone else's, or forged)."""
    assert update.callback_query is not None
    await update.callback_query.answer(texts.STALE_FLOW_BUTTON)


def _typed(callback: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[int | None]]) -> MessageHandler:
    return MessageHandler(filters.TEXT & ~filters.COMMAND, callback)


def new_conversation() -> ConversationHandler:
    """The /new flow (see the module docstring)."""
    with warnings.catch_warnings():
        # PTB warns that with per_message=False a button press is tracked per chat and user, not per message:
        # that is intended here (_flow_press checks the message itself).
        warnings.filterwarnings("ignore", "If 'per_message=False'", PTBUserWarning)
        return ConversationHandler(
            entry_points=[CommandHandler("new", new)],
            states={
                KIND: [CallbackQueryHandler(on_kind, pattern=NEW_PATTERN)],
                DATE: [CallbackQueryHandler(on_date_button, pattern=NEW_PATTERN), _typed(on_date_text)],
                TIME: [_typed(on_time_text)],
                PLACE: [_typed(on_place_text)],
                TOPIC: [_typed(on_topic_text)],
                LECTURER: [_typed(on_lecturer_text)],
                PARTY_GROUP: [CallbackQueryHandler(on_party_group, pattern=NEW_PATTERN)],
                CONFIRM: [CallbackQueryHandler(on_confirm, pattern=NEW_PATTERN)],
                ConversationHandler.TIMEOUT: [TypeHandler(Update, _new_timed_out)],
            },
            fallbacks=[CommandHandler("cancel", leave_flow)],
            allow_reentry=True,
            conversation_timeout=FLOW_TIMEOUT,
            name="new_activity",
            persistent=True,  # kept across restarts (bot.persistence)
        )


# -- /done ----------------------------------------------------------------------------------------------------------


async def done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/done ID [纪要]: mark held with the minutes; with the id alone, ask for them (MINUTES)."""
    message = _message(update)
    match = _ID_AND_REST.fullmatch(_command_rest(message))
    if match is None:
        await message.reply_text(texts.DONE_USAGE)
        return ConversationHandler.END
    caller = await _authorized(update, context, texts.ACTION_DONE)
    if caller is None:
        return ConversationHandler.END
    assert caller.member.id is not None
    activity_id, minutes = int(match[1]), match[2]
    if minutes:
        await _mark_held(update, context, (caller.member.id, activity_id), minutes=minutes)
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await ready_for_minutes(session, member_id=caller.member.id, activity_id=activity_id, now=now)
    except ActivityRefused as refusal:
        await _refuse(update, refusal)
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[_flow_key(_MINUTES_KEY, update)] = (caller.member.id, activity_id)
    await _ask(message, texts.ASK_MINUTES.format(id=activity_id, kinds=_kinds(info), when=_when(info, now)))
    return MINUTES


async def on_minutes_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = context.user_data.pop(_flow_key(_MINUTES_KEY, update), None) if context.user_data else None
    if target is not None:
        await _mark_held(update, context, target, minutes=(_message(update).text or "").strip())
    return ConversationHandler.END


async def on_minutes_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message = _message(update)
    document = message.document
    name = (document.file_name or "") if document else ""
    if document is None or not name.lower().endswith(texts.MINUTES_FILE_TYPES):
        await _ask(message, texts.WRONG_MINUTES_FILE)
        return None
    target = context.user_data.pop(_flow_key(_MINUTES_KEY, update), None) if context.user_data else None
    if target is not None:
        caption = (message.caption or "").strip() or None
        await _mark_held(update, context, target, minutes=caption, file_id=document.file_id, file_name=name)
    return ConversationHandler.END


async def _mark_held(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    target: tuple[int, int],
    *,
    minutes: str | None,
    file_id: str | None = None,
    file_name: str = "",
) -> None:
    member_id, activity_id = target
    try:
        async with sessions(context)() as session:
            info = await mark_held(
                session,
                member_id=member_id,
                activity_id=activity_id,
                now=datetime.now(UTC),
                minutes=minutes,
                minutes_file_id=file_id,
            )
    except ActivityRefused as refusal:
        await _refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    if file_id is not None:
        text = texts.MARKED_HELD_FILE.format(id=info.id, kinds=_kinds(info), name=escape(file_name))
    else:
        text = texts.MARKED_HELD.format(id=info.id, kinds=_kinds(info), chars=len(minutes or ""))
    await _message(update).reply_text(text)


def minutes_conversation() -> ConversationHandler:
    """/done, and the minutes it asks for when none were given."""
    return ConversationHandler(
        entry_points=[CommandHandler("done", done)],
        states={
            MINUTES: [
                _typed(on_minutes_text),
                MessageHandler(filters.Document.ALL, on_minutes_document),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, _minutes_timed_out)],
        },
        fallbacks=[CommandHandler("cancel", leave_flow)],
        allow_reentry=True,
        conversation_timeout=FLOW_TIMEOUT,
        name="activity_minutes",
        persistent=True,  # kept across restarts (bot.persistence)
    )


# -- /activities, /cancel, /move ------------------------------------------------------------------------------------


async def activities(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/activities: upcoming and recent activities of the caller's branch (any member)."""
    caller = await _authorized(update, context, texts.ACTION_LIST, roles=None)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    async with sessions(context)() as session:
        listing = await list_activities(session, member_id=caller.member.id, now=now)
    await _message(update).reply_text(_listing_text(listing, now))


def _listing_text(listing: ActivityListing, now: datetime) -> str:
    if not listing.upcoming and not listing.recent:
        return texts.LIST_EMPTY
    lines = [texts.LIST_TITLE.format(branch=escape(listing.branch_name)), "", texts.LIST_UPCOMING]
    lines += [_listing_line(info, now) for info in listing.upcoming] or [texts.LIST_NONE_UPCOMING]
    if listing.recent:
        lines += ["", texts.LIST_RECENT, *(_listing_line(info, now) for info in listing.recent)]
    return "\n".join(lines)


def _listing_line(info: ActivityInfo, now: datetime) -> str:
    status = texts.STATUS_NAMES[info.status] + (texts.LIST_RECORDED if info.recorded_after else "")
    return texts.LIST_LINE.format(
        id=info.id,
        kinds=_kinds(info),
        when=_when(info, now),
        place=escape(info.place),
        topic=escape(info.topic),
        status=status,
    )


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel ID (outside a flow): cancel a planned activity and mark its announcement cancelled."""
    message = _message(update)
    match = _ID_AND_REST.fullmatch(_command_rest(message))
    if match is None or match[2]:
        await message.reply_text(texts.CANCEL_USAGE)
        return
    caller = await _authorized(update, context, texts.ACTION_CANCEL)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await cancel_activity(session, member_id=caller.member.id, activity_id=int(match[1]), now=now)
    except ActivityRefused as refusal:
        await _refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    notice = texts.CANCELLED_NOTICE.format(kinds=_kinds(info), when=_when(info, now))
    note = await _sync_group(context, info, now, notice, message.chat_id)
    await message.reply_text(texts.CANCELLED.format(id=info.id, kinds=_kinds(info), when=_when(info, now)) + note)


async def move(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/move ID 新时间: move a planned activity (when.parse_when) and update its announcement."""
    message = _message(update)
    match = _ID_AND_REST.fullmatch(_command_rest(message))
    if match is None or not match[2]:
        await message.reply_text(texts.MOVE_USAGE)
        return
    caller = await _authorized(update, context, texts.ACTION_MOVE)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    try:
        starts_at = when.parse_when(match[2], branch_time(caller.branch.timezone, now))
        async with sessions(context)() as session:
            info = await move_activity(
                session, member_id=caller.member.id, activity_id=int(match[1]), starts_at=starts_at, now=now
            )
    except (ActivityRefused, when.WhenError) as refusal:
        await _refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    notice = texts.MOVED_NOTICE.format(kinds=_kinds(info), when=_when(info, now), place=escape(info.place))
    note = await _sync_group(context, info, now, notice, message.chat_id)
    await message.reply_text(texts.MOVED.format(id=info.id, when=_when(info, now)) + note)
