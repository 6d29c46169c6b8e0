"""签到 and 请假: the buttons under an activity's announcement, /checkin [签到码], /leave, and the organizers'
/proxy (代签/补签), /code (签到码) and /attendance (出勤情况).

Leave is asked in the member's private chat. The leave is recorded as soon as a reason is picked; the note after it
is optional, so the conversation that waits for it may live in this process only (a restart, or another instance
answering, loses at most the note):

    请假 button / /leave ──▶ reason buttons ──(lr:<id>.<reason>)──▶ leave recorded; NOTE
    NOTE ──a text message──▶ note saved            NOTE ──跳过 (lr:<id>.-) or 10 minutes──▶ done
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import CallbackQueryHandler, ContextTypes, ConversationHandler, MessageHandler, TypeHandler, filters
from telegram.warnings import PTBUserWarning

from bot.models import MANAGER_ROLES, Activity, AttendanceMethod, Branch, LeaveReason, Member
from bot.services import attendance
from bot.services.access import AccessDenied
from bot.services.attendance import Outcome, Result
from bot.services.checkin_batch import Press
from bot.services.checkin_window import checkin_window
from bot.services.text_hygiene import parse_id
from bot.services.when import format_when
from handlers import checkin_texts as texts
from handlers.common import caller_or_refuse, checkins, is_private, rollback_and_reply, sessions
from handlers.formatting import escape, split_message
from handlers.keyboards import Action, decode, encode

CHECKIN_PATTERN = f"^{Action.CHECKIN}:"
LEAVE_PATTERN = f"^{Action.LEAVE}:"
LEAVE_REASON_PATTERN = f"^{Action.LEAVE_REASON}:"

NOTE = 0  # conversation state: waiting for the optional leave note
NOTE_TIMEOUT = timedelta(minutes=10)
NOTE_LIMIT = 100  # characters; the column holds 200
SKIP_NOTE = "-"  # the reason part of the 跳过 button's data
_NOTE_FOR = "leave_note_activity_id"  # user_data: the activity whose leave the next text describes
_OFF_WORDS = frozenset({"off", "关闭", "关"})
_LEAVE_WORD = "请假"


# -- 签到 -----------------------------------------------------------------------------------------------------------


async def checkin_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """签到 under an announcement (or a choice offered by /checkin): answered with an alert, always."""
    query = cast(CallbackQuery, update.callback_query)
    activity_id = await _pressed_activity(query, Action.CHECKIN)
    if activity_id is None:
        return
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    method = AttendanceMethod.COMMAND if is_private(update) else AttendanceMethod.BUTTON
    press = Press(user.id, chat.id, is_private(update), activity_id, method, texts.ACTION_CHECKIN)
    try:
        caller, result = await checkins(context).check_in(press)
    except AccessDenied as refusal:
        await query.answer(str(refusal), show_alert=True)
        return
    await query.answer(_checkin_text(result, _local(caller.branch, datetime.now(UTC)), alert=True), show_alert=True)


async def checkin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/checkin (the open activity, or a choice) and /checkin 4827 (the open activity with that code); private."""
    message = cast(Message, update.effective_message)
    if not is_private(update):
        await message.reply_text(texts.USE_PRIVATE_CHECKIN)
        return
    now = datetime.now(UTC)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_CHECKIN)
        if caller is None:
            return
        if context.args:
            result = await attendance.check_in_with_code(session, caller.member, context.args[0], now=now)
        else:
            result = await attendance.check_in_open(session, caller.member, now=now)
    local_now = _local(caller.branch, now)
    if result.outcome == Outcome.CHOOSE:
        keyboard = _choices(result.choices, Action.CHECKIN, local_now)
        await message.reply_text(texts.CHOOSE_CHECKIN, reply_markup=keyboard)
        return
    await message.reply_text(_checkin_text(result, local_now, alert=False))


