"""Reminder rules: from one branch's facts and ``now`` to the reminders it should have (pure, no database).

`plan_reminders` returns reminder specs — kind, dedup key, target chat, due time (quiet hours applied), expiry,
urgency, the Chinese text (Telegram HTML) and a JSON payload — together with the *scopes* it decided about: the
planner creates what is missing, updates or moves what changed, and cancels pending rows inside a scope that no
spec asks for any more (their reason went away). `makeup_changes` says which 补学 tasks to create or drop.

Times: everything is computed in the branch's time zone and returned in UTC. Non-urgent reminders never fall in the
quiet hours (22:00–08:00 branch time): they move to 08:00. A spec past its expiry is not created, and one whose due
time has passed is created only if its kind catches up (``create_at`` then says when to send it) — the others were
useful only at their time.

Kinds, dedup keys (``<stamp>`` = the activity's start, UTC ``YYYYMMDDHHMM``: moving an activity re-keys its pending
rows and sends anew what was already sent for the old time) and expiry:

=====================  ==========================================  =========================================
kind                   dedup key                                   due → expires
=====================  ==========================================  =========================================
activity_day_before    ``a<activity>:d1:m<member>@<stamp>``        18:00 the day before → the start (or that
                                                                   day's end)
activity_hour_before   ``a<activity>:h1:m<member>@<stamp>``        start − 1 h → the start
activity_checkin       ``a<activity>:ci:m<member>@<stamp>``        start + 15 min, urgent → check-in closes
activity_follow_up     ``a<activity>:fu:m<member>@<stamp>``        09:00 the day after → + 7 days (catches up)
makeup                 ``a<activity>:mk:m<member>``                when the task is made → its due date (c. u.)
deadline               ``b<branch>:dl:<YYYYMMDD>:m<member>``       09:00 that day → the end of that day
theme_day_soon         ``b<branch>:td:<YYYYMM>:soon3:g`` (group)   09:00 3 days before / 18:00 the day before
                       or ``…:soon1:m<member>``                    → the end of that day
theme_day_missed       ``b<branch>:td:<YYYYMM>:miss:m<member>``    09:00 the day after → + 7 days (c. u.)
absence                ``m<member>:ab:<since YYYYMMDD>:<3|5>``      09:00 when 3 / 5 months are reached → the
                                                                   6-month line (catches up)
digest                 ``b<branch>:dg:<YYYYMMDD>:m<member>``       Monday 09:00 → the end of that Monday
snooze                 ``sz:<reminder id>`` (bot.services.reminders)  pressed + 1 h → the original's expiry
=====================  ==========================================  =========================================

Payloads (JSON): ``{"snooze": true}`` asks the delivery for the 稍后提醒 button (private, non-urgent reminders
that are still useful an hour later); a deadline lists its ``items`` (requirement key, period, days left); an
absence flag names ``about_member_id`` and ``months``; a snoozed copy keeps the original's payload plus ``of``
(the original's dedup key).

Who gets what: members (each privately, only when registered, reachable and with reminders on) the activity and
makeup reminders, and the 主题党日 notices unless the branch has a group (then one group post, naming nobody);
the 书记 and 组织委员 the deadline and missed-主题党日 notices; the activity's creator (else those officers) the
follow-up; the 书记 (else 副书记, else 组织委员; never the member concerned) the absence flags and the digest.
Anything naming a member goes to a private chat.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import (
    COMMITTEE_ROLES,
    ActivityKind,
    ActivityStatus,
    AttendanceStatus,
    Role,
)
from bot.services.reminders import (
    DEFAULT_QUIET_HOURS,
    PAYLOAD_SNOOZE,
    QuietHours,
    ReminderKind,
)
from bot.services.requirements import (
    HeldActivity,
    ProgressLine,
    Requirement,
    evaluate,
    period_label,
    unmet_due,
)
from bot.services.theme_day import ThemeDay, ThemeDayRule, move_text
from bot.services.when import WEEKDAY_NAMES

# --- Chinese texts (Telegram HTML; values are escaped before they are filled in) ------------------------------------

TEXT_DAY_BEFORE = (
    "📅 明天有活动：<b>{kinds}</b>{topic}\n时间：{when}{place}\n请准时参加；如不能参加，请提前发送 /leave 请假。"
)
TEXT_HOUR_BEFORE = "⏰ <b>{kinds}</b>{topic}将于 {clock} 开始{place}，请准时参加。"
TEXT_CHECKIN = (
    "<b>{kinds}</b>{topic}已开始15分钟，还没有收到您的签到。\n"
    "已到场请点「签到」或发送 /checkin；不能参加请发送 /leave 说明原因。"
)
TEXT_FOLLOW_UP_NOT_HELD = "📝 {when}的<b>{kinds}</b>{topic}还没有标记为已召开。"
TEXT_FOLLOW_UP_NO_MINUTES = "📝 {when}的<b>{kinds}</b>{topic}已召开，还没有录入会议记录。"
TEXT_FOLLOW_UP_HINT = "\n已召开的请发送 /done 标记并录入会议记录；没有召开的请用 /cancel 取消。"
TEXT_MAKEUP = (
    "📚 补学提醒：您没有参加{when}的<b>{kinds}</b>{topic}，也没有请假。\n"
    "请在 {due} 前完成补学（向党小组长或支部书记了解会议内容并学习），完成后告知支部。"
)
TEXT_DEADLINE_HEAD = "⏰ 组织生活提醒（{branch}）\n以下要求还没有完成："
TEXT_DEADLINE_LINE = "• {name}（{period}）：{missing}还剩 {days} 天，截至{end}"
TEXT_DEADLINE_GROUPS = "{groups}尚未召开，"
TEXT_DEADLINE_TAIL = "请及时安排（/new），发送 /progress 查看进度。"
TEXT_THEME_SOON_3 = "📣 主题党日预告：本支部{month}月的主题党日是 <b>{day}</b>，还有 3 天，请提前安排好工作。{moved}"
TEXT_THEME_SOON_1 = "📣 明天 <b>{day}</b> 是本支部的主题党日，请准时参加。{moved}"
TEXT_THEME_MOVED = "（{reason}）"
TEXT_THEME_MISSED = (
    "主题党日提醒（{branch}）：{month}月的主题党日（{day}）已过，还没有记录主题党日活动。\n"
    "如已开展，请补录活动；如未开展，请尽快安排（/new 主题党日 …）。"
)
TEXT_ABSENCE = (
    "🔒 仅您可见：党员 <b>{name}</b> 自{since}以来已连续{months}个月没有参加组织生活（按本助手的签到和请假记录）。\n"
    "党章第九条：党员无正当理由，连续六个月不参加党的组织生活，被认为是自行脱党。"
    "距满六个月还有 {days} 天（{line}）。\n"
    "建议尽快与其谈心谈话，了解原因；如有正当理由，请为其补登请假。"
)
TEXT_DIGEST_HEAD = "📋 每周工作提示（{branch}，{day}）"
TEXT_DIGEST_UPCOMING = "未来两周："
TEXT_DIGEST_OVERDUE = "已逾期："
TEXT_DIGEST_DUE_SOON = "本期还没有完成："
TEXT_DIGEST_UNREACHABLE = "联系不上的党员："
TEXT_DIGEST_NOTHING = "暂无需要特别提醒的事项。"
TEXT_DIGEST_ACTIVITY = "• {when} {kinds}{topic}"
TEXT_DIGEST_THEME_DAY = "• {day} 主题党日（尚未安排活动）"
TEXT_DIGEST_NOT_HELD = "• {day}的{kinds}{topic}未标记已召开"
TEXT_DIGEST_NO_MINUTES = "• {day}的{kinds}{topic}未录入会议记录"
TEXT_DIGEST_MAKEUP = "• {name}的补学（{day}{kinds}）已超过期限"
TEXT_DIGEST_THEME_MISSED = "• {month}月主题党日（{day}）没有记录"
TEXT_DIGEST_REQUIREMENT = "• {name}（{period}）{missing}还剩 {days} 天"
TEXT_NOT_REGISTERED = "{name}（未登记）"
TEXT_BLOCKED = "{name}（无法送达）"
TOPIC_QUOTED = "「{topic}」"
PLACE_LINE = "\n地点：{place}"
PLACE_INLINE = "（地点：{place}）"
KIND_SEPARATOR = "、"
NAME_SEPARATOR = "、"

# --- When --------------------------------------------------------------------------------------------------------

DAY_BEFORE_AT = time(18, 0)
MORNING_AT = time(9, 0)
HOUR_BEFORE = timedelta(hours=1)
CHECKIN_NUDGE_AFTER = timedelta(minutes=15)
FOLLOW_UP_USEFUL = timedelta(days=7)
THEME_MISSED_USEFUL = timedelta(days=7)
MAKEUP_DAYS = 14
ABSENCE_MONTHS = (3, 5)
ABSENCE_LINE_MONTHS = 6  # 党章 第九条
ABSENCE_AHEAD = timedelta(days=1)  # flags are created this long before they are due, not earlier
DIGEST_AHEAD = timedelta(days=1)
DIGEST_DAYS = 14
DIGEST_DUE_SOON_DAYS = 14
# Activities that started within this window are looked at (their reminders, 补学 tasks and follow-ups).
ACTIVITY_WINDOW = timedelta(days=31)
DEADLINE_DAYS_BACK = 3
DEADLINE_DAYS_AHEAD = 14
# A reminder found this late is still created (the delivery sends it at once); later, only catch-up kinds are.
LATE_TOLERANCE = timedelta(minutes=15)

OFFICER_ROLES = (Role.SECRETARY, Role.ORGANIZATION)  # deadline and missed-主题党日 notices
SECRETARY_ROLES = (Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZATION)  # in this order: the first present

_DONE = frozenset({AttendanceStatus.PRESENT, AttendanceStatus.LEAVE})

# --- Facts in ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberFacts:
    id: int
    name: str
    role: Role
    party_group_id: int | None
    chat_id: int | None  # Telegram user id = private chat id; None until registered
    reachable: bool
    reminders_enabled: bool
    joined_at: datetime

    @property
    def private_chat(self) -> int | None:
        """Where a private message reaches them, or None."""
        return self.chat_id if self.chat_id is not None and self.reachable else None


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    id: int
    kind: ActivityKind  # the main kind: decides who is expected
    kinds: tuple[ActivityKind, ...]  # every kind it counts as, main kind first
    topic: str
    place: str
    starts_at: datetime
    status: ActivityStatus
    party_group_id: int | None
    checkin_closes_after_min: int
    has_minutes: bool
    created_by: int | None
    lecturer_is_secretary: bool
    attendance: Mapping[int, AttendanceStatus] = field(default_factory=dict)  # member id → status


@dataclass(frozen=True, slots=True)
class MakeupFacts:
    activity_id: int
    member_id: int
    due_at: datetime
    created_at: datetime
    done: bool


@dataclass(frozen=True, slots=True)
class BranchFacts:
    id: int
    name: str
    zone: ZoneInfo
    chat_id: int | None
    theme_rule: ThemeDayRule | None
    members: tuple[MemberFacts, ...]
    party_groups: Mapping[int, str]
    activities: tuple[ActivityFacts, ...]  # this year's and the last six months', at least
    last_attended: Mapping[int, datetime]  # member id → start of the latest activity they came to or had leave for
    makeup_tasks: tuple[MakeupFacts, ...]
    requirements: tuple[Requirement, ...]

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def at(self, day: date, clock: time) -> datetime:
        """A local wall-clock time on ``day``, in UTC."""
        return datetime.combine(day, clock, tzinfo=self.zone).astimezone(UTC)

    def end_of(self, day: date) -> datetime:
        return self.at(day + timedelta(days=1), time(0, 0))


# --- Specs out ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderSpec:
    """One reminder row as it should be. ``create_at`` is the due time to insert it with now, or None if it is too
    late to create (an existing row is still updated); it differs from ``due_at`` only for a late catch-up."""

    kind: ReminderKind
    dedup_key: str
    chat_id: int
    member_id: int | None
    activity_id: int | None
    due_at: datetime
    expires_at: datetime | None
    urgent: bool
    text: str
    payload: str
    create_at: datetime | None

    @property
    def identity(self) -> str:
        """The key without the activity's start: the same reminder of a moved activity has the same identity."""
        return identity(self.dedup_key)


