"""/themeday (主题党日 rule), /remind on|off (a member's own reminders), /reminders (officers) and 稍后提醒.

- ``/themeday`` alone: any member sees the rule and its next three dates; ``/themeday 每月第一个周五 [提前|顺延|照常]``
  or ``/themeday 取消``: the 书记 or the 组织委员.
- ``/remind on|off``: any member, for themselves; deadline reminders to officers are not affected.
- ``/reminders``: 书记, 副书记, 组织委员, in a private chat only (the list names members).
- 稍后提醒 under a reminder (``sz:<reminder id>``): the member it was sent to gets it again in an hour.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from typing import cast

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.models import COMMITTEE_ROLES, ORGANIZER_ROLES, SECRETARY_AND_ORGANIZATION, Branch, ReminderStatus
from bot.services.reminders import (
    ReminderOverview,
    SnoozeOutcome,
    branch_reminders,
    branch_zone,
    set_member_reminders,
    set_theme_day_rule,
    snooze_reminder,
)
from bot.services.text_hygiene import parse_id
from bot.services.theme_day import ThemeDay, ThemeDayRule, ThemeDayRuleError, calendar_covers, from_compact, move_text
from bot.services.theme_day import parse_rule as parse_theme_day_rule
from bot.services.when import WEEKDAY_NAMES, format_when
from handlers import reminders_texts as texts
from handlers.common import (
    caller_or_refuse,
    quiet_hours,
    replan_soon,
    reply,
    rollback_and_reply,
    sessions,
)
from handlers.formatting import escape
from handlers.keyboards import Action, decode

SNOOZE_PATTERN = f"^{Action.SNOOZE}:"
SHOWN_THEME_DAYS = 3
LISTED_PER_STATUS = 10


# -- /themeday ----------------------------------------------------------------------------------------------------


async def themeday(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/themeday [规则|取消]: show, set or clear the branch's 主题党日 rule."""
    message = cast(Message, update.effective_message)
    text = " ".join(context.args or []).strip()
    now = datetime.now(UTC)
    if not text:
        async with sessions(context)() as session:
            caller = await caller_or_refuse(update, session, texts.THEMEDAY_VIEW_ACTION)
        if caller is not None:
            await message.reply_text(_theme_day_view(caller.branch, now))
        return
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.THEMEDAY_SET_ACTION, SECRETARY_AND_ORGANIZATION)
        if caller is None:
            return
        try:
            rule = None if text.lower() in texts.THEMEDAY_CLEAR_WORDS else parse_theme_day_rule(text)
        except ThemeDayRuleError as error:
            await rollback_and_reply(update, session, escape(str(error)))
            return
        await set_theme_day_rule(session, caller, rule.compact if rule else None)
        await session.commit()
    replan_soon(context, caller.branch.id)
    if rule is None:
        await message.reply_text(texts.THEMEDAY_CLEARED)
        return
    today = now.astimezone(branch_zone(caller.branch.timezone)).date()
    await message.reply_text(texts.THEMEDAY_SET.format(rule=rule.describe(), days=_next_days(rule, today)))


def _theme_day_view(branch: Branch, now: datetime) -> str:
    """The branch's rule and its next days, or that it has none."""
    rule = _stored_rule(branch.theme_day_rule)
    if rule is None:
        return texts.THEMEDAY_NONE
    today = now.astimezone(branch_zone(branch.timezone)).date()
    return texts.THEMEDAY_CURRENT.format(rule=rule.describe(), days=_next_days(rule, today)) + texts.THEMEDAY_HINT


def _stored_rule(stored: str | None) -> ThemeDayRule | None:
    if not stored:
        return None
    try:
        return from_compact(stored)
    except ValueError:
        return None


def _next_days(rule: ThemeDayRule, today: date) -> str:
    days = rule.next_days(today, SHOWN_THEME_DAYS)
    lines = [_theme_day_line(theme_day, today) for theme_day in days]
    unknown = sorted({d.day.year for d in days if not calendar_covers(d.day.year)})
    if unknown:
        years = texts.YEAR_SEPARATOR.join(str(year) for year in unknown)
        lines.append(texts.THEMEDAY_CALENDAR_UNKNOWN.format(years=years))
    return "\n".join(lines)


