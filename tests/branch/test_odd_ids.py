"""Button data naming a member or a 党小组 by an odd id ("²", "١", 20 digits) is a stale button, never an error."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Member
from bot.services.access import Caller
from handlers import branch_texts
from handlers.keyboards import Action, encode
from tests.branch.conftest import count_rows
from tests.telegram.helpers import ChatHarness, messages


@pytest.mark.parametrize("argument", ["p.².党员", "p.١.党员", "t.²", "t.12345678901234567890"])
async def test_setrole_buttons_with_odd_ids_are_stale(
    bot: ChatHarness,
    sessions: async_sessionmaker[AsyncSession],
    staffed: Caller,
    caplog: pytest.LogCaptureFixture,
    argument: str,
) -> None:
    (listing,) = messages(await bot.send("/members"))  # any message of the bot's will carry the forged button
    before = await count_rows(sessions, Member)
    with caplog.at_level(logging.INFO):
        calls = await bot.press(listing.result, encode(Action.MEMBER, argument))
    assert calls[0].params.get("text") == branch_texts.MEMBER_BUTTON_STALE
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert await count_rows(sessions, Member) == before