def identity(dedup_key: str) -> str:
    return dedup_key.partition("@")[0]


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    specs: tuple[ReminderSpec, ...]
    scopes: tuple[str, ...]  # key prefixes fully decided: a pending row under one that no spec has is cancelled

    def in_scope(self, dedup_key: str) -> bool:
        return dedup_key.startswith(self.scopes)


@dataclass(frozen=True, slots=True)
class NewMakeup:
    activity_id: int
    member_id: int
    due_at: datetime


@dataclass(frozen=True, slots=True)
class MakeupChanges:
    new: tuple[NewMakeup, ...]
    obsolete: tuple[tuple[int, int], ...]  # (activity id, member id) of undone tasks the member no longer owes


# --- Who ---------------------------------------------------------------------------------------------------------


def expected(activity: ActivityFacts, members: Iterable[MemberFacts]) -> list[MemberFacts]:
    """应到 (as bot.services.attendance counts it): a 支委会 the committee, a 党小组会 its 党小组, others all."""
    if activity.kind is ActivityKind.COMMITTEE_MEETING:
        return [m for m in members if m.role in COMMITTEE_ROLES]
    if activity.kind is ActivityKind.PARTY_GROUP_MEETING and activity.party_group_id is not None:
        return [m for m in members if m.party_group_id == activity.party_group_id]
    return list(members)