def _checkin_text(result: Result, local_now: datetime, *, alert: bool) -> str:
    """A check-in outcome in words: plain and short for an alert, HTML (with the activity) for a message."""
    activity = result.activity
    match result.outcome:
        case Outcome.CHECKED_IN if not alert:
            return texts.CHECKED_IN_TO.format(title=escape(_title(cast(Activity, activity), local_now)))
        case Outcome.NOTHING_OPEN if activity is not None:
            opens = format_when(checkin_window(activity).opens_at, local_now)
            title = escape(_title(activity, local_now))
            return f"{texts.NOTHING_OPEN}\n{texts.NEXT_OPENS.format(title=title, opens=opens)}"
        case Outcome.NOT_OPEN_YET:
            return texts.NOT_OPEN_YET.format(
                opens=format_when(checkin_window(cast(Activity, activity)).opens_at, local_now)
            )
        case Outcome.CLOSED:
            return texts.CLOSED.format(
                closes=format_when(checkin_window(cast(Activity, activity)).closes_at, local_now)
            )
        case Outcome.WRONG_CODE:
            return texts.WRONG_CODE.format(tries=result.tries_left)
    return {
        Outcome.NOT_FOUND: texts.NOT_FOUND,
        Outcome.CANCELLED: texts.CHECKIN_CANCELLED,
        Outcome.CODE_REQUIRED: texts.CODE_REQUIRED,
        Outcome.CODE_LOCKED: texts.CODE_LOCKED,
        Outcome.BAD_CODE_FORMAT: texts.BAD_CODE_FORMAT,
        Outcome.NO_CODE_NEEDED: texts.NO_CODE_NEEDED,
        Outcome.NOTHING_OPEN: texts.NOTHING_OPEN,
        Outcome.CHECKED_IN: texts.CHECKED_IN,
        Outcome.CHECKED_IN_INSTEAD_OF_LEAVE: texts.CHECKED_IN_INSTEAD_OF_LEAVE,
        Outcome.ALREADY_PRESENT: texts.ALREADY_PRESENT,
    }[result.outcome]


# -- 请假 -----------------------------------------------------------------------------------------------------------


async def leave_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """请假 under an announcement (or a choice offered by /leave): the reasons are asked in the private chat."""
    query = cast(CallbackQuery, update.callback_query)
    activity_id = await _pressed_activity(query, Action.LEAVE)
    if activity_id is None:
        return
    now = datetime.now(UTC)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_LEAVE)
        if caller is None:
            return
        result = await attendance.check_leave(session, caller.member, activity_id, now=now)
    local_now = _local(caller.branch, now)
    if result.outcome != Outcome.LEAVE_POSSIBLE:
        await query.answer(_leave_refusal(result, local_now), show_alert=True)
        return
    text, keyboard = _reason_question(cast(Activity, result.activity), local_now)
    try:
        await context.bot.send_message(query.from_user.id, text, reply_markup=keyboard)
    except (Forbidden, BadRequest) as error:
        # A member who never opened a private chat with the bot: 403 (Telegram) or "chat not found".
        if isinstance(error, BadRequest) and "chat not found" not in error.message.lower():
            raise
        await query.answer(texts.LEAVE_OPEN_PRIVATE_FIRST, show_alert=True)
        return
    if is_private(update):
        await query.answer()
    else:
        await query.answer(texts.LEAVE_GO_PRIVATE, show_alert=True)


async def leave_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/leave (a choice if several activities are ahead), or /leave 出差 去北京培训 for the only one; private."""
    message = cast(Message, update.effective_message)
    if not is_private(update):
        await message.reply_text(texts.USE_PRIVATE_LEAVE)
        return
    now = datetime.now(UTC)
    reason, note = _leave_words(context.args or [])
    if note is not None and len(note) > NOTE_LIMIT:
        await message.reply_text(texts.NOTE_TOO_LONG.format(limit=NOTE_LIMIT))
        return
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_LEAVE)
        if caller is None:
            return
        result = await attendance.leave_choices(session, caller.member, now=now)
        if result.outcome == Outcome.LEAVE_POSSIBLE and context.args:
            activity_id = cast(int, cast(Activity, result.activity).id)
            result = await attendance.request_leave(session, caller, activity_id, reason, note, now=now)
    local_now = _local(caller.branch, now)
    match result.outcome:
        case Outcome.NOTHING_UPCOMING:
            await message.reply_text(texts.NOTHING_UPCOMING)
        case Outcome.CHOOSE:
            await message.reply_text(texts.CHOOSE_LEAVE, reply_markup=_choices(result.choices, Action.LEAVE, local_now))
        case Outcome.LEAVE_POSSIBLE:
            text, keyboard = _reason_question(cast(Activity, result.activity), local_now)
            await message.reply_text(text, reply_markup=keyboard)
        case Outcome.LEAVE_RECORDED:
            await message.reply_text(_leave_recorded(result, reason, result.note, local_now))
        case _:
            await message.reply_text(_leave_refusal(result, local_now))


async def leave_reason_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A reason picked (the leave is recorded, then the note is asked), or 跳过 (nothing more to record)."""
    _forget_note(context)  # a note asked for before is no longer awaited
    query = cast(CallbackQuery, update.callback_query)
    button = decode(query.data)
    id_text, _, reason_text = button.argument.partition(".") if button else ("", "", "")
    activity_id = parse_id(id_text)
    if activity_id is None or reason_text not in {SKIP_NOTE, *LeaveReason}:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
        return ConversationHandler.END
    if reason_text == SKIP_NOTE:
        await query.answer()
        await context.bot.send_message(query.from_user.id, texts.NOTE_SKIPPED)
        return ConversationHandler.END
    now = datetime.now(UTC)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_LEAVE)
        if caller is None:
            return ConversationHandler.END
        result = await attendance.request_leave(session, caller, activity_id, LeaveReason(reason_text), None, now=now)
    local_now = _local(caller.branch, now)
    if result.outcome != Outcome.LEAVE_RECORDED:
        await query.answer(_leave_refusal(result, local_now), show_alert=True)
        return ConversationHandler.END
    await query.answer()
    recorded = _leave_recorded(result, LeaveReason(reason_text), None, local_now)
    skip = InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.SKIP, callback_data=encode(Action.LEAVE_REASON, f"{activity_id}.{SKIP_NOTE}"))]]
    )
    await context.bot.send_message(
        query.from_user.id, f"{recorded}\n{texts.ASK_NOTE.format(limit=NOTE_LIMIT)}", reply_markup=skip
    )
    cast(dict, context.user_data)[_NOTE_FOR] = activity_id
    return NOTE


