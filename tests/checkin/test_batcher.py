"""bot/services/checkin_batch.py: presses written together get the answers they would get alone; presses that
arrive during a write form the next batch; a press that breaks a constraint fails alone; a press given up on
(its handler cancelled) disturbs nobody."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.models import ActivityKind, ActivityStatus, AttendanceMethod, AttendanceStatus, LeaveReason
from bot.services import attendance
from bot.services.access import NOT_REGISTERED, WRONG_GROUP, AccessDenied, Caller
from bot.services.attendance import Outcome, Result
from bot.services.checkin_batch import CheckinBatcher, Press
from tests.checkin.conftest import (
    LEADER,
    MEMBER_TWO,
    ORGANIZER,
    OTHER_SECRETARY,
    OUTSIDER,
    PROBATIONER,
    PROPAGANDIST,
    World,
)
from tests.checkin.test_concurrency import FIRST_CROWD_USER_ID, add_crowd
from tests.telegram.helpers import ALICE, BOB, GROUP

START = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
BUTTON = AttendanceMethod.BUTTON


def press(user: dict[str, Any], activity_id: int, *, chat_id: int = GROUP["id"]) -> Press:
    return Press(user["id"], chat_id, False, activity_id, BUTTON, "签到")


async def answers(batcher: CheckinBatcher, presses: list[Press]) -> list[tuple[Caller, Result] | BaseException]:
    return await asyncio.gather(*(batcher.check_in(p) for p in presses), return_exceptions=True)


def outcome(answer: tuple[Caller, Result] | BaseException) -> Outcome | str:
    return str(answer) if isinstance(answer, AccessDenied) else answer[1].outcome  # type: ignore[index]


async def test_a_mixed_batch_answers_each_press_as_it_would_be_answered_alone(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    cancelled = await world.add_activity(ActivityKind.PARTY_LECTURE, START, status=ActivityStatus.CANCELLED)
    coded = await world.add_activity(ActivityKind.THEME_DAY, START, checkin_code="4827")
    later = await world.add_activity(ActivityKind.COMMITTEE_MEETING, START + timedelta(hours=3))
    elsewhere = await world.add_activity(ActivityKind.MEMBERS_MEETING, START, branch_id=world.other_branch_id)
    async with world.sessions.begin() as session:
        await attendance.request_leave(
            session, await world.caller(MEMBER_TWO), meeting, LeaveReason.TRAVEL, None, now=START
        )
    batcher = CheckinBatcher(world.sessions, clock=lambda: START)
    presses = [
        press(BOB, meeting),
        press(MEMBER_TWO, meeting),
        press(OUTSIDER, meeting),
        press(OTHER_SECRETARY, meeting),  # another branch's 书记, in this branch's group
        press(ALICE, elsewhere),
        press(ORGANIZER, cancelled),
        press(LEADER, coded),
        press(PROBATIONER, later),
        press(BOB, meeting),  # a repeat within the batch
        press(PROPAGANDIST, 987654),
    ]
    got = await answers(batcher, presses)
    assert [outcome(a) for a in got] == [
        Outcome.CHECKED_IN,
        Outcome.CHECKED_IN_INSTEAD_OF_LEAVE,
        NOT_REGISTERED,
        WRONG_GROUP,
        Outcome.NOT_FOUND,
        Outcome.CANCELLED,
        Outcome.CODE_REQUIRED,
        Outcome.NOT_OPEN_YET,
        Outcome.ALREADY_PRESENT,
        Outcome.NOT_FOUND,
    ]
    assert batcher.batch_sizes == {len(presses): 1}  # one transaction for all of them
    caller, _ = got[0]  # type: ignore[misc]
    assert caller.member.id == world.member_id(BOB) and caller.branch.id == world.branch_id
    rows = await world.rows(meeting)
    assert set(rows) == {world.member_id(BOB), world.member_id(MEMBER_TWO)}
    assert rows[world.member_id(MEMBER_TWO)].status == AttendanceStatus.PRESENT
    assert rows[world.member_id(MEMBER_TWO)].leave_reason is None
    assert await world.rows(later) == {} and await world.rows(coded) == {}


async def test_presses_arriving_during_a_write_form_the_next_batch(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    member_ids = await add_crowd(world)
    batcher = CheckinBatcher(world.sessions, clock=lambda: START, max_batch=100)
    crowd = [press({"id": FIRST_CROWD_USER_ID + i}, meeting) for i in range(len(member_ids))]
    first = asyncio.create_task(batcher.check_in(crowd[0]))
    await asyncio.sleep(0)  # the first press's transaction is under way
    rest = await answers(batcher, crowd[1:])
    assert outcome(await first) == Outcome.CHECKED_IN
    assert {outcome(a) for a in rest} == {Outcome.CHECKED_IN}
    assert batcher.batch_sizes == {1: 1, 100: 2, 99: 1}  # 299 waiting presses, at most 100 per transaction
    assert set(await world.rows(meeting)) == set(member_ids)


@pytest.fixture
async def refuse_member_two(world: World) -> None:
    """A database trigger that refuses MEMBER_TWO's attendance rows with an integrity error (a real constraint
    failure inside the database, as a member removed meanwhile would cause)."""
    member_id = world.member_id(MEMBER_TWO)
    async with world.sessions.begin() as session:
        if session.get_bind().dialect.name == "sqlite":
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON attendance "
                    f"WHEN NEW.member_id = {member_id} BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
            return
        await session.execute(
            text(
                "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.member_id = {member_id} THEN "
                "RAISE EXCEPTION 'refused' USING ERRCODE = 'integrity_constraint_violation'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await session.execute(
            text("CREATE TRIGGER refuse_one BEFORE INSERT ON attendance FOR EACH ROW EXECUTE FUNCTION refuse_one()")
        )


@pytest.mark.usefixtures("refuse_member_two")
async def test_a_press_that_breaks_a_constraint_fails_alone(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    batcher = CheckinBatcher(world.sessions, clock=lambda: START)
    got = await answers(batcher, [press(BOB, meeting), press(MEMBER_TWO, meeting), press(ALICE, meeting)])
    assert outcome(got[0]) == outcome(got[2]) == Outcome.CHECKED_IN
    assert isinstance(got[1], IntegrityError)
    assert batcher.batch_sizes == {3: 1, 1: 3}  # the batch, then each press alone
    assert set(await world.rows(meeting)) == {world.member_id(BOB), world.member_id(ALICE)}


async def test_a_press_given_up_on_disturbs_no_other(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    batcher = CheckinBatcher(world.sessions, clock=lambda: START)
    abandoned = asyncio.create_task(batcher.check_in(press(BOB, meeting)))
    kept = asyncio.create_task(batcher.check_in(press(ALICE, meeting)))
    await asyncio.sleep(0)  # both are queued
    abandoned.cancel()
    assert outcome(await kept) == Outcome.CHECKED_IN
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    # The press had been made: it is written all the same, and the batcher is ready for more.
    assert set(await world.rows(meeting)) == {world.member_id(BOB), world.member_id(ALICE)}
    assert outcome(await batcher.check_in(press(MEMBER_TWO, meeting))) == Outcome.CHECKED_IN
