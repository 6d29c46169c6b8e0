"""A simulated fourth quarter (2026-10-01 → 2026-12-31, Asia/Shanghai) for one branch: exactly these reminders.

The branch: a committee (书记, 组织委员, 宣传委员), two 党小组, a member with reminders off, a 预备党员, a member who
stays away (absence flags, check-in nudges, 补学) and one who never registered. 主题党日: 每月第一个周五 (October's
falls on 国庆 and moves to 10月8日; November's is held; December's is missed; 2027年1月1日 is announced — the
calendar package has no 2027 holidays yet). One 党小组会 is moved, one 支委会 cancelled, the 党员大会 + 党课 held
early in the quarter; one 支委会's minutes come late.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_checks import html_to_plain
from bot.models import Activity, ActivityKind, ActivityStatus, AttendanceStatus, Member, Role
from tests.scheduler.builders import (
    attend,
    local,
    make_activity,
    make_branch,
    make_group,
    make_member,
    shown,
)
from tests.scheduler.simulation import Change, simulate

Step = tuple[datetime, Change]

GROUP_CHAT = -1001
K = ActivityKind


async def _set(sessions: async_sessionmaker[AsyncSession], activity: Activity, **values: object) -> None:
    async with sessions() as session:
        row = await session.get(Activity, activity.id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        await session.commit()


async def _quarter(sessions: async_sessionmaker[AsyncSession]) -> list[Step]:
    branch = await make_branch(sessions, chat_id=GROUP_CHAT, theme_day_rule="weekday:1:4/next")
    group_a = await make_group(sessions, branch, "第一党小组")
    group_b = await make_group(sessions, branch, "第二党小组")
    wang = await make_member(sessions, branch, "王书记", 101, role=Role.SECRETARY, group=group_a)
    li = await make_member(sessions, branch, "李组织", 102, role=Role.ORGANIZATION, group=group_b)
    zhang = await make_member(sessions, branch, "张宣传", 103, role=Role.PROPAGANDA, group=group_a)
    zhao = await make_member(sessions, branch, "赵一", 104, group=group_a, reminders=False)
    qian = await make_member(sessions, branch, "钱二", 105, group=group_b, probationary=True)
    sun = await make_member(sessions, branch, "孙三", 106, group=group_b)
    zhou = await make_member(sessions, branch, "吴四", None, group=group_a)

    # Before the quarter: 孙三 last came on 7月20日; the Q3 党员大会 on 9月15日.
    july = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-07-20 19:30", group=group_b, by=li)
    await _set(sessions, july, status=ActivityStatus.HELD.value, minutes="记录")
    for member in (li, qian, sun):
        await attend(sessions, july, member)
    september = await make_activity(sessions, branch, (K.MEMBERS_MEETING,), "2026-09-15 15:00", by=wang)
    await _set(sessions, september, status=ActivityStatus.HELD.value, minutes="记录")
    for member in (wang, li, zhang, qian, zhou):
        await attend(sessions, september, member)
    await attend(sessions, september, zhao, AttendanceStatus.LEAVE)

    # The quarter's activities, as planned before it starts.
    a2 = await make_activity(
        sessions, branch, (K.MEMBERS_MEETING, K.PARTY_LECTURE), "2026-10-10 09:30", by=wang, secretary_lectures=True
    )
    a1 = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-10-13 15:00", by=wang)
    a3 = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-10-20 19:30", group=group_a, by=zhang)
    a4 = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-10-22 19:30", group=group_b, by=li)
    a12 = await make_activity(sessions, branch, (K.THEME_DAY,), "2026-11-06 14:30", by=wang)
    a5 = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-11-12 15:00", by=wang)
    a7 = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-11-17 19:30", group=group_a, by=zhang)
    a8 = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-11-19 19:30", group=group_b, by=li)
    a10 = await make_activity(sessions, branch, (K.COMMITTEE_MEETING,), "2026-12-08 08:30", by=wang)
    a11 = await make_activity(sessions, branch, (K.PARTY_GROUP_MEETING,), "2026-12-15 19:30", group=group_a, by=zhang)
    created: dict[str, Activity] = {}

    def present(activity: Activity | str, *members: Member, at: str) -> Step:
        async def run() -> None:
            target = created[activity] if isinstance(activity, str) else activity
            for member in members:
                await attend(sessions, target, member, at=local(at))

        return local(at), run

    def leave(activity: Activity | str, member: Member, at: str) -> Step:
        async def run() -> None:
            target = created[activity] if isinstance(activity, str) else activity
            await attend(sessions, target, member, AttendanceStatus.LEAVE, at=local(at))

        return local(at), run

    def change(activity: Activity | str, at: str, **values: object) -> Step:
        async def run() -> None:
            await _set(sessions, created[activity] if isinstance(activity, str) else activity, **values)

        return local(at), run

    def done(activity: Activity | str, at: str) -> Step:
        return change(activity, at, status=ActivityStatus.HELD.value, minutes="会议记录")

    def create(name: str, at: str, kinds: tuple[ActivityKind, ...], starts: str) -> Step:
        async def run() -> None:
            created[name] = await make_activity(sessions, branch, kinds, starts, by=wang)

        return local(at), run

    held = ActivityStatus.HELD.value
    return [
        # October: 党员大会 + 书记讲党课 early (赵一 on leave, 吴四 signed in by proxy, 孙三 absent)
        leave(a2, zhao, "2026-10-09 20:00"),
        present(a2, wang, li, zhang, qian, at="2026-10-10 09:20"),
        present(a2, zhou, at="2026-10-10 09:40"),
        done(a2, "2026-10-10 12:00"),
        present(a1, wang, li, zhang, at="2026-10-13 14:50"),
        done(a1, "2026-10-13 17:00"),
        change(a4, "2026-10-15 10:00", starts_at=local("2026-10-27 19:30")),  # moved
        present(a3, wang, zhang, at="2026-10-20 19:20"),
        done(a3, "2026-10-20 21:00"),
        present(a4, li, qian, at="2026-10-27 19:25"),
        done(a4, "2026-10-27 22:30"),  # recorded late at night: the 补学 notice waits for the morning
        # November: 主题党日 held; the 支委会 cancelled, then another arranged after the deadline reminder
        present(a12, wang, li, zhang, qian, at="2026-11-06 14:20"),
        done(a12, "2026-11-06 17:00"),
        change(a5, "2026-11-10 09:00", status=ActivityStatus.CANCELLED.value),
        present(a7, wang, zhang, at="2026-11-17 19:20"),
        done(a7, "2026-11-17 21:00"),
        present(a8, li, qian, at="2026-11-19 19:20"),
        done(a8, "2026-11-19 21:00"),
        create("a6", "2026-11-24 12:00", (K.COMMITTEE_MEETING,), "2026-11-25 15:00"),
        present("a6", wang, li, zhang, at="2026-11-25 14:50"),
        done("a6", "2026-11-25 17:00"),
        # December: 组织生活会 + 民主评议 arranged on the 1st; the 8th's 支委会 minutes come two days late
        create("a9", "2026-12-01 10:00", (K.ORGANIZATIONAL_LIFE_MEETING, K.DEMOCRATIC_APPRAISAL), "2026-12-22 14:00"),
        present(a10, wang, li, zhang, at="2026-12-08 08:20"),
        change(a10, "2026-12-08 10:00", status=held),
        change(a10, "2026-12-10 10:00", minutes="会议记录"),
        present(a11, wang, zhang, at="2026-12-15 19:20"),
        done(a11, "2026-12-15 21:00"),
        leave("a9", zhao, "2026-12-21 12:00"),
        present("a9", wang, li, zhang, qian, at="2026-12-22 13:50"),
        present("a9", zhou, at="2026-12-22 14:10"),
        done("a9", "2026-12-22 17:00"),
    ]


# (local due time, kind, recipient): 群 is the branch's group chat.
WANG, LI, ZHANG, QIAN, SUN, GROUP = "王书记", "李组织", "张宣传", "钱二", "孙三", "群"
COMMITTEE = (WANG, LI, ZHANG)
EVERYONE = (WANG, LI, ZHANG, QIAN, SUN)  # registered, reachable, reminders on
OFFICERS = (WANG, LI)


def _each(at: str, kind: str, *who: str) -> list[tuple[str, str, str]]:
    return [(at, kind, name) for name in who]


EXPECTED = sorted(
    [
        *_each("2026-10-05 09:00", "digest", WANG),
        *_each("2026-10-05 09:00", "theme_day_soon", GROUP),  # 10月8日 (10月2日 is 国庆, 顺延)
        *_each("2026-10-07 18:00", "theme_day_soon", GROUP),
        *_each("2026-10-09 09:00", "theme_day_missed", *OFFICERS),
        *_each("2026-10-09 18:00", "activity_day_before", *EVERYONE),  # 党员大会 + 党课 (赵一: reminders off)
        *_each("2026-10-10 08:30", "activity_hour_before", *EVERYONE),
        *_each("2026-10-10 09:45", "activity_checkin", SUN),
        *_each("2026-10-10 12:00", "makeup", SUN),
        *_each("2026-10-12 09:00", "digest", WANG),
        *_each("2026-10-12 18:00", "activity_day_before", *COMMITTEE),  # 支委会
        *_each("2026-10-13 14:00", "activity_hour_before", *COMMITTEE),
        *_each("2026-10-19 09:00", "digest", WANG),
        *_each("2026-10-19 18:00", "activity_day_before", WANG, ZHANG),  # 第一党小组
        *_each("2026-10-20 09:00", "absence", WANG),  # 孙三: 3 months since 7月20日
        *_each("2026-10-20 18:30", "activity_hour_before", WANG, ZHANG),
        *_each("2026-10-26 09:00", "digest", WANG),
        *_each("2026-10-26 18:00", "activity_day_before", LI, QIAN, SUN),  # 第二党小组, moved from 10月22日
        *_each("2026-10-27 18:30", "activity_hour_before", LI, QIAN, SUN),
        *_each("2026-10-27 19:45", "activity_checkin", SUN),
        *_each("2026-10-28 08:00", "makeup", SUN),
        *_each("2026-11-01 09:00", "deadline", *OFFICERS),  # 组织生活会, 民主评议党员 from 1 November
        *_each("2026-11-02 09:00", "digest", WANG),
        *_each("2026-11-05 18:00", "activity_day_before", *EVERYONE),  # 主题党日
        *_each("2026-11-06 13:30", "activity_hour_before", *EVERYONE),
        *_each("2026-11-06 14:45", "activity_checkin", SUN),
        *_each("2026-11-06 17:00", "makeup", SUN),
        *_each("2026-11-09 09:00", "digest", WANG),
        *_each("2026-11-16 09:00", "digest", WANG),
        *_each("2026-11-16 18:00", "activity_day_before", WANG, ZHANG),
        *_each("2026-11-17 18:30", "activity_hour_before", WANG, ZHANG),
        *_each("2026-11-18 18:00", "activity_day_before", LI, QIAN, SUN),
        *_each("2026-11-19 18:30", "activity_hour_before", LI, QIAN, SUN),
        *_each("2026-11-19 19:45", "activity_checkin", SUN),
        *_each("2026-11-19 21:00", "makeup", SUN),
        *_each("2026-11-23 09:00", "digest", WANG),
        *_each("2026-11-24 09:00", "deadline", *OFFICERS),  # 支委会 (the 12th's was cancelled)
        *_each("2026-11-24 18:00", "activity_day_before", *COMMITTEE),
        *_each("2026-11-25 14:00", "activity_hour_before", *COMMITTEE),
        *_each("2026-11-30 09:00", "digest", WANG),
        *_each("2026-12-01 09:00", "theme_day_soon", GROUP),  # 12月4日
        *_each("2026-12-03 18:00", "theme_day_soon", GROUP),
        *_each("2026-12-05 09:00", "theme_day_missed", *OFFICERS),
        *_each("2026-12-07 09:00", "digest", WANG),
        *_each("2026-12-07 18:00", "activity_day_before", *COMMITTEE),
        *_each("2026-12-08 08:00", "activity_hour_before", *COMMITTEE),  # 07:30 is in the quiet hours
        *_each("2026-12-09 09:00", "activity_follow_up", WANG),  # held, minutes not yet recorded
        *_each("2026-12-14 09:00", "digest", WANG),
        *_each("2026-12-14 18:00", "activity_day_before", WANG, ZHANG),
        *_each("2026-12-15 18:30", "activity_hour_before", WANG, ZHANG),
        *_each("2026-12-20 09:00", "absence", WANG),  # 孙三: 5 months
        *_each("2026-12-21 09:00", "digest", WANG),
        *_each("2026-12-21 18:00", "activity_day_before", *EVERYONE),  # 组织生活会 + 民主评议党员
        *_each("2026-12-22 13:00", "activity_hour_before", *EVERYONE),
        *_each("2026-12-22 14:15", "activity_checkin", SUN),
        *_each("2026-12-22 17:00", "makeup", SUN),
        *_each("2026-12-25 09:00", "deadline", *OFFICERS),  # 第二党小组's December 党小组会
        *_each("2026-12-28 09:00", "digest", WANG),
        *_each("2026-12-29 09:00", "theme_day_soon", GROUP),  # 2027年1月1日
        *_each("2026-12-30 09:00", "deadline", *OFFICERS),
        *_each("2026-12-31 18:00", "theme_day_soon", GROUP),
    ]
)
NAMES = {101: WANG, 102: LI, 103: ZHANG, 105: QIAN, 106: SUN, GROUP_CHAT: GROUP}


async def test_a_quarter_of_reminders(sessions: async_sessionmaker[AsyncSession]) -> None:
    changes = await _quarter(sessions)
    delivered = await simulate(sessions, local("2026-10-01 00:00"), local("2026-12-31 23:00"), changes)

    assert all(d.status == "sent" for d in delivered)
    got = [(shown(d.due_at), d.kind, NAMES[d.chat_id]) for d in delivered]
    times = [at for at, _, _ in got]
    assert times == sorted(times), "delivered in due order"
    assert sorted(got) == EXPECTED
    for d in delivered:
        clock = shown(d.due_at)[-5:]
        assert d.urgent or "08:00" <= clock < "22:00", f"{d.kind} at {clock} in the quiet hours"
        text = html_to_plain(d.text)  # valid Telegram HTML, or this raises
        if d.chat_id == GROUP_CHAT:
            assert not any(name in text for name in ("王书记", "李组织", "张宣传", "赵一", "钱二", "孙三", "吴四"))


async def test_the_planner_s_cadence_does_not_matter(sessions: async_sessionmaker[AsyncSession]) -> None:
    # The first ten days again with the planner running every hour: the same reminders at the same times.
    changes = await _quarter(sessions)
    end = local("2026-10-10 23:00")
    delivered = await simulate(sessions, local("2026-10-01 00:00"), end, changes, step=timedelta(hours=1))
    got = sorted((shown(d.due_at), d.kind, NAMES[d.chat_id]) for d in delivered)
    assert got == [row for row in EXPECTED if row[0] <= shown(end)]
