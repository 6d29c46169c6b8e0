"""Check-in, leave and attendance: recording who came to an activity and who asked for leave, and summing it up.

Every write of an attendance row is one race-safe statement on the (activity, member) unique constraint
(``INSERT … ON CONFLICT``), never read-then-insert: any number of simultaneous check-ins leave one row per member.
A self check-in writes no AuditLog row — the Attendance row itself says who, when and how, and an audit row per
check-in would double the busiest write path for no new information; leave requests, proxy (代签/补签) entries and
check-in codes are audited. Recording a member's attendance also cancels their pending reminders of that activity
(`reminders.drop_answered_reminders`): a "please check in" nudge must not follow a check-in.

The /attendance summary judges 应到 and the quorum by the rules of bot.services.expected_roster; the check-in
window of an activity is bot.services.checkin_window.

Functions take the caller's ``Member`` (or ``Caller``) and an activity id, never read the clock (``now`` is passed
in), do not commit (the caller's transaction does), and answer with a `Result` whose `Outcome` the handler turns
into words.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import pairs_in
from bot.models import (
    ORGANIZER_ROLES,
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    CheckinCodeAttempt,
    LeaveReason,
    Member,
    Role,
)
from bot.services.access import Caller
from bot.services.audit import record_change
from bot.services.checkin_window import checkin_window
from bot.services.expected_roster import QuorumCheck, expected_members, quorum_checks, roster_of
from bot.services.reminders import drop_answered_reminders
from bot.services.text_hygiene import clean_line, clean_name

MAX_CODE_FAILURES = 5
CODE_DIGITS = 4
# Activities that started longer ago than this are not looked at for open windows (a window closing a week after
# the meeting began would be a data-entry error, and the bound keeps the query on the branch's recent activities).
WINDOW_LOOKBACK = timedelta(days=7)
MAX_CHOICES = 8

_HALF_WIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


class Outcome(StrEnum):
    """What happened; handlers word each one for the operation that produced it."""

    NOT_FOUND = "not_found"  # no such activity in the caller's branch (stale, forged, or another branch's)
    CANCELLED = "cancelled"
    NOT_ALLOWED = "not_allowed"  # a 党小组长 outside their own 党小组's 党小组会
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"
    CODE_REQUIRED = "code_required"  # the activity is in code mode: the button and a bare /checkin are refused
    NO_CODE_NEEDED = "no_code_needed"  # a code was typed but no open activity uses one
    BAD_CODE_FORMAT = "bad_code_format"  # not four digits: a typo, not a guess (not counted)
    WRONG_CODE = "wrong_code"
    CODE_LOCKED = "code_locked"
    NOTHING_OPEN = "nothing_open"
    NOTHING_UPCOMING = "nothing_upcoming"
    CHOOSE = "choose"  # several activities: `choices` lists them
    CHECKED_IN = "checked_in"
    CHECKED_IN_INSTEAD_OF_LEAVE = "checked_in_instead_of_leave"  # came after all: the leave is withdrawn
    ALREADY_PRESENT = "already_present"
    LEAVE_POSSIBLE = "leave_possible"
    LEAVE_RECORDED = "leave_recorded"
    NOTE_SAVED = "note_saved"
    NO_LEAVE = "no_leave"  # a note for a leave that no longer exists (checked in since)
    NO_SUCH_MEMBER = "no_such_member"
    SAME_NAME = "same_name"  # several members of the branch have that name
    PROXY_RECORDED = "proxy_recorded"
    CODE_SET = "code_set"
    CODE_CLEARED = "code_cleared"
    SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class LeaveEntry:
    member: Member
    reason: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class AttendanceSummary:
    """应到/实到/请假/缺席 of one activity; ``guests`` came without being expected (列席)."""

    expected: list[Member]
    present: list[Member]
    on_leave: list[LeaveEntry]
    absent: list[Member]
    guests: list[Member]
    quorums: list[QuorumCheck]


@dataclass(frozen=True, slots=True)
class Result:
    """An outcome and what the handler needs to word it (the fields an outcome does not use stay empty)."""

    outcome: Outcome
    activity: Activity | None = None
    choices: Sequence[Activity] = ()
    tries_left: int | None = None
    code: str | None = None
    member: Member | None = None
    same_name: int = 0
    summary: AttendanceSummary | None = None
    note: str | None = None  # a leave note as stored (text_hygiene.clean_line)


# -- pure rules -----------------------------------------------------------------------------------------------------


def may_manage(member: Member, activity: Activity) -> bool:
    """Organizers manage every activity of their branch; a 党小组长 only their own 党小组's 党小组会."""
    if Role(member.role) in ORGANIZER_ROLES:
        return True
    return (
        member.role == Role.GROUP_LEADER
        and activity.kind == ActivityKind.PARTY_GROUP_MEETING
        and activity.party_group_id is not None
        and activity.party_group_id == member.party_group_id
    )


