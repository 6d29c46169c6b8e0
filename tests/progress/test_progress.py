"""/progress and /require: counting held activities per period in the branch's timezone, local minimums."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind, ActivityStatus, AuditLog, RequirementOverride
from bot.services.access import Caller, authorize
from bot.services.progress import branch_progress, find_requirement, requirements_with, set_local_minimum
from bot.services.requirements import ProgressLine
from tests.progress.conftest import SHANGHAI, World, add_activity, local, snapshot
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, messages, plain

K = ActivityKind
NOW = local(2026, 11, 20, 12)


def by_scope(lines: list[ProgressLine]) -> dict[tuple[str, str], tuple[int, int]]:
    return {(line.requirement.key, line.scope): (line.held, line.minimum) for line in lines}


async def secretary(sessions: async_sessionmaker[AsyncSession]) -> Caller:
    async with sessions() as session:
        return await authorize(session, ALICE["id"], chat_id=ALICE["id"], private=True, action="测试")


async def test_progress_counts_held_activities_by_local_period(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    branch, groups = world.branch_id, world.group_ids
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, local(2026, 11, 5))
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, local(2026, 10, 8))  # this quarter, not this month
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, local(2026, 11, 25), status=ActivityStatus.PLANNED)
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, local(2026, 11, 6), status=ActivityStatus.CANCELLED)
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, local(2025, 12, 31))  # last year
    # 1 November 01:00 in Shanghai is still 31 October in UTC: it counts in November.
    await add_activity(sessions, branch, K.THEME_DAY, local(2026, 11, 1, 1), also=[K.MEMBERS_MEETING])
    await add_activity(
        sessions, branch, K.PARTY_GROUP_MEETING, local(2026, 11, 10), party_group_id=groups["第一党小组"]
    )
    await add_activity(sessions, branch, K.PARTY_LECTURE, local(2026, 3, 1), lecturer="李明", by_secretary=True)
    await add_activity(sessions, branch, K.PARTY_LECTURE, local(2026, 11, 12), lecturer="外请专家")
    await add_activity(sessions, world.other_branch_id, K.COMMITTEE_MEETING, local(2026, 11, 5))
    async with sessions() as session:
        session.add(RequirementOverride(branch_id=branch, requirement_key="theme_day", minimum=2))
        await session.commit()
        lines = await branch_progress(session, branch, NOW.astimezone(UTC))

    assert by_scope(lines) == {
        ("members_meeting", "本支部"): (1, 1),
        ("committee_meeting", "本支部"): (1, 1),
        ("party_group_meeting", "第一党小组"): (1, 1),
        ("party_group_meeting", "第二党小组"): (0, 1),
        ("party_lecture", "本支部"): (1, 1),
        ("secretary_lecture", "本支部"): (1, 1),
        ("theme_day", "本支部"): (1, 2),
        ("organizational_life_meeting", "本支部"): (0, 1),
        ("democratic_appraisal", "本支部"): (0, 1),
    }
    assert {line.period_label for line in lines} == {"2026年11月", "2026年第四季度", "2026年"}


async def test_progress_uses_the_branch_timezone_for_today(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    await add_activity(sessions, world.branch_id, K.COMMITTEE_MEETING, local(2026, 12, 1, 2))
    # 30 November 18:30 UTC is already 1 December in Shanghai.
    async with sessions() as session:
        lines = await branch_progress(session, world.branch_id, datetime(2026, 11, 30, 18, 30, tzinfo=UTC))
    committee = next(line for line in lines if line.requirement.key == "committee_meeting")
    assert (committee.period_label, committee.held) == ("2026年12月", 1)


def test_a_stored_override_that_no_longer_applies_is_skipped() -> None:
    table = {r.key: r.minimum for r in requirements_with({"committee_meeting": 3, "gone": 2, "theme_day": 0})}
    assert table["committee_meeting"] == 3
    assert table["theme_day"] == 1


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("支委会", "committee_meeting"),
        ("支部委员会会议", "committee_meeting"),
        ("党员大会", "members_meeting"),
        ("支部党员大会", "members_meeting"),
        ("党课", "party_lecture"),
        ("书记讲党课", "secretary_lecture"),
        ("theme_day", "theme_day"),
        ("党日", "theme_day"),
        ("其他", None),
        ("学习", None),
    ],
)
def test_find_requirement_by_name_kind_or_key(text: str, key: str | None) -> None:
    found = find_requirement(text)
    assert (found.key if found else None) == key


async def test_set_local_minimum_stricter_weaker_and_back(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    caller = await secretary(sessions)
    async with sessions() as session:
        change = await set_local_minimum(session, caller, "committee_meeting", 2)
    assert (change.requirement.minimum, change.previous, change.common) == (2, 1, 1)
    async with sessions() as session:
        with pytest.raises(ValueError, match="不能低于统一要求"):
            await set_local_minimum(session, caller, "theme_day", 0)
    assert (await snapshot(sessions))[3] == (("committee_meeting", 2),)
    async with sessions() as session:
        change = await set_local_minimum(session, caller, "committee_meeting", 1)
    assert change.previous == 2
    assert (await snapshot(sessions))[3] == ()
    async with sessions() as session:
        audits = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    assert [(a.action, a.target, a.actor_member_id) for a in audits] == [
        ("requirement.set", "committee_meeting", world.member_ids["李明"]),
        ("requirement.set", "committee_meeting", world.member_ids["李明"]),
    ]


# -- through the Application -------------------------------------------------------------------------------------


async def test_progress_command_shows_month_quarter_year_and_the_footnote(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    today = datetime.now(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0)
    branch, groups = world.branch_id, world.group_ids
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, today)
    await add_activity(sessions, branch, K.COMMITTEE_MEETING, today, status=ActivityStatus.PLANNED)
    await add_activity(sessions, branch, K.THEME_DAY, today, also=[K.MEMBERS_MEETING, K.PARTY_LECTURE])
    await add_activity(sessions, branch, K.PARTY_GROUP_MEETING, today, party_group_id=groups["第二党小组"])
    await add_activity(sessions, branch, K.PARTY_LECTURE, today, lecturer="李明", by_secretary=True)
    await add_activity(sessions, world.other_branch_id, K.ORGANIZATIONAL_LIFE_MEETING, today)
    async with sessions() as session:
        session.add(RequirementOverride(branch_id=branch, requirement_key="committee_meeting", minimum=2))
        await session.commit()

    (answer,) = messages(await bot.send("/progress", user=BOB))
    text = plain(answer)
    assert text.startswith("第一党支部\n📋 组织生活进度")
    for heading in (f"本月（{today.year}年{today.month}月）", "本季度（", f"本年度（{today.year}年）"):
        assert heading in text
    assert "⚠️ 支委会 1/2（还剩" in text
    assert "✅ 主题党日 1/1" in text
    assert "✅ 支部党员大会 1/1" in text
    assert "✅ 党课 2/1" in text
    assert "✅ 书记讲党课 1/1" in text
    assert "⚠️ 组织生活会 0/1" in text
    assert "党小组会：\n\u3000\u3000⚠️ 第一党小组 0/1" in text
    assert "\u3000\u3000✅ 第二党小组 1/1" in text
    assert text.endswith("注：活动由组织者用 /done 标记为已召开后才计入。")

    (in_group,) = messages(await bot.send("/progress", user=ALICE, chat=GROUP))
    assert plain(in_group) == text


async def test_require_lists_sets_stricter_and_refuses_weaker(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    (table,) = messages(await bot.send("/require", user=BOB))
    assert "• 支委会 每月至少1次" in plain(table)
    assert "/require 支委会 2" in plain(table)

    (done,) = messages(await bot.send("/require 支委会 2", user=ALICE))
    assert plain(done) == "已设置：支委会 每月至少2次（本支部要求，统一要求为1次）。/progress 会按新要求统计。"
    (table,) = messages(await bot.send("/require", user=BOB))
    assert "• 支委会 每月至少2次（本支部要求，统一要求为1次）" in plain(table)

    before = await snapshot(sessions)
    (refused,) = messages(await bot.send("/require 主题党日 0", user=ALICE))
    assert plain(refused) == "本地要求不能低于统一要求：主题党日 每月至少1次，不能改为0次。"
    (unknown,) = messages(await bot.send("/require 读书会 2", user=ALICE))
    assert plain(unknown).startswith("没有「读书会」这一项要求。可设置的要求：支部党员大会、支委会")
    (bad,) = messages(await bot.send("/require 党课 很多", user=ALICE))
    assert "次数请写 1 到 99 之间的整数" in plain(bad)
    assert await snapshot(sessions) == before

    (two,) = messages(await bot.send("/require 党课 两次", user=ALICE))
    assert "党课 每季度至少2次" in plain(two)
    (back,) = messages(await bot.send("/require 支委会 1", user=ALICE))
    assert plain(back) == "已恢复统一要求：支委会 每月至少1次。"
    assert (await snapshot(sessions))[3] == (("party_lecture", 2),)
