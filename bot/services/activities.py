"""Branch activities: plan (/new), record afterwards (/record), list, cancel, mark held (/done) and move.

Plain async functions over an AsyncSession: member ids, activity ids and ``now`` (aware) in, frozen dataclasses
out. The handler has checked the chat and that the caller holds a managing role; the rules about *which*
activities a role may manage live here, and every change writes one AuditLog row in the same transaction. A
refusal is an `ActivityRefused` carrying a `Refusal` and its details; handlers word it in Chinese.

Who may manage an activity: 书记、副书记、组织委员 any kind; a 党小组长 only a 党小组会 of their own 党小组.

The one-line form (`parse_activity_line`) is ``KINDS WHEN PLACE TOPIC``:

- KINDS: one kind, or several joined with ``+`` (``主题党日+党员大会+党课``); the first is the main kind.
- WHEN: a date and time as bot.services.when reads it (``2026-12-03 15:00``, ``明天下午3点``).
- PLACE: the next word; TOPIC: the rest of the line.
- A 党课 names its lecturer with ``讲课人：王芳`` anywhere in the topic or ``讲课人 王芳`` at its end;
  ``讲课人：书记`` means the branch secretary. A 党小组会 names its 党小组 the same way (``党小组：第一党小组``);
  it is needed only when the branch has several 党小组 and the organizer is not a 党小组长.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import (
    ORGANIZER_ROLES,
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Branch,
    Member,
    PartyGroup,
    Role,
)
from bot.services import when
from bot.services.access import Caller
from bot.services.audit import record_change
from bot.services.expected_roster import record_roster
from bot.services.requirements import parse_kind
from bot.services.text_hygiene import clean_line, clean_multiline

MAX_PLACE_CHARS = 100
MAX_TOPIC_CHARS = 200
MAX_LECTURER_CHARS = 50
RECENT_PAST = 5
MAX_UPCOMING = 20

LECTURER_LABEL = "讲课人"
PARTY_GROUP_LABEL = "党小组"
SECRETARY_ALIAS = "书记"

_KIND_SEPARATOR = re.compile(r"[+＋]")
_LABEL_END = " \t\n,，;；、"


class Refusal(StrEnum):
    """Why a request was refused; the details name what the text needs."""

    USAGE = "usage"
    UNKNOWN_KIND = "unknown_kind"  # kind
    MISSING_PLACE = "missing_place"
    MISSING_TOPIC = "missing_topic"
    PLACE_TOO_LONG = "place_too_long"  # limit
    TOPIC_TOO_LONG = "topic_too_long"  # limit
    LECTURER_TOO_LONG = "lecturer_too_long"  # limit
    IN_PAST = "in_past"
    NOT_YET_HELD = "not_yet_held"
    KIND_NOT_ALLOWED = "kind_not_allowed"
    NO_OWN_PARTY_GROUP = "no_own_party_group"
    NOT_OWN_PARTY_GROUP = "not_own_party_group"
    PARTY_GROUP_NEEDED = "party_group_needed"  # groups
    UNKNOWN_PARTY_GROUP = "unknown_party_group"  # name, groups
    NO_SUCH_ACTIVITY = "no_such_activity"  # id
    ALREADY_CANCELLED = "already_cancelled"
    ALREADY_HELD = "already_held"
    NOT_STARTED = "not_started"


class ActivityRefused(Exception):
    """The request cannot be done as asked; nothing was changed."""

    def __init__(self, reason: Refusal, **details: str) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.details = details


@dataclass(frozen=True, slots=True)
class ActivityRequest:
    """What an organizer asked for; ``kinds[0]`` is the main kind, ``party_group`` a 党小组 name."""

    kinds: tuple[ActivityKind, ...]
    starts_at: datetime
    place: str
    topic: str
    lecturer: str = ""
    party_group: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityInfo:
    """An activity as users see it; ``id`` is None for a preview. ``timezone`` is the branch's."""

    id: int | None
    kinds: tuple[ActivityKind, ...]
    starts_at: datetime
    place: str
    topic: str
    lecturer: str
    party_group: str | None
    status: ActivityStatus
    recorded_after: bool
    has_minutes: bool
    announcement_message_id: int | None
    group_chat_id: int | None
    timezone: str
    branch_id: int

    @property
    def kind(self) -> ActivityKind:
        return self.kinds[0]


@dataclass(frozen=True, slots=True)
class ActivityListing:
    """A branch's upcoming activities (soonest first) and its most recent past ones (latest first)."""

    branch_name: str
    timezone: str
    upcoming: list[ActivityInfo]
    recent: list[ActivityInfo]


