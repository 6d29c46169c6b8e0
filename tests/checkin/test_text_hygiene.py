"""Leave notes are stored clean, and button data with odd ids is a stale button, never an error in the log."""

from __future__ import annotations

import logging

import pytest

from bot.models import ActivityKind
from handlers import checkin_texts as texts
from handlers import reminders_texts
from tests.checkin.conftest import World, soon
from tests.checkin.test_telegram import alert, announce, reply
from tests.telegram.helpers import BOB, ChatHarness

SNEAK = "\u200b\u202e\x07\x1b"


async def test_leave_note_is_stored_and_echoed_without_control_or_bidi_characters(
    world: World, test_bot: ChatHarness
) -> None:
    meeting = await world.add_activity(ActivityKind.PARTY_LECTURE, soon())
    recorded = reply(await test_bot.send(f"/leave 出差 去北京{SNEAK}培训\u2066", user=BOB))
    assert recorded.startswith("已为您登记请假（出差：去北京培训）")
    assert (await world.rows(meeting))[world.member_id(BOB)].leave_note == "去北京培训"


async def test_a_note_of_nothing_but_control_characters_is_no_note(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.PARTY_LECTURE, soon())
    await test_bot.send(f"/leave 出差 {SNEAK}", user=BOB)
    assert (await world.rows(meeting))[world.member_id(BOB)].leave_note is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("ci:²", texts.STALE_BUTTON),
        ("lv:²", texts.STALE_BUTTON),
        ("ci:١٢", texts.STALE_BUTTON),
        ("lv:12345678901234567890", texts.STALE_BUTTON),
        ("lr:².出差", texts.STALE_BUTTON),
        ("sz:²", reminders_texts.SNOOZE_NOT_FOUND),
        ("sz:١", reminders_texts.SNOOZE_NOT_FOUND),
    ],
)
async def test_odd_ids_in_button_data_are_stale_buttons_not_errors(
    world: World, test_bot: ChatHarness, caplog: pytest.LogCaptureFixture, data: str, expected: str
) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    post = await announce(test_bot, meeting)
    before = await world.snapshot()
    with caplog.at_level(logging.INFO):
        assert alert(await test_bot.press(post, data, user=BOB)) == expected
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert await world.snapshot() == before
