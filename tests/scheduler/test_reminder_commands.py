"""/themeday, /remind, /reminders and the 稍后提醒 button through the real Application (in-process Bot API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import make_user
from bot.models import AuditLog, Branch, Member, Reminder, ReminderStatus
from bot.services.access import NEEDS_ROLE, NOT_REGISTERED
from bot.services.theme_day import from_compact
from bot.transport import ApiCall
from handlers import reminders_texts as texts
from handlers.keyboards import Action, encode
from tests.scheduler.builders import SHANGHAI, add
from tests.scheduler.conftest import ORGANIZER, People
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, messages, plain

OUTSIDER = make_user(3001, "路人甲")


def reply(calls: list[ApiCall]) -> str:
    (message,) = messages(calls)
    return plain(message)


def alert(calls: list[ApiCall]) -> str:
    (answer,) = [call for call in calls if call.method == "answerCallbackQuery"]
    return answer.params.get("text", "")


async def _branch(sessions: async_sessionmaker[AsyncSession], people: People) -> Branch:
    async with sessions() as session:
        return await session.get_one(Branch, people.branch.id)


def _day_lines(rule: str, count: int = 3) -> list[str]:
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    lines = []
    for theme_day in from_compact(rule).next_days(today, count):
        day = theme_day.day
        year = f"{day.year}年" if day.year != today.year else ""
        lines.append(f"{year}{day.month}月{day.day}日")
    return lines


# -- /themeday ----------------------------------------------------------------------------------------------------


async def test_themeday_set_show_and_clear(
    test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert reply(await test_bot.send("/themeday", user=BOB)).startswith("本支部还没有设置主题党日。")

    answer = reply(await test_bot.send("/themeday 每月第一个周五 提前"))
    assert answer.startswith("已设置主题党日：每月第一个周五（遇节假日提前到前一个工作日）")
    for day in _day_lines("weekday:1:4/prev"):
        assert f"• {day}" in answer
    assert (await _branch(sessions, people)).theme_day_rule == "weekday:1:4/prev"
    async with sessions() as session:
        (audit,) = (await session.scalars(select(AuditLog).where(AuditLog.action == "themeday.set"))).all()
    assert audit.actor_member_id == people.secretary.id

    shown = reply(await test_bot.send("/themeday", user=BOB, chat=GROUP))
    assert shown.startswith("本支部的主题党日：每月第一个周五（遇节假日提前到前一个工作日）")
    assert "接下来三次：" in shown and "/themeday 取消" in shown

    assert reply(await test_bot.send("/themeday 每月最后一个工作日", user=ORGANIZER)).startswith(
        "已设置主题党日：每月最后一个工作日"
    )
    assert reply(await test_bot.send("/themeday 取消")) == texts.THEMEDAY_CLEARED
    assert (await _branch(sessions, people)).theme_day_rule is None


async def test_themeday_refusals(
    test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refused = reply(await test_bot.send("/themeday 每月15日", user=BOB))
    assert refused == NEEDS_ROLE.format(action=texts.THEMEDAY_SET_ACTION, roles="书记、组织委员", role="党员")
    assert reply(await test_bot.send("/themeday", user=OUTSIDER)) == NOT_REGISTERED
    assert (
        reply(await test_bot.send("/themeday 每月第五个周五"))
        == "不是每个月都有第五个周五，请改用「每月最后一个周五」。"
    )
    assert reply(await test_bot.send("/themeday 每周五")).startswith("没看懂这个主题党日规则。")
    assert (await _branch(sessions, people)).theme_day_rule is None


# -- /remind ------------------------------------------------------------------------------------------------------


async def _pending_reminder(sessions: async_sessionmaker[AsyncSession], people: People, member: Member) -> Reminder:
    row = Reminder(
        branch_id=people.branch.id,
        kind="activity_day_before",
        dedup_key=f"test:{member.id}",
        chat_id=member.telegram_user_id,
        member_id=member.id,
        due_at=datetime.now(UTC) + timedelta(days=1),
        text="📅 明天有活动：支委会",
    )
    await add(sessions, row)
    return row


async def test_remind_off_and_on(
    test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]
) -> None:
    row = await _pending_reminder(sessions, people, people.member)
    assert reply(await test_bot.send("/remind", user=BOB)).startswith("您的活动提醒目前是开启的。")
    assert reply(await test_bot.send("/remind off", user=BOB)).startswith("已关闭活动提醒")
    async with sessions() as session:
        member = await session.get_one(Member, people.member.id)
        assert not member.reminders_enabled
        assert (await session.get_one(Reminder, row.id)).status == ReminderStatus.CANCELLED.value
    assert reply(await test_bot.send("/remind", user=BOB)).startswith("您的活动提醒目前是关闭的。")
    assert reply(await test_bot.send("/remind on", user=BOB, chat=GROUP)).startswith("已开启活动提醒")
    officer = reply(await test_bot.send("/remind off"))
    assert officer.endswith("作为书记，组织生活的截止提醒和每周工作提示仍会照常发给您。")
    assert reply(await test_bot.send("/remind off", user=OUTSIDER)) == NOT_REGISTERED


# -- /reminders ---------------------------------------------------------------------------------------------------


async def test_reminders_list_for_officers_in_private(
    test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert reply(await test_bot.send("/reminders")).startswith("🔔 提醒概况（第一党支部）\n待发送 0 · 已发送 0")
    await _pending_reminder(sessions, people, people.member)
    await add(
        sessions,
        Reminder(
            branch_id=people.branch.id,
            kind="theme_day_soon",
            dedup_key="test:group",
            chat_id=GROUP["id"],
            due_at=datetime.now(UTC) - timedelta(hours=1),
            sent_at=datetime.now(UTC) - timedelta(hours=1),
            status=ReminderStatus.SENT.value,
            text="📣 主题党日预告",
        ),
        Reminder(
            branch_id=people.branch.id,
            kind="deadline",
            dedup_key="test:failed",
            chat_id=ORGANIZER["id"],
            member_id=people.organizer.id,
            due_at=datetime.now(UTC) - timedelta(hours=2),
            status=ReminderStatus.FAILED.value,
            last_error="Forbidden: bot was blocked by the user",
            text="⏰ 组织生活提醒",
        ),
    )
    listing = reply(await test_bot.send("/reminders", user=ORGANIZER))
    lines = listing.splitlines()
    assert lines[:2] == ["🔔 提醒概况（第一党支部）", "待发送 1 · 已发送 1 · 发送失败 1 · 已错过 0"]
    assert "待发送（最近 1 条）：" in lines and "发送失败（最近 1 条）：" in lines
    assert any(line.endswith("活动前一天提醒 → 王芳") for line in lines)
    assert any(line.endswith("主题党日预告 → 本支部群") for line in lines)
    assert any(line.endswith("截止提醒 → 张华（Forbidden: bot was blocked by the user）") for line in lines)

    assert reply(await test_bot.send("/reminders", chat=GROUP)) == texts.REMINDERS_PRIVATE_ONLY
    refused = reply(await test_bot.send("/reminders", user=BOB))
    assert refused == NEEDS_ROLE.format(action=texts.REMINDERS_ACTION, roles="书记、副书记、组织委员", role="党员")


# -- 稍后提醒 --------------------------------------------------------------------------------------------------------


async def _sent_reminder(
    test_bot: ChatHarness, sessions: async_sessionmaker[AsyncSession], people: People, expires_in: timedelta
) -> tuple[Reminder, dict[str, Any]]:
    now = datetime.now(UTC)
    row = Reminder(
        branch_id=people.branch.id,
        kind="deadline",
        dedup_key="test:snooze",
        chat_id=ALICE["id"],
        member_id=people.secretary.id,
        due_at=now - timedelta(minutes=1),
        expires_at=now + expires_in,
        status=ReminderStatus.SENT.value,
        sent_at=now,
        text="⏰ 组织生活提醒",
        payload='{"snooze": true}',
    )
    await add(sessions, row)
    test_bot.api.user_message("你好", user=ALICE)  # the private chat becomes known to the simulator
    sent = await test_bot.app.bot.send_message(ALICE["id"], row.text)
    test_bot.api.take_outgoing()
    return row, {"chat": {"id": ALICE["id"]}, "message_id": sent.message_id}


async def test_snooze_button(test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]) -> None:
    row, message = await _sent_reminder(test_bot, sessions, people, timedelta(days=1))
    data = encode(Action.SNOOZE, str(row.id))
    calls = await test_bot.press(message, data)
    assert alert(calls).startswith("好的，") and alert(calls).endswith(" 再提醒您。")
    assert [call.method for call in calls if call.method == "editMessageReplyMarkup"] == ["editMessageReplyMarkup"]
    async with sessions() as session:
        (snoozed,) = (await session.scalars(select(Reminder).where(Reminder.kind == "snooze"))).all()
    assert (snoozed.dedup_key, snoozed.chat_id, snoozed.status) == (f"sz:{row.id}", ALICE["id"], "pending")
    assert timedelta(minutes=59) < snoozed.due_at - datetime.now(UTC) <= timedelta(hours=11)  # quiet hours: ≤ 08:00

    assert alert(await test_bot.press(message, data)) == texts.SNOOZE_ALREADY
    assert alert(await test_bot.press(message, data, user=BOB)) == texts.SNOOZE_NOT_FOUND
    assert alert(await test_bot.press(message, f"{Action.SNOOZE}:abc")) == texts.SNOOZE_NOT_FOUND
    assert alert(await test_bot.press(message, f"{Action.SNOOZE}:9999999999")) == texts.SNOOZE_NOT_FOUND


async def test_snooze_refused_when_it_would_be_too_late(
    test_bot: ChatHarness, people: People, sessions: async_sessionmaker[AsyncSession]
) -> None:
    row, message = await _sent_reminder(test_bot, sessions, people, timedelta(minutes=30))
    assert alert(await test_bot.press(message, encode(Action.SNOOZE, str(row.id)))) == texts.SNOOZE_TOO_LATE
    async with sessions() as session:
        assert not (await session.scalars(select(Reminder).where(Reminder.kind == "snooze"))).all()