def officers(facts: BranchFacts) -> list[MemberFacts]:
    """The 书记 and the 组织委员 who can be reached privately, 书记 first."""
    return sorted(
        (m for m in facts.members if m.role in OFFICER_ROLES and m.private_chat is not None),
        key=lambda m: (OFFICER_ROLES.index(m.role), m.id),
    )


def secretary(facts: BranchFacts, *, besides: int | None = None) -> MemberFacts | None:
    """The 书记 (else a 副书记, else a 组织委员) who can be reached privately, never member ``besides``."""
    for role in SECRETARY_ROLES:
        for member in sorted(facts.members, key=lambda m: m.id):
            if member.role is role and member.private_chat is not None and member.id != besides:
                return member
    return None


# --- Helpers -----------------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _payload(**values: Any) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _day_text(day: date, today: date) -> str:
    year = f"{day.year}年" if day.year != today.year else ""
    return f"{year}{day.month}月{day.day}日（{WEEKDAY_NAMES[day.weekday()]}）"


def _short_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _when_text(moment: datetime, facts: BranchFacts, reference: datetime) -> str:
    local = facts.local(moment)
    return f"{_day_text(local.date(), facts.local(reference).date())}{local.hour}:{local.minute:02d}"


def _kinds_text(activity: ActivityFacts) -> str:
    return KIND_SEPARATOR.join(kind.value for kind in activity.kinds)


