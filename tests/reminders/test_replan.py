"""An activity created, moved or cancelled through the bot has its reminders planned again at once, not at the next
planning pass: here the pass runs every hour, and the reminders still follow within seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_application, serving
from bot.config import Settings
from bot.models import Activity, Branch, Member, Reminder, ReminderStatus, Role
from bot.services.reminders import ReminderKind
from bot.transport import BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, GROUP, ChatHarness

SHANGHAI = ZoneInfo("Asia/Shanghai")
WAIT_S = 10.0
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def bot(database_url: str, sessions: Sessions) -> AsyncIterator[ChatHarness]:
    """第一党支部 with its 书记, and the bot delivering reminders with a planning pass only every hour."""
    async with sessions.begin() as session:
        branch = Branch(name="第一党支部", chat_id=GROUP["id"])
        session.add(branch)
        await session.flush()
        session.add(Member(branch_id=branch.id, telegram_user_id=ALICE["id"], name="李明", role=Role.SECRETARY))
    api = BotApiSimulator()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        TELEGRAM_BOT_TOKEN="",
        DATABASE_URL=database_url,
        PARTYBOT_PLAN_INTERVAL=3600,
    )
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]), deliver_reminders=True)
    async with serving(app):
        api.user_message("（群消息）", user=ALICE, chat=GROUP)  # the bot can post only in chats it has seen
        api.take_outgoing()
        yield ChatHarness(app, api)


async def pending(sessions: Sessions, activity_id: int) -> dict[str, datetime]:
    """The activity's pending reminders: kind -> due time."""
    async with sessions() as session:
        rows = await session.execute(
            select(Reminder.kind, Reminder.due_at).where(
                Reminder.activity_id == activity_id, Reminder.status == ReminderStatus.PENDING.value
            )
        )
        return {kind: due for kind, due in rows.all()}


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "reminders did not follow the change"
        await asyncio.sleep(0.05)


def in_days(days: int, hour: int) -> datetime:
    local = datetime.now(SHANGHAI) + timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


async def create(bot: ChatHarness, sessions: Sessions, starts: datetime) -> int:
    """/new in the group; the new activity's id."""
    await bot.send(f"/new 支委会 {starts:%Y-%m-%d %H:%M} 会议室 学习党章", chat=GROUP)
    async with sessions() as session:
        activity_id = await session.scalar(select(func.max(Activity.id)))
    assert activity_id is not None
    return activity_id


async def test_reminders_follow_a_new_a_moved_and_a_cancelled_activity(bot: ChatHarness, sessions: Sessions) -> None:
    starts = in_days(3, 15)
    activity_id = await create(bot, sessions, starts)
    hour_before = ReminderKind.ACTIVITY_HOUR_BEFORE.value

    async def planned_for(start: datetime) -> bool:
        due = (await pending(sessions, activity_id)).get(hour_before)
        return due is not None and due == (start - timedelta(hours=1)).astimezone(UTC)

    await eventually(lambda: planned_for(starts))

    moved = in_days(4, 16)
    await bot.send(f"/move {activity_id} {moved:%Y-%m-%d %H:%M}", chat=GROUP)
    await eventually(lambda: planned_for(moved))

    await bot.send(f"/cancel {activity_id}", chat=GROUP)

    async def none_left() -> bool:
        return await pending(sessions, activity_id) == {}

    await eventually(none_left)
