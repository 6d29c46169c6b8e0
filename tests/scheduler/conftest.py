"""The Application fixtures of tests/telegram (the bot over the in-process Bot API), for the reminder commands, and
a branch with its people."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import make_user
from bot.models import Branch, Member, Role
from tests.scheduler.builders import make_branch, make_member
from tests.telegram.conftest import api, fixed_answerer, settings, test_bot  # noqa: F401  (fixtures reused)
from tests.telegram.helpers import ALICE, BOB, GROUP

ORGANIZER = make_user(1003, "张华")


@dataclass(frozen=True, slots=True)
class People:
    """A branch bound to GROUP with its 书记 (ALICE), 组织委员 and one 党员 (BOB)."""

    branch: Branch
    secretary: Member
    organizer: Member
    member: Member


@pytest.fixture
async def people(sessions: async_sessionmaker[AsyncSession]) -> People:
    branch = await make_branch(sessions, chat_id=GROUP["id"])
    return People(
        branch,
        await make_member(sessions, branch, "李明", ALICE["id"], role=Role.SECRETARY),
        await make_member(sessions, branch, "张华", ORGANIZER["id"], role=Role.ORGANIZATION),
        await make_member(sessions, branch, "王芳", BOB["id"]),
    )