def _topic_text(activity: ActivityFacts) -> str:
    return TOPIC_QUOTED.format(topic=_escape(activity.topic)) if activity.topic else ""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; a day the month lacks (the 31st, 29 February) becomes its last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    next_first = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_first - timedelta(days=1)).day))


def _chat(member: MemberFacts) -> int:
    """The private chat of a member already picked as reachable."""
    if member.private_chat is None:
        raise ValueError(f"member {member.id} cannot be reached privately")
    return member.private_chat


class _Builder:
    """Collects specs and scopes; applies quiet hours, expiry and the lateness rule in one place."""

    def __init__(self, facts: BranchFacts, now: datetime, quiet: QuietHours | None) -> None:
        self.facts = facts
        self.now = now
        self.quiet = quiet
        self.specs: list[ReminderSpec] = []
        self.scopes: list[str] = []

    def _after_quiet(self, moment: datetime) -> datetime:
        return moment if self.quiet is None else self.quiet.after(moment, self.facts.zone)

    def add(
        self,
        kind: ReminderKind,
        key: str,
        chat_id: int,
        due: datetime,
        *,
        text: str,
        member_id: int | None = None,
        activity_id: int | None = None,
        expires: datetime | None = None,
        urgent: bool = False,
        catch_up: bool = False,
        snooze: bool = False,
        **payload: Any,
    ) -> None:
        due_at = due if urgent else self._after_quiet(due)
        if expires is not None and due_at >= expires:
            return  # the quiet hours pushed it past its use
        create_at: datetime | None = due_at
        if due_at < self.now - LATE_TOLERANCE:
            create_at = self._after_quiet(self.now) if catch_up and not urgent else None
        if create_at is not None and expires is not None and create_at >= expires:
            create_at = None
        if snooze:
            payload[PAYLOAD_SNOOZE] = True
        self.specs.append(
            ReminderSpec(
                kind=kind,
                dedup_key=key,
                chat_id=chat_id,
                member_id=member_id,
                activity_id=activity_id,
                due_at=due_at,
                expires_at=expires,
                urgent=urgent,
                text=text,
                payload=_payload(**payload),
                create_at=create_at,
            )
        )


# --- The plan ----------------------------------------------------------------------------------------------------


def plan_reminders(facts: BranchFacts, now: datetime, quiet: QuietHours | None = DEFAULT_QUIET_HOURS) -> ReminderPlan:
    """Every reminder the branch should have around ``now``, with the scopes decided."""
    builder = _Builder(facts, now, quiet)
    _activity_reminders(builder)
    _deadline_reminders(builder)
    _theme_day_reminders(builder)
    _absence_flags(builder)
    _digests(builder)
    return ReminderPlan(tuple(builder.specs), tuple(builder.scopes))


def _recent(facts: BranchFacts, now: datetime) -> list[ActivityFacts]:
    return [a for a in facts.activities if a.starts_at >= now - ACTIVITY_WINDOW]