# -- check-in -------------------------------------------------------------------------------------------------------


async def check_in(
    session: AsyncSession, member: Member, activity_id: int, *, method: AttendanceMethod, now: datetime
) -> Result:
    """Check ``member`` in to one activity by button or command (code-mode activities refuse both)."""
    (result,) = await check_in_many(session, [CheckinRequest(member, activity_id, method)], now=now)
    return result


@dataclass(frozen=True, slots=True)
class CheckinRequest:
    """One member's check-in to one activity, as `check_in_many` takes it."""

    member: Member
    activity_id: int
    method: AttendanceMethod


async def check_in_many(session: AsyncSession, requests: Sequence[CheckinRequest], *, now: datetime) -> list[Result]:
    """`check_in` for several requests at once (any members, activities and repeats): a result per request, in
    order, from one query for the activities and one statement for the new rows."""
    wanted = {request.activity_id for request in requests}
    found = {a.id: a for a in await session.scalars(select(Activity).where(Activity.id.in_(wanted)))}
    results: list[Result | None] = []
    presences: list[tuple[int, Activity, Member, AttendanceMethod]] = []
    for position, request in enumerate(requests):
        activity = found.get(request.activity_id)
        if activity is not None and activity.branch_id != request.member.branch_id:
            activity = None  # another branch's activity is treated like an unknown one
        refusal = _checkin_refusal(activity, now)
        if refusal is None and activity is not None and activity.checkin_code:
            refusal = Result(Outcome.CODE_REQUIRED, activity)
        results.append(refusal)
        if refusal is None and activity is not None:
            presences.append((position, activity, request.member, request.method))
    outcomes = await _record_presences(session, [entry[1:] for entry in presences], now)
    for (position, activity, *_), outcome in zip(presences, outcomes, strict=True):
        results[position] = Result(outcome, activity)
    return [result for result in results if result is not None]


async def check_in_open(session: AsyncSession, member: Member, *, now: datetime) -> Result:
    """A bare /checkin: the one open activity is checked in; several are offered; none says when the next opens."""
    activities = await _recent_and_upcoming(session, member.branch_id, now)
    open_now = [a for a in activities if checkin_window(a).contains(now)]
    if not open_now:
        later = [a for a in activities if checkin_window(a).opens_at > now]
        upcoming = min(later, key=lambda a: checkin_window(a).opens_at, default=None)
        return Result(Outcome.NOTHING_OPEN, upcoming)
    if len(open_now) > 1:
        return Result(Outcome.CHOOSE, choices=open_now[:MAX_CHOICES])
    (activity,) = open_now
    if activity.checkin_code:
        return Result(Outcome.CODE_REQUIRED, activity)
    return await _record_presence(session, activity, member, AttendanceMethod.COMMAND, now)


