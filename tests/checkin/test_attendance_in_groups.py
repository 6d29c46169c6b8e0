"""Leave reasons and notes are never posted to a group: /attendance there shows counts and names only, and a
/proxy leave recorded in the group does not repeat the reason."""

from __future__ import annotations

from bot.models import ActivityKind
from handlers.keyboards import Action
from tests.checkin.conftest import MEMBER_TWO, ORGANIZER, World, soon
from tests.checkin.test_telegram import announce, press, reply
from tests.telegram.helpers import ALICE, GROUP, ChatHarness


async def test_attendance_in_the_group_shows_counts_and_names_only(world: World, test_bot: ChatHarness) -> None:
    meeting = await world.add_activity(ActivityKind.MEMBERS_MEETING, soon(), topic="选举")
    post = await announce(test_bot, meeting)
    for user in (ALICE, ORGANIZER, MEMBER_TWO):
        await press(test_bot, post, Action.CHECKIN, str(meeting), user)
    recorded = reply(await test_bot.send(f"/proxy {meeting} 王芳 请假 生病 住院复查", user=ALICE, chat=GROUP))
    assert "王芳" in recorded and "生病" not in recorded and "住院" not in recorded

    in_group = reply(await test_bot.send(f"/attendance {meeting}", user=ORGANIZER, chat=GROUP))
    assert "应到 7 人：实到 3 人，请假 1 人，缺席 3 人" in in_group
    assert "请假：王芳" in in_group.splitlines()
    assert "生病" not in in_group and "住院" not in in_group

    in_private = reply(await test_bot.send(f"/attendance {meeting}", user=ORGANIZER))
    assert "请假：王芳（生病：住院复查）" in in_private.splitlines()  # the organizer still sees why, privately