@dataclass(frozen=True, slots=True)
class PartyGroupChoice:
    id: int
    name: str


# --- Pure rules and parsing ----------------------------------------------------------------------------------------


def branch_time(timezone: str, now: datetime) -> datetime:
    """``now`` in the branch's timezone (what when.* read dates against and format_when shows)."""
    return now.astimezone(ZoneInfo(timezone))


def creatable_kinds(role: Role) -> tuple[ActivityKind, ...]:
    """The kinds a role may create: all for organizers, 党小组会 for a 党小组长, none otherwise."""
    if role in ORGANIZER_ROLES:
        return tuple(ActivityKind)
    if role is Role.GROUP_LEADER:
        return (ActivityKind.PARTY_GROUP_MEETING,)
    return ()


def parse_kinds(text: str) -> tuple[ActivityKind, ...]:
    """``主题党日+党员大会+党课`` -> the kinds, main first, duplicates dropped."""
    kinds: list[ActivityKind] = []
    for name in _KIND_SEPARATOR.split(text):
        kind = parse_kind(name)
        if kind is None:
            raise ActivityRefused(Refusal.UNKNOWN_KIND, kind=name.strip())
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def parse_activity_line(text: str, *, now: datetime, timezone: str) -> ActivityRequest:
    """Read ``KINDS WHEN PLACE TOPIC`` (see the module docstring); raises ActivityRefused or when.WhenError."""
    parts = text.split(maxsplit=1)
    if len(parts) < 2:
        raise ActivityRefused(Refusal.USAGE)
    kinds = parse_kinds(parts[0])
    starts_at, rest = when.split_when(parts[1], branch_time(timezone, now))
    place_and_topic = rest.split(maxsplit=1)
    if not place_and_topic:
        raise ActivityRefused(Refusal.MISSING_PLACE)
    topic = place_and_topic[1] if len(place_and_topic) > 1 else ""
    lecturer, party_group = "", None
    if ActivityKind.PARTY_LECTURE in kinds:
        lecturer, topic = _take_label(topic, LECTURER_LABEL)
    if ActivityKind.PARTY_GROUP_MEETING in kinds:
        party_group, topic = _take_label(topic, PARTY_GROUP_LABEL)
    return ActivityRequest(
        kinds=kinds,
        starts_at=starts_at,
        place=check_place(place_and_topic[0]),
        topic=check_topic(topic),
        lecturer=check_lecturer(lecturer or ""),
        party_group=party_group,
    )


def _take_label(topic: str, label: str) -> tuple[str | None, str]:
    """The value of ``label：value`` (anywhere) or ``label value`` (at the end), and the topic without it."""
    match = re.search(rf"{label}\s*[:：]\s*([^{_LABEL_END}]+)", topic) or re.search(
        rf"(?:^|\s){label}\s+(\S+)\s*$", topic
    )
    if match is None:
        return None, topic
    rest = f"{topic[: match.start()]} {topic[match.end() :]}"
    return match[1], re.sub(r"\s{2,}", " ", rest).strip(_LABEL_END)


def _checked_text(text: str, limit: int, missing: Refusal | None, too_long: Refusal) -> str:
    text = clean_line(text)
    if not text and missing is not None:
        raise ActivityRefused(missing)
    if len(text) > limit:
        raise ActivityRefused(too_long, limit=str(limit))
    return text


def check_place(place: str) -> str:
    return _checked_text(place, MAX_PLACE_CHARS, Refusal.MISSING_PLACE, Refusal.PLACE_TOO_LONG)


def check_topic(topic: str) -> str:
    return _checked_text(topic, MAX_TOPIC_CHARS, Refusal.MISSING_TOPIC, Refusal.TOPIC_TOO_LONG)


def check_lecturer(lecturer: str) -> str:
    return _checked_text(lecturer, MAX_LECTURER_CHARS, None, Refusal.LECTURER_TOO_LONG)


def check_future(starts_at: datetime, now: datetime) -> None:
    """A new activity must start after ``now``."""
    if starts_at <= now:
        raise ActivityRefused(Refusal.IN_PAST)


# --- Creating ------------------------------------------------------------------------------------------------------


async def party_group_choices(session: AsyncSession, *, member_id: int) -> list[PartyGroupChoice]:
    """The 党小组 an organizer picks from for a 党小组会; empty when there is nothing to pick (see _party_group)."""
    actor = await _actor(session, member_id)
    if actor.role is Role.GROUP_LEADER:
        return []
    groups = await _party_groups(session, actor.branch)
    return [PartyGroupChoice(g.id, g.name) for g in groups if g.id is not None] if len(groups) > 1 else []


