"""Activities given on one line: ``/new 支委会 2026-12-03 15:00 会议室 主题``, ``/new 预览 …`` and /record.

``/new`` with text creates at once and announces the activity in the group; ``/new 预览 …`` only shows the
announcement; /record 补录 an activity that already took place (the syntax is in bot.services.activities).
``/new`` alone is the guided flow (handlers/activities.py), which hands a /new with text to `new_one_line`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.services import when
from bot.services.access import Caller
from bot.services.activities import (
    ActivityRefused,
    create_activity,
    parse_activity_line,
    preview_activity,
    record_activity,
)
from handlers import activities_texts as texts
from handlers.activity_announcements import announce, announcement_text, created_text
from handlers.activity_common import activity_when, authorized, command_rest, kinds_text, message_of, refuse
from handlers.common import replan_soon, sessions
from handlers.formatting import escape


async def new_one_line(update: Update, context: ContextTypes.DEFAULT_TYPE, caller: Caller, line: str) -> None:
    """/new with text: create and announce the activity, or with 预览 first only show its announcement."""
    message = message_of(update)
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
        await refuse(update, refusal)
        return
    if dry_run:
        await message.reply_text(texts.PREVIEW.format(announcement=announcement_text(info, now)))
        return
    replan_soon(context, info.branch_id)
    posted = await announce(context, info, now)
    await message.reply_text(created_text(info, posted, message.chat_id, now))


async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/record KINDS WHEN PLACE TOPIC — 补录 an activity that already took place."""
    message = message_of(update)
    line = command_rest(message)
    if not line.strip():
        await message.reply_text(texts.RECORD_USAGE)
        return
    caller = await authorized(update, context, texts.ACTION_RECORD)
    if caller is None:
        return
    now = datetime.now(UTC)
    try:
        request = parse_activity_line(line, now=now, timezone=caller.branch.timezone)
        async with sessions(context)() as session:
            info = await record_activity(session, member_id=caller.member.id, request=request, now=now)
    except (ActivityRefused, when.WhenError) as refusal:
        await refuse(update, refusal)
        return
    replan_soon(context, info.branch_id)
    await message.reply_text(
        texts.RECORDED.format(
            id=info.id,
            kinds=kinds_text(info),
            when=activity_when(info, now),
            place=escape(info.place),
            topic=escape(info.topic),
        )
    )
