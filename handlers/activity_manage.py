"""Managing activities: /done (with the minutes it asks for), /activities, /cancel ID and /move ID.

``/done ID 纪要`` marks an activity held with its minutes; ``/done ID`` alone asks for them (state MINUTES, a
conversation like the guided /new: /cancel leaves it, FLOW_TIMEOUT ends it): the next text, or a .docx/.pdf/.txt
document. /cancel and /move update the activity's announcement in the group (handlers/activity_announcements.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import (
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.services import when
from bot.services.activities import (
    ActivityInfo,
    ActivityListing,
    ActivityRefused,
    branch_time,
    cancel_activity,
    list_activities,
    mark_held,
    move_activity,
    ready_for_minutes,
)
from bot.services.text_hygiene import parse_id
from handlers import activities_texts as texts
from handlers.activity_announcements import sync_group
from handlers.activity_common import (
    FLOW_TIMEOUT,
    MINUTES,
    MINUTES_KEY,
    activity_when,
    ask,
    authorized,
    changed_outside_an_update,
    command_rest,
    flow_key,
    kinds_text,
    leave_flow,
    message_of,
    refuse,
)
from handlers.common import replan_soon, sessions, typed
from handlers.formatting import escape

_ID_AND_REST = re.compile(r"\s*#?(\S+)(?:\s+(.*?))?\s*", re.DOTALL)


def _id_and_rest(text: str) -> tuple[int, str] | None:
    """'ID rest' after a command: the id read by text_hygiene.parse_id ("²" or "١" is a mistyped id), the rest
    possibly empty; None when there is no valid id first."""
    match = _ID_AND_REST.fullmatch(text)
    activity_id = parse_id(match[1]) if match else None
    return None if match is None or activity_id is None else (activity_id, match[2] or "")


# -- /done ----------------------------------------------------------------------------------------------------------


async def done(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """/done ID [纪要]: mark held with the minutes; with the id alone, ask for them (MINUTES)."""
    message = message_of(update)
    parsed = _id_and_rest(command_rest(message))
    if parsed is None:
        await message.reply_text(texts.DONE_USAGE)
        return ConversationHandler.END
    caller = await authorized(update, context, texts.ACTION_DONE)
    if caller is None:
        return ConversationHandler.END
    assert caller.member.id is not None
    activity_id, minutes = parsed
    if minutes:
        await _mark_held(update, context, (caller.member.id, activity_id), minutes=minutes)
        return ConversationHandler.END
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await ready_for_minutes(session, member_id=caller.member.id, activity_id=activity_id, now=now)
    except ActivityRefused as refusal:
        await refuse(update, refusal)
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[flow_key(MINUTES_KEY, update)] = (caller.member.id, activity_id)
    await ask(message, texts.ASK_MINUTES.format(id=activity_id, kinds=kinds_text(info), when=activity_when(info, now)))
    return MINUTES


async def on_minutes_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    target = context.user_data.pop(flow_key(MINUTES_KEY, update), None) if context.user_data else None
    if target is not None:
        await _mark_held(update, context, target, minutes=(message_of(update).text or "").strip())
    return ConversationHandler.END


async def on_minutes_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    message = message_of(update)
    document = message.document
    name = (document.file_name or "") if document else ""
    if document is None or not name.lower().endswith(texts.MINUTES_FILE_TYPES):
        await ask(message, texts.WRONG_MINUTES_FILE)
        return None
    target = context.user_data.pop(flow_key(MINUTES_KEY, update), None) if context.user_data else None
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
        await refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    if file_id is not None:
        text = texts.MARKED_HELD_FILE.format(id=info.id, kinds=kinds_text(info), name=escape(file_name))
    else:
        text = texts.MARKED_HELD.format(id=info.id, kinds=kinds_text(info), chars=len(minutes or ""))
    await message_of(update).reply_text(text)


async def _minutes_timed_out(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """FLOW_TIMEOUT passed while /done waited for minutes: forget which activity they were for."""
    if context.user_data is not None:
        context.user_data.pop(flow_key(MINUTES_KEY, update), None)
    changed_outside_an_update(update, context)


def minutes_conversation() -> ConversationHandler:
    """/done, and the minutes it asks for when none were given."""
    return ConversationHandler(
        entry_points=[CommandHandler("done", done)],
        states={
            MINUTES: [
                typed(on_minutes_text),
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
    caller = await authorized(update, context, texts.ACTION_LIST, roles=None)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    async with sessions(context)() as session:
        listing = await list_activities(session, member_id=caller.member.id, now=now)
    await message_of(update).reply_text(_listing_text(listing, now))


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
        kinds=kinds_text(info),
        when=activity_when(info, now),
        place=escape(info.place),
        topic=escape(info.topic),
        status=status,
    )


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel ID (outside a flow): cancel a planned activity and mark its announcement cancelled."""
    message = message_of(update)
    parsed = _id_and_rest(command_rest(message))
    if parsed is None or parsed[1]:
        await message.reply_text(texts.CANCEL_USAGE)
        return
    caller = await authorized(update, context, texts.ACTION_CANCEL)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    try:
        async with sessions(context)() as session:
            info = await cancel_activity(session, member_id=caller.member.id, activity_id=parsed[0], now=now)
    except ActivityRefused as refusal:
        await refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    notice = texts.CANCELLED_NOTICE.format(kinds=kinds_text(info), when=activity_when(info, now))
    note = await sync_group(context, info, now, notice, message.chat_id)
    await message.reply_text(
        texts.CANCELLED.format(id=info.id, kinds=kinds_text(info), when=activity_when(info, now)) + note
    )


async def move(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/move ID 新时间: move a planned activity (when.parse_when) and update its announcement."""
    message = message_of(update)
    parsed = _id_and_rest(command_rest(message))
    if parsed is None or not parsed[1]:
        await message.reply_text(texts.MOVE_USAGE)
        return
    caller = await authorized(update, context, texts.ACTION_MOVE)
    if caller is None:
        return
    assert caller.member.id is not None
    now = datetime.now(UTC)
    try:
        starts_at = when.parse_when(parsed[1], branch_time(caller.branch.timezone, now))
        async with sessions(context)() as session:
            info = await move_activity(
                session, member_id=caller.member.id, activity_id=parsed[0], starts_at=starts_at, now=now
            )
    except (ActivityRefused, when.WhenError) as refusal:
        await refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    notice = texts.MOVED_NOTICE.format(kinds=kinds_text(info), when=activity_when(info, now), place=escape(info.place))
    note = await sync_group(context, info, now, notice, message.chat_id)
    await message.reply_text(texts.MOVED.format(id=info.id, when=activity_when(info, now)) + note)
