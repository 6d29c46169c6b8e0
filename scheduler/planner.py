"""The planner: read a branch's state, ask scheduler.rules what reminders it should have, and make the rows so.

``plan(sessions, now)`` is called every few minutes by the runner (and may be poked after a write); it is
idempotent — running it twice at the same instant changes nothing — and safe to run in several instances at once:

* a missing row is inserted with ``INSERT … ON CONFLICT (dedup_key) DO NOTHING``;
* a pending row whose text, time or target changed is updated, and only while it is still pending
  (``UPDATE … WHERE id = ? AND status = 'pending'``): a row already claimed or sent is never touched;
* a pending row of a moved activity is moved in place (its key re-stamped with the new start); if another instance
  got there first the old row is cancelled instead;
* a pending row inside a scope the rules decided about, that no spec asks for any more, is cancelled (the activity
  was cancelled, the requirement met, the member checked in or took leave, switched reminders off …); a cancelled
  row whose reason came back (reminders switched on again) is made pending again while it is still useful;
* a snoozed copy (kind ``snooze``) is cancelled with the reminder it was snoozed from;
* 补学 tasks are created (``ON CONFLICT DO NOTHING`` on activity × member) and undone ones dropped when the member
  was checked in or given leave afterwards.

Rows past their due time that are still pending belong to the delivery side (send late or mark missed); the planner
only cancels them when their reason went away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import UTCDateTime, pairs_in
from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceStatus,
    Branch,
    MakeupTask,
    Member,
    PartyGroup,
    Reminder,
    ReminderStatus,
    RequirementOverride,
    Role,
)
from bot.services.reminders import DEFAULT_QUIET_HOURS, PAYLOAD_SNOOZED_FROM, QuietHours, ReminderKind, branch_zone
from bot.services.requirements import REQUIREMENTS, apply_overrides
from bot.services.theme_day import ThemeDayRule, from_compact
from scheduler.rules import (
    ACTIVITY_WINDOW,
    ActivityFacts,
    BranchFacts,
    MakeupFacts,
    MemberFacts,
    NewMakeup,
    ReminderPlan,
    ReminderSpec,
    identity,
    makeup_changes,
    plan_reminders,
)

logger = logging.getLogger(__name__)

# Activities this far back are read: the absence chain looks back past the 6-month line of 党章 第九条.
HISTORY = timedelta(days=200)
_KEY_CHUNK = 500
_KIND_ORDER = {kind: position for position, kind in enumerate(ActivityKind)}
_COMPARED = ("chat_id", "member_id", "activity_id", "expires_at", "urgent", "text", "payload", "kind")


@dataclass(slots=True)
class PlanResult:
    """What one planning pass changed (all zero when there was nothing to do)."""

    created: int = 0
    updated: int = 0  # text, target or due time of a pending row
    moved: int = 0  # pending rows of a moved activity, re-keyed in place
    cancelled: int = 0
    revived: int = 0
    makeup_created: int = 0
    makeup_dropped: int = 0
    failed_branches: int = 0

    def add(self, other: PlanResult) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    @property
    def changes(self) -> int:
        return sum(getattr(self, item.name) for item in fields(self) if item.name != "failed_branches")


async def plan(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    branch_id: int | None = None,
    quiet: QuietHours | None = DEFAULT_QUIET_HOURS,
) -> PlanResult:
    """Plan the reminders of one branch, or of every branch; one transaction per branch."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if branch_id is None:
        async with sessions() as session:
            branch_ids = list((await session.scalars(select(Branch.id).order_by(Branch.id))).all())
    else:
        branch_ids = [branch_id]
    total = PlanResult()
    for current in branch_ids:
        try:
            async with sessions() as session:
                result = await _plan_branch(session, current, now, quiet)
                await session.commit()
            total.add(result)
        except Exception:
            # One branch's bad data must not stop the others; the next pass tries again.
            logger.exception("planning reminders of branch %s failed", current)
            total.failed_branches += 1
    return total