async def check_in_with_code(session: AsyncSession, member: Member, typed: str, *, now: datetime) -> Result:
    """``/checkin 4827``: the open activity with that code. Every try is counted before the code is compared (one
    atomic upsert), so even simultaneous guesses cannot get past `MAX_CODE_FAILURES`; a right code gives its try back.
    """
    code = typed.strip().translate(_HALF_WIDTH)
    if len(code) != CODE_DIGITS or not code.isdigit():
        return Result(Outcome.BAD_CODE_FORMAT)
    activities = await _recent_and_upcoming(session, member.branch_id, now)
    coded = [a for a in activities if a.checkin_code and checkin_window(a).contains(now)]
    if not coded:
        return Result(Outcome.NO_CODE_NEEDED)
    match = next((a for a in coded if a.checkin_code == code), None)
    if match is not None:
        if await _attendance_status(session, match.id, member.id) == AttendanceStatus.PRESENT:
            return Result(Outcome.ALREADY_PRESENT, match)
        if await _count_code_try(session, match, member) > MAX_CODE_FAILURES:
            return Result(Outcome.CODE_LOCKED, match)
        await session.execute(
            update(CheckinCodeAttempt)
            .where(CheckinCodeAttempt.activity_id == match.id, CheckinCodeAttempt.member_id == member.id)
            .values(failures=CheckinCodeAttempt.failures - 1)
        )
        return await _record_presence(session, match, member, AttendanceMethod.CODE, now)
    tries_left = min([MAX_CODE_FAILURES - await _count_code_try(session, a, member) for a in coded])
    if tries_left <= 0:
        return Result(Outcome.CODE_LOCKED, coded[0])
    return Result(Outcome.WRONG_CODE, coded[0], tries_left=tries_left)


async def set_checkin_code(session: AsyncSession, caller: Caller, activity_id: int, *, enabled: bool) -> Result:
    """``/code ID``: a fresh random 4-digit code (the organizer shows it at the meeting); ``/code ID off`` clears it."""
    activity = await _branch_activity(session, caller.member, activity_id)
    if (refusal := _management_refusal(activity, caller.member)) is not None:
        return refusal
    assert activity is not None
    activity.checkin_code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}" if enabled else None
    # The code itself stays out of the audit trail: it is a short-lived secret.
    record_change(session, "activity.checkin_code", caller=caller, target=_target(activity), detail={"on": enabled})
    return Result(Outcome.CODE_SET if enabled else Outcome.CODE_CLEARED, activity, code=activity.checkin_code)


# -- leave ----------------------------------------------------------------------------------------------------------


async def leave_choices(session: AsyncSession, member: Member, *, now: datetime) -> Result:
    """A bare /leave: the activities one can still ask leave for (until their check-in window closes)."""
    activities = await _recent_and_upcoming(session, member.branch_id, now)
    upcoming = [a for a in activities if now <= checkin_window(a).closes_at]
    if not upcoming:
        return Result(Outcome.NOTHING_UPCOMING)
    if len(upcoming) > 1:
        return Result(Outcome.CHOOSE, choices=upcoming[:MAX_CHOICES])
    return await check_leave(session, member, upcoming[0].id, now=now)


async def check_leave(session: AsyncSession, member: Member, activity_id: int, *, now: datetime) -> Result:
    """May ``member`` still ask leave for this activity? (Asked before showing the reasons; nothing is written.)"""
    activity = await _branch_activity(session, member, activity_id)
    if (refusal := _leave_refusal(activity, now)) is not None:
        return refusal
    assert activity is not None
    if await _attendance_status(session, activity.id, member.id) == AttendanceStatus.PRESENT:
        return Result(Outcome.ALREADY_PRESENT, activity)
    return Result(Outcome.LEAVE_POSSIBLE, activity)


