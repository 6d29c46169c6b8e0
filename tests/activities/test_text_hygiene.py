"""Typed text is stored clean (/new, /done), and odd ids in /cancel, /done, /move are mistyped ids, not errors."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_checks import html_to_plain
from handlers import activities_texts as texts
from tests.activities.conftest import World, add_activity, counts, fetch, only_activity
from tests.telegram.helpers import ChatHarness, messages, plain

# Zero-width space, a right-to-left override, a bell and an escape: invisible or reordering, never meant.
SNEAK = "\u200b\u202e\x07\x1b"


async def test_new_stores_place_and_topic_without_control_or_bidi_characters(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bot.send(f"/new 支委会 2099-12-03 15:00 三楼{SNEAK}会议室 学习{SNEAK}二十届四中全会精神\u2066")
    activity, _ = await only_activity(sessions)
    assert (activity.place, activity.topic) == ("三楼会议室", "学习二十届四中全会精神")


async def test_done_keeps_the_lines_of_the_minutes_and_drops_the_rest(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession]
) -> None:
    activity_id = await add_activity(sessions, world.branch_id, starts_in=-timedelta(hours=2))
    await bot.send(f"/done {activity_id} 传达学习了{SNEAK}全会精神。\r\n研究了\x0b发展党员工作。")
    assert (await fetch(sessions, activity_id)).minutes == "传达学习了全会精神。\n研究了发展党员工作。"


@pytest.mark.parametrize("command", ["/cancel", "/done", "/move"])
@pytest.mark.parametrize("number", ["²", "١", "12345678901234567890"])
async def test_odd_ids_get_the_usage_quietly(
    bot: ChatHarness,
    world: World,
    sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    command: str,
    number: str,
) -> None:
    await add_activity(sessions, world.branch_id, starts_in=timedelta(days=2))
    before = await counts(sessions)
    rest = " 明天下午3点" if command == "/move" else ""
    with caplog.at_level(logging.INFO):
        (reply,) = messages(await bot.send(f"{command} {number}{rest}"))
    usage = {"/cancel": texts.CANCEL_USAGE, "/done": texts.DONE_USAGE, "/move": texts.MOVE_USAGE}[command]
    assert plain(reply) == html_to_plain(usage)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert await counts(sessions) == before
