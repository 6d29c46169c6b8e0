"""300 simultaneous check-ins to one activity, with repeats, leave exactly one row per member — through the service
with one session each, and through the Application with every update processed at once (as with concurrent updates).
Simultaneous code guesses cannot get past the five-try limit either.

Through the service, each check-in is a transaction of its own. On SQLite, many simultaneous transactions of one
process wait for the write lock in SQLite's busy handler, which polls rather than queues: on a busy machine one of
them can wait past ``busy_timeout`` and fail at BEGIN IMMEDIATE ("database is locked", nothing written). There such
an attempt is made again, as a member would press again, and what is checked is that every member ends up with
exactly one row. Through the Application, presses go through the check-in batcher, which writes them together
in one transaction at a time: every press must succeed the first time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot.bot_api_objects import make_user
from bot.models import ActivityKind, AttendanceMethod, CheckinCodeAttempt, Member
from bot.services import attendance
from bot.services.attendance import Outcome
from handlers import checkin_texts
from handlers.common import CHECKINS_KEY
from handlers.keyboards import Action, encode
from tests.checkin.conftest import World, soon
from tests.telegram.helpers import BOB, GROUP, ChatHarness

CROWD = 300
FIRST_CROWD_USER_ID = 50_000
MAX_ATTEMPTS = 5
BUTTON = AttendanceMethod.BUTTON


async def add_crowd(world: World) -> list[int]:
    """CROWD more members of the first branch (bulk insert); their member ids."""
    async with world.sessions.begin() as session:
        await session.execute(
            insert(Member),
            [
                {"branch_id": world.branch_id, "telegram_user_id": FIRST_CROWD_USER_ID + i, "name": f"党员{i:03d}"}
                for i in range(CROWD)
            ],
        )
    async with world.sessions() as session:
        found = await session.scalars(select(Member.id).where(Member.telegram_user_id >= FIRST_CROWD_USER_ID))
        return list(found)


async def in_own_transaction(
    world: World, work: Callable[[AsyncSession, Any], Awaitable[Outcome]], argument: Any
) -> Outcome:
    """``work`` in a session and transaction of its own; one SQLite could not start is made again (see above)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            async with world.sessions.begin() as session:
                return await work(session, argument)
        except OperationalError as error:
            if "database is locked" not in str(error):
                raise
    raise AssertionError(f"{argument}: database still locked after {MAX_ATTEMPTS} attempts")


def with_repeats(items: list[Any]) -> list[Any]:
    """Every item twice, the first hundred three times, interleaved."""
    return items + items[::-1] + items[:100]


async def test_simultaneous_check_ins_through_the_service(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    member_ids = await add_crowd(world)
    now = datetime.now(UTC)

    async def one(session: AsyncSession, member_id: int) -> Outcome:
        member = await session.get_one(Member, member_id)
        return (await attendance.check_in(session, member, meeting, method=BUTTON, now=now)).outcome

    outcomes = await asyncio.gather(*(in_own_transaction(world, one, m) for m in with_repeats(member_ids)))
    assert Counter(outcomes) == {Outcome.CHECKED_IN: CROWD, Outcome.ALREADY_PRESENT: CROWD + 100}
    assert set(await world.rows(meeting)) == set(member_ids)


async def test_simultaneous_code_guesses_stay_within_five_tries(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    async with world.sessions.begin() as session:
        code = (await attendance.set_checkin_code(session, await world.caller(BOB), meeting, enabled=True)).code
    assert code is None  # an ordinary 党员 may not set one (refused, nothing written)
    async with world.sessions.begin() as session:
        organizer = await world.caller(make_user(1003))
        code = (await attendance.set_checkin_code(session, organizer, meeting, enabled=True)).code
    assert code is not None
    guesses = [f"{(int(code) + n) % 10000:04d}" for n in range(1, 40)] + [code]
    now = datetime.now(UTC)

    async def guess(session: AsyncSession, typed: str) -> Outcome:
        member = await session.get_one(Member, world.member_id(BOB))
        return (await attendance.check_in_with_code(session, member, typed, now=now)).outcome

    outcomes = Counter(await asyncio.gather(*(in_own_transaction(world, guess, g) for g in guesses)))
    assert outcomes[Outcome.WRONG_CODE] + outcomes[Outcome.CHECKED_IN] <= 5
    async with world.sessions() as session:
        attempt = await session.get_one(CheckinCodeAttempt, (meeting, world.member_id(BOB)))
    assert attempt.failures >= len(guesses) - 1


async def test_simultaneous_button_presses_through_the_application(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    member_ids = await add_crowd(world)
    api = test_bot.api
    api.user_message("会议通知见下", user=BOB, chat=GROUP)  # the group becomes known to the simulator
    announcement = await test_bot.app.bot.send_message(GROUP["id"], "支部党员大会通知")
    data = encode(Action.CHECKIN, str(meeting))
    users = with_repeats([make_user(FIRST_CROWD_USER_ID + i, f"党员{i:03d}") for i in range(CROWD)])
    pending = [api.button_press(GROUP["id"], announcement.message_id, data, user=user) for user in users]
    api.take_outgoing()
    app = test_bot.app
    await asyncio.gather(*(app.process_update(Update.de_json(u, app.bot)) for u in pending))
    answers = {
        call.params["callback_query_id"]: call.params.get("text")
        for call in api.take_outgoing()
        if call.method == "answerCallbackQuery"
    }
    assert set(answers) == {u["callback_query"]["id"] for u in pending}  # every press answered, once
    assert Counter(answers.values()) == {checkin_texts.CHECKED_IN: CROWD, checkin_texts.ALREADY_PRESENT: CROWD + 100}
    # The presses were written together (group commit), in far fewer transactions than presses.
    batches = app.bot_data[CHECKINS_KEY].batch_sizes
    assert sum(size * count for size, count in batches.items()) == len(pending)
    assert sum(batches.values()) <= len(pending) // 10
    rows = await world.rows(meeting)
    assert set(rows) == set(member_ids)
    assert {row.method for row in rows.values()} == {AttendanceMethod.BUTTON}