async def leave_note_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """The optional note after a leave reason ("跳过" typed works like the button)."""
    message = cast(Message, update.effective_message)
    note = (message.text or "").strip()
    activity_id = cast(dict, context.user_data).get(_NOTE_FOR)
    if note == texts.SKIP or activity_id is None:
        _forget_note(context)
        await message.reply_text(texts.NOTE_SKIPPED)
        return ConversationHandler.END
    if len(note) > NOTE_LIMIT:
        await message.reply_text(texts.NOTE_TOO_LONG.format(limit=NOTE_LIMIT))
        return NOTE
    _forget_note(context)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_LEAVE)
        if caller is None:
            return ConversationHandler.END
        result = await attendance.set_leave_note(session, caller, activity_id, note)
    await message.reply_text(texts.NOTE_SAVED if result.outcome == Outcome.NOTE_SAVED else texts.NOTE_NO_LEAVE)
    return ConversationHandler.END


async def _note_timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """NOTE_TIMEOUT passed without a note: the leave stands as recorded, the wait for its note ends."""
    _forget_note(context)
    if update.effective_user is not None:  # a timeout runs as a job, not an update: mark the change for persistence
        context.application.mark_data_for_update_persistence(user_ids=update.effective_user.id)


def _forget_note(context: ContextTypes.DEFAULT_TYPE) -> None:
    """No note awaited any more: an emptied user_data is not kept (bot.persistence deletes its row)."""
    if context.user_data is not None:
        context.user_data.pop(_NOTE_FOR, None)


def leave_note_conversation() -> ConversationHandler:
    """Reason buttons start it; a text message or 跳过 ends it. Register before the generic text handlers."""
    with warnings.catch_warnings():
        # PTB warns that with per_message=False a CallbackQueryHandler is not tracked per message; one
        # conversation per user and chat is exactly what the note needs.
        warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
        return ConversationHandler(
            entry_points=[CallbackQueryHandler(leave_reason_button, pattern=LEAVE_REASON_PATTERN)],
            states={
                NOTE: [MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, leave_note_text)],
                ConversationHandler.TIMEOUT: [TypeHandler(Update, _note_timed_out)],
            },
            fallbacks=[],
            allow_reentry=True,
            conversation_timeout=NOTE_TIMEOUT,
            name="leave_note",
            persistent=True,  # kept across restarts (bot.persistence)
        )


def _leave_refusal(result: Result, local_now: datetime) -> str:
    if result.outcome == Outcome.CLOSED:
        return texts.LEAVE_CLOSED.format(
            closes=format_when(checkin_window(cast(Activity, result.activity)).closes_at, local_now)
        )
    return {
        Outcome.NOT_FOUND: texts.NOT_FOUND,
        Outcome.CANCELLED: texts.LEAVE_CANCELLED,
        Outcome.ALREADY_PRESENT: texts.LEAVE_AFTER_PRESENT,
    }[result.outcome]


def _leave_recorded(result: Result, reason: LeaveReason, note: str | None, local_now: datetime) -> str:
    return texts.LEAVE_RECORDED.format(
        reason=escape(_leave_detail(reason, note)), title=escape(_title(cast(Activity, result.activity), local_now))
    )