def _activity_reminders(b: _Builder) -> None:
    facts, now = b.facts, b.now
    members = {m.id: m for m in facts.members}
    tasks = {(t.activity_id, t.member_id): t for t in facts.makeup_tasks}
    for activity in _recent(facts, now):
        b.scopes.append(f"a{activity.id}:")
        if activity.status is ActivityStatus.CANCELLED:
            continue
        start = activity.starts_at
        stamp = _stamp(start)
        start_day = facts.local(start).date()
        kinds, topic = _kinds_text(activity), _topic_text(activity)
        place = _escape(activity.place)
        for member in expected(activity, facts.members):
            chat = member.private_chat
            if chat is None or not member.reminders_enabled or member.id in activity.attendance:
                continue
            common = {"member_id": member.id, "activity_id": activity.id}
            day_before = facts.at(start_day - timedelta(days=1), DAY_BEFORE_AT)
            b.add(
                ReminderKind.ACTIVITY_DAY_BEFORE,
                f"a{activity.id}:d1:m{member.id}@{stamp}",
                chat,
                day_before,
                text=TEXT_DAY_BEFORE.format(
                    kinds=kinds,
                    topic=topic,
                    when=_when_text(start, facts, day_before),
                    place=PLACE_LINE.format(place=place) if place else "",
                ),
                expires=min(start, facts.end_of(start_day - timedelta(days=1))),
                snooze=True,
                **common,
            )
            local_start = facts.local(start)
            b.add(
                ReminderKind.ACTIVITY_HOUR_BEFORE,
                f"a{activity.id}:h1:m{member.id}@{stamp}",
                chat,
                start - HOUR_BEFORE,
                text=TEXT_HOUR_BEFORE.format(
                    kinds=kinds,
                    topic=topic,
                    clock=f"{local_start.hour}:{local_start.minute:02d}",
                    place=PLACE_INLINE.format(place=place) if place else "",
                ),
                expires=start,
                **common,
            )
            closes = start + timedelta(minutes=activity.checkin_closes_after_min)
            b.add(
                ReminderKind.ACTIVITY_CHECKIN,
                f"a{activity.id}:ci:m{member.id}@{stamp}",
                chat,
                start + CHECKIN_NUDGE_AFTER,
                text=TEXT_CHECKIN.format(kinds=kinds, topic=topic),
                expires=closes,
                urgent=True,
                **common,
            )
        _follow_up(b, activity, stamp, start_day)
        for member_id in sorted(m for (a, m) in tasks if a == activity.id):
            task, member = tasks[(activity.id, member_id)], members.get(member_id)
            if task.done or member is None or member.private_chat is None or not member.reminders_enabled:
                continue
            b.add(
                ReminderKind.MAKEUP,
                f"a{activity.id}:mk:m{member_id}",
                member.private_chat,
                task.created_at,
                text=TEXT_MAKEUP.format(
                    when=_day_text(start_day, facts.local(task.created_at).date()),
                    kinds=kinds,
                    topic=topic,
                    due=_day_text(facts.local(task.due_at - timedelta(seconds=1)).date(), start_day),
                ),
                member_id=member_id,
                activity_id=activity.id,
                expires=task.due_at,
                catch_up=True,
                snooze=True,
            )


def _follow_up(b: _Builder, activity: ActivityFacts, stamp: str, start_day: date) -> None:
    if activity.status is ActivityStatus.HELD and activity.has_minutes:
        return
    facts = b.facts
    creator = next((m for m in facts.members if m.id == activity.created_by and m.private_chat is not None), None)
    due = facts.at(start_day + timedelta(days=1), MORNING_AT)
    template = TEXT_FOLLOW_UP_NOT_HELD if activity.status is ActivityStatus.PLANNED else TEXT_FOLLOW_UP_NO_MINUTES
    text = (
        template.format(when=_day_text(start_day, start_day), kinds=_kinds_text(activity), topic=_topic_text(activity))
        + TEXT_FOLLOW_UP_HINT
    )
    for target in [creator] if creator is not None else officers(facts):
        b.add(
            ReminderKind.ACTIVITY_FOLLOW_UP,
            f"a{activity.id}:fu:m{target.id}@{stamp}",
            _chat(target),
            due,
            text=text,
            member_id=target.id,
            activity_id=activity.id,
            expires=due + FOLLOW_UP_USEFUL,
            catch_up=True,
            snooze=True,
        )


def _held(facts: BranchFacts) -> list[HeldActivity]:
    """Activities that count (or are arranged to count) for the requirements: every one not cancelled."""
    return [
        HeldActivity(
            kinds=frozenset(a.kinds),
            held_on=facts.local(a.starts_at).date(),
            party_group_id=a.party_group_id,
            lecturer_is_secretary=a.lecturer_is_secretary,
        )
        for a in facts.activities
        if a.status is not ActivityStatus.CANCELLED
    ]


def _requirements(facts: BranchFacts) -> list[Requirement]:
    """The table; a branch with a 主题党日 rule hears about 主题党日 from the theme-day notices instead."""
    if facts.theme_rule is None:
        return list(facts.requirements)
    return [r for r in facts.requirements if r.kind is not ActivityKind.THEME_DAY]


