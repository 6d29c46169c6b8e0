"""Who may /export, /require and /kb (upload, remove) where: every role × chat; a refusal changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access import NOT_REGISTERED, WRONG_GROUP
from bot.transport import ApiCall
from tests.progress.conftest import CHATS, USERS, World, snapshot
from tests.telegram.helpers import ChatHarness, plain

OK, PRIVATE_ONLY, NEEDS_ROLE = "ok", "private only", "needs role"

# role -> chat -> outcome, for commands limited to 书记 and 组织委员 in private chats (/kb)
KB_MATRIX = {
    "书记": {"私聊": OK, "本支部群": PRIVATE_ONLY, "其他群": WRONG_GROUP},
    "组织委员": {"私聊": OK, "本支部群": PRIVATE_ONLY, "其他群": WRONG_GROUP},
    "党员": {"私聊": NEEDS_ROLE, "本支部群": NEEDS_ROLE, "其他群": WRONG_GROUP},
    "非党员": {"私聊": NOT_REGISTERED, "本支部群": NOT_REGISTERED, "其他群": NOT_REGISTERED},
}
EXPORT_MATRIX = {
    "书记": {"私聊": OK, "本支部群": OK, "其他群": WRONG_GROUP},
    "组织委员": {"私聊": OK, "本支部群": OK, "其他群": WRONG_GROUP},
    "党员": {"私聊": NEEDS_ROLE, "本支部群": NEEDS_ROLE, "其他群": WRONG_GROUP},
    "非党员": {"私聊": NOT_REGISTERED, "本支部群": NOT_REGISTERED, "其他群": NOT_REGISTERED},
}
REQUIRE_MATRIX = {
    "书记": {"私聊": OK, "本支部群": OK, "其他群": WRONG_GROUP},
    "组织委员": {"私聊": NEEDS_ROLE, "本支部群": NEEDS_ROLE, "其他群": WRONG_GROUP},
    "党员": {"私聊": NEEDS_ROLE, "本支部群": NEEDS_ROLE, "其他群": WRONG_GROUP},
    "非党员": {"私聊": NOT_REGISTERED, "本支部群": NOT_REGISTERED, "其他群": NOT_REGISTERED},
}
REFUSALS = {
    PRIVATE_ONLY: "请私聊我发送 /kb 管理支部资料。",
    NEEDS_ROLE: "需要由",
    WRONG_GROUP: WRONG_GROUP,
    NOT_REGISTERED: NOT_REGISTERED,
}


async def kb_upload(bot: ChatHarness, user: dict, chat: dict | None) -> list[ApiCall]:
    update = bot.api.user_document("一、值班\n每周五值班。".encode(), "值班.txt", user=user, chat=chat, caption="/kb")
    return await bot.process(update)


async def send(bot: ChatHarness, name: str, user: dict, chat: dict | None) -> list[ApiCall]:
    """The command under test; for /kb remove, of a document the 书记 has just uploaded."""
    if name == "kb upload":
        return await kb_upload(bot, user, chat)
    if name == "kb remove":
        (added,) = await kb_upload(bot, USERS["书记"], None)
        match = re.search(r"编号 (\d+)", plain(added))
        assert match is not None
        return await bot.send(f"/kb remove {match[1]}", user=user, chat=chat)
    return await bot.send(COMMANDS[name], user=user, chat=chat)


COMMANDS = {"export": "/export 2026", "require": "/require 支委会 2"}


def succeeded(name: str, calls: list[ApiCall]) -> bool:
    if name == "export":
        return any(call.method == "sendDocument" for call in calls)
    return any(text in plain(call) for call in calls for text in ("已添加", "已删除", "已设置", "已恢复"))


@pytest.mark.parametrize(
    ("name", "matrix"),
    [("export", EXPORT_MATRIX), ("require", REQUIRE_MATRIX), ("kb upload", KB_MATRIX), ("kb remove", KB_MATRIX)],
)
async def test_refusal_matrix(
    bot: ChatHarness,
    sessions: async_sessionmaker[AsyncSession],
    world: World,
    name: str,
    matrix: dict[str, dict[str, str]],
) -> None:
    for role, outcomes in matrix.items():
        for chat_name, outcome in outcomes.items():
            before = await snapshot(sessions)
            if name == "kb remove":  # the upload the command refers to is not part of the comparison
                before = (before[0] + 1, before[1] + 1, before[2] + 1, before[3])
            calls = await send(bot, name, USERS[role], CHATS[chat_name])
            where = f"{name}: {role} in {chat_name}"
            if outcome == OK:
                assert succeeded(name, calls), where
                if name != "export":
                    assert (await snapshot(sessions))[0] == before[0] + 1, f"{where}: one audit row"
                continue
            (refusal,) = calls
            assert REFUSALS[outcome] in plain(refusal), where
            assert await snapshot(sessions) == before, where