async def _plan_branch(session: AsyncSession, branch_id: int, now: datetime, quiet: QuietHours | None) -> PlanResult:
    result = PlanResult()
    facts = await load_facts(session, branch_id, now)
    if facts is None:
        return result
    changes = makeup_changes(facts, now)
    result.makeup_created = await _insert_makeup(session, changes.new, now)
    result.makeup_dropped = await _drop_makeup(session, changes.obsolete)
    if changes.new or changes.obsolete:
        facts = await load_facts(session, branch_id, now) or facts
    await _sync(session, facts.id, plan_reminders(facts, now, quiet), now, result)
    return result


# --- Reading -----------------------------------------------------------------------------------------------------


def _rule(branch: Branch) -> ThemeDayRule | None:
    if not branch.theme_day_rule:
        return None
    try:
        return from_compact(branch.theme_day_rule)
    except ValueError:
        logger.warning("branch %s has an unreadable 主题党日 rule %r", branch.id, branch.theme_day_rule)
        return None


async def load_facts(session: AsyncSession, branch_id: int, now: datetime) -> BranchFacts | None:
    """Everything the rules need about one branch (None if it is gone)."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        return None
    zone = branch_zone(branch.timezone)
    # Inactive members (removed, or gone from the group) are reminded of nothing and expected nowhere from now on.
    members = (
        await session.scalars(
            select(Member).where(Member.branch_id == branch_id, Member.active.is_(True)).order_by(Member.id)
        )
    ).all()
    groups = (
        await session.scalars(select(PartyGroup).where(PartyGroup.branch_id == branch_id).order_by(PartyGroup.id))
    ).all()
    year_start = now.astimezone(zone).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    since = min(year_start, now - HISTORY)
    activities = (
        await session.scalars(
            select(Activity)
            .where(Activity.branch_id == branch_id, Activity.starts_at >= since)
            .order_by(Activity.starts_at, Activity.id)
        )
    ).all()
    activity_ids = [a.id for a in activities]
    kinds: dict[int, list[ActivityKind]] = {}
    recent_ids = [a.id for a in activities if a.starts_at >= now - ACTIVITY_WINDOW]
    attendance: dict[int, dict[int, AttendanceStatus]] = {}
    tasks: list[MakeupTask] = []
    for chunk in _chunks(activity_ids):
        links = await session.execute(
            select(ActivityKindLink.activity_id, ActivityKindLink.kind).where(ActivityKindLink.activity_id.in_(chunk))
        )
        for activity_id, kind in links.all():
            kinds.setdefault(activity_id, []).append(ActivityKind(kind))
    for chunk in _chunks(recent_ids):
        rows = await session.execute(
            select(Attendance.activity_id, Attendance.member_id, Attendance.status).where(
                Attendance.activity_id.in_(chunk)
            )
        )
        for activity_id, member_id, status in rows.all():
            attendance.setdefault(activity_id, {})[member_id] = AttendanceStatus(status)
        tasks.extend((await session.scalars(select(MakeupTask).where(MakeupTask.activity_id.in_(chunk)))).all())
    last_attended = await _last_attended(session, [m.id for m in members if m.id is not None])
    overrides = await session.execute(
        select(RequirementOverride.requirement_key, RequirementOverride.minimum).where(
            RequirementOverride.branch_id == branch_id
        )
    )
    try:
        requirements = apply_overrides(REQUIREMENTS, {key: minimum for key, minimum in overrides.all()})
    except ValueError:
        logger.warning("branch %s has an invalid requirement override; using the table as is", branch_id)
        requirements = REQUIREMENTS
    return BranchFacts(
        id=branch_id,
        name=branch.name,
        zone=zone,
        chat_id=branch.chat_id,
        theme_rule=_rule(branch),
        members=tuple(
            MemberFacts(
                id=m.id or 0,
                name=m.name,
                role=Role(m.role),
                party_group_id=m.party_group_id,
                chat_id=m.telegram_user_id,
                reachable=m.reachable,
                reminders_enabled=m.reminders_enabled,
                joined_at=m.joined_at,
            )
            for m in members
        ),
        party_groups={g.id or 0: g.name for g in groups},
        activities=tuple(
            _activity_facts(a, kinds.get(a.id or 0, []), attendance.get(a.id or 0, {})) for a in activities
        ),
        last_attended=last_attended,
        makeup_tasks=tuple(
            MakeupFacts(t.activity_id, t.member_id, t.due_at, t.created_at, t.done_at is not None) for t in tasks
        ),
        requirements=requirements,
    )


def _activity_facts(
    activity: Activity, linked: Sequence[ActivityKind], attendance: dict[int, AttendanceStatus]
) -> ActivityFacts:
    main = ActivityKind(activity.kind)
    others = sorted((k for k in set(linked) if k is not main), key=_KIND_ORDER.__getitem__)
    return ActivityFacts(
        id=activity.id or 0,
        kind=main,
        kinds=(main, *others),
        topic=activity.topic,
        place=activity.place,
        starts_at=activity.starts_at,
        status=ActivityStatus(activity.status),
        party_group_id=activity.party_group_id,
        checkin_closes_after_min=activity.checkin_closes_after_min,
        has_minutes=bool(activity.minutes or activity.minutes_file_id),
        created_by=activity.created_by,
        lecturer_is_secretary=activity.lecturer_is_secretary,
        attendance=attendance,
    )


async def _last_attended(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, datetime]:
    """For each member, the start of the latest activity (not cancelled) they came to or had leave for."""
    latest: dict[int, datetime] = {}
    for chunk in _chunks(member_ids):
        rows = await session.execute(
            select(Attendance.member_id, func.max(Activity.starts_at, type_=UTCDateTime))
            .join(Activity, Activity.id == Attendance.activity_id)
            .where(
                Attendance.member_id.in_(chunk),
                Attendance.status.in_([AttendanceStatus.PRESENT.value, AttendanceStatus.LEAVE.value]),
                Activity.status != ActivityStatus.CANCELLED.value,
            )
            .group_by(Attendance.member_id)
        )
        for member_id, started in rows.all():
            if started is not None:
                latest[member_id] = started
    return latest


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _KEY_CHUNK):
        yield items[start : start + _KEY_CHUNK]


# --- 补学 tasks ----------------------------------------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def _insert_makeup(session: AsyncSession, new: Sequence[NewMakeup], now: datetime) -> int:
    rows = [
        {"activity_id": task.activity_id, "member_id": task.member_id, "due_at": task.due_at, "created_at": now}
        for task in new
    ]
    return await _insert_new(session, MakeupTask, rows, ["activity_id", "member_id"])


async def _insert_new(session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], unique: list[str]) -> int:
    """Insert the rows that do not exist yet (by the ``unique`` columns); how many were new.

    One statement, compiled once, for all rows (SQLAlchemy sends them in batches): a branch's first pass writes
    about a thousand rows, which one statement per row made the slowest part of planning.
    """
    if not rows:
        return 0
    columns = table.__table__.c
    statement = (
        _insert(session)(table.__table__)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(*(columns[name] for name in unique))
    )
    return len((await session.execute(statement, list(rows))).all())


async def _drop_makeup(session: AsyncSession, obsolete: Sequence[tuple[int, int]]) -> int:
    if not obsolete:
        return 0
    result = await session.execute(
        delete(MakeupTask).where(
            pairs_in(MakeupTask.activity_id, MakeupTask.member_id, obsolete), MakeupTask.done_at.is_(None)
        )
    )
    return result.rowcount or 0


# --- Reminder rows -----------------------------------------------------------------------------------------------


# A stored reminder as planning reads it: its columns by name (plain rows: the planner reads a branch's thousand
# pending reminders on every pass, and building ORM objects for them took most of a pass's time).
StoredReminder = Row[Any]


async def _existing(session: AsyncSession, branch_id: int, keys: Sequence[str]) -> dict[str, StoredReminder]:
    """Rows with one of ``keys``, and every pending row of the branch."""
    table = Reminder.__table__
    pending = await session.execute(
        select(table).where(table.c.branch_id == branch_id, table.c.status == ReminderStatus.PENDING.value)
    )
    rows = {row.dedup_key: row for row in pending}
    for chunk in _chunks([key for key in keys if key not in rows]):
        found = await session.execute(select(table).where(table.c.dedup_key.in_(chunk)))
        rows.update({row.dedup_key: row for row in found})
    return rows


def _values(spec: ReminderSpec) -> dict[str, Any]:
    return {
        "kind": spec.kind.value,
        "chat_id": spec.chat_id,
        "member_id": spec.member_id,
        "activity_id": spec.activity_id,
        "expires_at": spec.expires_at,
        "urgent": spec.urgent,
        "text": spec.text,
        "payload": spec.payload,
    }


def _changes(row: StoredReminder, spec: ReminderSpec, now: datetime) -> dict[str, Any]:
    """What to set on a pending row so it matches the spec; its due time follows only a spec still in the future."""
    wanted = _values(spec)
    changed = {name: wanted[name] for name in _COMPARED if getattr(row, name) != wanted[name]}
    if spec.due_at >= now and row.due_at != spec.due_at:
        changed["due_at"] = spec.due_at
    return changed


async def _sync(session: AsyncSession, branch_id: int, plan: ReminderPlan, now: datetime, result: PlanResult) -> None:
    specs = {spec.dedup_key: spec for spec in plan.specs}
    rows = await _existing(session, branch_id, list(specs))
    # Pending rows the rules decided against: cancelled below unless a moved activity's new spec takes one over.
    unwanted = {
        key: row
        for key, row in rows.items()
        if row.status == ReminderStatus.PENDING.value
        and key not in specs
        and row.kind != ReminderKind.SNOOZE.value
        and plan.in_scope(key)
    }
    movable = {identity(key): row for key, row in unwanted.items() if "@" in key}
    creations: list[dict[str, Any]] = []
    for key, spec in specs.items():
        row = rows.get(key)
        if row is None:
            old = movable.pop(spec.identity, None)
            old_key = old.dedup_key if old is not None else ""
            if old is not None and spec.create_at is not None and await _move(session, old, spec, now):
                unwanted.pop(old_key)
                result.moved += 1
            elif spec.create_at is not None:
                creations.append(_new_row(branch_id, spec, now))
        elif row.status == ReminderStatus.PENDING.value:
            changed = _changes(row, spec, now)
            if changed:
                result.updated += await _update(session, row, changed, ReminderStatus.PENDING)
        elif row.status == ReminderStatus.CANCELLED.value and spec.create_at is not None:
            values = _values(spec) | {"due_at": spec.create_at, "status": ReminderStatus.PENDING.value}
            result.revived += await _update(session, row, values, ReminderStatus.CANCELLED)
    result.created += await _insert_new(session, Reminder, creations, ["dedup_key"])
    for row in unwanted.values():
        result.cancelled += await _update(
            session, row, {"status": ReminderStatus.CANCELLED.value}, ReminderStatus.PENDING
        )
    result.cancelled += await _cancel_orphaned_snoozes(session, rows.values(), plan, specs)


def _new_row(branch_id: int, spec: ReminderSpec, now: datetime) -> dict[str, Any]:
    return {
        "branch_id": branch_id,
        "dedup_key": spec.dedup_key,
        "due_at": spec.create_at,
        "status": ReminderStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
        **_values(spec),
    }


async def _update(session: AsyncSession, row: StoredReminder, values: dict[str, Any], only_if: ReminderStatus) -> int:
    statement = update(Reminder).where(Reminder.id == row.id, Reminder.status == only_if.value).values(**values)
    return (await session.execute(statement)).rowcount or 0


async def _move(session: AsyncSession, row: StoredReminder, spec: ReminderSpec, now: datetime) -> bool:
    """Re-key a pending row of a moved activity to its new start; False if the new key exists already."""
    values = _values(spec) | {"dedup_key": spec.dedup_key, "due_at": spec.create_at}
    try:
        async with session.begin_nested():
            moved = await _update(session, row, values, ReminderStatus.PENDING)
    except IntegrityError:
        return False
    return moved > 0


async def _cancel_orphaned_snoozes(
    session: AsyncSession, rows: Iterable[StoredReminder], plan: ReminderPlan, specs: dict[str, ReminderSpec]
) -> int:
    """A pending snoozed copy goes when the reminder it was snoozed from is no longer wanted."""
    cancelled = 0
    for row in rows:
        if row.status != ReminderStatus.PENDING.value or row.kind != ReminderKind.SNOOZE.value:
            continue
        origin = json.loads(row.payload or "{}").get(PAYLOAD_SNOOZED_FROM)
        if isinstance(origin, str) and plan.in_scope(origin) and origin not in specs:
            cancelled += await _update(session, row, {"status": ReminderStatus.CANCELLED.value}, ReminderStatus.PENDING)
    return cancelled
