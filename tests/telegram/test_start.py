"""/start, its join deep link, /help, unknown commands, and what start-up tells Telegram."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Branch, Member
from bot.services.invites import MSG_INVITE_INVALID
from handlers import texts
from tests.telegram.helpers import ALICE, GROUP, ChatHarness, messages, plain


async def test_startup_publishes_chinese_command_menu(bot: ChatHarness) -> None:
    (call,) = [c for c in bot.api.calls if c.method == "setMyCommands"]
    assert call.ok
    menu = {entry["command"]: entry["description"] for entry in call.params["commands"]}
    assert set(menu) >= {"start", "help", "ask"}
    assert all(any("\u4e00" <= char <= "\u9fff" for char in description) for description in menu.values())


async def test_start_welcomes_and_says_what_it_can_do(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/start"))
    assert reply.params["parse_mode"] == "HTML"
    assert "党支部助手" in plain(reply)
    assert "/help" in plain(reply) and "/ask" in plain(reply)


async def test_start_with_unknown_join_link_answers_politely(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/start join_AbC123-xyz"))
    assert plain(reply) == MSG_INVITE_INVALID


async def test_start_with_other_payload_is_a_plain_welcome(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/start something"))
    assert plain(reply) == plain(messages(await bot.send("/start"))[0])


async def test_help_lists_commands(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/help"))
    for command in ("/ask", "/new", "/checkin", "/leave", "/progress", "/export", "/setup", "/invite", "/themeday"):
        assert command in plain(reply)


async def test_help_in_group_addressed_to_this_bot(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send(f"/help@{bot.app.bot.username}", chat=GROUP))
    assert "/ask" in plain(reply)


async def test_unknown_command_in_private_chat_points_to_help(bot: ChatHarness) -> None:
    (reply,) = messages(await bot.send("/nosuchcommand"))
    assert plain(reply) == texts.UNKNOWN_COMMAND


async def test_unknown_command_in_group_is_left_to_other_bots(bot: ChatHarness) -> None:
    assert await bot.send("/nosuchcommand", chat=GROUP) == []


async def test_start_makes_a_member_who_unblocked_the_bot_reachable_again(
    bot: ChatHarness, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Telegram's "Restart" after unblocking sends /start: the planner may write to the member again."""
    async with sessions.begin() as session:
        branch = Branch(name="第一党支部", chat_id=GROUP["id"])
        session.add(branch)
        await session.flush()
        returning = Member(branch_id=branch.id, telegram_user_id=ALICE["id"], name="李明", reachable=False)
        other = Member(branch_id=branch.id, telegram_user_id=9999, name="王芳", reachable=False)
        session.add_all([returning, other])
    (reply,) = messages(await bot.send("/start"))
    assert "党支部助手" in plain(reply)
    async with sessions() as session:
        assert (await session.get(Member, returning.id)).reachable is True
        assert (await session.get(Member, other.id)).reachable is False