async def preview_activity(
    session: AsyncSession, *, member_id: int, request: ActivityRequest, now: datetime
) -> ActivityInfo:
    """The activity as it would be created (the dry run): every check, no write."""
    actor = await _actor(session, member_id)
    activity, _ = await _prepare(session, actor, request)
    check_future(request.starts_at, now)
    return _info(activity, request.kinds, actor.branch, await _group_name(session, activity))


async def create_activity(
    session: AsyncSession, *, member_id: int, request: ActivityRequest, now: datetime
) -> ActivityInfo:
    """A planned activity (announced by the caller, who then stores the message with `set_announcement`)."""
    actor = await _actor(session, member_id)
    activity, group = await _prepare(session, actor, request)
    check_future(request.starts_at, now)
    return await _insert(session, actor, activity, request, group, "activity.create", now)


async def record_activity(
    session: AsyncSession, *, member_id: int, request: ActivityRequest, now: datetime
) -> ActivityInfo:
    """补录: an activity that already took place, stored as held with ``recorded_after``."""
    actor = await _actor(session, member_id)
    activity, group = await _prepare(session, actor, request)
    if request.starts_at > now:
        raise ActivityRefused(Refusal.NOT_YET_HELD)
    activity.status = ActivityStatus.HELD.value
    activity.recorded_after = True
    return await _insert(session, actor, activity, request, group, "activity.record", now)


async def set_announcement(session: AsyncSession, *, activity_id: int, message_id: int) -> None:
    """Remember the group message that announced the activity (its buttons and later edits point to it)."""
    activity = await session.get(Activity, activity_id)
    if activity is not None:
        activity.announcement_message_id = message_id
        await session.commit()


async def _prepare(
    session: AsyncSession, actor: Caller, request: ActivityRequest
) -> tuple[Activity, PartyGroup | None]:
    """The unsaved Activity for ``request`` after the role, text and 党小组 checks."""
    allowed = creatable_kinds(actor.role)
    if not request.kinds or any(kind not in allowed for kind in request.kinds):
        raise ActivityRefused(Refusal.KIND_NOT_ALLOWED)
    group = await _party_group(session, actor, request)
    lecturer = check_lecturer(request.lecturer) if ActivityKind.PARTY_LECTURE in request.kinds else ""
    secretaries = await _secretary_names(session, actor.branch)
    if lecturer == SECRETARY_ALIAS and secretaries:
        lecturer = secretaries[0]
    activity = Activity(
        branch_id=actor.member.branch_id,
        kind=request.kinds[0].value,
        topic=check_topic(request.topic),
        starts_at=request.starts_at,
        place=check_place(request.place),
        lecturer=lecturer,
        lecturer_is_secretary=bool(lecturer) and lecturer in secretaries,
        party_group_id=group.id if group else None,
        created_by=actor.member.id,
    )
    return activity, group


async def _party_group(session: AsyncSession, actor: Caller, request: ActivityRequest) -> PartyGroup | None:
    """The 党小组 of a 党小组会: a 党小组长's own; else the named one, or the only one; None without 党小组."""
    if ActivityKind.PARTY_GROUP_MEETING not in request.kinds:
        return None
    groups = await _party_groups(session, actor.branch)
    names = "、".join(g.name for g in groups)
    if actor.role is Role.GROUP_LEADER:
        own = next((g for g in groups if g.id == actor.member.party_group_id), None)
        if own is None:
            raise ActivityRefused(Refusal.NO_OWN_PARTY_GROUP)
        if request.party_group not in (None, own.name):
            raise ActivityRefused(Refusal.NOT_OWN_PARTY_GROUP)
        return own
    if request.party_group is not None:
        named = next((g for g in groups if g.name == request.party_group), None)
        if named is None:
            raise ActivityRefused(Refusal.UNKNOWN_PARTY_GROUP, name=request.party_group, groups=names or "无")
        return named
    if len(groups) > 1:
        raise ActivityRefused(Refusal.PARTY_GROUP_NEEDED, groups=names)
    return groups[0] if groups else None


async def _insert(
    session: AsyncSession,
    actor: Caller,
    activity: Activity,
    request: ActivityRequest,
    group: PartyGroup | None,
    action: str,
    now: datetime,
) -> ActivityInfo:
    session.add(activity)
    await session.flush()
    assert activity.id is not None
    session.add_all(ActivityKindLink(activity_id=activity.id, kind=kind.value) for kind in request.kinds)
    if activity.status == ActivityStatus.HELD:  # 补录: who belonged to the branch is recorded with it
        await record_roster(session, activity, now)
    _audit(session, actor, action, activity, now, _describe(activity, request.kinds))
    await session.commit()
    return _info(activity, request.kinds, actor.branch, group.name if group else None)