async def request_leave(
    session: AsyncSession,
    caller: Caller,
    activity_id: int,
    reason: LeaveReason,
    note: str | None,
    *,
    now: datetime,
) -> Result:
    """Record the caller's leave (asking again replaces the reason); refused once they have checked in."""
    note = _clean_note(note)
    activity = await _branch_activity(session, caller.member, activity_id)
    if (refusal := _leave_refusal(activity, now)) is not None:
        return refusal
    assert activity is not None and caller.member.id is not None
    values = {
        "status": AttendanceStatus.LEAVE.value,
        "method": AttendanceMethod.COMMAND.value,
        "recorded_by": None,
        "leave_reason": reason.value,
        "leave_note": note,
        "at": now,
    }
    statement = _insert(session, Attendance).values(activity_id=activity.id, member_id=caller.member.id, **values)
    statement = statement.on_conflict_do_update(
        index_elements=["activity_id", "member_id"],
        set_=values,
        where=Attendance.status != AttendanceStatus.PRESENT.value,
    ).returning(Attendance.id)
    if (await session.execute(statement)).scalar_one_or_none() is None:
        return Result(Outcome.ALREADY_PRESENT, activity)
    await drop_answered_reminders(session, [(activity.id, caller.member.id)])
    record_change(
        session, "attendance.leave", caller=caller, target=_target(activity), detail={"reason": reason, "note": note}
    )
    return Result(Outcome.LEAVE_RECORDED, activity, note=note)


async def set_leave_note(session: AsyncSession, caller: Caller, activity_id: int, note: str) -> Result:
    """Add the optional note to the caller's leave (asked for after the reason)."""
    note = _clean_note(note)
    changed = await session.execute(
        update(Attendance)
        .where(
            Attendance.activity_id == activity_id,
            Attendance.member_id == caller.member.id,
            Attendance.status == AttendanceStatus.LEAVE.value,
        )
        .values(leave_note=note)
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        return Result(Outcome.NO_LEAVE)
    record_change(
        session, "attendance.leave_note", caller=caller, target=f"activity:{activity_id}", detail={"note": note}
    )
    return Result(Outcome.NOTE_SAVED)


def _clean_note(note: str | None) -> str | None:
    """A leave note as stored: one line without control or format characters; None when nothing is left."""
    return (clean_line(note) or None) if note is not None else None


# -- organizers -----------------------------------------------------------------------------------------------------


async def proxy(
    session: AsyncSession,
    caller: Caller,
    activity_id: int,
    name: str,
    *,
    leave: LeaveReason | None,
    note: str | None,
    now: datetime,
) -> Result:
    """代签/补签: an organizer records a member present (``leave=None``) or on leave, at any time, over any earlier
    entry; the audit row keeps what was there before."""
    note, name = _clean_note(note), clean_name(name)
    activity = await _branch_activity(session, caller.member, activity_id)
    if (refusal := _management_refusal(activity, caller.member)) is not None:
        return refusal
    assert activity is not None
    namesakes = list(
        await session.scalars(select(Member).where(Member.branch_id == activity.branch_id, Member.name == name))
    )
    if not namesakes:
        return Result(Outcome.NO_SUCH_MEMBER, activity)
    if len(namesakes) > 1:
        return Result(Outcome.SAME_NAME, activity, same_name=len(namesakes))
    (member,) = namesakes
    assert member.id is not None
    before = await _attendance_status(session, activity.id, member.id)
    status = AttendanceStatus.PRESENT if leave is None else AttendanceStatus.LEAVE
    values: dict[str, Any] = {
        "status": status.value,
        "method": AttendanceMethod.PROXY.value,
        "recorded_by": caller.member.id,
        "leave_reason": leave.value if leave else None,
        "leave_note": note if leave else None,
        "at": now,
    }
    statement = _insert(session, Attendance).values(activity_id=activity.id, member_id=member.id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["activity_id", "member_id"], set_=values))
    await drop_answered_reminders(session, [(activity.id, member.id)])
    record_change(
        session,
        "attendance.proxy",
        caller=caller,
        target=f"{_target(activity)} member:{member.id}",
        detail={"status": status, "reason": leave, "note": values["leave_note"], "before": before},
    )
    return Result(Outcome.PROXY_RECORDED, activity, member=member)


