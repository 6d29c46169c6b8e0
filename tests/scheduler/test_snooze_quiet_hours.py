"""稍后提醒 follows the operator's PARTYBOT_QUIET_HOURS, as the planner and delivery do: switched off, the reminder
comes back in exactly an hour at any time of day; quiet all day long, it waits for the end of the quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.models import Reminder
from handlers.keyboards import Action, encode
from tests.scheduler.conftest import People
from tests.scheduler.test_reminder_commands import _sent_reminder, alert
from tests.telegram.helpers import ChatHarness

SHANGHAI_OFFSET = timedelta(hours=8)


@pytest.fixture(params=["off", "0:00-23:59"])
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """The bot's settings with the quiet hours switched off, or quiet from midnight to 23:59."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url, PARTYBOT_QUIET_HOURS=request.param
    )


async def test_snooze_uses_the_configured_quiet_hours(
    settings: Settings,
    test_bot: ChatHarness,
    people: People,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row, message = await _sent_reminder(test_bot, sessions, people, timedelta(days=3))
    pressed = datetime.now(UTC)
    assert alert(await test_bot.press(message, encode(Action.SNOOZE, str(row.id)))).startswith("好的，")
    async with sessions() as session:
        due = (await session.scalars(select(Reminder.due_at).where(Reminder.kind == "snooze"))).one()
    if settings.quiet_hours is None:
        assert timedelta(minutes=59) < due - pressed <= timedelta(hours=1, seconds=5)
    else:  # quiet until 23:59 in Shanghai: the snoozed reminder comes at 23:59 that day or the next
        local = due + SHANGHAI_OFFSET
        assert (local.hour, local.minute) == (23, 59)
