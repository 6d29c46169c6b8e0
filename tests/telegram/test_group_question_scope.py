"""Questions asked in a group are answered from the branch the group is bound to, never from the asker's own branch:
one branch's uploaded documents are never posted into another branch's group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.models import Branch, Member, Role
from bot.transport import BotApiSimulator
from handlers import texts
from knowledge.answer import Answerer
from knowledge.passage import Passage
from tests.telegram.conftest import TEST_PASSAGES, _harness
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, messages, plain

OTHER_GROUP = group_chat(-1009876543210, "第二党支部")
STRANGER = make_user(3001, "路人甲")
SECRET = "第一支部内部安排：每周三下午学习。"
QUESTION = "本支部内部学习安排"


@dataclass(frozen=True, slots=True)
class TwoBranches:
    bot: ChatHarness
    first_id: int  # bound to GROUP; ALICE is its 书记; owns the SECRET document
    second_id: int  # bound to OTHER_GROUP; BOB is its 书记


@pytest.fixture
async def two_branches(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, api: BotApiSimulator
) -> AsyncIterator[TwoBranches]:
    async with sessions.begin() as session:
        first = Branch(name="第一党支部", chat_id=GROUP["id"])
        second = Branch(name="第二党支部", chat_id=OTHER_GROUP["id"])
        session.add_all([first, second])
        await session.flush()
        assert first.id is not None and second.id is not None
        session.add_all(
            [
                Member(branch_id=first.id, telegram_user_id=ALICE["id"], name="李明", role=Role.SECRETARY),
                Member(branch_id=second.id, telegram_user_id=BOB["id"], name="王芳", role=Role.SECRETARY),
            ]
        )
        first_id, second_id = first.id, second.id
    private = Passage(
        "kb1-1", "第一支部学习制度", ("本支部内部学习安排",), SECRET, phrasings=(QUESTION,), scope=first_id, document=1
    )
    async for harness in _harness(settings, api, Answerer([*TEST_PASSAGES, private])):
        yield TwoBranches(harness, first_id, second_id)


def mention(bot: ChatHarness, question: str) -> str:
    return f"@{bot.app.bot.username} {question}"


async def answer_text(bot: ChatHarness, text: str, **where: object) -> str:
    return "\n".join(plain(call) for call in messages(await bot.send(text, **where)))  # type: ignore[arg-type]


async def test_a_member_of_another_branch_gets_the_groups_documents(two_branches: TwoBranches) -> None:
    bot = two_branches.bot
    assert SECRET in await answer_text(bot, mention(bot, QUESTION), user=BOB, chat=GROUP)
    assert SECRET in await answer_text(bot, f"/ask {QUESTION}", user=STRANGER, chat=GROUP)


async def test_a_branch_document_is_never_posted_into_another_group(two_branches: TwoBranches) -> None:
    bot = two_branches.bot
    for text in (mention(bot, QUESTION), f"/ask {QUESTION}"):
        assert SECRET not in await answer_text(bot, text, user=ALICE, chat=OTHER_GROUP)
    # a group bound to no branch sees shared knowledge only
    unbound = group_chat(-1005555555555, "闲聊群")
    assert SECRET not in await answer_text(bot, f"/ask {QUESTION}", user=ALICE, chat=unbound)
    # the related-topic button pressed in the other group does not open it either
    (reply,) = messages(await bot.send("/ask 支委会多久开一次", user=ALICE, chat=OTHER_GROUP))
    calls = await bot.press(reply.result, "rel:kb1-1", user=ALICE)
    assert [(call.method, call.params.get("text")) for call in calls] == [("answerCallbackQuery", texts.STALE_BUTTON)]


async def test_private_questions_keep_the_askers_branch(two_branches: TwoBranches) -> None:
    bot = two_branches.bot
    assert SECRET in await answer_text(bot, QUESTION, user=ALICE)
    assert SECRET not in await answer_text(bot, QUESTION, user=BOB)
    assert SECRET not in await answer_text(bot, QUESTION, user=STRANGER)