def _reason_question(activity: Activity, local_now: datetime) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        InlineKeyboardButton(reason.value, callback_data=encode(Action.LEAVE_REASON, f"{activity.id}.{reason.value}"))
        for reason in LeaveReason
    ]
    keyboard = InlineKeyboardMarkup([buttons[:2], buttons[2:]])
    return texts.ASK_REASON.format(title=escape(_title(activity, local_now))), keyboard


def _leave_words(words: Sequence[str]) -> tuple[LeaveReason, str | None]:
    """The words after /leave or 请假: 出差 去北京培训 -> (出差, 去北京培训); without a known reason first, all
    the words are a note under 其他."""
    if words and words[0] in set(LeaveReason):
        return LeaveReason(words[0]), " ".join(words[1:]) or None
    return LeaveReason.OTHER, " ".join(words) or None


def _leave_detail(reason: str | None, note: str | None) -> str:
    return texts.LEAVE_DETAIL_SEPARATOR.join(part for part in (reason, note) if part)


# -- organizers -----------------------------------------------------------------------------------------------------


async def proxy_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/proxy ID 姓名 (代签/补签 present) or /proxy ID 姓名 请假 [原因] [说明]; allowed after the activity too."""
    message = cast(Message, update.effective_message)
    now = datetime.now(UTC)
    request = _proxy_request(context.args or [])
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_PROXY, MANAGER_ROLES)
        if caller is None:
            return
        if request is None:
            await rollback_and_reply(update, session, texts.PROXY_USAGE)
            return
        activity_id, name, leave, note = request
        if note is not None and len(note) > NOTE_LIMIT:
            await rollback_and_reply(update, session, texts.NOTE_TOO_LONG.format(limit=NOTE_LIMIT))
            return
        result = await attendance.proxy(session, caller, activity_id, name, leave=leave, note=note, now=now)
    local_now = _local(caller.branch, now)
    if result.outcome != Outcome.PROXY_RECORDED:
        await message.reply_text(_management_refusal(result, activity_id, name, local_now))
        return
    title = escape(_title(cast(Activity, result.activity), local_now))
    who = escape(cast(Member, result.member).name)
    if leave is None:
        await message.reply_text(texts.PROXY_PRESENT.format(name=who, title=title))
    elif not is_private(update):  # a leave's reason and note are never posted to a group
        await message.reply_text(texts.PROXY_LEAVE_IN_GROUP.format(name=who, title=title))
    else:
        reason = escape(_leave_detail(leave, note))
        await message.reply_text(texts.PROXY_LEAVE.format(name=who, reason=reason, title=title))


def _proxy_request(args: Sequence[str]) -> tuple[int, str, LeaveReason | None, str | None] | None:
    """(activity id, name, leave reason or None for present, note) from the words after /proxy; None: unreadable."""
    activity_id = parse_id(args[0]) if len(args) >= 2 else None
    if activity_id is None or (len(args) > 2 and args[2] != _LEAVE_WORD):
        return None
    if len(args) == 2:
        return activity_id, args[1], None, None
    return activity_id, args[1], *_leave_words(args[3:])


async def code_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/code ID: a new random 4-digit 签到码 for the organizer to show at the meeting; /code ID off clears it.
    Private only: a code shown in the group would let members check in without being there."""
    message = cast(Message, update.effective_message)
    args = context.args or []
    activity_id = parse_id(args[0]) if args else None
    readable = len(args) == 1 or (len(args) == 2 and args[1].lower() in _OFF_WORDS)
    now = datetime.now(UTC)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(
            update, session, texts.ACTION_CODE, MANAGER_ROLES, private_only=texts.CODE_PRIVATE_ONLY
        )
        if caller is None:
            return
        if activity_id is None or not readable:
            await rollback_and_reply(update, session, texts.CODE_USAGE)
            return
        result = await attendance.set_checkin_code(session, caller, activity_id, enabled=len(args) == 1)
    local_now = _local(caller.branch, now)
    if result.outcome not in (Outcome.CODE_SET, Outcome.CODE_CLEARED):
        await message.reply_text(_management_refusal(result, activity_id, "", local_now))
        return
    activity = cast(Activity, result.activity)
    title = escape(_title(activity, local_now))
    if result.outcome == Outcome.CODE_CLEARED:
        await message.reply_text(texts.CODE_CLEARED.format(title=title))
        return
    window = checkin_window(activity)
    opens, closes = format_when(window.opens_at, local_now), format_when(window.closes_at, local_now)
    await message.reply_text(texts.CODE_SET.format(code=result.code, title=title, opens=opens, closes=closes))