# --- Listing -------------------------------------------------------------------------------------------------------


async def list_activities(session: AsyncSession, *, member_id: int, now: datetime) -> ActivityListing:
    """The member's branch: upcoming activities (any status, at most MAX_UPCOMING), the RECENT_PAST latest past."""
    branch = (await _actor(session, member_id)).branch
    of_branch = select(Activity).where(Activity.branch_id == branch.id)
    upcoming = list(
        await session.scalars(
            of_branch.where(Activity.starts_at >= now).order_by(Activity.starts_at, Activity.id).limit(MAX_UPCOMING)
        )
    )
    recent = list(
        await session.scalars(
            of_branch.where(Activity.starts_at < now)
            .order_by(Activity.starts_at.desc(), Activity.id.desc())
            .limit(RECENT_PAST)
        )
    )
    everything = upcoming + recent
    kinds = await _kinds_of(session, everything)
    group_names = {g.id: g.name for g in await _party_groups(session, branch)}

    def info(activity: Activity) -> ActivityInfo:
        assert activity.id is not None
        return _info(activity, kinds[activity.id], branch, group_names.get(activity.party_group_id or 0))

    return ActivityListing(branch.name, branch.timezone, [info(a) for a in upcoming], [info(a) for a in recent])


# --- Managing one activity -----------------------------------------------------------------------------------------


async def cancel_activity(session: AsyncSession, *, member_id: int, activity_id: int, now: datetime) -> ActivityInfo:
    """Cancel a planned activity."""
    actor, activity, kinds = await _managed(session, member_id, activity_id)
    _require_planned(activity)
    activity.status = ActivityStatus.CANCELLED.value
    _audit(session, actor, "activity.cancel", activity, now, {})
    await session.commit()
    return _info(activity, kinds, actor.branch, await _group_name(session, activity))


async def ready_for_minutes(session: AsyncSession, *, member_id: int, activity_id: int, now: datetime) -> ActivityInfo:
    """The activity `mark_held` would accept now (checked before asking for the minutes); changes nothing."""
    actor, activity, kinds = await _managed(session, member_id, activity_id)
    _require_may_hold(activity, now)
    return _info(activity, kinds, actor.branch, await _group_name(session, activity))


async def mark_held(
    session: AsyncSession,
    *,
    member_id: int,
    activity_id: int,
    now: datetime,
    minutes: str | None = None,
    minutes_file_id: str | None = None,
) -> ActivityInfo:
    """Mark an activity held and store its minutes (text, a Telegram file id, or both); held ones get new minutes."""
    actor, activity, kinds = await _managed(session, member_id, activity_id)
    _require_may_hold(activity, now)
    activity.status = ActivityStatus.HELD.value
    await record_roster(session, activity, now)  # 应到 of the 台账 from now on: the roster of the meeting day
    if minutes is not None:
        activity.minutes = minutes = clean_multiline(minutes)
    if minutes_file_id is not None:
        activity.minutes_file_id = minutes_file_id
    detail = {"minutes_chars": len(minutes or ""), "minutes_file": minutes_file_id is not None}
    _audit(session, actor, "activity.done", activity, now, detail)
    await session.commit()
    return _info(activity, kinds, actor.branch, await _group_name(session, activity))


async def move_activity(
    session: AsyncSession, *, member_id: int, activity_id: int, starts_at: datetime, now: datetime
) -> ActivityInfo:
    """Move a planned activity to a new (future) start time."""
    actor, activity, kinds = await _managed(session, member_id, activity_id)
    _require_planned(activity)
    check_future(starts_at, now)
    detail = {"from": activity.starts_at.isoformat(), "to": starts_at.isoformat()}
    activity.starts_at = starts_at
    _audit(session, actor, "activity.move", activity, now, detail)
    await session.commit()
    return _info(activity, kinds, actor.branch, await _group_name(session, activity))