async def attendance_summary(session: AsyncSession, caller: Caller, activity_id: int) -> Result:
    """/attendance: 应到/实到/请假/缺席 with names, and the quorum of each kind the activity counts as."""
    activity = await _branch_activity(session, caller.member, activity_id)
    if (refusal := _management_refusal(activity, caller.member, allow_cancelled=True)) is not None:
        return refusal
    assert activity is not None
    members = await roster_of(session, activity)
    rows = {
        row.member_id: row
        for row in await session.scalars(select(Attendance).where(Attendance.activity_id == activity.id))
    }
    linked = await session.scalars(select(ActivityKindLink.kind).where(ActivityKindLink.activity_id == activity.id))
    kinds = sorted({ActivityKind(activity.kind), *map(ActivityKind, linked)}, key=list(ActivityKind).index)

    expected = expected_members(ActivityKind(activity.kind), members, activity.party_group_id)
    expected_ids = {m.id for m in expected}
    present_ids = {member_id for member_id, row in rows.items() if row.status == AttendanceStatus.PRESENT}
    known = {m.id: m for m in members}
    moved_away = [i for i in present_ids if i not in known]  # attended, then moved to another branch
    if moved_away:
        known |= {m.id: m for m in await session.scalars(select(Member).where(Member.id.in_(moved_away)))}
    summary = AttendanceSummary(
        expected=expected,
        present=[m for m in expected if m.id in present_ids],
        on_leave=[
            LeaveEntry(m, rows[m.id].leave_reason, rows[m.id].leave_note)
            for m in expected
            if m.id in rows and rows[m.id].status == AttendanceStatus.LEAVE
        ],
        absent=[m for m in expected if m.id not in rows or rows[m.id].status == AttendanceStatus.ABSENT],
        guests=[known[i] for i in sorted(present_ids - expected_ids) if i in known],
        quorums=quorum_checks(kinds, members, present_ids),
    )
    return Result(Outcome.SUMMARY, activity, summary=summary)


# -- internals ------------------------------------------------------------------------------------------------------


async def _branch_activity(session: AsyncSession, member: Member, activity_id: int) -> Activity | None:
    """The activity if it belongs to the member's branch; another branch's id is treated like an unknown one."""
    activity = await session.get(Activity, activity_id)
    return activity if activity is not None and activity.branch_id == member.branch_id else None


async def _recent_and_upcoming(session: AsyncSession, branch_id: int, now: datetime) -> list[Activity]:
    rows = await session.scalars(
        select(Activity)
        .where(
            Activity.branch_id == branch_id,
            Activity.status != ActivityStatus.CANCELLED.value,
            Activity.starts_at >= now - WINDOW_LOOKBACK,
        )
        .order_by(Activity.starts_at, Activity.id)
    )
    return list(rows)


def _checkin_refusal(activity: Activity | None, now: datetime) -> Result | None:
    if activity is None:
        return Result(Outcome.NOT_FOUND)
    if activity.status == ActivityStatus.CANCELLED:
        return Result(Outcome.CANCELLED, activity)
    window = checkin_window(activity)
    if now < window.opens_at:
        return Result(Outcome.NOT_OPEN_YET, activity)
    if now > window.closes_at:
        return Result(Outcome.CLOSED, activity)
    return None


def _leave_refusal(activity: Activity | None, now: datetime) -> Result | None:
    if activity is None:
        return Result(Outcome.NOT_FOUND)
    if activity.status == ActivityStatus.CANCELLED:
        return Result(Outcome.CANCELLED, activity)
    if now > checkin_window(activity).closes_at:
        return Result(Outcome.CLOSED, activity)
    return None


def _management_refusal(activity: Activity | None, member: Member, *, allow_cancelled: bool = False) -> Result | None:
    if activity is None:
        return Result(Outcome.NOT_FOUND)
    if not may_manage(member, activity):
        return Result(Outcome.NOT_ALLOWED, activity)
    if activity.status == ActivityStatus.CANCELLED and not allow_cancelled:
        return Result(Outcome.CANCELLED, activity)
    return None


