"""/activities, /cancel, /done (with text, asked for, with a document) and /move through the real Application."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind, ActivityStatus, AuditLog
from bot.services.activities import Refusal
from handlers import activities_texts as texts
from tests.activities.conftest import (
    LEADER,
    OTHER_SECRETARY,
    World,
    add_activity,
    counts,
    fetch,
    send_document,
)
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

SHANGHAI = ZoneInfo("Asia/Shanghai")
LINE = "支委会 2099-12-03 15:00 会议室 学习二十届四中全会精神"


async def _announced(bot: ChatHarness) -> tuple[int, int]:
    """Create an activity with /new; its id and the group message that announced it."""
    (announcement, _) = messages(await bot.send(f"/new {LINE}"))
    return 1, announcement.result["message_id"]


async def _actions(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


# -- /cancel --------------------------------------------------------------------------------------------------------


async def test_cancel_marks_cancelled_and_updates_the_announcement(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id, message_id = await _announced(bot)
    calls = await bot.send(f"/cancel {activity_id}")
    (edit,) = [c for c in calls if c.method == "editMessageText"]
    assert (edit.params["chat_id"], edit.params["message_id"]) == (GROUP["id"], message_id)
    assert "已取消" in plain(edit) and "reply_markup" not in edit.params  # the 签到/请假 buttons are gone
    notice, reply = messages(calls)
    assert notice.params["chat_id"] == GROUP["id"] and "【活动取消】" in plain(notice)
    assert plain(reply).startswith("已取消活动 1") and texts.GROUP_NOTE_UPDATED in plain(reply)
    assert (await fetch(sessions, activity_id)).status == ActivityStatus.CANCELLED
    assert await _actions(sessions) == ["activity.create", "activity.cancel"]
    # a second /cancel is refused, nothing changes
    (reply,) = messages(await bot.send(f"/cancel {activity_id}"))
    assert plain(reply) == texts.REFUSALS[Refusal.ALREADY_CANCELLED]
    assert await _actions(sessions) == ["activity.create", "activity.cancel"]


async def test_cancel_in_the_group_edits_without_a_second_notice(bot: ChatHarness, world: World) -> None:
    activity_id, _ = await _announced(bot)
    calls = await bot.send(f"/cancel {activity_id}", chat=GROUP)
    assert [c.method for c in calls] == ["editMessageText", "sendMessage"]
    assert plain(messages(calls)[0]).startswith("已取消活动 1")


async def test_cancel_unknown_or_another_branchs_activity_is_refused(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    other = await add_activity(sessions, world.other_branch_id, starts_in=timedelta(days=3))
    before = await counts(sessions)
    for target in (other, 999):
        (reply,) = messages(await bot.send(f"/cancel {target}"))
        assert plain(reply) == f"没有找到编号为 {target} 的活动。发送 /activities 可查看本支部的活动和编号。"
    assert (await fetch(sessions, other)).status == ActivityStatus.PLANNED
    assert await counts(sessions) == before


async def test_cancel_usage(bot: ChatHarness, world: World) -> None:
    for text in ("/cancel abc", "/cancel 1 2"):
        assert [plain(c) for c in messages(await bot.send(text))] == [texts.CANCEL_USAGE]


async def test_cancel_when_the_announcement_was_deleted_still_cancels(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(
        sessions, world.branch_id, starts_in=timedelta(days=2), announcement_message_id=777
    )
    (reply,) = messages(await bot.send(f"/cancel {activity_id}"))
    assert texts.GROUP_NOTE_NOT_UPDATED in plain(reply)
    assert (await fetch(sessions, activity_id)).status == ActivityStatus.CANCELLED


# -- /done ----------------------------------------------------------------------------------------------------------


async def test_done_with_minutes_text(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=-timedelta(hours=2))
    (reply,) = messages(await bot.send(f"/done {activity_id} 传达学习了全会精神。\n研究了发展党员工作。"))
    assert plain(reply).startswith(f"已将活动 {activity_id}（支委会）标记为已召开")
    activity = await fetch(sessions, activity_id)
    assert activity.status == ActivityStatus.HELD
    assert activity.minutes == "传达学习了全会精神。\n研究了发展党员工作。"
    assert await _actions(sessions) == ["activity.done"]


async def test_done_alone_asks_for_the_minutes_then_takes_the_next_text(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=-timedelta(hours=2))
    (ask,) = messages(await bot.send(f"/done {activity_id}"))
    assert "请发送活动" in plain(ask) and "会议纪要" in plain(ask)
    assert (await fetch(sessions, activity_id)).status == ActivityStatus.PLANNED  # nothing yet
    (reply,) = messages(await bot.send("会议由书记主持，应到7人，实到6人。"))
    assert "纪要已保存（18 字）" in plain(reply)
    activity = await fetch(sessions, activity_id)
    assert (activity.status, activity.minutes) == (ActivityStatus.HELD, "会议由书记主持，应到7人，实到6人。")


async def test_done_alone_takes_a_document(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=-timedelta(hours=2))
    await bot.send(f"/done {activity_id}")
    (again,) = messages(await send_document(bot, "照片.exe", user=ALICE))
    assert plain(again) == texts.WRONG_MINUTES_FILE
    (reply,) = messages(await send_document(bot, "支委会纪要.DOCX", user=ALICE))
    assert "纪要文件「支委会纪要.DOCX」已保存" in plain(reply)
    activity = await fetch(sessions, activity_id)
    assert (activity.status, activity.minutes_file_id) == (ActivityStatus.HELD, "BQAC-支委会纪要.DOCX")


async def test_cancel_leaves_the_minutes_question(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=-timedelta(hours=2))
    await bot.send(f"/done {activity_id}")
    assert [plain(c) for c in messages(await bot.send("/cancel"))] == [texts.FLOW_LEFT]
    await bot.send("这不是纪要")
    assert (await fetch(sessions, activity_id)).status == ActivityStatus.PLANNED
    assert await _actions(sessions) == []


async def test_done_before_the_start_is_refused(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=timedelta(hours=2))
    for text in (f"/done {activity_id} 纪要", f"/done {activity_id}"):
        (reply,) = messages(await bot.send(text))
        assert plain(reply) == texts.REFUSALS[Refusal.NOT_STARTED]
    assert (await fetch(sessions, activity_id)).status == ActivityStatus.PLANNED
    assert [plain(c) for c in messages(await bot.send("/done"))] == [texts.DONE_USAGE]


async def test_done_on_a_cancelled_activity_is_refused(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=timedelta(hours=2))
    await bot.send(f"/cancel {activity_id}")
    (reply,) = messages(await bot.send(f"/done {activity_id} 纪要"))
    assert plain(reply) == texts.REFUSALS[Refusal.ALREADY_CANCELLED]


# -- /move ----------------------------------------------------------------------------------------------------------


async def test_move_updates_the_time_and_the_announcement(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id, message_id = await _announced(bot)
    calls = await bot.send(f"/move {activity_id} 2099-12-04 16:30")
    (edit,) = [c for c in calls if c.method == "editMessageText"]
    assert edit.params["message_id"] == message_id and "时间：2099年12月4日（周五）16:30" in plain(edit)
    assert [label for label, _ in buttons(edit)] == [texts.CHECKIN_BUTTON, texts.LEAVE_BUTTON]
    notice, reply = messages(calls)
    assert "【时间调整】" in plain(notice) and plain(reply).startswith("活动 1 已改到 2099年12月4日（周五）16:30")
    activity = await fetch(sessions, activity_id)
    assert activity.starts_at == datetime(2099, 12, 4, 16, 30, tzinfo=SHANGHAI)
    assert await _actions(sessions) == ["activity.create", "activity.move"]


async def test_move_to_the_past_or_nonsense_is_refused(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id, _ = await _announced(bot)
    (reply,) = messages(await bot.send(f"/move {activity_id} 2020-01-01 15:00"))
    assert "这个时间已经过去了" in plain(reply)
    (reply,) = messages(await bot.send(f"/move {activity_id} 改天再说"))
    assert "日期看不懂" in plain(reply)
    (reply,) = messages(await bot.send(f"/move {activity_id}"))
    assert plain(reply) == texts.MOVE_USAGE
    activity = await fetch(sessions, activity_id)
    assert activity.starts_at == datetime(2099, 12, 3, 15, 0, tzinfo=SHANGHAI)
    assert await _actions(sessions) == ["activity.create"]


async def test_leader_manages_only_their_party_groups_meetings(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    own = await add_activity(
        sessions,
        world.branch_id,
        starts_in=timedelta(days=2),
        kind=ActivityKind.PARTY_GROUP_MEETING,
        party_group_id=world.group_ids["第一党小组"],
    )
    committee = await add_activity(sessions, world.branch_id, starts_in=timedelta(days=2))
    (reply,) = messages(await bot.send(f"/move {committee} 2099-01-01 10:00", user=LEADER))
    assert "党小组长只能安排本党小组的党小组会" in plain(reply)
    (reply,) = messages(await bot.send(f"/move {own} 2099-01-01 10:00", user=LEADER))
    assert plain(reply).startswith(f"活动 {own} 已改到")


# -- /activities ----------------------------------------------------------------------------------------------------


async def test_activities_lists_upcoming_and_the_five_latest_past(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (reply,) = messages(await bot.send("/activities", user=BOB))
    assert plain(reply) == texts.LIST_EMPTY
    past = [await add_activity(sessions, world.branch_id, starts_in=-timedelta(days=d)) for d in range(1, 8)]
    soon = await add_activity(sessions, world.branch_id, starts_in=timedelta(days=1))
    later = await add_activity(sessions, world.branch_id, starts_in=timedelta(days=9))
    await add_activity(sessions, world.other_branch_id, starts_in=timedelta(days=1))
    await bot.send(f"/cancel {later}")
    await bot.send(f"/done {past[0]} 纪要")
    (reply,) = messages(await bot.send("/activities", user=BOB))
    lines = plain(reply).splitlines()
    ids = [int(line.split()[0][1:]) for line in lines if line.startswith("#")]
    assert ids == [soon, later, *past[:5]]
    assert lines[0] == "第一党支部 · 活动"
    by_id = {int(line.split()[0][1:]): line for line in lines if line.startswith("#")}
    assert by_id[soon].endswith("计划中") and by_id[later].endswith("已取消") and by_id[past[0]].endswith("已召开")
    assert "会议室 · 学习党章" in by_id[soon]
    local = (datetime.now(SHANGHAI) + timedelta(days=1)).date()
    assert f"{local.month}月{local.day}日" in by_id[soon]


async def test_another_branch_cannot_list_or_touch_ours(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ours = await add_activity(sessions, world.branch_id, starts_in=timedelta(days=1))
    (reply,) = messages(await bot.send("/activities", user=OTHER_SECRETARY))
    assert plain(reply) == texts.LIST_EMPTY
    (reply,) = messages(await bot.send(f"/move {ours} 2099-01-01 10:00", user=OTHER_SECRETARY))
    assert "没有找到编号为" in plain(reply)
