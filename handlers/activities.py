"""The guided /new conversation: an activity set up step by step with buttons, then announced in the group.

``/new`` alone starts the flow, one conversation per chat and user. ``/cancel`` leaves it at any step,
``/new`` starts over, and a flow left alone for FLOW_TIMEOUT ends by itself (so a forgotten flow does not keep
reading someone's group messages). A 党小组长 skips KIND: only a 党小组会 of their own 党小组 is theirs to set up.
``/new`` with text is the one-line form (handlers/activity_one_line.py).

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

CONFIRM shows the announcement exactly as it will be posted (handlers/activity_announcements.py). The draft is
kept across restarts (bot.persistence), stored under its class path ``handlers.activities:_Draft``: hence this
module's name.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    TypeHandler,
)
from telegram.warnings import PTBUserWarning

from bot.models import ActivityKind
from bot.services import when
from bot.services.activities import (
    MAX_PLACE_CHARS,
    MAX_TOPIC_CHARS,
    ActivityRefused,
    ActivityRequest,
    Refusal,
    branch_time,
    check_future,
    check_lecturer,
    check_place,
    check_topic,
    creatable_kinds,
    create_activity,
    party_group_choices,
    preview_activity,
)
from bot.services.text_hygiene import parse_id
from handlers import activities_texts as texts
from handlers.activity_announcements import announce, announcement_text, created_text
from handlers.activity_common import (
    CONFIRM,
    DATE,
    DRAFT_KEY,
    FLOW_TIMEOUT,
    KIND,
    LECTURER,
    PARTY_GROUP,
    PLACE,
    TIME,
    TOPIC,
    ask,
    authorized,
    changed_outside_an_update,
    command_rest,
    flow_key,
    forget_flows,
    leave_flow,
    message_of,
    refusal_text,
    refuse,
)
from handlers.activity_one_line import new_one_line
from handlers.common import replan_soon, sessions, typed
from handlers.formatting import escape
from handlers.keyboards import Action, button_rows, decode, in_pairs

NEW_PATTERN = f"^{Action.NEW}:"

_KINDS = list(ActivityKind)
# Kinds offered as "also counts as": 其他 adds nothing to any requirement.
_ALSO_KINDS = [kind for kind in ActivityKind if kind is not ActivityKind.OTHER]


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


def _draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> _Draft | None:
    user_data = context.user_data if context.user_data is not None else {}
    return user_data.get(flow_key(DRAFT_KEY, update))


def _keep(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: _Draft) -> None:
    if context.user_data is not None:
        context.user_data[flow_key(DRAFT_KEY, update)] = draft


async def _new_timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """FLOW_TIMEOUT passed in the /new flow: its draft goes with it (not left in user_data, nor stored)."""
    if context.user_data is not None:
        context.user_data.pop(flow_key(DRAFT_KEY, update), None)
    changed_outside_an_update(update, context)


async def new(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/new: with text, the one-line form; alone, the first step of the guided flow."""
    message = message_of(update)
    caller = await authorized(update, context, texts.ACTION_NEW)
    if caller is None:
        return ConversationHandler.END
    line = command_rest(message)
    if line.strip():
        await new_one_line(update, context, caller, line)
        return ConversationHandler.END
    assert caller.member.id is not None
    draft = _Draft(member_id=caller.member.id, timezone=caller.branch.timezone)
    _keep(update, context, draft)
    kinds = creatable_kinds(caller.role)
    if len(kinds) == 1:
        draft.kinds = [kinds[0]]
        await message.reply_text(texts.ONLY_KIND)
        return await _ask_date(message, draft)
    keyboard = button_rows(Action.NEW, in_pairs([(kind, f"k.{_KINDS.index(kind)}") for kind in kinds]))
    draft.prompt_id = (await ask(message, texts.ASK_KIND, keyboard)).message_id
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
    choices = [
        (f"{'☑️' if kind in draft.kinds else '⬜'} {kind}", f"a.{index}")
        for index, kind in enumerate(_ALSO_KINDS)
        if kind is not main
    ]
    return button_rows(Action.NEW, [*in_pairs(choices), [(texts.NEXT_BUTTON, "go")]])


async def _ask_date(message: Message, draft: _Draft) -> int:
    keyboard = button_rows(Action.NEW, [[(label, f"d.{offset}") for offset, label in enumerate(texts.DATE_BUTTONS)]])
    draft.prompt_id = (await ask(message, texts.ASK_DATE, keyboard)).message_id
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
    await ask(message, texts.ASK_TIME)
    return TIME