def _by_requirement(lines: Sequence[ProgressLine]) -> list[list[ProgressLine]]:
    grouped: dict[str, list[ProgressLine]] = {}
    for line in lines:
        grouped.setdefault(line.requirement.key, []).append(line)
    return list(grouped.values())


def _missing_groups(lines: Sequence[ProgressLine]) -> str:
    if not lines[0].requirement.per_party_group:
        return ""
    return TEXT_DEADLINE_GROUPS.format(groups=NAME_SEPARATOR.join(_escape(line.scope) for line in lines))


def _deadline_reminders(b: _Builder) -> None:
    facts = b.facts
    today = facts.local(b.now).date()
    held, requirements, recipients = _held(facts), _requirements(facts), officers(facts)
    for offset in range(-DEADLINE_DAYS_BACK, DEADLINE_DAYS_AHEAD + 1):
        day = today + timedelta(days=offset)
        prefix = f"b{facts.id}:dl:{day:%Y%m%d}:"
        b.scopes.append(prefix)
        groups = _by_requirement(unmet_due(requirements, held, day, facts.party_groups))
        if not groups:
            continue
        lines = [
            TEXT_DEADLINE_LINE.format(
                name=group[0].requirement.name,
                period=group[0].period_label,
                missing=_missing_groups(group),
                days=group[0].days_left,
                end=_day_text(group[0].period_end - timedelta(days=1), day),
            )
            for group in groups
        ]
        text = "\n".join([TEXT_DEADLINE_HEAD.format(branch=_escape(facts.name)), *lines, TEXT_DEADLINE_TAIL])
        items = [
            {"key": g[0].requirement.key, "period": g[0].period_label, "days_left": g[0].days_left} for g in groups
        ]
        for officer in recipients:
            b.add(
                ReminderKind.DEADLINE,
                f"{prefix}m{officer.id}",
                _chat(officer),
                facts.at(day, MORNING_AT),
                text=text,
                member_id=officer.id,
                expires=facts.end_of(day),
                snooze=True,
                items=items,
            )


def _theme_day_covered(facts: BranchFacts, year: int, month: int) -> bool:
    """Whether an activity counted as 主题党日 (not cancelled) is recorded in that month."""
    for activity in facts.activities:
        day = facts.local(activity.starts_at).date()
        if (
            activity.status is not ActivityStatus.CANCELLED
            and ActivityKind.THEME_DAY in activity.kinds
            and (day.year, day.month) == (year, month)
        ):
            return True
    return False


