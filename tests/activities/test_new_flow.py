"""The guided /new flow through the real Application: buttons, typed answers, the dry run, /cancel, stale buttons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ActivityKind, ActivityStatus
from bot.transport import ApiCall
from handlers import activities_texts as texts
from tests.activities.conftest import LEADER, ORGANIZER, World, counts, fetch, only_activity
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _data(call: ApiCall, label: str) -> str:
    """The callback data of the button whose label contains ``label``."""
    (data,) = [data for text, data in buttons(call) if label in text]
    return data


def _edits(calls: list[ApiCall]) -> list[ApiCall]:
    return [c for c in calls if c.method == "editMessageText"]


async def _start(
    bot: ChatHarness, kind: str, *, user: dict[str, Any] = ALICE, chat: dict[str, Any] | None = None
) -> ApiCall:
    """/new, pick ``kind`` with no extra kinds, 下一步: the date question."""
    kinds = messages(await bot.send("/new", user=user, chat=chat))[0]
    (edit,) = _edits(await bot.press(kinds.result, _data(kinds, kind), user=user))
    return messages(await bot.press(kinds.result, _data(edit, "下一步"), user=user))[0]


def _answer(calls: list[ApiCall]) -> str:
    (answer,) = [c for c in calls if c.method == "answerCallbackQuery"]
    return answer.params.get("text", "")


async def test_guided_flow_with_extra_kinds_and_lecturer_posts_what_it_previewed(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    kinds = messages(await bot.send("/new"))[0]
    assert plain(kinds) == texts.ASK_KIND
    assert len(buttons(kinds)) == 8 and all(len(data.encode()) <= 64 for _, data in buttons(kinds))

    calls = await bot.press(kinds.result, _data(kinds, "主题党日"))
    (edit,) = _edits(calls)
    assert "是否同时作为" in plain(edit)
    for label in ("支部党员大会", "党课"):
        calls = await bot.press(kinds.result, _data(edit, label))
        (edit,) = _edits(calls)
    assert [text for text, _ in buttons(edit) if text.startswith("☑️")] == ["☑️ 支部党员大会", "☑️ 党课"]
    date_prompt = messages(await bot.press(kinds.result, _data(edit, "下一步")))[0]
    assert plain(date_prompt) == texts.ASK_DATE
    assert [text for text, _ in buttons(date_prompt)] == ["今天", "明天", "后天"]

    assert plain(messages(await bot.send("2099-12-03"))[0]) == texts.ASK_TIME
    assert "地点" in plain(messages(await bot.send("下午3点"))[0])
    assert "主题" in plain(messages(await bot.send("党员活动室"))[0])
    assert plain(messages(await bot.send("学习贯彻党的二十届四中全会精神"))[0]) == texts.ASK_LECTURER
    confirm = messages(await bot.send("书记"))[0]
    assert [text for text, _ in buttons(confirm)] == [texts.CONFIRM_BUTTON, texts.ABORT_BUTTON]
    preview = plain(confirm)
    assert "讲课人：李明" in preview and "同时作为：支部党员大会、党课" in preview
    assert await counts(sessions) == (0, 0, 0)  # the dry run wrote nothing

    calls = await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON))
    (announcement,) = [c for c in messages(calls) if c.params["chat_id"] == GROUP["id"]]
    assert preview.endswith(plain(announcement))  # exactly what the dry run showed
    activity, kinds_stored = await only_activity(sessions)
    assert kinds_stored == {"主题党日", "支部党员大会", "党课"}
    assert activity.kind == ActivityKind.THEME_DAY
    assert activity.starts_at == datetime(2099, 12, 3, 15, 0, tzinfo=SHANGHAI)
    assert (activity.place, activity.lecturer, activity.lecturer_is_secretary) == ("党员活动室", "李明", True)
    assert activity.announcement_message_id == announcement.result["message_id"]
    assert activity.created_by == world.member_ids[ALICE["id"]]
    (edited,) = _edits(calls)
    assert f"编号 {activity.id}" in plain(edited) and buttons(edited) == []
    assert await counts(sessions) == (1, 3, 1)


async def test_date_button_and_abort_create_nothing(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    date_prompt = await _start(bot, "支委会")
    calls = await bot.press(date_prompt.result, _data(date_prompt, "后天"))
    in_two_days = datetime.now(SHANGHAI).date() + timedelta(days=2)
    assert any(f"日期：{in_two_days:%Y-%m-%d}" in plain(c) for c in _edits(calls))
    assert plain(messages(calls)[0]) == texts.ASK_TIME
    await bot.send("9:30")
    await bot.send("会议室")
    confirm = messages(await bot.send("研究发展党员工作"))[0]
    assert "9:30" in plain(confirm)
    calls = await bot.press(confirm.result, _data(confirm, texts.ABORT_BUTTON))
    assert [plain(c) for c in _edits(calls)] == [texts.ABORTED]
    assert await counts(sessions) == (0, 0, 0)
    # the flow is over: the next text is a question again, not a step of the flow
    assert texts.ASK_TIME not in [plain(c) for c in messages(await bot.send("明天"))]


async def test_typed_answers_are_checked_at_each_step(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(bot, "支委会")
    assert "日期看不懂" in plain(messages(await bot.send("随便哪天"))[0])
    assert "已经过去" in plain(messages(await bot.send("2020-01-01"))[0])
    await bot.send("2099-01-05")
    assert "时间看不懂" in plain(messages(await bot.send("下班后"))[0])
    await bot.send("15:00")
    assert "地点太长" in plain(messages(await bot.send("室" * 101))[0])
    await bot.send("会议室")
    assert "主题太长" in plain(messages(await bot.send("学" * 201))[0])
    confirm = messages(await bot.send("学" * 200))[0]
    assert buttons(confirm)
    assert await counts(sessions) == (0, 0, 0)


async def test_party_group_meeting_asks_an_organizer_which_party_group(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(bot, "党小组会", user=ORGANIZER)
    for answer in ("2099-03-02", "19:00", "二楼会议室"):
        await bot.send(answer, user=ORGANIZER)
    picker = messages(await bot.send("交流学习体会", user=ORGANIZER))[0]
    assert [text for text, _ in buttons(picker)] == ["第一党小组", "第二党小组"]
    calls = await bot.press(picker.result, _data(picker, "第二党小组"), user=ORGANIZER)
    confirm = messages(calls)[0]
    assert "党小组：第二党小组" in plain(confirm)
    await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON), user=ORGANIZER)
    activity, _ = await only_activity(sessions)
    assert activity.party_group_id == world.group_ids["第二党小组"]


async def test_party_group_leader_skips_the_kind_and_gets_their_own_party_group(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    calls = messages(await bot.send("/new", user=LEADER))
    assert [plain(c) for c in calls] == [texts.ONLY_KIND, texts.ASK_DATE]
    for answer in ("2099-03-02", "19:00", "二楼会议室"):
        await bot.send(answer, user=LEADER)
    confirm = messages(await bot.send("交流学习体会", user=LEADER))[0]
    assert "党小组：第一党小组" in plain(confirm)
    await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON), user=LEADER)
    activity, kinds = await only_activity(sessions)
    assert kinds == {"党小组会"} and activity.party_group_id == world.group_ids["第一党小组"]


async def test_flow_in_the_group_asks_for_replies_and_posts_there(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(bot, "支委会", chat=GROUP)
    time_prompt = messages(await bot.send("2099-01-05", chat=GROUP))[0]
    assert time_prompt.params["reply_markup"]["force_reply"] is True  # privacy mode: answers come as replies
    for answer in ("15:00", "会议室"):
        await bot.send(answer, chat=GROUP)
    confirm = messages(await bot.send("学习党章", chat=GROUP))[0]
    calls = await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON))
    (announcement,) = messages(calls)
    assert announcement.params["chat_id"] == GROUP["id"] and buttons(announcement)
    (edited,) = _edits(calls)
    assert plain(edited).startswith("已发布（编号 1）")


async def test_cancel_leaves_the_flow_at_any_step(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(bot, "支委会")
    await bot.send("2099-01-05")
    assert [plain(c) for c in messages(await bot.send("/cancel"))] == [texts.FLOW_LEFT]
    assert texts.ASK_PLACE.format(limit=100) not in [plain(c) for c in messages(await bot.send("15:00"))]
    # outside a flow, /cancel alone is a usage hint
    assert [plain(c) for c in messages(await bot.send("/cancel"))] == [texts.CANCEL_USAGE]
    assert await counts(sessions) == (0, 0, 0)


async def test_new_restarts_the_flow(bot: ChatHarness, world: World) -> None:
    await bot.send("/new")
    kinds = messages(await bot.send("/new"))[0]
    assert plain(kinds) == texts.ASK_KIND


async def test_stale_and_forged_buttons_are_answered_politely(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    kinds = messages(await bot.send("/new"))[0]
    # forged data inside the flow: answered, the flow stays where it was
    assert _answer(await bot.press(kinds.result, "nw:k.99")) == texts.STALE_FLOW_BUTTON
    assert _answer(await bot.press(kinds.result, "nw:zzz")) == texts.STALE_FLOW_BUTTON
    # someone else pressing the organizer's buttons
    assert _answer(await bot.press(kinds.result, _data(kinds, "支委会"), user=BOB)) == (texts.STALE_FLOW_BUTTON)
    await bot.send("/cancel")
    # a kind button of a finished flow
    calls = await bot.press(kinds.result, _data(kinds, "党课"))
    assert _answer(calls) == texts.STALE_FLOW_BUTTON and messages(calls) == []
    # data that is no button of ours at all
    calls = await bot.press(kinds.result, "garbage\u0000data")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert bot.failed_calls() == []
    assert await counts(sessions) == (0, 0, 0)


async def test_confirm_pressed_twice_creates_one_activity(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _start(bot, "支委会")
    for answer in ("2099-01-05", "15:00", "会议室"):
        await bot.send(answer)
    confirm = messages(await bot.send("学习党章"))[0]
    await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON))
    calls = await bot.press(confirm.result, _data(confirm, texts.CONFIRM_BUTTON))
    assert _answer(calls) == texts.STALE_FLOW_BUTTON
    assert await counts(sessions) == (1, 1, 1)
    activity, _ = await only_activity(sessions)
    assert (await fetch(sessions, activity.id or 0)).status == ActivityStatus.PLANNED


async def test_a_member_cannot_start_the_flow(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    (reply,) = messages(await bot.send("/new", user=BOB))
    assert "需要由书记、副书记、组织委员、党小组长操作" in plain(reply)
    assert buttons(reply) == []


async def test_flow_state_does_not_leak_between_chats(bot: ChatHarness, world: World) -> None:
    await bot.send("/new")
    # the same organizer in the group is not in the private flow
    assert messages(await bot.send("2099-01-05", chat=GROUP)) == []