async def on_date_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """DATE: a typed date (when.parse_date); a day already past is refused."""
    message, draft = message_of(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    today = branch_time(draft.timezone, datetime.now(UTC))
    try:
        day = when.parse_date(message.text or "", today)
        if day < today.date():
            raise ActivityRefused(Refusal.IN_PAST)
    except (ActivityRefused, when.WhenError) as refusal:
        await refuse(update, refusal)
        return None
    draft.day = day
    draft.prompt_id = None
    await ask(message, texts.ASK_TIME)
    return TIME


async def on_time_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    """TIME: a typed time of day (when.parse_time); together with the date it must be in the future."""
    message, draft = message_of(update), _draft(update, context)
    if draft is None or draft.day is None:
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        starts_at = datetime.combine(
            draft.day, when.parse_time(message.text or ""), tzinfo=branch_time(draft.timezone, now).tzinfo
        )
        check_future(starts_at, now)
    except (ActivityRefused, when.WhenError) as refusal:
        await refuse(update, refusal)
        return None
    draft.starts_at = starts_at
    await ask(message, texts.ASK_PLACE.format(limit=MAX_PLACE_CHARS))
    return PLACE


async def on_place_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = message_of(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    place = await _checked(update, check_place)
    if place is None:
        return None
    draft.place = place
    await ask(message, texts.ASK_TOPIC.format(limit=MAX_TOPIC_CHARS))
    return TOPIC


async def on_topic_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = message_of(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    topic = await _checked(update, check_topic)
    if topic is None:
        return None
    draft.topic = topic
    if ActivityKind.PARTY_LECTURE in draft.kinds:
        await ask(message, texts.ASK_LECTURER)
        return LECTURER
    return await _after_lecturer(update, context, message, draft)


async def on_lecturer_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message, draft = message_of(update), _draft(update, context)
    if draft is None:
        return ConversationHandler.END
    lecturer = await _checked(update, check_lecturer)
    if lecturer is None:
        return None
    draft.lecturer = lecturer
    if not draft.lecturer:
        await ask(message, texts.ASK_LECTURER)
        return None
    return await _after_lecturer(update, context, message, draft)


async def _checked(update: Update, check: Callable[[str], str]) -> str | None:
    """The typed text as ``check`` accepts it, or None after telling the organizer what is wrong."""
    try:
        return check(message_of(update).text or "")
    except ActivityRefused as refusal:
        await refuse(update, refusal)
        return None


async def _after_lecturer(update: Update, context: ContextTypes.DEFAULT_TYPE, message: Message, draft: _Draft) -> int:
    """PARTY_GROUP when an organizer must pick the 党小组 of a 党小组会, else CONFIRM."""
    if ActivityKind.PARTY_GROUP_MEETING in draft.kinds:
        async with sessions(context)() as session:
            choices = await party_group_choices(session, member_id=draft.member_id)
        if choices:
            draft.group_choices = {choice.id: choice.name for choice in choices}
            keyboard = button_rows(Action.NEW, [[(choice.name, f"g.{choice.id}")] for choice in choices])
            draft.prompt_id = (await ask(message, texts.ASK_PARTY_GROUP, keyboard)).message_id
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
        forget_flows(update, context)
        await message.reply_text(f"{refusal_text(refusal)}\n{texts.FLOW_RESTART}")
        return ConversationHandler.END
    template = texts.CONFIRM if info.group_chat_id is not None else texts.CONFIRM_NO_GROUP
    keyboard = button_rows(Action.NEW, [[(texts.CONFIRM_BUTTON, "ok"), (texts.ABORT_BUTTON, "no")]])
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
        forget_flows(update, context)
        await query.answer()
        await message.edit_text(texts.ABORTED)
        return ConversationHandler.END
    if argument != "ok":
        await query.answer(texts.STALE_FLOW_BUTTON)
        return None
    caller = await authorized(update, context, texts.ACTION_NEW)
    forget_flows(update, context)
    if caller is None:
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await create_activity(session, member_id=caller.member.id, request=draft.request(), now=now)
    except ActivityRefused as refusal:
        await refuse(update, refusal)
        await message.edit_text(f"{refusal_text(refusal)}\n{texts.FLOW_RESTART}")
        return ConversationHandler.END
    await query.answer()
    replan_soon(context, info.branch_id)
    posted = await announce(context, info, now)
    await message.edit_text(created_text(info, posted, message.chat_id, now))
    return ConversationHandler.END


async def stale_new_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /new button outside a live flow (finished, timed out, someone else's, or forged)."""
    assert update.callback_query is not None
    await update.callback_query.answer(texts.STALE_FLOW_BUTTON)


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
                DATE: [CallbackQueryHandler(on_date_button, pattern=NEW_PATTERN), typed(on_date_text)],
                TIME: [typed(on_time_text)],
                PLACE: [typed(on_place_text)],
                TOPIC: [typed(on_topic_text)],
                LECTURER: [typed(on_lecturer_text)],
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
