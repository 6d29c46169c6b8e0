"""应到 and the quorum of an activity: whom it expects, from which roster, and whether enough of them came.

应到 and the quorum of an activity held are computed from the roster recorded when it was marked held
(`record_roster`, called by bot.services.activities; `roster_of`), so the record of a meeting does not change when
members later move away, join or are removed; an activity not held yet expects the branch's active members.
The /attendance summary (bot.services.attendance) and the 台账 (bot.services.ledger) both judge by these rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import COMMITTEE_ROLES, Activity, ActivityKind, ActivityRoster, Member, MemberStatus, Role
from bot.services.checkin_window import checkin_window


@dataclass(frozen=True, slots=True)
class QuorumCheck:
    """A quorum rule applied to an activity: ``present`` of the ``expected`` people it counts."""

    kind: ActivityKind
    expected: int
    present: int

    @property
    def reached(self) -> bool:
        return more_than_half(self.present, self.expected)


def more_than_half(present: int, expected: int) -> bool:
    """The quorum of a 党员大会 or 支委会: strictly more than half of those expected (and nobody expected: no)."""
    return expected > 0 and 2 * present > expected


def expected_members(kind: ActivityKind, members: Iterable[Member], party_group_id: int | None) -> list[Member]:
    """应到: a 支委会 expects the committee, a 党小组会 its 党小组 (the whole branch if none is set), others all."""
    if kind == ActivityKind.COMMITTEE_MEETING:
        return [m for m in members if Role(m.role) in COMMITTEE_ROLES]
    if kind == ActivityKind.PARTY_GROUP_MEETING and party_group_id is not None:
        return [m for m in members if m.party_group_id == party_group_id]
    return list(members)


def roster_when_held(activity: Activity, members: Iterable[Member]) -> list[Member]:
    """Who of the branch's ``members`` belonged to it at ``activity``: not those who had left (were made inactive)
    before it started, nor those who joined after its check-in closed — unless it was entered afterwards (补录),
    when the roster entered before it is the best record there is."""
    closes_at = checkin_window(activity).closes_at
    return [
        member
        for member in members
        if (member.active or (member.left_at is not None and member.left_at > activity.starts_at))
        and (activity.recorded_after or member.joined_at <= closes_at)
    ]


async def record_roster(session: AsyncSession, activity: Activity, now: datetime) -> None:
    """Keep who belonged to the branch when ``activity`` was held (`roster_when_held`), once: marking it held
    again (new minutes) changes nothing. Called in the transaction that marks it held or records it."""
    assert activity.id is not None
    if activity.roster_recorded_at is not None:
        return
    activity.roster_recorded_at = now
    members = await session.scalars(select(Member).where(Member.branch_id == activity.branch_id).order_by(Member.id))
    session.add_all(
        ActivityRoster(
            activity_id=activity.id,
            member_id=member.id,
            status=member.status,
            role=member.role,
            party_group_id=member.party_group_id,
        )
        for member in roster_when_held(activity, members)
    )


async def held_rosters(session: AsyncSession, activities: Iterable[Activity]) -> dict[int, list[Member]]:
    """The recorded roster of each of these activities that has one, by member id: the members as they were then
    (detached copies carrying the status, role and 党小组 of that day; names are today's). A roster may be empty."""
    wanted = [a.id for a in activities if a.id is not None and a.roster_recorded_at is not None]
    if not wanted:
        return {}
    rows = await session.execute(
        select(ActivityRoster, Member)
        .join(Member, Member.id == ActivityRoster.member_id)
        .where(ActivityRoster.activity_id.in_(wanted))
        .order_by(ActivityRoster.activity_id, ActivityRoster.member_id)
    )
    rosters: dict[int, list[Member]] = {activity_id: [] for activity_id in wanted}
    for entry, member in rows.all():
        then = Member(**member.model_dump())  # a copy outside the session: changing it writes nothing
        then.status, then.role, then.party_group_id = entry.status, entry.role, entry.party_group_id
        rosters[entry.activity_id].append(then)
    return rosters


async def current_roster(session: AsyncSession, branch_id: int) -> list[Member]:
    """The branch's active members, by id: whom an activity not held yet expects."""
    result = await session.scalars(
        select(Member).where(Member.branch_id == branch_id, Member.active.is_(True)).order_by(Member.id)
    )
    return list(result)


async def roster_of(session: AsyncSession, activity: Activity) -> list[Member]:
    """The members ``activity`` is judged against: its recorded roster once held, else today's active members."""
    assert activity.id is not None
    recorded = (await held_rosters(session, [activity])).get(activity.id)
    return recorded if recorded is not None else await current_roster(session, activity.branch_id)


def quorum_checks(kinds: Iterable[ActivityKind], members: Sequence[Member], present_ids: set[int]) -> list[QuorumCheck]:
    """The quorum of each kind that has one: 党员大会 counts 正式党员 (预备党员 have no vote), 支委会 its members."""
    checks = []
    for kind in kinds:
        if kind == ActivityKind.MEMBERS_MEETING:
            counted = [m for m in members if m.status == MemberStatus.FULL]
        elif kind == ActivityKind.COMMITTEE_MEETING:
            counted = expected_members(kind, members, None)
        else:
            continue
        checks.append(QuorumCheck(kind, len(counted), sum(1 for m in counted if m.id in present_ids)))
    return checks
