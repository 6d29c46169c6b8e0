"""/new in one line, its dry run, several kinds, validation, and /record (补录)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_checks import BotApiError
from bot.models import ActivityKind, ActivityStatus, AuditLog, Branch
from bot.services.activities import MAX_PLACE_CHARS, MAX_TOPIC_CHARS, Refusal
from handlers import activities_texts as texts
from tests.activities.conftest import LEADER, World, counts, only_activity
from tests.telegram.helpers import GROUP, ChatHarness, buttons, messages, plain

SHANGHAI = ZoneInfo("Asia/Shanghai")
LINE = "支委会 2099-12-03 15:00 会议室 学习二十届四中全会精神"


async def test_one_line_creates_announces_and_audits(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    calls = messages(await bot.send(f"/new {LINE}"))
    (announcement,) = [c for c in calls if c.params["chat_id"] == GROUP["id"]]
    (reply,) = [c for c in calls if c.params["chat_id"] != GROUP["id"]]
    assert plain(announcement) in plain(reply)  # the organizer sees what was announced
    labels = [label for label, _ in buttons(announcement)]
    assert any("签到" in label for label in labels) and any("请假" in label for label in labels)
    activity, kinds = await only_activity(sessions)
    assert [data for _, data in buttons(announcement)] == [f"ci:{activity.id}", f"lv:{activity.id}"]
    assert kinds == {"支委会"}
    assert (activity.kind, activity.status, activity.recorded_after) == ("支委会", ActivityStatus.PLANNED, False)
    assert activity.starts_at == datetime(2099, 12, 3, 15, 0, tzinfo=SHANGHAI)
    assert (activity.place, activity.topic) == ("会议室", "学习二十届四中全会精神")
    assert activity.announcement_message_id == announcement.result["message_id"]
    assert "时间：2099年12月3日（周四）15:00" in plain(announcement)
    async with sessions() as session:
        (audit,) = (await session.scalars(select(AuditLog))).all()
    assert (audit.action, audit.target, audit.branch_id) == ("activity.create", f"activity:{activity.id}", 1)
    assert audit.actor_member_id == world.member_ids[1001]


async def test_one_line_in_the_group_posts_once_and_confirms_briefly(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    announcement, reply = messages(await bot.send(f"/new {LINE}", chat=GROUP))
    assert buttons(announcement) and "活动通知" in plain(announcement)
    assert plain(reply).startswith("已发布（编号 1）") and "活动通知" not in plain(reply)


async def test_relative_date_and_time(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bot.send("/new 党课 明天下午3点 会议室 学习党章 讲课人 王芳")
    activity, _ = await only_activity(sessions)
    local = activity.starts_at.astimezone(SHANGHAI)
    assert (local.hour, local.minute) == (15, 0)
    assert (activity.topic, activity.lecturer, activity.lecturer_is_secretary) == ("学习党章", "王芳", False)


async def test_several_kinds_are_stored_and_the_secretary_lecture_recognised(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    calls = messages(await bot.send("/new 主题党日+党员大会+党课 2099-12-03 15:00 会议室 讲课人：书记 学习党章"))
    activity, kinds = await only_activity(sessions)
    assert kinds == {"主题党日", "支部党员大会", "党课"} and activity.kind == ActivityKind.THEME_DAY
    assert (activity.lecturer, activity.lecturer_is_secretary, activity.topic) == ("李明", True, "学习党章")
    assert "同时作为：支部党员大会、党课" in plain(calls[0])
    assert await counts(sessions) == (1, 3, 1)


async def test_dry_run_shows_the_announcement_and_changes_nothing(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (reply,) = messages(await bot.send(f"/new 预览 {LINE}"))
    assert "没有创建任何内容" in plain(reply) and "【支委会】活动通知" in plain(reply)
    assert buttons(reply) == []
    assert await counts(sessions) == (0, 0, 0)
    # the dry run shows exactly what the real command posts
    posted = messages(await bot.send(f"/new {LINE}"))[0]
    assert plain(posted) in plain(reply)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("支委会 2020-01-01 15:00 会议室 主题", "这个时间已经过去了。如需补录已开过的会，请用 /record"),
        ("周会 2099-12-03 15:00 会议室 主题", "没有「周会」这种活动类型。可选的类型：支部党员大会、支委会、党小组会"),
        ("主题党日+茶话会 2099-12-03 15:00 会议室 主题", "没有「茶话会」这种活动类型"),
        ("支委会 下个月某天 会议室 主题", "日期看不懂"),
        ("支委会 2099-02-30 15:00 会议室 主题", "2099年2月没有30日"),
        ("支委会 2099-12-03 会议室 主题", "请把时间也写上"),
        ("支委会 2099-12-03 15:00", "请写上地点和主题"),
        ("支委会 2099-12-03 15:00 会议室", "请写上活动主题"),
        (f"支委会 2099-12-03 15:00 会议室 {'学' * (MAX_TOPIC_CHARS + 1)}", "主题太长了，请控制在 200 字以内"),
        (f"支委会 2099-12-03 15:00 {'室' * (MAX_PLACE_CHARS + 1)} 主题", "地点太长了，请控制在 100 字以内"),
        ("党小组会 2099-12-03 15:00 会议室 主题", "请注明是哪个党小组"),
        ("党小组会 2099-12-03 15:00 会议室 主题 党小组：第九党小组", "本支部没有「第九党小组」这个党小组"),
    ],
)
async def test_invalid_lines_are_refused_and_change_nothing(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession], line: str, expected: str
) -> None:
    (reply,) = messages(await bot.send(f"/new {line}"))
    assert expected in plain(reply)
    assert await counts(sessions) == (0, 0, 0)


async def test_party_group_named_in_the_line(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bot.send("/new 党小组会 2099-12-03 19:00 会议室 党小组：第二党小组 交流学习体会")
    activity, _ = await only_activity(sessions)
    assert (activity.party_group_id, activity.topic) == (world.group_ids["第二党小组"], "交流学习体会")


async def test_party_group_leader_may_plan_only_their_own_party_group_meeting(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (reply,) = messages(await bot.send(f"/new {LINE}", user=LEADER))
    assert "党小组长只能安排本党小组的党小组会" in plain(reply)
    (reply,) = messages(await bot.send("/new 党小组会 2099-12-03 19:00 会议室 学习 党小组：第二党小组", user=LEADER))
    assert "党小组长只能安排本党小组的党小组会" in plain(reply)
    assert await counts(sessions) == (0, 0, 0)
    await bot.send("/new 党小组会 2099-12-03 19:00 会议室 学习", user=LEADER)
    activity, _ = await only_activity(sessions)
    assert activity.party_group_id == world.group_ids["第一党小组"]


async def test_usage_when_the_line_is_too_short(bot: ChatHarness, world: World) -> None:
    (reply,) = messages(await bot.send("/new 支委会"))
    assert plain(reply) == texts.NEW_USAGE


async def test_without_a_bound_group_the_reply_says_so(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        branch = await session.get(Branch, world.branch_id)
        assert branch is not None
        branch.chat_id = None
        await session.commit()
    (reply,) = messages(await bot.send(f"/new {LINE}"))
    assert "还没有绑定群" in plain(reply) and "【支委会】活动通知" in plain(reply)
    activity, _ = await only_activity(sessions)
    assert activity.announcement_message_id is None


async def test_when_posting_fails_the_activity_stays_and_the_reply_says_so(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot.api.fail_next("sendMessage", BotApiError(403, "Forbidden: bot was kicked from the supergroup chat"))
    (reply,) = messages(await bot.send(f"/new {LINE}"))
    assert "没能发到支部群" in plain(reply)
    activity, _ = await only_activity(sessions)
    assert activity.announcement_message_id is None


# -- /record --------------------------------------------------------------------------------------------------------


async def test_record_stores_a_past_activity_as_held(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    calls = messages(await bot.send("/record 支委会 2026-11-03 15:00 会议室 研究发展党员工作"))
    (reply,) = calls  # nothing is announced for a past activity
    assert plain(reply).startswith("已补录（编号 1）")
    activity, kinds = await only_activity(sessions)
    assert (activity.status, activity.recorded_after, kinds) == (ActivityStatus.HELD, True, {"支委会"})
    assert activity.starts_at == datetime(2026, 11, 3, 15, 0, tzinfo=SHANGHAI)
    async with sessions() as session:
        (audit,) = (await session.scalars(select(AuditLog))).all()
    assert audit.action == "activity.record"
    # it is listed as held and recorded afterwards
    (listing,) = messages(await bot.send("/activities"))
    assert "已召开（补录）" in plain(listing)


async def test_record_refuses_the_future_and_needs_arguments(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (reply,) = messages(await bot.send(f"/record {LINE}"))
    assert plain(reply) == texts.REFUSALS[Refusal.NOT_YET_HELD]
    (reply,) = messages(await bot.send("/record"))
    assert plain(reply) == texts.RECORD_USAGE
    assert await counts(sessions) == (0, 0, 0)
