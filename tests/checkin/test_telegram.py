"""签到/请假 buttons, /checkin, /leave, /proxy, /code and /attendance through the real Application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.bot_api_checks import BotApiError
from bot.models import Activity, ActivityKind, ActivityStatus, AttendanceMethod, AttendanceStatus, AuditLog
from bot.services.access import NOT_REGISTERED, WRONG_GROUP
from bot.services.when import format_when
from bot.transport import ApiCall
from handlers import checkin_texts as texts
from handlers import texts as common_texts
from handlers.keyboards import Action, encode
from tests.checkin.conftest import MEMBER_TWO, ORGANIZER, OTHER_GROUP, OTHER_SECRETARY, OUTSIDER, World, soon
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def announce(bot: ChatHarness, activity_id: int) -> dict[str, Any]:
    """The group announcement with its 签到 and 请假 buttons (as the activities area posts it)."""
    bot.api.user_message("大家好", user=ALICE, chat=GROUP)  # the group becomes known to the simulator
    sent = await bot.app.bot.send_message(GROUP["id"], f"会议通知（编号 {activity_id}）")
    bot.api.take_outgoing()
    return {"chat": {"id": GROUP["id"]}, "message_id": sent.message_id}


def alert(calls: list[ApiCall]) -> str:
    (answer,) = [call for call in calls if call.method == "answerCallbackQuery"]
    return answer.params.get("text", "")


def reply(calls: list[ApiCall]) -> str:
    (message,) = messages(calls)
    return plain(message)


def open_private_chat(bot: ChatHarness, user: dict[str, Any]) -> None:
    bot.api.user_message("你好", user=user)


async def press(bot: ChatHarness, message: dict[str, Any], action: Action, argument: str, user: dict) -> list[ApiCall]:
    return await bot.press(message, encode(action, argument), user=user)


# -- 签到 button ----------------------------------------------------------------------------------------------------


async def test_checkin_button_succeeds_once(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    assert alert(await press(test_bot, post, Action.CHECKIN, str(meeting), BOB)) == texts.CHECKED_IN
    assert alert(await press(test_bot, post, Action.CHECKIN, str(meeting), BOB)) == texts.ALREADY_PRESENT
    (row,) = (await world.rows(meeting)).values()
    assert (row.member_id, row.status, row.method) == (world.member_id(BOB), "present", AttendanceMethod.BUTTON)


async def test_checkin_button_refuses_outsiders(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    assert alert(await press(test_bot, post, Action.CHECKIN, str(meeting), OUTSIDER)) == NOT_REGISTERED
    assert alert(await press(test_bot, post, Action.CHECKIN, str(meeting), OTHER_SECRETARY)) == WRONG_GROUP
    assert await world.rows(meeting) == {}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("ci:abc", texts.STALE_BUTTON),
        ("ci:12345678901234567890", texts.STALE_BUTTON),
        ("ci:-3", texts.STALE_BUTTON),
        ("ci:987654", texts.NOT_FOUND),
        ("lv:987654", texts.NOT_FOUND),
        ("lv:x", texts.STALE_BUTTON),
        ("lr:1.旅游", texts.STALE_BUTTON),
        ("lr:nonsense", texts.STALE_BUTTON),
        ("zz:1", common_texts.STALE_BUTTON),
    ],
)
async def test_forged_or_stale_button_data(world: World, test_bot: ChatHarness, data: str, expected: str) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    before = await world.snapshot()
    assert alert(await test_bot.press(post, data, user=BOB)) == expected
    assert await world.snapshot() == before


async def test_another_branch_activity_is_not_found(world: World, test_bot: ChatHarness) -> None:
    elsewhere = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), branch_id=world.other_branch_id)
    post = await announce(test_bot, elsewhere)
    assert alert(await press(test_bot, post, Action.CHECKIN, str(elsewhere), BOB)) == texts.NOT_FOUND
    assert alert(await press(test_bot, post, Action.LEAVE, str(elsewhere), BOB)) == texts.NOT_FOUND
    assert await world.rows(elsewhere) == {}


async def test_checkin_button_outside_the_window_cancelled_and_code_mode(world: World, test_bot: ChatHarness) -> None:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    later = await world.add_activity(ActivityKind.PARTY_LECTURE, starts)
    past = await world.add_activity(ActivityKind.PARTY_LECTURE, starts - timedelta(days=4))
    cancelled = await world.add_activity(ActivityKind.THEME_DAY, soon(), status=ActivityStatus.CANCELLED)
    coded = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), checkin_code="4827")
    post = await announce(test_bot, later)
    local_now = datetime.now(SHANGHAI)
    opens = format_when(starts - timedelta(minutes=30), local_now)
    closes = format_when(starts - timedelta(days=4) + timedelta(minutes=60), local_now)
    assert alert(await press(test_bot, post, Action.CHECKIN, str(later), BOB)) == f"签到将于 {opens} 开放"
    assert alert(await press(test_bot, post, Action.CHECKIN, str(past), BOB)).startswith(f"本次签到已于 {closes} 结束")
    assert alert(await press(test_bot, post, Action.CHECKIN, str(cancelled), BOB)) == texts.CHECKIN_CANCELLED
    assert alert(await press(test_bot, post, Action.CHECKIN, str(coded), BOB)) == texts.CODE_REQUIRED
    assert [await world.rows(a) for a in (later, past, cancelled, coded)] == [{}, {}, {}, {}]


# -- /checkin -------------------------------------------------------------------------------------------------------


async def test_checkin_command_none_one_or_several(world: World, test_bot: ChatHarness) -> None:
    tomorrow = await world.add_activity(ActivityKind.PARTY_LECTURE, datetime.now(UTC) + timedelta(days=1))
    nothing = reply(await test_bot.send("/checkin", user=BOB))
    assert nothing.startswith(texts.NOTHING_OPEN) and "下一次签到" in nothing and "党课" in nothing
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), topic="学习党章")
    one = reply(await test_bot.send("/checkin", user=BOB))
    assert one.startswith("签到成功：") and "支部党员大会「学习党章」" in one
    theme_day = await world.add_activity(ActivityKind.THEME_DAY, soon())
    (choice,) = messages(await test_bot.send("/checkin", user=MEMBER_TWO))
    assert plain(choice) == texts.CHOOSE_CHECKIN
    offered = buttons(choice)
    assert [data for _, data in offered] == [f"ci:{meeting}", f"ci:{theme_day}"]
    picked = await test_bot.press(choice.result, offered[1][1], user=MEMBER_TWO)
    assert alert(picked) == texts.CHECKED_IN
    assert (await world.rows(theme_day))[world.member_id(MEMBER_TWO)].method == AttendanceMethod.COMMAND
    assert await world.rows(tomorrow) == {}


async def test_checkin_command_in_a_group_points_to_the_button(world: World, test_bot: ChatHarness) -> None:
    await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    before = await world.snapshot()
    assert reply(await test_bot.send("/checkin", user=BOB, chat=GROUP)) == texts.USE_PRIVATE_CHECKIN
    assert await world.snapshot() == before


async def test_code_set_by_organizer_used_by_members_and_locked_after_five_wrong(
    world: World, test_bot: ChatHarness
) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    shown = reply(await test_bot.send(f"/code {meeting}", user=ORGANIZER))
    async with world.sessions() as session:
        code = (await session.get_one(Activity, meeting)).checkin_code
    assert code is not None and shown.startswith(f"签到码：{code}") and f"/checkin {code}" in shown
    assert reply(await test_bot.send("/checkin", user=BOB)) == texts.CODE_REQUIRED
    assert reply(await test_bot.send(f"/checkin {code}", user=BOB)).startswith("签到成功：")
    wrong = f"{(int(code) + 1) % 10000:04d}"
    answers = [reply(await test_bot.send(f"/checkin {wrong}", user=MEMBER_TWO)) for _ in range(5)]
    assert answers[:4] == [texts.WRONG_CODE.format(tries=n) for n in (4, 3, 2, 1)]
    assert answers[4] == texts.CODE_LOCKED
    assert reply(await test_bot.send(f"/checkin {code}", user=MEMBER_TWO)) == texts.CODE_LOCKED
    assert reply(await test_bot.send(f"/code {meeting} off", user=ORGANIZER)).startswith("已关闭签到码")
    assert reply(await test_bot.send("/checkin 4827", user=ALICE)) == texts.NO_CODE_NEEDED
    rows = await world.rows(meeting)
    assert set(rows) == {world.member_id(BOB)} and rows[world.member_id(BOB)].method == AttendanceMethod.CODE


# -- 请假 -----------------------------------------------------------------------------------------------------------


async def test_leave_button_asks_in_private_then_reason_and_note(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    open_private_chat(test_bot, BOB)
    calls = await press(test_bot, post, Action.LEAVE, str(meeting), BOB)
    assert alert(calls) == texts.LEAVE_GO_PRIVATE
    (question,) = messages(calls)
    assert question.params["chat_id"] == BOB["id"] and "请选择请假原因" in plain(question)
    assert [label for label, _ in buttons(question)] == ["学习", "出差", "生病", "其他"]
    assert await world.rows(meeting) == {}

    calls = await test_bot.press(question.result, f"lr:{meeting}.出差", user=BOB)
    (asked,) = messages(calls)
    assert plain(asked).startswith("已为您登记请假（出差）") and "跳过" in plain(asked)
    assert [label for label, _ in buttons(asked)] == [texts.SKIP]
    assert (await world.rows(meeting))[world.member_id(BOB)].leave_reason == "出差"

    assert reply(await test_bot.send("去北京培训", user=BOB)) == texts.NOTE_SAVED
    row = (await world.rows(meeting))[world.member_id(BOB)]
    assert (row.status, row.leave_reason, row.leave_note) == (AttendanceStatus.LEAVE, "出差", "去北京培训")
    # The conversation is over: the next text is a question again, not a note.
    await test_bot.send("支委会多久开一次", user=BOB)
    assert (await world.rows(meeting))[world.member_id(BOB)].leave_note == "去北京培训"


async def test_leave_note_can_be_skipped_or_refused_when_too_long(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    (question,) = messages(await test_bot.send("/leave", user=BOB))
    (asked,) = messages(await test_bot.press(question.result, f"lr:{meeting}.生病", user=BOB))
    too_long = reply(await test_bot.send("很" * 101, user=BOB))
    assert too_long == texts.NOTE_TOO_LONG.format(limit=100)
    assert reply(await test_bot.press(asked.result, buttons(asked)[0][1], user=BOB)) == texts.NOTE_SKIPPED
    row = (await world.rows(meeting))[world.member_id(BOB)]
    assert (row.leave_reason, row.leave_note) == ("生病", None)
    (question,) = messages(await test_bot.send("/leave", user=MEMBER_TWO))
    await test_bot.press(question.result, f"lr:{meeting}.学习", user=MEMBER_TWO)
    assert reply(await test_bot.send("跳过", user=MEMBER_TWO)) == texts.NOTE_SKIPPED
    assert (await world.rows(meeting))[world.member_id(MEMBER_TWO)].leave_note is None


async def test_leave_button_before_any_private_chat(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    calls = await press(test_bot, post, Action.LEAVE, str(meeting), BOB)  # the simulator: "chat not found"
    assert alert(calls) == texts.LEAVE_OPEN_PRIVATE_FIRST and messages(calls) == []
    open_private_chat(test_bot, BOB)
    test_bot.api.fail_next("sendMessage", BotApiError(403, "Forbidden: bot can't initiate conversation with a user"))
    assert alert(await press(test_bot, post, Action.LEAVE, str(meeting), BOB)) == texts.LEAVE_OPEN_PRIVATE_FIRST
    assert await world.rows(meeting) == {}


async def test_leave_after_checking_in_is_refused(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    open_private_chat(test_bot, BOB)
    await press(test_bot, post, Action.CHECKIN, str(meeting), BOB)
    assert alert(await press(test_bot, post, Action.LEAVE, str(meeting), BOB)) == texts.LEAVE_AFTER_PRESENT
    assert alert(await test_bot.press(post, f"lr:{meeting}.出差", user=BOB)) == texts.LEAVE_AFTER_PRESENT
    assert reply(await test_bot.send("/leave 出差", user=BOB)) == texts.LEAVE_AFTER_PRESENT
    assert (await world.rows(meeting))[world.member_id(BOB)].status == AttendanceStatus.PRESENT


async def test_leave_command_choice_and_one_line(world: World, test_bot: ChatHarness) -> None:
    assert reply(await test_bot.send("/leave", user=BOB)) == texts.NOTHING_UPCOMING
    first = await world.add_activity(ActivityKind.PARTY_LECTURE, datetime.now(UTC) + timedelta(days=1))
    recorded = reply(await test_bot.send("/leave 出差 去北京培训", user=BOB))
    assert recorded.startswith("已为您登记请假（出差：去北京培训）")
    second = await world.add_activity(ActivityKind.THEME_DAY, datetime.now(UTC) + timedelta(days=3))
    (choice,) = messages(await test_bot.send("/leave", user=MEMBER_TWO))
    assert [data for _, data in buttons(choice)] == [f"lv:{first}", f"lv:{second}"]
    calls = await test_bot.press(choice.result, f"lv:{second}", user=MEMBER_TWO)
    assert alert(calls) == "" and "请选择请假原因" in reply(calls)
    assert reply(await test_bot.send("/leave", user=BOB, chat=GROUP)) == texts.USE_PRIVATE_LEAVE
    row = (await world.rows(first))[world.member_id(BOB)]
    assert (row.leave_reason, row.leave_note) == ("出差", "去北京培训")


# -- organizers -----------------------------------------------------------------------------------------------------


async def test_proxy_present_and_leave(world: World, test_bot: ChatHarness) -> None:
    past = await world.add_activity(ActivityKind.MEMBERS_MEETING, datetime.now(UTC) - timedelta(days=3))
    assert reply(await test_bot.send(f"/proxy {past} 王芳", user=ORGANIZER)).startswith("已为 王芳 签到：")
    done = reply(await test_bot.send(f"/proxy {past} 周敏 请假 出差 去北京培训", user=ALICE))
    assert done.startswith("已为 周敏 登记请假（出差：去北京培训）")
    assert "没有名叫「张三」" in reply(await test_bot.send(f"/proxy {past} 张三", user=ALICE))
    assert reply(await test_bot.send(f"/proxy {past}", user=ALICE)).startswith("用法")
    assert reply(await test_bot.send(f"/proxy {past} 王芳 迟到", user=ALICE)).startswith("用法")
    rows = await world.rows(past)
    assert rows[world.member_id(BOB)].recorded_by == world.member_id(ORGANIZER)
    assert (rows[world.member_id(MEMBER_TWO)].status, rows[world.member_id(MEMBER_TWO)].method) == ("leave", "proxy")


async def test_attendance_reports_names_and_quorum(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), topic="选举")
    post = await announce(test_bot, meeting)
    for user in (ALICE, ORGANIZER, MEMBER_TWO):
        await press(test_bot, post, Action.CHECKIN, str(meeting), user)
    await test_bot.send(f"/proxy {meeting} 王芳 请假 出差 去北京培训", user=ALICE)
    report = reply(await test_bot.send(f"/attendance {meeting}", user=ORGANIZER))
    lines = report.splitlines()
    assert lines[0] == "出勤情况" and "支部党员大会「选举」" in lines[1]
    assert lines[2:] == [
        "应到 7 人：实到 3 人，请假 1 人，缺席 3 人",
        "实到：李明、张华、周敏",
        "请假：王芳（出差：去北京培训）",
        "缺席：赵强、陈静、刘洋",
        "有表决权的正式党员应到 6 人，实到 3 人，未超过半数，会议无效（到会须超过半数）。",
    ]
    elsewhere = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), branch_id=world.other_branch_id)
    assert reply(await test_bot.send(f"/attendance {elsewhere}", user=ALICE)).startswith("找不到本支部编号为")


# -- who may do what, where -----------------------------------------------------------------------------------------

PEOPLE = {"书记": ALICE, "组织委员": ORGANIZER, "党员": BOB, "非党员": OUTSIDER}
CHATS = {"私聊": None, "本支部群": GROUP, "其他群": OTHER_GROUP}
SUCCESS = {"proxy": "已为 王芳 签到", "code": "签到码：", "attendance": "出勤情况"}


@pytest.mark.parametrize("command", ["proxy", "code", "attendance"])
async def test_refusal_matrix(world: World, test_bot: ChatHarness, command: str) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    text = {"proxy": f"/proxy {meeting} 王芳", "code": f"/code {meeting}", "attendance": f"/attendance {meeting}"}
    outcomes = {}
    for role, user in PEOPLE.items():
        for chat_name, chat in CHATS.items():
            before = await world.snapshot()
            answer = reply(await test_bot.send(text[command], user=user, chat=chat))
            allowed = answer.startswith(SUCCESS[command])
            if not allowed:
                assert await world.snapshot() == before, (role, chat_name, answer)
            outcomes[role, chat_name] = "ok" if allowed else answer
    organizers_here = {(r, c) for r in ("书记", "组织委员") for c in ("私聊", "本支部群")}
    if command == "code":  # a code shown in the group would leak: private only
        organizers_here = {(r, "私聊") for r in ("书记", "组织委员")}
        assert outcomes["书记", "本支部群"] == texts.CODE_PRIVATE_ONLY
    assert {key for key, value in outcomes.items() if value == "ok"} == organizers_here
    assert outcomes["党员", "私聊"].startswith("「") and "书记、副书记、组织委员、党小组长" in outcomes["党员", "私聊"]
    assert outcomes["党员", "其他群"] == WRONG_GROUP and outcomes["书记", "其他群"] == WRONG_GROUP
    assert {outcomes["非党员", c] for c in CHATS} == {NOT_REGISTERED}


async def test_audit_rows_for_proxy_and_code(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    await test_bot.send(f"/proxy {meeting} 王芳", user=ALICE)
    await test_bot.send(f"/code {meeting}", user=ALICE)
    post = await announce(test_bot, meeting)
    await press(test_bot, post, Action.CHECKIN, str(meeting), MEMBER_TWO)  # code mode: refused, nothing written
    async with world.sessions() as session:
        actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["attendance.proxy", "activity.checkin_code"]
