"""The pure reminder rules: due times, quiet hours, keys, who gets what, month/quarter/year ends, other time zones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.bot_api_checks import html_to_plain
from bot.models import ActivityKind, ActivityStatus, AttendanceStatus, Role
from bot.services.reminders import DEFAULT_QUIET_HOURS, QuietHours
from bot.services.requirements import REQUIREMENTS
from bot.services.theme_day import from_compact
from scheduler.rules import (
    ActivityFacts,
    BranchFacts,
    MakeupFacts,
    MemberFacts,
    ReminderSpec,
    add_months,
    makeup_changes,
    plan_reminders,
)
from tests.scheduler.builders import SHANGHAI, local, shown

BERLIN = ZoneInfo("Europe/Berlin")
K = ActivityKind
JOINED = datetime(2026, 1, 1, tzinfo=UTC)


def member(
    id: int, role: Role = Role.MEMBER, *, group: int | None = None, chat: int | None = -1, **values: object
) -> MemberFacts:
    facts = MemberFacts(
        id=id,
        name=f"党员{id}",
        role=role,
        party_group_id=group,
        chat_id=1000 + id if chat == -1 else chat,
        reachable=True,
        reminders_enabled=True,
        joined_at=JOINED,
    )
    return replace(facts, **values)  # type: ignore[arg-type]


SECRETARY = member(1, Role.SECRETARY, group=10)
ORGANIZER = member(2, Role.ORGANIZATION, group=20)
PROPAGANDA = member(3, Role.PROPAGANDA, group=10)
MEMBERS = (SECRETARY, ORGANIZER, PROPAGANDA, member(4, group=10), member(5, group=20))


def activity(id: int, kinds: tuple[ActivityKind, ...], starts: datetime, **values: object) -> ActivityFacts:
    facts = ActivityFacts(
        id=id,
        kind=kinds[0],
        kinds=kinds,
        topic="学习",
        place="会议室",
        starts_at=starts,
        status=ActivityStatus.PLANNED,
        party_group_id=None,
        checkin_closes_after_min=60,
        has_minutes=False,
        created_by=SECRETARY.id,
        lecturer_is_secretary=False,
    )
    return replace(facts, **values)  # type: ignore[arg-type]


def branch(
    *,
    members: Iterable[MemberFacts] = MEMBERS,
    activities: Iterable[ActivityFacts] = (),
    zone: ZoneInfo = SHANGHAI,
    chat_id: int | None = -100,
    rule: str | None = None,
    groups: dict[int, str] | None = None,
    last_attended: dict[int, datetime] | None = None,
    tasks: Iterable[MakeupFacts] = (),
) -> BranchFacts:
    return BranchFacts(
        id=7,
        name="机关第一党支部",
        zone=zone,
        chat_id=chat_id,
        theme_rule=from_compact(rule) if rule else None,
        members=tuple(members),
        party_groups={10: "第一党小组", 20: "第二党小组"} if groups is None else groups,
        activities=tuple(activities),
        last_attended=last_attended or {},
        makeup_tasks=tuple(tasks),
        requirements=REQUIREMENTS,
    )


def specs(facts: BranchFacts, now: datetime, kind: str | None = None) -> list[ReminderSpec]:
    """The specs a planner would create now (past ones are there too, for the rows that exist: not listed)."""
    found = plan_reminders(facts, now).specs
    wanted = (s for s in found if (kind is None or s.kind == kind) and s.create_at is not None)
    return sorted(wanted, key=lambda s: (s.due_at, s.dedup_key))


def table(found: Iterable[ReminderSpec], zone: ZoneInfo = SHANGHAI) -> list[tuple[str, str, int]]:
    return [(shown(s.due_at, zone), s.dedup_key, s.chat_id) for s in found]


# --- quiet hours and dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "after"),
    [
        ("2026-10-12 21:59", "2026-10-12 21:59"),
        ("2026-10-12 22:00", "2026-10-13 08:00"),
        ("2026-10-12 23:30", "2026-10-13 08:00"),
        ("2026-10-13 00:00", "2026-10-13 08:00"),
        ("2026-10-13 07:59", "2026-10-13 08:00"),
        ("2026-10-13 08:00", "2026-10-13 08:00"),
        ("2026-12-31 22:30", "2027-01-01 08:00"),
    ],
)
def test_quiet_hours(moment: str, after: str) -> None:
    assert shown(DEFAULT_QUIET_HOURS.after(local(moment), SHANGHAI)) == after
    assert DEFAULT_QUIET_HOURS.contains(local(moment).astimezone(SHANGHAI)) == (moment != after)


def test_quiet_hours_are_the_branch_s_own() -> None:
    moment = local("2026-10-12 15:00")  # 09:00 in Berlin (summer time)
    assert not DEFAULT_QUIET_HOURS.contains(moment.astimezone(BERLIN))
    late = local("2026-10-13 05:30")  # 23:30 the day before in Berlin
    assert shown(DEFAULT_QUIET_HOURS.after(late, BERLIN), BERLIN) == "2026-10-13 08:00"


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 8, 31), 3, date(2026, 11, 30)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 31), 6, date(2027, 6, 30)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 7, 20), 5, date(2026, 12, 20)),
    ],
)
def test_add_months(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end


# --- activities ----------------------------------------------------------------------------------------------------


def test_activity_reminders_keys_times_and_expiry() -> None:
    meeting = activity(40, (K.COMMITTEE_MEETING,), local("2026-10-13 15:00"))
    facts = branch(activities=[meeting])
    now = local("2026-10-01 10:00")
    found = [s for s in specs(facts, now) if s.activity_id == 40]
    assert table(found) == [
        ("2026-10-12 18:00", "a40:d1:m1@202610130700", 1001),
        ("2026-10-12 18:00", "a40:d1:m2@202610130700", 1002),
        ("2026-10-12 18:00", "a40:d1:m3@202610130700", 1003),
        ("2026-10-13 14:00", "a40:h1:m1@202610130700", 1001),
        ("2026-10-13 14:00", "a40:h1:m2@202610130700", 1002),
        ("2026-10-13 14:00", "a40:h1:m3@202610130700", 1003),
        ("2026-10-13 15:15", "a40:ci:m1@202610130700", 1001),
        ("2026-10-13 15:15", "a40:ci:m2@202610130700", 1002),
        ("2026-10-13 15:15", "a40:ci:m3@202610130700", 1003),
        ("2026-10-14 09:00", "a40:fu:m1@202610130700", 1001),  # to its creator, the 书记
    ]
    expiry = {s.dedup_key.split(":")[1]: (shown(s.expires_at), s.urgent) for s in found if s.expires_at}
    assert expiry == {
        "d1": ("2026-10-13 00:00", False),
        "h1": ("2026-10-13 15:00", False),
        "ci": ("2026-10-13 16:00", True),
        "fu": ("2026-10-21 09:00", False),
    }
    day_before = found[0]
    assert "明天有活动：<b>支委会</b>「学习」" in day_before.text
    assert "10月13日（周二）15:00" in day_before.text
    assert '"snooze": true' in day_before.payload
    assert '"snooze"' not in found[6].payload  # the check-in nudge cannot wait an hour


def test_who_is_expected() -> None:
    starts = local("2026-10-20 19:30")
    group_meeting = activity(41, (K.PARTY_GROUP_MEETING,), starts, party_group_id=20)
    whole = activity(42, (K.THEME_DAY, K.MEMBERS_MEETING), starts + timedelta(days=1))
    facts = branch(activities=[group_meeting, whole])
    now = local("2026-10-01 10:00")
    day_before = specs(facts, now, "activity_day_before")
    assert [s.member_id for s in day_before if s.activity_id == 41] == [2, 5]
    assert [s.member_id for s in day_before if s.activity_id == 42] == [1, 2, 3, 4, 5]
    assert "<b>主题党日、支部党员大会</b>" in next(s.text for s in day_before if s.activity_id == 42)


def test_members_who_cannot_or_need_not_be_reminded() -> None:
    members = (
        SECRETARY,
        member(4, chat=None),  # never registered
        member(5, reachable=False),  # blocked the bot
        member(6, reminders_enabled=False),  # /remind off
        member(8),  # asked for leave
        member(9),  # checked in early
        member(11),
    )
    meeting = activity(
        43,
        (K.MEMBERS_MEETING,),
        local("2026-10-20 15:00"),
        attendance={8: AttendanceStatus.LEAVE, 9: AttendanceStatus.PRESENT},
    )
    facts = branch(members=members, activities=[meeting])
    found = specs(facts, local("2026-10-01 10:00"), "activity_checkin")
    assert sorted(s.member_id for s in found) == [1, 11]


def test_quiet_hours_move_or_drop_activity_reminders() -> None:
    early = activity(44, (K.COMMITTEE_MEETING,), local("2026-10-13 08:30"))
    very_early = activity(45, (K.COMMITTEE_MEETING,), local("2026-10-14 07:30"))
    late = activity(46, (K.COMMITTEE_MEETING,), local("2026-10-15 22:00"))
    facts = branch(members=[SECRETARY], activities=[early, very_early, late])
    found = specs(facts, local("2026-10-01 10:00"))
    rows = {(s.activity_id, s.dedup_key.split(":")[1]): (shown(s.due_at), s.urgent) for s in found if s.activity_id}
    assert rows[(44, "h1")] == ("2026-10-13 08:00", False)  # 07:30 is quiet: 08:00, still before the start
    assert (45, "h1") not in rows  # 06:30 → 08:00 is after the start: dropped
    assert rows[(46, "h1")] == ("2026-10-15 21:00", False)
    assert rows[(46, "ci")] == ("2026-10-15 22:15", True)  # urgent: the meeting itself is running
    for (_, slot), (clock, urgent) in rows.items():
        assert urgent or "08:00" <= clock[-5:] < "22:00", slot


def test_a_reminder_found_too_late() -> None:
    # The planner first hears of the meeting at 20:00 the evening before: the 18:00 reminder is not sent late,
    # the follow-up (which catches up) is sent at the next allowed time, and the 补学 notice waits for the morning.
    meeting = activity(47, (K.COMMITTEE_MEETING,), local("2026-10-13 09:00"))
    facts = branch(members=[SECRETARY], activities=[meeting])
    found = {s.dedup_key.split(":")[1]: s for s in plan_reminders(facts, local("2026-10-12 20:00")).specs}
    assert found["d1"].create_at is None
    assert found["h1"].create_at == found["h1"].due_at
    done = replace(meeting, status=ActivityStatus.HELD)
    task = MakeupFacts(47, 1, local("2026-10-28 00:00"), local("2026-10-13 23:10"), done=False)
    later = branch(members=[SECRETARY], activities=[done], tasks=[task])
    by_slot = {s.dedup_key.split(":")[1]: s for s in specs(later, local("2026-10-16 23:10"))}
    assert shown(by_slot["fu"].due_at) == "2026-10-14 09:00"
    assert by_slot["fu"].create_at is not None and shown(by_slot["fu"].create_at) == "2026-10-17 08:00"
    assert shown(by_slot["mk"].due_at) == "2026-10-14 08:00"
    assert by_slot["mk"].create_at is not None and shown(by_slot["mk"].create_at) == "2026-10-17 08:00"
    assert "请在 10月27日（周二） 前完成补学" in by_slot["mk"].text


def test_cancelled_and_documented_activities_have_no_reminders_but_keep_their_scope() -> None:
    cancelled = activity(48, (K.COMMITTEE_MEETING,), local("2026-10-13 15:00"), status=ActivityStatus.CANCELLED)
    documented = activity(
        49, (K.COMMITTEE_MEETING,), local("2026-10-01 15:00"), status=ActivityStatus.HELD, has_minutes=True
    )
    plan = plan_reminders(branch(activities=[cancelled, documented]), local("2026-10-02 10:00"))
    assert not [s for s in plan.specs if s.activity_id and s.create_at is not None]
    assert plan.in_scope("a48:d1:m1@202610130700") and plan.in_scope("a49:fu:m1@202610010700")
    assert not plan.in_scope("a4:d1:m1@202610130700")


def test_follow_up_goes_to_the_officers_when_the_creator_cannot_be_reached() -> None:
    meeting = activity(50, (K.PARTY_GROUP_MEETING,), local("2026-10-13 19:30"), created_by=5)
    members = (SECRETARY, ORGANIZER, member(5, reachable=False))
    found = specs(branch(members=members, activities=[meeting]), local("2026-10-13 20:00"), "activity_follow_up")
    assert [(s.chat_id, shown(s.due_at)) for s in found] == [(1001, "2026-10-14 09:00"), (1002, "2026-10-14 09:00")]


# --- requirement deadlines -----------------------------------------------------------------------------------------


def test_deadlines_at_the_end_of_december_name_everything_missing() -> None:
    found = specs(branch(), local("2026-12-20 10:00"), "deadline")
    assert table(found) == [
        ("2026-12-25 09:00", "b7:dl:20261225:m1", 1001),
        ("2026-12-25 09:00", "b7:dl:20261225:m2", 1002),
        ("2026-12-30 09:00", "b7:dl:20261230:m1", 1001),
        ("2026-12-30 09:00", "b7:dl:20261230:m2", 1002),
    ]
    assert found[0].text.splitlines() == [
        "⏰ 组织生活提醒（机关第一党支部）",
        "以下要求还没有完成：",
        "• 支部党员大会（2026年第四季度）：还剩 7 天，截至12月31日（周四）",
        "• 支委会（2026年12月）：还剩 7 天，截至12月31日（周四）",
        "• 党小组会（2026年12月）：第一党小组、第二党小组尚未召开，还剩 7 天，截至12月31日（周四）",
        "• 党课（2026年第四季度）：还剩 7 天，截至12月31日（周四）",
        "• 书记讲党课（2026年）：还剩 7 天，截至12月31日（周四）",
        "• 主题党日（2026年12月）：还剩 7 天，截至12月31日（周四）",
        "• 组织生活会（2026年）：还剩 7 天，截至12月31日（周四）",
        "• 民主评议党员（2026年）：还剩 7 天，截至12月31日（周四）",
        "请及时安排（/new），发送 /progress 查看进度。",
    ]
    assert shown(found[0].expires_at) == "2026-12-26 00:00"


def test_deadlines_in_february_and_at_a_quarter_end() -> None:
    held_quarterly = [
        activity(51, (K.MEMBERS_MEETING, K.PARTY_LECTURE), local("2027-01-10 09:00"), lecturer_is_secretary=True)
    ]
    facts = branch(activities=held_quarterly, rule="day:15/next")
    february = specs(facts, local("2027-02-12 10:00"), "deadline")
    assert [(shown(s.due_at), s.chat_id) for s in february] == [("2027-02-22 09:00", 1001), ("2027-02-22 09:00", 1002)]
    lines = february[0].text.splitlines()[2:-1]
    assert lines == [
        "• 支委会（2027年2月）：还剩 7 天，截至2月28日（周日）",
        "• 党小组会（2027年2月）：第一党小组、第二党小组尚未召开，还剩 7 天，截至2月28日（周日）",
    ]  # 主题党日 is left to the 主题党日 notices of a branch with a rule
    march = specs(facts, local("2027-03-20 10:00"), "deadline")
    assert sorted({shown(s.due_at) for s in march}) == ["2027-03-25 09:00", "2027-03-30 09:00"]
    assert "2027年第一季度" not in march[0].text  # the quarter's 党员大会 and 党课 were held in January


def test_organizational_life_is_reminded_from_the_first_of_november() -> None:
    found = specs(branch(members=[SECRETARY]), local("2026-10-25 10:00"), "deadline")
    november_first = [s for s in found if s.dedup_key == "b7:dl:20261101:m1"]
    assert november_first and november_first[0].text.splitlines()[2:-1] == [
        "• 组织生活会（2026年）：还剩 61 天，截至12月31日（周四）",
        "• 民主评议党员（2026年）：还剩 61 天，截至12月31日（周四）",
    ]


def test_an_arranged_meeting_counts_for_its_deadline() -> None:
    arranged = [
        activity(52, (K.COMMITTEE_MEETING,), local("2026-11-29 15:00")),
        activity(53, (K.PARTY_GROUP_MEETING,), local("2026-11-20 19:00"), party_group_id=10),
    ]
    found = specs(branch(activities=arranged, rule="day:15/next"), local("2026-11-20 10:00"), "deadline")
    assert [s.dedup_key for s in found] == [
        "b7:dl:20261124:m1",
        "b7:dl:20261124:m2",
        "b7:dl:20261129:m1",
        "b7:dl:20261129:m2",
    ]
    assert found[0].text.splitlines()[2:-1] == [
        "• 党小组会（2026年11月）：第二党小组尚未召开，还剩 7 天，截至11月30日（周一）"
    ]


# --- 主题党日 ---------------------------------------------------------------------------------------------------


def test_theme_day_notices_go_to_the_group_and_name_nobody() -> None:
    facts = branch(rule="weekday:1:4/next")
    found = specs(facts, local("2026-10-01 00:00"))
    theme = [s for s in found if s.kind in ("theme_day_soon", "theme_day_missed")]
    assert table(theme) == [
        ("2026-10-05 09:00", "b7:td:202610:soon3:g", -100),
        ("2026-10-07 18:00", "b7:td:202610:soon1:g", -100),
        ("2026-10-09 09:00", "b7:td:202610:miss:m1", 1001),
        ("2026-10-09 09:00", "b7:td:202610:miss:m2", 1002),
        ("2026-11-03 09:00", "b7:td:202611:soon3:g", -100),
        ("2026-11-05 18:00", "b7:td:202611:soon1:g", -100),
        ("2026-11-07 09:00", "b7:td:202611:miss:m1", 1001),
        ("2026-11-07 09:00", "b7:td:202611:miss:m2", 1002),
    ]
    assert theme[0].text == (
        "📣 主题党日预告：本支部10月的主题党日是 <b>10月8日（周四）</b>，还有 3 天，请提前安排好工作。"
        "（原定10月2日，遇国庆节顺延）"
    )
    for spec in found:
        if spec.member_id is None:
            assert not any(m.name in spec.text for m in MEMBERS)


def test_theme_day_notices_without_a_group_go_to_each_member_with_reminders_on() -> None:
    members = (SECRETARY, member(4, reminders_enabled=False), member(5))
    found = specs(branch(members=members, chat_id=None, rule="day:15/next"), local("2026-10-01 00:00"))
    soon = [s for s in found if s.kind == "theme_day_soon" and s.dedup_key.startswith("b7:td:202610:")]
    assert [(s.dedup_key, shown(s.due_at)) for s in soon] == [
        ("b7:td:202610:soon3:m1", "2026-10-12 09:00"),
        ("b7:td:202610:soon3:m5", "2026-10-12 09:00"),
        ("b7:td:202610:soon1:m1", "2026-10-14 18:00"),
        ("b7:td:202610:soon1:m5", "2026-10-14 18:00"),
    ]


def test_a_recorded_theme_day_silences_the_month() -> None:
    recorded = activity(54, (K.MEMBERS_MEETING, K.THEME_DAY), local("2026-10-21 14:30"))
    found = specs(branch(activities=[recorded], rule="weekday:1:4/next"), local("2026-10-01 00:00"))
    assert not [s for s in found if s.dedup_key.startswith("b7:td:202610:")]


# --- absence, 补学, digest ---------------------------------------------------------------------------------------


def test_absence_flags_go_to_the_secretary_before_six_months() -> None:
    absent = member(6, joined_at=local("2026-01-01 09:00"))
    missed = activity(55, (K.MEMBERS_MEETING,), local("2026-09-10 15:00"))
    facts = branch(members=(SECRETARY, absent), activities=[missed], last_attended={6: local("2026-08-31 19:00")})
    assert not specs(facts, local("2026-11-29 08:59"), "absence")  # more than a day ahead
    (three,) = specs(facts, local("2026-11-29 09:00"), "absence")
    assert (three.dedup_key, shown(three.due_at), three.chat_id) == ("m6:ab:20260831:3", "2026-11-30 09:00", 1001)
    assert "党员 <b>党员6</b> 自8月31日（周一）以来已连续3个月没有参加组织生活" in three.text
    assert "距满六个月还有 90 天（2027年2月28日（周日））" in three.text
    assert three.member_id == SECRETARY.id and '"about_member_id": 6' in three.payload
    (five,) = specs(facts, local("2027-01-31 10:00"), "absence")  # the 3-month flag is superseded
    assert (five.dedup_key, shown(five.due_at)) == ("m6:ab:20260831:5", "2027-01-31 09:00")
    assert not specs(facts, local("2027-02-28 00:00"), "absence")  # the line is reached: too late to warn


def test_no_flag_without_a_missed_meeting_or_for_the_secretary_to_himself() -> None:
    quiet = branch(members=(SECRETARY, member(6)), last_attended={6: local("2026-06-01 10:00")})
    assert not specs(quiet, local("2026-09-01 10:00"), "absence")
    meeting = activity(56, (K.MEMBERS_MEETING,), local("2026-07-01 15:00"))
    alone = branch(members=(SECRETARY,), activities=[meeting], last_attended={1: local("2026-06-01 10:00")})
    assert not specs(alone, local("2026-09-01 10:00"), "absence")
    with_deputy = branch(
        members=(SECRETARY, member(2, Role.DEPUTY_SECRETARY)),
        activities=[meeting],
        last_attended={1: local("2026-06-01 10:00"), 2: local("2026-07-01 15:00")},
    )
    assert [s.chat_id for s in specs(with_deputy, local("2026-09-01 10:00"), "absence")] == [1002]


def test_makeup_tasks() -> None:
    members = (SECRETARY, member(4), member(5), member(6), member(7, joined_at=local("2026-10-20 00:00")))
    held = activity(
        57,
        (K.MEMBERS_MEETING,),
        local("2026-10-13 15:00"),
        status=ActivityStatus.HELD,
        attendance={1: AttendanceStatus.PRESENT, 5: AttendanceStatus.LEAVE, 6: AttendanceStatus.PRESENT},
    )
    existing = MakeupFacts(57, 6, local("2026-10-28 00:00"), local("2026-10-13 17:00"), done=False)
    facts = branch(members=members, activities=[held], tasks=[existing])
    assert makeup_changes(facts, local("2026-10-13 15:59")).new == ()  # check-in still open
    changes = makeup_changes(facts, local("2026-10-13 16:00"))
    assert [(t.activity_id, t.member_id, shown(t.due_at)) for t in changes.new] == [(57, 4, "2026-10-28 00:00")]
    assert changes.obsolete == ((57, 6),)  # checked in by proxy afterwards
    assert makeup_changes(facts, local("2026-10-28 00:00")).new == ()  # too late to make up
    planned = replace(held, status=ActivityStatus.PLANNED)
    assert makeup_changes(replace(facts, activities=(planned,)), local("2026-10-14 10:00")).new == ()


def test_digest_on_mondays() -> None:
    members = (SECRETARY, member(4, chat=None), member(5, reachable=False))
    upcoming = activity(58, (K.COMMITTEE_MEETING,), local("2026-10-20 15:00"))
    forgotten = activity(59, (K.PARTY_LECTURE,), local("2026-10-09 15:00"))
    facts = branch(members=members, activities=[upcoming, forgotten], rule="weekday:1:4/next")
    assert not specs(facts, local("2026-10-18 08:59"), "digest")
    (digest,) = specs(facts, local("2026-10-18 09:00"), "digest")
    assert (digest.dedup_key, shown(digest.due_at), shown(digest.expires_at)) == (
        "b7:dg:20261019:m1",
        "2026-10-19 09:00",
        "2026-10-20 00:00",
    )
    assert digest.text.splitlines() == [
        "📋 每周工作提示（机关第一党支部，10月19日（周一））",
        "",
        "未来两周：",
        "• 10月20日（周二）15:00 支委会「学习」",
        "",
        "已逾期：",
        "• 10月9日（周五）的党课「学习」未标记已召开",
        "• 10月主题党日（10月8日）没有记录",
        "",
        "本期还没有完成：",
        "• 党小组会（2026年10月）第一党小组、第二党小组尚未召开，还剩 13 天",
        "",
        "联系不上的党员：",
        "党员4（未登记）、党员5（无法送达）",
    ]


# --- another time zone -------------------------------------------------------------------------------------------


def test_a_branch_in_berlin_across_the_end_of_summer_time() -> None:
    # Summer time ends on 25 October 2026: 18:00 in Berlin is 16:00 UTC before and 17:00 UTC after.
    before = activity(60, (K.COMMITTEE_MEETING,), local("2026-10-22 15:00", BERLIN))
    after = activity(61, (K.COMMITTEE_MEETING,), local("2026-10-27 15:00", BERLIN))
    facts = branch(members=[SECRETARY], activities=[before, after], zone=BERLIN)
    found = specs(facts, local("2026-10-15 10:00", BERLIN), "activity_day_before")
    assert [(s.due_at.astimezone(UTC).strftime("%m-%d %H:%M"), shown(s.due_at, BERLIN)) for s in found] == [
        ("10-21 16:00", "2026-10-21 18:00"),
        ("10-26 17:00", "2026-10-26 18:00"),
    ]
    assert [s.dedup_key for s in found] == ["a60:d1:m1@202610221300", "a61:d1:m1@202610271400"]
    deadlines = specs(facts, local("2026-10-15 10:00", BERLIN), "deadline")
    assert {shown(s.due_at, BERLIN)[-5:] for s in deadlines} == {"09:00"}


def test_every_text_is_valid_telegram_html_with_awkward_names() -> None:
    members = (replace(SECRETARY, name="<王&书记>"), replace(ORGANIZER, name="李 & 组织"), member(6, name="孙<三>"))
    topic = "研究<工作>&计划"
    meeting = activity(62, (K.MEMBERS_MEETING,), local("2026-10-13 15:00"), topic=topic, place="<会议室>")
    held = activity(63, (K.MEMBERS_MEETING,), local("2026-10-10 15:00"), topic=topic, status=ActivityStatus.HELD)
    task = MakeupFacts(63, 6, local("2026-10-25 00:00"), local("2026-10-10 17:00"), done=False)
    facts = replace(
        branch(
            members=members,
            activities=[meeting, held],
            rule="weekday:1:4/next",
            tasks=[task],
            last_attended={6: local("2026-07-20 19:30")},
        ),
        name="第一&党支部",
        party_groups={10: "<第一>党小组"},
    )
    found = plan_reminders(facts, local("2026-10-20 10:00")).specs
    kinds = {"activity_day_before", "makeup", "deadline", "absence", "digest", "theme_day_missed"}
    assert {s.kind for s in found} >= kinds
    for spec in found:
        text = html_to_plain(spec.text)
        assert "&amp;" not in text and "&lt;" not in text
    assert any("研究<工作>&计划" in html_to_plain(s.text) for s in found)


def test_other_quiet_hours_as_an_operator_may_configure_them() -> None:
    """PARTYBOT_QUIET_HOURS=23-7: the planner and delivery are given this same object (bot/app.py)."""
    quiet = QuietHours(time(23), time(7))
    assert shown(quiet.after(local("2026-10-12 22:30"), SHANGHAI)) == "2026-10-12 22:30"
    assert shown(quiet.after(local("2026-10-12 23:30"), SHANGHAI)) == "2026-10-13 07:00"