async def attendance_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/attendance ID: 应到/实到/请假/缺席 with names, and the quorum where the kind has one. Leave reasons and notes
    are shown in a private chat only: in a group, counts and names."""
    message = cast(Message, update.effective_message)
    args = context.args or []
    activity_id = parse_id(args[0]) if len(args) == 1 else None
    now = datetime.now(UTC)
    async with sessions(context).begin() as session:
        caller = await caller_or_refuse(update, session, texts.ACTION_ATTENDANCE, MANAGER_ROLES)
        if caller is None:
            return
        if activity_id is None:
            await rollback_and_reply(update, session, texts.ATTENDANCE_USAGE)
            return
        result = await attendance.attendance_summary(session, caller, activity_id)
    local_now = _local(caller.branch, now)
    if result.outcome != Outcome.SUMMARY:
        await message.reply_text(_management_refusal(result, activity_id, "", local_now))
        return
    for chunk in split_message(_summary_text(result, local_now, with_reasons=is_private(update))):
        await message.reply_text(chunk)


def _summary_text(result: Result, local_now: datetime, *, with_reasons: bool) -> str:
    summary = cast(attendance.AttendanceSummary, result.summary)
    leave_entries = [
        texts.LEAVE_ENTRY.format(name=escape(e.member.name), detail=escape(_leave_detail(e.reason, e.note)))
        if with_reasons and (e.reason or e.note)
        else escape(e.member.name)
        for e in summary.on_leave
    ]
    lines = [
        texts.SUMMARY_HEADER.format(
            title=escape(_title(cast(Activity, result.activity), local_now)),
            expected=len(summary.expected),
            present=len(summary.present),
            leave=len(summary.on_leave),
            absent=len(summary.absent),
        ),
        texts.SUMMARY_PRESENT.format(names=_names(escape(m.name) for m in summary.present)),
        texts.SUMMARY_LEAVE.format(names=_names(leave_entries)),
        texts.SUMMARY_ABSENT.format(names=_names(escape(m.name) for m in summary.absent)),
    ]
    if summary.guests:
        lines.append(texts.SUMMARY_GUESTS.format(names=_names(escape(m.name) for m in summary.guests)))
    for check in summary.quorums:
        verdict = texts.QUORUM_REACHED if check.reached else texts.QUORUM_MISSED
        lines.append(texts.QUORUM[check.kind].format(expected=check.expected, present=check.present, verdict=verdict))
    return "\n".join(lines)


def _names(names: Iterable[str]) -> str:
    return texts.NAME_SEPARATOR.join(names) or texts.SUMMARY_NOBODY


def _management_refusal(result: Result, activity_id: int | None, name: str, local_now: datetime) -> str:
    match result.outcome:
        case Outcome.NOT_FOUND:
            return texts.ACTIVITY_NOT_FOUND.format(id=activity_id)
        case Outcome.NOT_ALLOWED:
            return texts.NOT_ALLOWED
        case Outcome.CANCELLED:
            return texts.ACTIVITY_CANCELLED.format(title=escape(_title(cast(Activity, result.activity), local_now)))
        case Outcome.NO_SUCH_MEMBER:
            return texts.NO_SUCH_MEMBER.format(name=escape(name))
    return texts.SAME_NAME.format(count=result.same_name, name=escape(name))


# -- shared ---------------------------------------------------------------------------------------------------------


async def _pressed_activity(query: CallbackQuery, action: Action) -> int | None:
    """The activity a 签到/请假 button names; a stale or forged one is answered here and gives None."""
    button = decode(query.data)
    activity_id = parse_id(button.argument) if button is not None and button.action == action else None
    if activity_id is None:
        await query.answer(texts.STALE_BUTTON, show_alert=True)
    return activity_id


def _local(branch: Branch, now: datetime) -> datetime:
    """``now`` in the branch's timezone: format_when shows times in the zone of the ``now`` it is given."""
    return now.astimezone(ZoneInfo(branch.timezone))


def _title(activity: Activity, local_now: datetime) -> str:
    """Plain text: "12月3日（周四）15:00 支委会「学习二十大精神」"."""
    topic = f"「{activity.topic}」" if activity.topic else ""
    return f"{format_when(activity.starts_at, local_now)} {activity.kind}{topic}"


def _choices(activities: Sequence[Activity], action: Action, local_now: datetime) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.CHOICE_LABEL.format(when=format_when(a.starts_at, local_now), kind=a.kind),
                    callback_data=encode(action, str(a.id)),
                )
            ]
            for a in activities
        ]
    )
