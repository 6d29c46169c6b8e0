"""bot/services/attendance.py with explicit times: windows, codes, leave, proxy, summaries and the quorum rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.models import (
    ActivityKind,
    ActivityStatus,
    AttendanceMethod,
    AttendanceStatus,
    AuditLog,
    CheckinCodeAttempt,
    LeaveReason,
    Member,
)
from bot.services import attendance
from bot.services.attendance import Outcome
from bot.services.expected_roster import more_than_half
from tests.checkin.conftest import (
    LEADER,
    MEMBER_TWO,
    ORGANIZER,
    PROBATIONER,
    PROPAGANDIST,
    World,
)
from tests.telegram.helpers import ALICE, BOB

START = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai, a Thursday
BUTTON = AttendanceMethod.BUTTON


async def check_in(world: World, user: dict, activity_id: int, now: datetime) -> Outcome:
    async with world.sessions.begin() as session:
        member = await world.member(user)
        return (await attendance.check_in(session, member, activity_id, method=BUTTON, now=now)).outcome


async def code_try(world: World, user: dict, code: str, now: datetime) -> attendance.Result:
    async with world.sessions.begin() as session:
        return await attendance.check_in_with_code(session, await world.member(user), code, now=now)


async def set_code(world: World, activity_id: int) -> str:
    async with world.sessions.begin() as session:
        result = await attendance.set_checkin_code(session, await world.caller(ALICE), activity_id, enabled=True)
    assert result.outcome == Outcome.CODE_SET and result.code is not None
    return result.code


async def leave(
    world: World, user: dict, activity_id: int, now: datetime, note: str | None = None
) -> attendance.Result:
    async with world.sessions.begin() as session:
        caller = await world.caller(user)
        return await attendance.request_leave(session, caller, activity_id, LeaveReason.TRAVEL, note, now=now)


async def audit_actions(world: World) -> list[str]:
    async with world.sessions() as session:
        return list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


# -- the quorum rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "expected", "reached"),
    [(11, 20, True), (10, 20, False), (10, 19, True), (9, 19, False), (3, 5, True), (2, 5, False), (1, 1, True),
     (0, 1, False), (0, 0, False)],
)  # fmt: skip
def test_more_than_half(present: int, expected: int, reached: bool) -> None:
    assert more_than_half(present, expected) is reached


# -- the window -----------------------------------------------------------------------------------------------------


async def test_window_edges_belong_to_the_window(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    opens, closes = START - timedelta(minutes=30), START + timedelta(minutes=60)
    assert await check_in(world, BOB, meeting, opens - timedelta(seconds=1)) == Outcome.NOT_OPEN_YET
    assert await check_in(world, BOB, meeting, opens) == Outcome.CHECKED_IN
    assert await check_in(world, ALICE, meeting, closes) == Outcome.CHECKED_IN
    assert await check_in(world, ORGANIZER, meeting, closes + timedelta(seconds=1)) == Outcome.CLOSED
    assert set(await world.rows(meeting)) == {world.member_id(BOB), world.member_id(ALICE)}


async def test_window_is_per_activity(world: World) -> None:
    lecture = await world.add_activity(
        ActivityKind.PARTY_LECTURE, START, checkin_opens_before_min=0, checkin_closes_after_min=15
    )
    assert await check_in(world, BOB, lecture, START - timedelta(minutes=1)) == Outcome.NOT_OPEN_YET
    assert await check_in(world, BOB, lecture, START + timedelta(minutes=16)) == Outcome.CLOSED
    assert await check_in(world, BOB, lecture, START + timedelta(minutes=15)) == Outcome.CHECKED_IN


async def test_second_check_in_is_idempotent(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    assert await check_in(world, BOB, meeting, START) == Outcome.CHECKED_IN
    assert await check_in(world, BOB, meeting, START + timedelta(minutes=1)) == Outcome.ALREADY_PRESENT
    (row,) = (await world.rows(meeting)).values()
    assert (row.status, row.method, row.at) == (AttendanceStatus.PRESENT, BUTTON, START)


async def test_cancelled_unknown_and_other_branch_activities_are_refused(world: World) -> None:
    cancelled = await world.add_activity(ActivityKind.THEME_DAY, START, status=ActivityStatus.CANCELLED)
    elsewhere = await world.add_activity(ActivityKind.MEMBERS_MEETING, START, branch_id=world.other_branch_id)
    assert await check_in(world, BOB, cancelled, START) == Outcome.CANCELLED
    assert await check_in(world, BOB, elsewhere, START) == Outcome.NOT_FOUND
    assert await check_in(world, BOB, 987654, START) == Outcome.NOT_FOUND
    assert await world.rows(cancelled) == {} and await world.rows(elsewhere) == {}


async def test_check_in_open_offers_one_several_or_the_next(world: World) -> None:
    async def bare(now: datetime) -> attendance.Result:
        async with world.sessions.begin() as session:
            return await attendance.check_in_open(session, await world.member(BOB), now=now)

    first = await world.add_activity(ActivityKind.PARTY_LECTURE, START)
    second = await world.add_activity(ActivityKind.THEME_DAY, START + timedelta(hours=1))
    await world.add_activity(ActivityKind.MEMBERS_MEETING, START, status=ActivityStatus.CANCELLED)
    nothing = await bare(START - timedelta(hours=2))
    assert nothing.outcome == Outcome.NOTHING_OPEN and nothing.activity and nothing.activity.id == first
    several = await bare(START + timedelta(minutes=45))
    assert several.outcome == Outcome.CHOOSE and [a.id for a in several.choices] == [first, second]
    one = await bare(START + timedelta(minutes=100))
    assert one.outcome == Outcome.CHECKED_IN and one.activity and one.activity.id == second
    assert (await world.rows(second))[world.member_id(BOB)].method == AttendanceMethod.COMMAND
    assert (await bare(START + timedelta(days=1))).activity is None


# -- check-in codes -------------------------------------------------------------------------------------------------


async def test_code_mode_refuses_button_and_accepts_the_right_code(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    code = await set_code(world, meeting)
    assert len(code) == 4 and code.isdigit()
    assert await check_in(world, BOB, meeting, START) == Outcome.CODE_REQUIRED
    full_width = code.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})
    assert (await code_try(world, BOB, full_width, START)).outcome == Outcome.CHECKED_IN
    assert (await code_try(world, BOB, code, START)).outcome == Outcome.ALREADY_PRESENT
    assert (await world.rows(meeting))[world.member_id(BOB)].method == AttendanceMethod.CODE
    assert await audit_actions(world) == ["activity.checkin_code"]


async def test_five_wrong_codes_lock_and_the_lock_holds(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    code = await set_code(world, meeting)
    wrong = f"{(int(code) + 1) % 10000:04d}"
    assert (await code_try(world, BOB, "12", START)).outcome == Outcome.BAD_CODE_FORMAT  # a typo is not a try
    tries = [await code_try(world, BOB, wrong, START) for _ in range(5)]
    assert [(r.outcome, r.tries_left) for r in tries[:4]] == [(Outcome.WRONG_CODE, n) for n in (4, 3, 2, 1)]
    assert tries[4].outcome == Outcome.CODE_LOCKED
    assert (await code_try(world, BOB, code, START)).outcome == Outcome.CODE_LOCKED
    assert (await code_try(world, BOB, code, START + timedelta(minutes=20))).outcome == Outcome.CODE_LOCKED
    assert await world.rows(meeting) == {}
    # Only that member is locked; the organizer can still check them in.
    assert (await code_try(world, MEMBER_TWO, code, START)).outcome == Outcome.CHECKED_IN
    async with world.sessions.begin() as session:
        caller = await world.caller(ORGANIZER)
        done = await attendance.proxy(session, caller, meeting, "王芳", leave=None, note=None, now=START)
    assert done.outcome == Outcome.PROXY_RECORDED


async def test_right_code_on_the_fifth_try_is_accepted(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    code = await set_code(world, meeting)
    for _ in range(4):
        await code_try(world, BOB, f"{(int(code) + 1) % 10000:04d}", START)
    assert (await code_try(world, BOB, code, START)).outcome == Outcome.CHECKED_IN
    async with world.sessions() as session:
        attempt = await session.get_one(CheckinCodeAttempt, (meeting, world.member_id(BOB)))
    assert attempt.failures == 4


async def test_code_outside_code_mode_and_cleared_code(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    assert (await code_try(world, BOB, "1234", START)).outcome == Outcome.NO_CODE_NEEDED
    await set_code(world, meeting)
    async with world.sessions.begin() as session:
        cleared = await attendance.set_checkin_code(session, await world.caller(ALICE), meeting, enabled=False)
    assert cleared.outcome == Outcome.CODE_CLEARED and cleared.activity and cleared.activity.checkin_code is None
    assert await check_in(world, BOB, meeting, START) == Outcome.CHECKED_IN


# -- leave ----------------------------------------------------------------------------------------------------------


async def test_leave_with_reason_and_note_then_checking_in_withdraws_it(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    assert (await leave(world, BOB, meeting, START - timedelta(days=1))).outcome == Outcome.LEAVE_RECORDED
    async with world.sessions.begin() as session:
        noted = await attendance.set_leave_note(session, await world.caller(BOB), meeting, "去北京培训")
    assert noted.outcome == Outcome.NOTE_SAVED
    row = (await world.rows(meeting))[world.member_id(BOB)]
    assert (row.status, row.leave_reason, row.leave_note) == (AttendanceStatus.LEAVE, "出差", "去北京培训")
    assert await check_in(world, BOB, meeting, START) == Outcome.CHECKED_IN_INSTEAD_OF_LEAVE
    row = (await world.rows(meeting))[world.member_id(BOB)]
    assert (row.status, row.leave_reason, row.leave_note) == (AttendanceStatus.PRESENT, None, None)
    assert await audit_actions(world) == ["attendance.leave", "attendance.leave_note"]


async def test_leave_after_checking_in_is_refused(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    await check_in(world, BOB, meeting, START)
    async with world.sessions.begin() as session:
        assert (await attendance.check_leave(session, await world.member(BOB), meeting, now=START)).outcome == (
            Outcome.ALREADY_PRESENT
        )
    assert (await leave(world, BOB, meeting, START)).outcome == Outcome.ALREADY_PRESENT
    assert (await world.rows(meeting))[world.member_id(BOB)].status == AttendanceStatus.PRESENT
    async with world.sessions.begin() as session:
        assert (await attendance.set_leave_note(session, await world.caller(BOB), meeting, "x")).outcome == (
            Outcome.NO_LEAVE
        )
    assert await audit_actions(world) == []


async def test_leave_is_allowed_until_the_window_closes(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    closes = START + timedelta(minutes=60)
    assert (await leave(world, BOB, meeting, closes)).outcome == Outcome.LEAVE_RECORDED
    assert (await leave(world, MEMBER_TWO, meeting, closes + timedelta(seconds=1))).outcome == Outcome.CLOSED
    cancelled = await world.add_activity(ActivityKind.THEME_DAY, START, status=ActivityStatus.CANCELLED)
    assert (await leave(world, BOB, cancelled, START)).outcome == Outcome.CANCELLED


async def test_leave_choices(world: World) -> None:
    async def choices(now: datetime) -> attendance.Result:
        async with world.sessions.begin() as session:
            return await attendance.leave_choices(session, await world.member(BOB), now=now)

    assert (await choices(START)).outcome == Outcome.NOTHING_UPCOMING
    first = await world.add_activity(ActivityKind.PARTY_LECTURE, START)
    one = await choices(START - timedelta(days=3))
    assert one.outcome == Outcome.LEAVE_POSSIBLE and one.activity and one.activity.id == first
    second = await world.add_activity(ActivityKind.THEME_DAY, START + timedelta(days=7))
    several = await choices(START)
    assert several.outcome == Outcome.CHOOSE and [a.id for a in several.choices] == [first, second]


# -- proxy ----------------------------------------------------------------------------------------------------------


async def test_proxy_after_the_fact_present_and_leave(world: World) -> None:
    past = await world.add_activity(ActivityKind.MEMBERS_MEETING, START - timedelta(days=10))
    async with world.sessions.begin() as session:
        caller = await world.caller(ORGANIZER)
        present = await attendance.proxy(session, caller, past, "王芳", leave=None, note=None, now=START)
        away = await attendance.proxy(
            session, caller, past, "周敏", leave=LeaveReason.TRAVEL, note="去北京培训", now=START
        )
        missing = await attendance.proxy(session, caller, past, "无此人", leave=None, note=None, now=START)
    assert (present.outcome, away.outcome, missing.outcome) == (
        Outcome.PROXY_RECORDED,
        Outcome.PROXY_RECORDED,
        Outcome.NO_SUCH_MEMBER,
    )
    rows = await world.rows(past)
    bob, two = rows[world.member_id(BOB)], rows[world.member_id(MEMBER_TWO)]
    assert (bob.status, bob.method, bob.recorded_by) == ("present", "proxy", world.member_id(ORGANIZER))
    assert (two.status, two.leave_reason, two.leave_note) == ("leave", "出差", "去北京培训")
    async with world.sessions() as session:
        entries = list(await session.scalars(select(AuditLog).order_by(AuditLog.id)))
    assert [e.action for e in entries] == ["attendance.proxy", "attendance.proxy"]
    assert entries[0].actor_member_id == world.member_id(ORGANIZER)
    assert json.loads(entries[1].detail)["reason"] == "出差"


async def test_proxy_over_a_self_check_in_keeps_the_previous_status_in_the_audit(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    await check_in(world, BOB, meeting, START)
    async with world.sessions.begin() as session:
        caller = await world.caller(ALICE)
        await attendance.proxy(session, caller, meeting, "王芳", leave=LeaveReason.ILLNESS, note=None, now=START)
    async with world.sessions() as session:
        entry = await session.scalar(select(AuditLog))
    assert entry is not None and json.loads(entry.detail)["before"] == "present"
    assert (await world.rows(meeting))[world.member_id(BOB)].status == AttendanceStatus.LEAVE


async def test_group_leader_manages_only_their_own_group_meeting(world: World) -> None:
    own = await world.add_activity(
        ActivityKind.PARTY_GROUP_MEETING, START, party_group_id=world.party_groups["第二党小组"]
    )
    other = await world.add_activity(
        ActivityKind.PARTY_GROUP_MEETING, START, party_group_id=world.party_groups["第一党小组"]
    )
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    async with world.sessions.begin() as session:
        caller = await world.caller(LEADER)
        outcomes = [
            (await attendance.proxy(session, caller, a, "周敏", leave=None, note=None, now=START)).outcome
            for a in (own, other, meeting)
        ]
    assert outcomes == [Outcome.PROXY_RECORDED, Outcome.NOT_ALLOWED, Outcome.NOT_ALLOWED]


# -- summaries ------------------------------------------------------------------------------------------------------


async def summary(world: World, activity_id: int, user: dict = ALICE) -> attendance.AttendanceSummary:
    async with world.sessions() as session:
        result = await attendance.attendance_summary(session, await world.caller(user), activity_id)
    assert result.outcome == Outcome.SUMMARY and result.summary is not None
    return result.summary


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


async def test_members_meeting_quorum_excludes_probationary_members(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, START)
    for user in (ALICE, ORGANIZER, PROBATIONER):
        await check_in(world, user, meeting, START)
    await leave(world, BOB, meeting, START, note="去北京培训")
    result = await summary(world, meeting)
    assert len(result.expected) == 7
    assert names(result.present) == ["李明", "张华", "陈静"]
    assert [(e.member.name, e.reason, e.note) for e in result.on_leave] == [("王芳", "出差", "去北京培训")]
    assert names(result.absent) == ["赵强", "刘洋", "周敏"]
    (check,) = result.quorums
    # 6 正式党员 (陈静 is 预备): 2 present is not more than half; 陈静's presence does not count.
    assert (check.kind, check.expected, check.present, check.reached) == (ActivityKind.MEMBERS_MEETING, 6, 2, False)
    await check_in(world, LEADER, meeting, START)
    assert (await summary(world, meeting)).quorums[0].reached is False  # 3 of 6 is exactly half
    await check_in(world, MEMBER_TWO, meeting, START)
    assert (await summary(world, meeting)).quorums[0].reached is True


async def test_committee_meeting_expects_the_committee(world: World) -> None:
    meeting = await world.add_activity(ActivityKind.COMMITTEE_MEETING, START)
    for user in (ALICE, ORGANIZER, BOB):
        await check_in(world, user, meeting, START)
    result = await summary(world, meeting)
    assert names(result.expected) == ["李明", "张华", "刘洋"]
    assert names(result.present) == ["李明", "张华"] and names(result.absent) == ["刘洋"]
    assert names(result.guests) == ["王芳"]  # 列席: came, not expected
    (check,) = result.quorums
    assert (check.kind, check.expected, check.present, check.reached) == (ActivityKind.COMMITTEE_MEETING, 3, 2, True)


async def test_activity_of_several_kinds_shows_each_quorum(world: World) -> None:
    theme_day = await world.add_activity(
        ActivityKind.THEME_DAY, START, also=(ActivityKind.MEMBERS_MEETING, ActivityKind.COMMITTEE_MEETING)
    )
    for user in (ALICE, ORGANIZER, PROPAGANDIST, BOB):
        await check_in(world, user, theme_day, START)
    result = await summary(world, theme_day)
    assert len(result.expected) == 7
    assert [(c.kind, c.expected, c.present, c.reached) for c in result.quorums] == [
        (ActivityKind.MEMBERS_MEETING, 6, 4, True),
        (ActivityKind.COMMITTEE_MEETING, 3, 3, True),
    ]


async def test_party_group_meeting_expects_its_group_and_lecture_has_no_quorum(world: World) -> None:
    group_meeting = await world.add_activity(
        ActivityKind.PARTY_GROUP_MEETING, START, party_group_id=world.party_groups["第二党小组"]
    )
    result = await summary(world, group_meeting, LEADER)
    assert names(result.expected) == ["赵强", "陈静", "刘洋", "周敏"]
    assert result.quorums == []


async def test_summary_refuses_other_branches_and_unknown_ids(world: World) -> None:
    elsewhere = await world.add_activity(ActivityKind.MEMBERS_MEETING, START, branch_id=world.other_branch_id)
    async with world.sessions() as session:
        caller = await world.caller(ALICE)
        assert (await attendance.attendance_summary(session, caller, elsewhere)).outcome == Outcome.NOT_FOUND
        assert (await attendance.attendance_summary(session, caller, 424242)).outcome == Outcome.NOT_FOUND
