"""A branch's progress against the requirements table, and its stricter local minimums (/progress, /require).

Only activities marked held count. Dates are the branch's: an activity belongs to the day (and so the month,
quarter and year) on which it starts in ``Branch.timezone``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Activity, ActivityKind, ActivityKindLink, ActivityStatus, Branch, PartyGroup, RequirementOverride
from bot.services.access import Caller
from bot.services.audit import record_change
from bot.services.requirements import (
    REQUIREMENTS,
    HeldActivity,
    Period,
    ProgressLine,
    Requirement,
    apply_overrides,
    evaluate,
    parse_kind,
    period_bounds,
)

logger = logging.getLogger(__name__)

AUDIT_SET_REQUIREMENT = "requirement.set"


def branch_timezone(branch: Branch) -> ZoneInfo:
    return ZoneInfo(branch.timezone)


def utc_bounds(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight at ``start`` and ``end`` (a half-open range of local days)."""
    return (
        datetime.combine(start, time(), tzinfo=zone).astimezone(UTC),
        datetime.combine(end, time(), tzinfo=zone).astimezone(UTC),
    )


async def party_groups(session: AsyncSession, branch_id: int) -> dict[int, str]:
    """The branch's 党小组, id → name, in the order they were created."""
    result = await session.execute(
        select(PartyGroup.id, PartyGroup.name).where(PartyGroup.branch_id == branch_id).order_by(PartyGroup.id)
    )
    return {group_id: name for group_id, name in result.all()}


async def local_minimums(session: AsyncSession, branch_id: int) -> dict[str, int]:
    """The branch's stored overrides, requirement key → minimum."""
    result = await session.execute(
        select(RequirementOverride.requirement_key, RequirementOverride.minimum).where(
            RequirementOverride.branch_id == branch_id
        )
    )
    return dict(result.all())


def requirements_with(overrides: dict[str, int]) -> tuple[Requirement, ...]:
    """The table with the branch's overrides. A stored one that no longer applies (the key was dropped, or the
    common minimum rose above it) is skipped with a warning, so the stricter number always wins."""
    valid: dict[str, int] = {}
    for key, minimum in overrides.items():
        try:
            apply_overrides(REQUIREMENTS, {key: minimum})
        except ValueError:
            logger.warning("ignoring stored requirement override %s=%s", key, minimum)
        else:
            valid[key] = minimum
    return apply_overrides(REQUIREMENTS, valid)


async def branch_requirements(session: AsyncSession, branch_id: int) -> tuple[Requirement, ...]:
    return requirements_with(await local_minimums(session, branch_id))


def held_activity(
    starts_at: datetime,
    kinds: Iterable[str],
    party_group_id: int | None,
    lecturer_is_secretary: bool,
    zone: ZoneInfo,
) -> HeldActivity:
    return HeldActivity(
        kinds=frozenset(ActivityKind(kind) for kind in kinds),
        held_on=starts_at.astimezone(zone).date(),
        party_group_id=party_group_id,
        lecturer_is_secretary=lecturer_is_secretary,
    )


async def held_activities(
    session: AsyncSession, branch_id: int, start: date, end: date, zone: ZoneInfo
) -> list[HeldActivity]:
    """Activities held on local days ``[start, end)``, each with every kind it counts as (one query)."""
    since, until = utc_bounds(start, end, zone)
    result = await session.execute(
        select(
            Activity.id,
            Activity.starts_at,
            Activity.kind,
            Activity.party_group_id,
            Activity.lecturer_is_secretary,
            ActivityKindLink.kind,
        )
        .outerjoin(ActivityKindLink, ActivityKindLink.activity_id == Activity.id)
        .where(
            Activity.branch_id == branch_id,
            Activity.status == ActivityStatus.HELD.value,
            Activity.starts_at >= since,
            Activity.starts_at < until,
        )
    )
    found: dict[int, tuple[datetime, int | None, bool]] = {}
    kinds: dict[int, set[str]] = {}
    for activity_id, starts_at, main_kind, group_id, by_secretary, linked_kind in result.all():
        found[activity_id] = (starts_at, group_id, by_secretary)
        kinds.setdefault(activity_id, {main_kind}).add(linked_kind or main_kind)
    return [held_activity(s, kinds[i], group, secretary, zone) for i, (s, group, secretary) in found.items()]


async def branch_progress(session: AsyncSession, branch_id: int, now: datetime) -> list[ProgressLine]:
    """Progress for the month, quarter and year containing ``now`` (in the branch's timezone)."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise LookupError(f"no branch {branch_id}")
    zone = branch_timezone(branch)
    today = now.astimezone(zone).date()
    start, end = period_bounds(Period.YEAR, today)
    held = await held_activities(session, branch_id, start, end, zone)
    requirements = await branch_requirements(session, branch_id)
    return evaluate(requirements, held, today, await party_groups(session, branch_id))


# --- local minimums (/require) -------------------------------------------------------------------------------------


def find_requirement(text: str) -> Requirement | None:
    """A requirement by key, name (书记讲党课) or activity kind (支委会, 支部委员会会议, 党员大会 …)."""
    name = "".join(text.split())
    for requirement in REQUIREMENTS:
        if name in (requirement.key, requirement.name):
            return requirement
    kind = parse_kind(name)
    matching = [r for r in REQUIREMENTS if r.kind is kind and not r.lecturer_must_be_secretary]
    return matching[0] if len(matching) == 1 else None


@dataclass(frozen=True, slots=True)
class MinimumChange:
    requirement: Requirement  # with the branch's new minimum
    previous: int
    common: int  # the minimum in the common table


async def set_local_minimum(session: AsyncSession, caller: Caller, key: str, minimum: int) -> MinimumChange:
    """Set the branch's minimum for one requirement (the common minimum removes the override) and commit.

    A number below the common minimum raises ValueError with requirements.apply_overrides' Chinese message;
    nothing is changed then.
    """
    branch_id = caller.branch.id
    assert branch_id is not None
    (updated,) = (r for r in apply_overrides(REQUIREMENTS, {key: minimum}) if r.key == key)
    common = next(r.minimum for r in REQUIREMENTS if r.key == key)
    existing = await session.scalar(
        select(RequirementOverride).where(
            RequirementOverride.branch_id == branch_id, RequirementOverride.requirement_key == key
        )
    )
    previous = existing.minimum if existing is not None else common
    if minimum == common:
        if existing is not None:
            await session.delete(existing)
    elif existing is not None:
        existing.minimum = minimum
    else:
        session.add(RequirementOverride(branch_id=branch_id, requirement_key=key, minimum=minimum))
    record_change(
        session,
        AUDIT_SET_REQUIREMENT,
        caller=caller,
        target=key,
        detail={"minimum": minimum, "previous": previous, "common": common},
    )
    await session.commit()
    return MinimumChange(updated, previous, common)