def _theme_months(today: date) -> list[tuple[int, int]]:
    months = []
    for step in (-1, 0, 1):
        index = today.year * 12 + today.month - 1 + step
        months.append((index // 12, index % 12 + 1))
    return months


def _theme_day_reminders(b: _Builder) -> None:
    facts = b.facts
    today = facts.local(b.now).date()
    for year, month in _theme_months(today):
        prefix = f"b{facts.id}:td:{year}{month:02d}:"
        b.scopes.append(prefix)
        if facts.theme_rule is None or _theme_day_covered(facts, year, month):
            continue
        theme_day = facts.theme_rule.in_month(year, month)
        moved = move_text(theme_day)
        note = TEXT_THEME_MOVED.format(reason=moved) if moved else ""
        for days, clock, template in ((3, MORNING_AT, TEXT_THEME_SOON_3), (1, DAY_BEFORE_AT, TEXT_THEME_SOON_1)):
            notice_day = theme_day.day - timedelta(days=days)
            text = template.format(month=month, day=_day_text(theme_day.day, notice_day), moved=note)
            _theme_soon(b, f"{prefix}soon{days}:", facts.at(notice_day, clock), facts.end_of(notice_day), text)
        _theme_missed(b, prefix, month, theme_day)


def _theme_soon(b: _Builder, prefix: str, due: datetime, expires: datetime, text: str) -> None:
    facts = b.facts
    if facts.chat_id is not None:
        b.add(ReminderKind.THEME_DAY_SOON, f"{prefix}g", facts.chat_id, due, text=text, expires=expires)
        return
    for member in facts.members:
        if member.private_chat is not None and member.reminders_enabled:
            b.add(
                ReminderKind.THEME_DAY_SOON,
                f"{prefix}m{member.id}",
                member.private_chat,
                due,
                text=text,
                member_id=member.id,
                expires=expires,
            )


def _theme_missed(b: _Builder, prefix: str, month: int, theme_day: ThemeDay) -> None:
    facts = b.facts
    due = facts.at(theme_day.day + timedelta(days=1), MORNING_AT)
    text = TEXT_THEME_MISSED.format(branch=_escape(facts.name), month=month, day=_short_day(theme_day.day))
    for officer in officers(facts):
        b.add(
            ReminderKind.THEME_DAY_MISSED,
            f"{prefix}miss:m{officer.id}",
            _chat(officer),
            due,
            text=text,
            member_id=officer.id,
            expires=due + THEME_MISSED_USEFUL,
            catch_up=True,
            snooze=True,
        )


def _absence_flags(b: _Builder) -> None:
    facts, now = b.facts, b.now
    today = facts.local(now).date()
    for member in facts.members:
        b.scopes.append(f"m{member.id}:ab:")
        since = max(member.joined_at, facts.last_attended.get(member.id, member.joined_at))
        missed = any(
            a.status is not ActivityStatus.CANCELLED
            and since < a.starts_at <= now
            and a.starts_at >= member.joined_at
            and any(m.id == member.id for m in expected(a, facts.members))
            for a in facts.activities
        )
        if not missed:
            continue
        since_day = facts.local(since).date()
        line = facts.at(add_months(since_day, ABSENCE_LINE_MONTHS), time(0, 0))
        recipient = secretary(facts, besides=member.id)
        if recipient is None or now >= line:
            continue
        reached = [months for months in ABSENCE_MONTHS if facts.at(add_months(since_day, months), MORNING_AT) <= now]
        for months in ABSENCE_MONTHS:
            flag_day = add_months(since_day, months)
            due = facts.at(flag_day, MORNING_AT)
            if due - now > ABSENCE_AHEAD or (reached and months < max(reached)):
                continue  # not yet near, or a longer absence has already been reached (one flag is enough)
            notice_day = max(flag_day, today)
            b.add(
                ReminderKind.ABSENCE,
                f"m{member.id}:ab:{since_day:%Y%m%d}:{months}",
                _chat(recipient),
                due,
                text=TEXT_ABSENCE.format(
                    name=_escape(member.name),
                    since=_day_text(since_day, notice_day),
                    months=months,
                    days=(add_months(since_day, ABSENCE_LINE_MONTHS) - notice_day).days,
                    line=_day_text(add_months(since_day, ABSENCE_LINE_MONTHS), notice_day),
                ),
                member_id=recipient.id,
                expires=line,
                catch_up=True,
                snooze=True,
                about_member_id=member.id,
                months=months,
            )


def _digests(b: _Builder) -> None:
    facts, now = b.facts, b.now
    today = facts.local(now).date()
    this_monday = today - timedelta(days=today.weekday())
    recipient = secretary(facts)
    for monday in (this_monday, this_monday + timedelta(days=7)):
        prefix = f"b{facts.id}:dg:{monday:%Y%m%d}:"
        b.scopes.append(prefix)
        due = facts.at(monday, MORNING_AT)
        if recipient is None or due - now > DIGEST_AHEAD:
            continue
        b.add(
            ReminderKind.DIGEST,
            f"{prefix}m{recipient.id}",
            _chat(recipient),
            due,
            text=digest_text(facts, due, now),
            member_id=recipient.id,
            expires=facts.end_of(monday),
        )


def digest_text(facts: BranchFacts, due: datetime, now: datetime) -> str:
    """The Monday digest: the 14 days from ``due``, what is overdue at ``now``, what is still owed for the periods
    around ``due``, and who cannot be reached."""
    day = facts.local(due).date()
    today = facts.local(now).date()
    sections: list[tuple[str, list[str]]] = [
        (TEXT_DIGEST_UPCOMING, _digest_upcoming(facts, due, day)),
        (TEXT_DIGEST_OVERDUE, _digest_overdue(facts, now, today)),
        (TEXT_DIGEST_DUE_SOON, _digest_due_soon(facts, day)),
        (TEXT_DIGEST_UNREACHABLE, _digest_unreachable(facts)),
    ]
    out = [TEXT_DIGEST_HEAD.format(branch=_escape(facts.name), day=_day_text(day, day))]
    for title, lines in sections:
        if lines:
            out.extend(["", title, *lines])
    if len(out) == 1:
        out.extend(["", TEXT_DIGEST_NOTHING])
    return "\n".join(out)


def _digest_upcoming(facts: BranchFacts, due: datetime, day: date) -> list[str]:
    end = due + timedelta(days=DIGEST_DAYS)
    lines: list[tuple[datetime, str]] = [
        (
            a.starts_at,
            TEXT_DIGEST_ACTIVITY.format(
                when=_when_text(a.starts_at, facts, due), kinds=_kinds_text(a), topic=_topic_text(a)
            ),
        )
        for a in sorted(facts.activities, key=lambda a: (a.starts_at, a.id))
        if a.status is not ActivityStatus.CANCELLED and due <= a.starts_at < end
    ]
    if facts.theme_rule is not None:
        for theme_day in facts.theme_rule.next_days(day, 2):
            moment = facts.at(theme_day.day, time(0, 0))
            covered = _theme_day_covered(facts, theme_day.day.year, theme_day.day.month)
            if moment < end and not covered:
                lines.append((moment, TEXT_DIGEST_THEME_DAY.format(day=_day_text(theme_day.day, day))))
    return [text for _, text in sorted(lines, key=lambda pair: pair[0])]


def _digest_overdue(facts: BranchFacts, now: datetime, today: date) -> list[str]:
    lines = []
    for a in sorted(_recent(facts, now), key=lambda a: (a.starts_at, a.id)):
        start_day = facts.local(a.starts_at).date()
        if start_day >= today or a.status is ActivityStatus.CANCELLED:
            continue
        values = {"day": _day_text(start_day, today), "kinds": _kinds_text(a), "topic": _topic_text(a)}
        if a.status is ActivityStatus.PLANNED:
            lines.append(TEXT_DIGEST_NOT_HELD.format(**values))
        elif not a.has_minutes:
            lines.append(TEXT_DIGEST_NO_MINUTES.format(**values))
    names = {m.id: m.name for m in facts.members}
    activities = {a.id: a for a in facts.activities}
    for task in sorted(facts.makeup_tasks, key=lambda t: (t.due_at, t.member_id)):
        activity = activities.get(task.activity_id)
        if task.done or task.due_at > now or activity is None or task.member_id not in names:
            continue
        lines.append(
            TEXT_DIGEST_MAKEUP.format(
                name=_escape(names[task.member_id]),
                day=_day_text(facts.local(activity.starts_at).date(), today),
                kinds=_kinds_text(activity),
            )
        )
    if facts.theme_rule is not None:
        for year, month in _theme_months(today)[:2]:
            theme_day = facts.theme_rule.in_month(year, month)
            recent = today - timedelta(days=DIGEST_DAYS) <= theme_day.day < today
            if recent and not _theme_day_covered(facts, year, month):
                lines.append(TEXT_DIGEST_THEME_MISSED.format(month=month, day=_short_day(theme_day.day)))
    return lines


def _digest_due_soon(facts: BranchFacts, today: date) -> list[str]:
    unmet = [
        line
        for line in evaluate(_requirements(facts), _held(facts), today, facts.party_groups)
        if not line.met
        and line.days_left <= DIGEST_DUE_SOON_DAYS
        and (line.requirement.active_from_month is None or today.month >= line.requirement.active_from_month)
    ]
    return [
        TEXT_DIGEST_REQUIREMENT.format(
            name=group[0].requirement.name,
            period=period_label(group[0].requirement.period, today),
            missing=_missing_groups(group),
            days=group[0].days_left,
        )
        for group in _by_requirement(unmet)
    ]


def _digest_unreachable(facts: BranchFacts) -> list[str]:
    names = []
    for member in sorted(facts.members, key=lambda m: m.id):
        if member.chat_id is None:
            names.append(TEXT_NOT_REGISTERED.format(name=_escape(member.name)))
        elif not member.reachable:
            names.append(TEXT_BLOCKED.format(name=_escape(member.name)))
    return [NAME_SEPARATOR.join(names)] if names else []


# --- 补学 tasks ----------------------------------------------------------------------------------------------------


def makeup_changes(facts: BranchFacts, now: datetime) -> MakeupChanges:
    """补学 tasks to create (absent without leave from a held activity whose check-in has closed, while there is
    still time to make it up: MAKEUP_DAYS after the activity) and to drop (an undone task whose member has since
    been checked in or given leave)."""
    existing = {(t.activity_id, t.member_id): t for t in facts.makeup_tasks}
    new: list[NewMakeup] = []
    obsolete: list[tuple[int, int]] = []
    for activity in _recent(facts, now):
        closes = activity.starts_at + timedelta(minutes=activity.checkin_closes_after_min)
        for member in expected(activity, facts.members):
            pair = (activity.id, member.id)
            excused = activity.attendance.get(member.id) in _DONE
            if pair in existing:
                if excused and not existing[pair].done:
                    obsolete.append(pair)
                continue
            due_at = facts.at(facts.local(activity.starts_at).date() + timedelta(days=MAKEUP_DAYS + 1), time(0, 0))
            if (
                activity.status is ActivityStatus.HELD
                and closes <= now < due_at
                and not excused
                and member.joined_at <= activity.starts_at
            ):
                new.append(NewMakeup(activity.id, member.id, due_at))
    return MakeupChanges(tuple(new), tuple(obsolete))
