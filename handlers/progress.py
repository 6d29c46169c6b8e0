"""/progress (how far the branch is this month, quarter and year), /require (stricter local minimums) and /export
(the 台账 as XLSX or CSV).

/progress and /require without arguments: any member, privately or in the branch's group. /require 支委会 2: the
书记. /export [2026Q4|2026-11|2026] [csv]: 书记, 副书记, 组织委员; the file holds members' names and leave
reasons, so it is always sent in a private chat (asked in the group, it goes to the asker privately).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import cn2an
from telegram import Message, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import ContextTypes

from bot.models import ORGANIZER_ROLES, SECRETARY_ONLY
from bot.services.access import Caller
from bot.services.ledger import LedgerFile, LedgerFormat, export_ledger, parse_period
from bot.services.progress import branch_progress, branch_requirements, find_requirement, set_local_minimum
from bot.services.requirements import REQUIREMENTS, format_progress
from handlers import progress_texts as texts
from handlers.common import caller_or_refuse, is_private, replan_soon, reply, rollback_and_reply, sessions
from handlers.formatting import escape

MAX_LOCAL_MINIMUM = 99
_FORMATS = {fmt.value: fmt for fmt in LedgerFormat}
_REQUIREMENT_NAMES = texts.NAME_SEPARATOR.join(r.name for r in REQUIREMENTS)


async def progress(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/progress: the requirement lines of the current month, quarter and year."""
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.PROGRESS_ACTION)
        if caller is None:
            return
        lines = await branch_progress(session, cast(int, caller.branch.id), datetime.now(UTC))
    branch = escape(caller.branch.name)
    await reply(update, texts.PROGRESS.format(branch=branch, progress=escape(format_progress(lines))))


async def require(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/require: the table with the branch's numbers; /require 支委会 2: a stricter local minimum (书记)."""
    if not context.args:
        await _requirement_table(update, context)
        return
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.REQUIRE_SET_ACTION, SECRETARY_ONLY)
        if caller is None:
            return
        if len(context.args) != 2:
            await rollback_and_reply(update, session, texts.REQUIRE_USAGE.format(names=_REQUIREMENT_NAMES))
            return
        name, number = context.args
        requirement = find_requirement(name)
        minimum = _count(number)
        if requirement is None:
            unknown = texts.REQUIRE_UNKNOWN.format(name=escape(name), names=_REQUIREMENT_NAMES)
            await rollback_and_reply(update, session, unknown)
            return
        if minimum is None:
            await rollback_and_reply(update, session, texts.REQUIRE_BAD_NUMBER.format(limit=MAX_LOCAL_MINIMUM))
            return
        try:
            change = await set_local_minimum(session, caller, requirement.key, minimum)
        except ValueError as refusal:
            await rollback_and_reply(update, session, escape(str(refusal)))
            return
    replan_soon(context, caller.branch.id)
    label = escape(change.requirement.label)
    if change.requirement.minimum == change.common:
        await reply(update, texts.REQUIRE_RESET.format(label=label))
    else:
        await reply(update, texts.REQUIRE_SET.format(label=label, common=change.common))


async def _requirement_table(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.REQUIRE_LIST_ACTION)
        if caller is None:
            return
        requirements = await branch_requirements(session, cast(int, caller.branch.id))
    common = {r.key: r.minimum for r in REQUIREMENTS}
    lines = [
        texts.REQUIRE_LINE.format(label=escape(r.label))
        if r.minimum == common[r.key]
        else texts.REQUIRE_LINE_LOCAL.format(label=escape(r.label), common=common[r.key])
        for r in requirements
    ]
    await reply(update, texts.REQUIRE_TABLE.format(branch=escape(caller.branch.name), lines="\n".join(lines)))


def _count(text: str) -> int | None:
    """A number of times, "2", "２次" or "两次"; None unless it is a whole number from 0 to MAX_LOCAL_MINIMUM
    (0 goes on to be refused as weaker than the common minimum)."""
    try:
        value = cn2an.cn2an(text.removesuffix("次"), "smart")
    except (ValueError, KeyError):
        return None
    return int(value) if value == int(value) and 0 <= value <= MAX_LOCAL_MINIMUM else None


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export [period] [csv]: the 台账 of a period (default: this quarter)."""
    fmt = LedgerFormat.XLSX
    periods: list[str] = []
    for argument in context.args or []:
        if argument.lower() in _FORMATS:
            fmt = _FORMATS[argument.lower()]
        else:
            periods.append(argument)
    async with sessions(context)() as session:
        caller = await caller_or_refuse(update, session, texts.EXPORT_ACTION, ORGANIZER_ROLES)
        if caller is None:
            return
        if len(periods) > 1:
            await rollback_and_reply(update, session, texts.EXPORT_USAGE.format(reason=texts.EXPORT_TOO_MANY))
            return
        try:
            period = parse_period(periods[0]) if periods else None
        except ValueError as problem:
            await rollback_and_reply(update, session, texts.EXPORT_USAGE.format(reason=escape(str(problem))))
            return
        ledger = await export_ledger(session, cast(int, caller.branch.id), period, datetime.now(UTC), fmt)
    await _send_privately(update, context, ledger, caller)


async def _send_privately(
    update: Update, context: ContextTypes.DEFAULT_TYPE, ledger: LedgerFile, caller: Caller
) -> None:
    message = cast(Message, update.effective_message)
    caption = texts.EXPORT_CAPTION.format(
        branch=escape(caller.branch.name), period=ledger.period_label, count=ledger.activities
    )
    if is_private(update):
        await message.reply_document(ledger.content, filename=ledger.filename, caption=caption)
        return
    user_id = cast(int, caller.member.telegram_user_id)
    try:
        await context.bot.send_document(user_id, ledger.content, filename=ledger.filename, caption=caption)
    except (Forbidden, BadRequest):  # the user never opened a private chat with the bot (or blocked it)
        await reply(update, texts.EXPORT_START_PRIVATE_FIRST)
        return
    await reply(update, texts.EXPORT_SENT_PRIVATELY)