async def _managed(
    session: AsyncSession, member_id: int, activity_id: int
) -> tuple[Caller, Activity, tuple[ActivityKind, ...]]:
    """The activity if it is the member's branch's and their role may manage it (another branch's is 'not found')."""
    actor = await _actor(session, member_id)
    activity = await session.get(Activity, activity_id)
    if activity is None or activity.branch_id != actor.member.branch_id:
        raise ActivityRefused(Refusal.NO_SUCH_ACTIVITY, id=str(activity_id))
    kinds = (await _kinds_of(session, [activity]))[activity_id]
    if any(kind not in creatable_kinds(actor.role) for kind in kinds):
        raise ActivityRefused(Refusal.KIND_NOT_ALLOWED)
    if actor.role is Role.GROUP_LEADER and (
        activity.party_group_id is None or activity.party_group_id != actor.member.party_group_id
    ):
        raise ActivityRefused(Refusal.NOT_OWN_PARTY_GROUP)
    return actor, activity, kinds


def _require_planned(activity: Activity) -> None:
    if activity.status == ActivityStatus.CANCELLED:
        raise ActivityRefused(Refusal.ALREADY_CANCELLED)
    if activity.status == ActivityStatus.HELD:
        raise ActivityRefused(Refusal.ALREADY_HELD)


def _require_may_hold(activity: Activity, now: datetime) -> None:
    if activity.status == ActivityStatus.CANCELLED:
        raise ActivityRefused(Refusal.ALREADY_CANCELLED)
    if activity.starts_at > now:
        raise ActivityRefused(Refusal.NOT_STARTED)


# --- Reading helpers -----------------------------------------------------------------------------------------------


async def _actor(session: AsyncSession, member_id: int) -> Caller:
    member = await session.get(Member, member_id)
    branch = await session.get(Branch, member.branch_id) if member is not None else None
    if member is None or branch is None or not member.active:  # removed, or left the group, since the flow began
        raise ActivityRefused(Refusal.KIND_NOT_ALLOWED)
    return Caller(member, branch)


async def _party_groups(session: AsyncSession, branch: Branch) -> list[PartyGroup]:
    return list(
        await session.scalars(select(PartyGroup).where(PartyGroup.branch_id == branch.id).order_by(PartyGroup.id))
    )


async def _group_name(session: AsyncSession, activity: Activity) -> str | None:
    if activity.party_group_id is None:
        return None
    group = await session.get(PartyGroup, activity.party_group_id)
    return group.name if group else None


async def _secretary_names(session: AsyncSession, branch: Branch) -> list[str]:
    query = select(Member.name).where(Member.branch_id == branch.id, Member.role == Role.SECRETARY.value)
    return list(await session.scalars(query.order_by(Member.id)))


async def _kinds_of(session: AsyncSession, activities: Iterable[Activity]) -> dict[int, tuple[ActivityKind, ...]]:
    """Each activity's kinds: the main one first, the others in ActivityKind order."""
    main = {a.id: ActivityKind(a.kind) for a in activities if a.id is not None}
    if not main:
        return {}
    links = await session.execute(
        select(ActivityKindLink.activity_id, ActivityKindLink.kind).where(ActivityKindLink.activity_id.in_(main))
    )
    extra: dict[int, set[ActivityKind]] = {activity_id: set() for activity_id in main}
    for activity_id, kind in links:
        extra[activity_id].add(ActivityKind(kind))
    return {
        activity_id: (kind, *(k for k in ActivityKind if k in extra[activity_id] and k is not kind))
        for activity_id, kind in main.items()
    }


def _info(activity: Activity, kinds: tuple[ActivityKind, ...], branch: Branch, party_group: str | None) -> ActivityInfo:
    return ActivityInfo(
        id=activity.id,
        kinds=kinds,
        starts_at=activity.starts_at,
        place=activity.place,
        topic=activity.topic,
        lecturer=activity.lecturer,
        party_group=party_group,
        status=ActivityStatus(activity.status),
        recorded_after=activity.recorded_after,
        has_minutes=bool(activity.minutes or activity.minutes_file_id),
        announcement_message_id=activity.announcement_message_id,
        group_chat_id=branch.chat_id,
        timezone=branch.timezone,
        branch_id=cast(int, branch.id),
    )


def _describe(activity: Activity, kinds: Iterable[ActivityKind]) -> dict[str, Any]:
    return {
        "kinds": [kind.value for kind in kinds],
        "starts_at": activity.starts_at.isoformat(),
        "place": activity.place,
        "topic": activity.topic,
        "lecturer": activity.lecturer,
        "party_group_id": activity.party_group_id,
    }


def _audit(
    session: AsyncSession, actor: Caller, action: str, activity: Activity, now: datetime, detail: dict[str, Any]
) -> None:
    entry = record_change(session, action, caller=actor, target=f"activity:{activity.id}", detail=detail)
    entry.at = now