async def _record_presence(
    session: AsyncSession, activity: Activity, member: Member, method: AttendanceMethod, now: datetime
) -> Result:
    """One member's presence (see `_record_presences`)."""
    (outcome,) = await _record_presences(session, [(activity, member, method)], now)
    return Result(outcome, activity)


async def _record_presences(
    session: AsyncSession, entries: Sequence[tuple[Activity, Member, AttendanceMethod]], now: datetime
) -> list[Outcome]:
    """Insert the present rows, or turn a member's leave into presence; a second check-in changes nothing.

    One INSERT … ON CONFLICT DO NOTHING for all entries; only the members it did not insert (already present, or
    on leave) need an UPDATE. A repeat within ``entries`` is answered as already present.
    """
    keys = [(activity.id, member.id) for activity, member, _ in entries]
    first: dict[tuple[int | None, int | None], tuple[Activity, Member, AttendanceMethod]] = {}
    for key, entry in zip(keys, entries, strict=True):
        first.setdefault(key, entry)
    if not first:
        return []
    rows = [
        {
            "activity_id": activity.id,
            "member_id": member.id,
            "status": AttendanceStatus.PRESENT.value,
            "method": method.value,
            "at": now,
        }
        for activity, member, method in first.values()
    ]
    statement = (
        _insert(session, Attendance)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["activity_id", "member_id"])
        .returning(Attendance.activity_id, Attendance.member_id)
    )
    inserted = {tuple(row) for row in await session.execute(statement)}
    switched: set[tuple[int, int]] = set()
    rest = [(key, method) for key, (_, _, method) in first.items() if key not in inserted]
    for method in {method for _, method in rest}:
        statement = (
            update(Attendance)
            .where(
                pairs_in(Attendance.activity_id, Attendance.member_id, [key for key, m in rest if m == method]),
                Attendance.status != AttendanceStatus.PRESENT.value,
            )
            .values(
                status=AttendanceStatus.PRESENT.value,
                method=method.value,
                recorded_by=None,
                leave_reason=None,
                leave_note=None,
                at=now,
            )
            .returning(Attendance.activity_id, Attendance.member_id)
        )
        switched |= {tuple(row) for row in await session.execute(statement)}
    await drop_answered_reminders(session, [key for key in first if key in inserted or key in switched])
    outcomes = []
    for key in keys:
        if key in inserted:
            outcomes.append(Outcome.CHECKED_IN)
            inserted.discard(key)  # a repeat of this key later in ``entries`` finds the member present
        elif key in switched:
            outcomes.append(Outcome.CHECKED_IN_INSTEAD_OF_LEAVE)
            switched.discard(key)
        else:
            outcomes.append(Outcome.ALREADY_PRESENT)
    return outcomes


async def _count_code_try(session: AsyncSession, activity: Activity, member: Member) -> int:
    """Count one code try for (activity, member) atomically; the number of tries so far, this one included."""
    statement = _insert(session, CheckinCodeAttempt).values(activity_id=activity.id, member_id=member.id, failures=1)
    statement = statement.on_conflict_do_update(
        index_elements=["activity_id", "member_id"], set_={"failures": CheckinCodeAttempt.failures + 1}
    ).returning(CheckinCodeAttempt.failures)
    return int((await session.execute(statement)).scalar_one())


async def _attendance_status(session: AsyncSession, activity_id: int, member_id: int) -> AttendanceStatus | None:
    status = await session.scalar(
        select(Attendance.status).where(Attendance.activity_id == activity_id, Attendance.member_id == member_id)
    )
    return AttendanceStatus(status) if status is not None else None


def _insert(
    session: AsyncSession, table: type[Attendance] | type[CheckinCodeAttempt]
) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which has ON CONFLICT (the generic one does not)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _target(activity: Activity) -> str:
    return f"activity:{activity.id}"