def _theme_day_line(theme_day: ThemeDay, today: date) -> str:
    day = theme_day.day
    year = f"{day.year}年" if day.year != today.year else ""
    shown = f"{year}{day.month}月{day.day}日（{WEEKDAY_NAMES[day.weekday()]}）"
    reason = move_text(theme_day)
    return texts.THEMEDAY_MOVED.format(day=shown, reason=reason) if reason else texts.THEMEDAY_DAY.format(day=shown)


# -- /remind ------------------------------------------------------------------------------------------------------


async def remind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/remind on|off: the caller's own reminders; alone, the current setting."""
    message = cast(Message, update.effective_message)
    word = (context.args[0] if context.args else "").strip().lower()
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.REMIND_ACTION)
        if caller is None:
            return
        if word not in texts.REMIND_ON_WORDS | texts.REMIND_OFF_WORDS:
            status = texts.REMIND_STATUS_ON if caller.member.reminders_enabled else texts.REMIND_STATUS_OFF
            await rollback_and_reply(update, session, status + texts.REMIND_USAGE)
            return
        enabled = word in texts.REMIND_ON_WORDS
        await set_member_reminders(session, caller, enabled=enabled)
        await session.commit()
    replan_soon(context, caller.branch.id)
    answer = texts.REMIND_TURNED_ON if enabled else texts.REMIND_TURNED_OFF
    if caller.role in COMMITTEE_ROLES:
        answer += texts.REMIND_OFFICER_NOTE.format(role=caller.role.value)
    await message.reply_text(answer)


# -- /reminders ---------------------------------------------------------------------------------------------------


async def list_reminders(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reminders: pending, sent, failed and missed reminders of the caller's branch (privately)."""
    message = cast(Message, update.effective_message)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(
            update, session, texts.REMINDERS_ACTION, ORGANIZER_ROLES, private_only=texts.REMINDERS_PRIVATE_ONLY
        )
        if caller is None:
            return
        overview = await branch_reminders(session, cast(int, caller.branch.id), limit=LISTED_PER_STATUS)
    now = datetime.now(UTC).astimezone(branch_zone(caller.branch.timezone))
    await message.reply_text(_overview_text(escape(caller.branch.name), overview, now))


def _overview_text(branch: str, overview: ReminderOverview, now: datetime) -> str:
    counts = {status.value: number for status, number in overview.counts.items()}
    out = [texts.REMINDERS_TITLE.format(branch=branch), texts.REMINDERS_COUNTS.format(**counts)]
    if not any(overview.counts.values()):
        out.extend(["", texts.REMINDERS_NONE])
    for status, lines in overview.lines.items():
        if not lines:
            continue
        out.extend(["", texts.REMINDERS_SECTION.format(title=texts.STATUS_TITLES[status.value], count=len(lines))])
        for line in lines:
            moment = line.sent_at if status is ReminderStatus.SENT and line.sent_at else line.due_at
            entry = texts.REMINDERS_LINE.format(
                when=format_when(moment, now),
                kind=texts.KIND_LABELS.get(line.kind, texts.KIND_OTHER),
                recipient=escape(line.recipient) if line.recipient else texts.REMINDERS_GROUP,
            )
            if status is ReminderStatus.FAILED and line.last_error:
                entry += texts.REMINDERS_ERROR.format(error=escape(line.last_error))
            out.append(entry)
    return "\n".join(out)


# -- 稍后提醒 --------------------------------------------------------------------------------------------------------


async def snooze_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """稍后提醒: send this reminder again in an hour; the button goes away once it worked."""
    query = cast(CallbackQuery, update.callback_query)
    button = decode(query.data)
    reminder_id = parse_id(button.argument) if button is not None else None
    if reminder_id is None:
        await query.answer(texts.SNOOZE_NOT_FOUND, show_alert=True)
        return
    now = datetime.now(UTC)
    async with sessions(context)() as session:
        result = await snooze_reminder(session, reminder_id, query.from_user.id, now=now, quiet=quiet_hours(context))
        await session.commit()
    if result.outcome is not SnoozeOutcome.SNOOZED or result.due_at is None:
        notes = {
            SnoozeOutcome.ALREADY: texts.SNOOZE_ALREADY,
            SnoozeOutcome.TOO_LATE: texts.SNOOZE_TOO_LATE,
        }
        await reply(update, notes.get(result.outcome, texts.SNOOZE_NOT_FOUND))
        return
    await reply(update, texts.SNOOZED.format(when=format_when(result.due_at, now.astimezone(result.due_at.tzinfo))))
    # The message may be too old to edit, or already without buttons: the snooze stands either way.
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(reply_markup=None)
