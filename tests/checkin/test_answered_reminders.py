"""Recording a member's attendance (签到, 请假, 代签) cancels their pending reminders of that activity at once — the
day-before, hour-before and "not checked in yet" ones — and nobody else's, nor reminders of other kinds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.models import ActivityKind, LeaveReason, Reminder, ReminderStatus
from bot.services import attendance
from bot.services.reminders import ReminderKind
from handlers import checkin_texts as texts
from handlers.keyboards import Action, encode
from tests.checkin.conftest import MEMBER_TWO, ORGANIZER, PROBATIONER, World, soon
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness

MEMBER_KINDS = (ReminderKind.ACTIVITY_DAY_BEFORE, ReminderKind.ACTIVITY_HOUR_BEFORE, ReminderKind.ACTIVITY_CHECKIN)


async def add_reminders(world: World, activity_id: int) -> None:
    """For BOB, MEMBER_TWO and PROBATIONER the three member reminders of the activity; the organiser's follow-up."""
    later = datetime.now(UTC) + timedelta(minutes=15)
    rows = [(user, kind) for user in (BOB, MEMBER_TWO, PROBATIONER) for kind in MEMBER_KINDS] + [
        (ORGANIZER, ReminderKind.ACTIVITY_FOLLOW_UP)
    ]
    async with world.sessions.begin() as session:
        session.add_all(
            Reminder(
                branch_id=world.branch_id,
                kind=kind.value,
                dedup_key=f"a{activity_id}:{kind.value}:m{world.member_id(user)}",
                chat_id=user["id"],
                member_id=world.member_id(user),
                activity_id=activity_id,
                due_at=later,
                text="提醒",
            )
            for user, kind in rows
        )


async def pending(world: World) -> set[tuple[str, str]]:
    """(member name, kind) of every pending reminder."""
    names = {world.member_id(user): user["first_name"] for user in (BOB, MEMBER_TWO, PROBATIONER, ORGANIZER)}
    async with world.sessions() as session:
        rows = await session.execute(
            select(Reminder.member_id, Reminder.kind).where(Reminder.status == ReminderStatus.PENDING.value)
        )
        return {(names[member_id], kind) for member_id, kind in rows.all()}


def of(user: dict[str, Any], *kinds: ReminderKind) -> set[tuple[str, str]]:
    return {(user["first_name"], kind.value) for kind in kinds}


async def test_checking_in_asking_leave_and_proxy_cancel_that_members_reminders(
    world: World, test_bot: ChatHarness
) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    await add_reminders(world, meeting)
    everyone = of(BOB, *MEMBER_KINDS) | of(MEMBER_TWO, *MEMBER_KINDS) | of(PROBATIONER, *MEMBER_KINDS)
    follow_up = of(ORGANIZER, ReminderKind.ACTIVITY_FOLLOW_UP)
    assert await pending(world) == everyone | follow_up

    test_bot.api.user_message("大家好", user=ALICE, chat=GROUP)
    post = await test_bot.app.bot.send_message(GROUP["id"], "会议通知")
    calls = await test_bot.press(
        {"chat": {"id": GROUP["id"]}, "message_id": post.message_id}, encode(Action.CHECKIN, str(meeting)), user=BOB
    )
    assert [call.params.get("text") for call in calls if call.method == "answerCallbackQuery"] == [texts.CHECKED_IN]
    assert await pending(world) == everyone - of(BOB, *MEMBER_KINDS) | follow_up

    now = datetime.now(UTC)
    async with world.sessions.begin() as session:
        caller = await world.caller(MEMBER_TWO)
        await attendance.request_leave(session, caller, meeting, LeaveReason.ILLNESS, None, now=now)
    assert await pending(world) == of(PROBATIONER, *MEMBER_KINDS) | follow_up

    async with world.sessions.begin() as session:
        organizer = await world.caller(ORGANIZER)
        await attendance.proxy(session, organizer, meeting, PROBATIONER["first_name"], leave=None, note=None, now=now)
    assert await pending(world) == follow_up  # the organiser's own follow-up is not about attendance
