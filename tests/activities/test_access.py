"""Who may do what, where: /new, /record, /cancel, /done, /move × roles × chats.

Allowed: 书记 and 组织委员, in a private chat or the branch's own group. Everyone else, and everyone in another
branch's group, gets one polite refusal in the chat they wrote in, and nothing changes (rows counted before/after).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access import NEEDS_ROLE, NOT_REGISTERED, WRONG_GROUP
from bot.services.activities import Refusal
from handlers import activities_texts as texts
from tests.activities.conftest import CHATS, USERS, World, add_activity, counts, fetch
from tests.telegram.helpers import ChatHarness, messages, plain

# command -> (text, its action name in refusals, when the target activity starts; None: the command creates one)
COMMANDS: dict[str, tuple[str, str, timedelta | None]] = {
    "new": ("/new 支委会 2099-12-03 15:00 会议室 学习党章", texts.ACTION_NEW, None),
    "record": ("/record 支委会 2026-11-03 15:00 会议室 学习党章", texts.ACTION_RECORD, None),
    "cancel": ("/cancel {id}", texts.ACTION_CANCEL, timedelta(days=3)),
    "done": ("/done {id} 会议纪要", texts.ACTION_DONE, -timedelta(hours=1)),
    "move": ("/move {id} 2099-12-04 16:00", texts.ACTION_MOVE, timedelta(days=3)),
}
ALLOWED_ROLES = {"书记", "组织委员"}
ALLOWED_CHATS = {"私聊", "本支部群"}


async def _state(sessions: async_sessionmaker[AsyncSession], activity_id: int | None) -> tuple[Any, ...]:
    if activity_id is None:
        return await counts(sessions)
    activity = await fetch(sessions, activity_id)
    return (*await counts(sessions), activity.status, activity.starts_at, activity.minutes)


@pytest.mark.parametrize("command", list(COMMANDS))
async def test_refusal_matrix(
    bot: ChatHarness, world: World, sessions: async_sessionmaker[AsyncSession], command: str
) -> None:
    template, action, starts_in = COMMANDS[command]
    for role, user in USERS.items():
        for chat_name, chat in CHATS.items():
            target = None if starts_in is None else await add_activity(sessions, world.branch_id, starts_in=starts_in)
            before = await _state(sessions, target)
            calls = await bot.send(template.format(id=target), user=user, chat=chat)
            after = await _state(sessions, target)
            where = f"{command} by {role} in {chat_name}"
            if role in ALLOWED_ROLES and chat_name in ALLOWED_CHATS:
                assert after != before, where
                assert after[2] == before[2] + 1, where  # one audit row
                continue
            assert after == before, where
            (refusal,) = messages(calls)
            assert refusal.params["chat_id"] == (chat or user)["id"], where
            assert [c.method for c in calls] == ["sendMessage"], where
            assert plain(refusal) == _expected_refusal(action, role, chat_name), where


def _expected_refusal(action: str, role: str, chat_name: str) -> str:
    if role == "非党员":
        return NOT_REGISTERED
    if chat_name == "其他群":
        return WRONG_GROUP
    if role == "党小组长":  # passes the role check, but a 支委会 is not theirs
        return texts.REFUSALS[Refusal.KIND_NOT_ALLOWED]
    return NEEDS_ROLE.format(action=action, roles="书记、副书记、组织委员、党小组长", role=role)
