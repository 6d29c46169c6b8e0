"""A branch's group upgraded to a supergroup (Telegram gives it a new chat id and says so in both chats): the branch
and its unsent group reminders follow, once, whichever announcement comes first; members check in from the new chat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import group_chat
from bot.models import Activity, ActivityKind, AuditLog, Branch, Reminder, ReminderStatus
from bot.services.branch_setup import setup_branch
from handlers import branch_texts, checkin_texts
from handlers.keyboards import Action, encode
from tests.branch.conftest import NOW
from tests.telegram.helpers import ALICE, ChatHarness, messages, plain

OLD_GROUP = {"id": -4_000_000_001, "type": "group", "title": "第一党支部"}
NEW_GROUP = group_chat(-1_004_000_000_001, "第一党支部")  # a supergroup
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def branch_id(sessions: Sessions) -> int:
    """第一党支部 bound to the ordinary group OLD_GROUP, with a group reminder sent and one still to send."""
    async with sessions() as session:
        caller = await setup_branch(
            session,
            name="第一党支部",
            chat_id=OLD_GROUP["id"],
            telegram_user_id=ALICE["id"],
            member_name="李明",
            now=NOW,
        )
    assert caller.branch.id is not None
    async with sessions.begin() as session:
        for key, status in (("sent-one", ReminderStatus.SENT), ("pending-one", ReminderStatus.PENDING)):
            session.add(
                Reminder(
                    branch_id=caller.branch.id,
                    kind="activity",
                    dedup_key=key,
                    chat_id=OLD_GROUP["id"],
                    due_at=NOW + timedelta(days=1),
                    text="明天下午开会",
                    status=status,
                )
            )
    return caller.branch.id


async def bound_chat(sessions: Sessions, branch_id: int) -> int:
    async with sessions() as session:
        return (await session.get_one(Branch, branch_id)).chat_id


async def reminder_chats(sessions: Sessions) -> dict[str, int]:
    async with sessions() as session:
        return dict((await session.execute(select(Reminder.dedup_key, Reminder.chat_id))).all())


def migrated_to(bot: ChatHarness) -> dict[str, Any]:
    """The announcement in the old group."""
    return bot.api.chat_event({"migrate_to_chat_id": NEW_GROUP["id"]}, user=ALICE, chat=OLD_GROUP)


def migrated_from(bot: ChatHarness) -> dict[str, Any]:
    """The announcement in the new supergroup."""
    return bot.api.chat_event({"migrate_from_chat_id": OLD_GROUP["id"]}, user=ALICE, chat=NEW_GROUP)


@pytest.mark.parametrize("first", [migrated_to, migrated_from])
async def test_the_branch_follows_its_group_once(
    first: Any, sessions: Sessions, branch_id: int, bot: ChatHarness
) -> None:
    second = migrated_from if first is migrated_to else migrated_to
    bot.api.user_message("（升级后的群）", user=ALICE, chat=NEW_GROUP)  # Telegram has made the supergroup
    said = messages(await bot.process(first(bot)))
    assert [(call.params["chat_id"], plain(call)) for call in said] == [
        (NEW_GROUP["id"], branch_texts.CHAT_MIGRATED.format(branch="第一党支部"))
    ]
    assert messages(await bot.process(second(bot))) == []  # already moved: nothing more to say
    assert await bound_chat(sessions, branch_id) == NEW_GROUP["id"]
    assert await reminder_chats(sessions) == {"sent-one": OLD_GROUP["id"], "pending-one": NEW_GROUP["id"]}
    async with sessions() as session:
        audit = (await session.scalars(select(AuditLog).where(AuditLog.action == "branch.chat_migrated"))).all()
    assert len(audit) == 1 and audit[0].branch_id == branch_id


async def test_members_check_in_from_the_new_supergroup(sessions: Sessions, branch_id: int, bot: ChatHarness) -> None:
    async with sessions.begin() as session:
        meeting = Activity(
            branch_id=branch_id, kind=ActivityKind.MEMBERS_MEETING, starts_at=datetime.now(UTC) + timedelta(minutes=5)
        )
        session.add(meeting)
        await session.flush()
        meeting_id = meeting.id
    bot.api.user_message("（升级后的群）", user=ALICE, chat=NEW_GROUP)
    await bot.process(migrated_to(bot))
    announcement = bot.api.user_message("开会了", user=ALICE, chat=NEW_GROUP)["message"]
    calls = await bot.press(announcement, encode(Action.CHECKIN, str(meeting_id)))
    assert [call.params.get("text") for call in calls if call.method == "answerCallbackQuery"] == [
        checkin_texts.CHECKED_IN
    ]


async def test_an_unbound_group_migrating_changes_nothing(sessions: Sessions, bot: ChatHarness) -> None:
    assert messages(await bot.process(migrated_to(bot))) == []
    async with sessions() as session:
        assert (await session.scalars(select(Branch))).all() == []
        assert (await session.scalars(select(AuditLog))).all() == []
