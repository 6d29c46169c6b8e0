"""Roles and membership through the real Application: who may claim an imported officer's place, and a member's
lifecycle — /remove, leaving the bound group, /invite revoke, demoted officers — with every record kept."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from telegram import Update

from bot.app import ALLOWED_UPDATES
from bot.bot_api_objects import make_user
from bot.db import make_engine, open_database, upgrade_database
from bot.models import Activity, ActivityKind, ActivityKindLink, Attendance, AuditLog, Invite, Member, Role
from bot.services import branches, membership
from bot.services.access import INACTIVE, Caller
from bot.transport import ApiCall
from handlers import branch_texts
from handlers.keyboards import Action, encode
from tests.branch.conftest import CAROL, DAVE
from tests.branch.test_branch_bot import (
    OTHER_GROUP,
    Sessions,
    invite_token,
    last_message,
    only,
    role_of,
    state,
)
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

EVE = make_user(1005, "钱八")
LINK = re.compile(r"https://t\.me/partybot_local_bot\?start=((join|claim)_([A-Za-z0-9_-]+))")


async def import_row(sessions: Sessions, caller: Caller, name: str, role: Role) -> int:
    """A roster row not yet linked to anyone (as /import leaves it)."""
    async with sessions() as session:
        row = Member(branch_id=caller.branch.id, name=name, role=role.value)
        session.add(row)
        await session.commit()
        assert row.id is not None
        return row.id


async def member(sessions: Sessions, member_id: int) -> Member:
    async with sessions() as session:
        return await session.get_one(Member, member_id)


async def member_of(sessions: Sessions, user: dict[str, Any]) -> Member:
    async with sessions() as session:
        found = await session.scalar(select(Member).where(Member.telegram_user_id == user["id"]))
    assert found is not None
    return found


def link_in(calls: list[ApiCall]) -> str:
    found = LINK.search(only(calls))
    assert found is not None, only(calls)
    return found.group(1)


async def join_as_roster_entry(bot: ChatHarness, token: str, user: dict[str, Any], name: str) -> list[ApiCall]:
    await bot.send(f"/start join_{token}", user=user)
    calls = await bot.send(name, user=user)
    assert "支部名册中有" in plain(messages(calls)[0])
    return await bot.press(last_message(calls), encode(Action.JOIN, "l.y"), user=user)


def chat_member_update(bot: ChatHarness, user: dict[str, Any], old: str, new: str, *, by: dict[str, Any]) -> Any:
    return bot.api.chat_member_update(GROUP, user, old, new, by=by)


# --- 1. claiming an imported officer's place -----------------------------------------------------------------------


async def test_self_claim_through_an_invite_gives_at_most_member(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    row = await import_row(sessions, staffed, "赵六", Role.DEPUTY_SECRETARY)
    token = await invite_token(sessions, staffed)
    await bot.send(f"/start join_{token}", user=DAVE)
    match = plain(messages(await bot.send("赵六", user=DAVE))[0])
    assert "副书记" in match and "认领链接" in match  # told before pressing how the role is kept
    await bot.send("/cancel", user=DAVE)
    done = await join_as_roster_entry(bot, token, DAVE, "赵六")
    assert "登记成功" in plain(messages(done)[0])
    linked = await member(sessions, row)
    assert (linked.telegram_user_id, linked.role) == (DAVE["id"], "党员")
    # none of an officer's powers came with it
    assert "需要由" in only(await bot.send("/invite", user=DAVE))
    assert "需要由" in only(await bot.send("/export", user=DAVE))
    async with sessions() as session:
        entry = await session.scalar(
            select(AuditLog).where(AuditLog.action == "member.join", AuditLog.target == "赵六")
        )
    assert entry is not None and "副书记" in entry.detail  # the imported role is on record for the 书记


async def test_a_claim_link_from_the_secretary_keeps_the_imported_role(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    row = await import_row(sessions, staffed, "赵六", Role.ORGANIZATION)
    # only the 书记, only in a private chat (the link is as good as the role)
    assert "需要由书记操作" in only(await bot.send("/claimcode 赵六", user=BOB))
    assert only(await bot.send("/claimcode 赵六", chat=GROUP)) == branch_texts.CLAIM_PRIVATE_ONLY
    assert "没有尚未登记的「孙七」" in only(await bot.send("/claimcode 孙七"))
    assert "已经登记" in only(await bot.send("/claimcode 张三"))  # linked already: nothing to claim
    first = link_in(await bot.send("/claimcode 赵六"))
    payload = link_in(await bot.send("/claimcode 赵六"))  # a new code replaces the old one
    assert payload != first and len(payload) <= 64
    async with sessions() as session:
        stored = await session.get_one(Member, row)
    code = payload.removeprefix("claim_")
    assert stored.claim_code_hash == hashlib.sha256(code.encode()).hexdigest()  # never the code itself

    assert only(await bot.send(f"/start {first}", user=DAVE)) == membership.MSG_CLAIM_INVALID
    assert "已经是「第一党支部」的登记党员" in only(
        await bot.send(f"/start {payload}", user=CAROL)
    )  # registered already
    done = only(await bot.send(f"/start {payload}", user=DAVE))
    assert "组织委员" in done and "第一党支部" in done
    claimed = await member(sessions, row)
    assert (claimed.telegram_user_id, claimed.role, claimed.claim_code_hash) == (DAVE["id"], "组织委员", None)
    assert "邀请链接" in only(await bot.send("/invite", user=DAVE))  # the role works
    assert only(await bot.send(f"/start {payload}", user=EVE)) == membership.MSG_CLAIM_INVALID  # one time only


@pytest.mark.parametrize("command", ["/claimcode", "/remove", "/restore", "/setrole", "/group set"])
async def test_a_pasted_page_as_a_name_is_quoted_back_short(bot: ChatHarness, staffed: Caller, command: str) -> None:
    """A reply quoting what was typed stays far below Telegram's 4,096 characters (a longer one is refused)."""
    pasted = "参数" * 2000
    role = " 组织委员" if command == "/setrole" else " 第一党小组" if command == "/group set" else ""
    reply = only(await bot.send(f"{command} {pasted}{role}"))
    assert len(reply) < 200 and "…" in reply


async def test_an_expired_claim_link_is_refused(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    row = await import_row(sessions, staffed, "赵六", Role.ORGANIZATION)
    payload = link_in(await bot.send("/claimcode 赵六"))
    async with sessions() as session:
        stored = await session.get_one(Member, row)
        stored.claim_code_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await session.commit()
    assert only(await bot.send(f"/start {payload}", user=DAVE)) == membership.MSG_CLAIM_INVALID
    assert (await member(sessions, row)).telegram_user_id is None


# --- 2. member lifecycle -------------------------------------------------------------------------------------------


async def held_activity_with(sessions: Sessions, caller: Caller, member_id: int) -> int:
    async with sessions.begin() as session:
        activity = Activity(
            branch_id=caller.branch.id, kind=ActivityKind.MEMBERS_MEETING, starts_at=datetime.now(UTC), status="held"
        )
        session.add(activity)
        await session.flush()
        assert activity.id is not None
        session.add(ActivityKindLink(activity_id=activity.id, kind=ActivityKind.MEMBERS_MEETING))
        session.add(
            Attendance(
                activity_id=activity.id, member_id=member_id, status="leave", method="button", leave_reason="出差"
            )
        )
        return activity.id


async def test_remove_marks_the_member_inactive_and_keeps_every_record(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    carol = await member_of(sessions, CAROL)
    assert carol.id is not None
    meeting = await held_activity_with(sessions, staffed, carol.id)
    button_post = only_message(await bot.send("/members", user=CAROL))  # any earlier message of hers

    assert "需要由书记操作" in only(await bot.send("/remove 张三", user=BOB))
    assert "用法" in only(await bot.send("/remove"))
    assert "没有「孙七」" in only(await bot.send("/remove 孙七"))
    assert "书记" in only(await bot.send("/remove 李明"))  # the 书记 hands the role over first
    assert (await member_of(sessions, ALICE)).active

    done = only(await bot.send("/remove 张三"))
    assert "张三" in done and "记录" in done
    removed = await member(sessions, carol.id)
    assert (removed.active, removed.telegram_user_id, removed.name) == (False, CAROL["id"], "张三")
    assert removed.left_at is not None
    async with sessions() as session:
        kept = await session.scalar(select(Attendance).where(Attendance.activity_id == meeting))
        entry = await session.scalar(select(AuditLog).where(AuditLog.action == "member.remove"))
    assert kept is not None and kept.member_id == carol.id and kept.leave_reason == "出差"
    assert entry is not None and entry.target == "张三"
    assert "已移出" in only(await bot.send("/remove 张三"))  # twice: nothing more to do

    # her private commands and her old buttons are refused, politely and with the next step
    refusal = only(await bot.send("/members", user=CAROL))
    assert refusal == branch_texts_inactive("第一党支部")
    pressed = await bot.press(button_post, encode(Action.CHECKIN, str(meeting)), user=CAROL)
    assert [call.params.get("text") for call in pressed if call.method == "answerCallbackQuery"] == [refusal]
    # an old invite link does not bring her back by herself
    token = await invite_token(sessions, staffed)
    assert "停用" in only(await bot.send(f"/start join_{token}", user=CAROL))
    # the roster shows who is active; /restore brings her back as 党员
    listing = only(await bot.send("/members"))
    assert "• 张三" not in listing and "已移出 1 名" in listing
    assert "张三" in only(await bot.send("/restore 张三"))
    assert (await member(sessions, carol.id)).active
    assert "第一党支部" in only(await bot.send("/members", user=CAROL))


def only_message(calls: list[ApiCall]) -> dict[str, Any]:
    (sent,) = messages(calls)
    return sent.result


def branch_texts_inactive(branch: str) -> str:
    return INACTIVE.format(branch=branch)


async def test_a_removed_officer_stops_at_once_and_their_links_are_revoked(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    own_link = link_in(await bot.send("/invite", user=BOB)).removeprefix("join_")
    secretary_link = link_in(await bot.send("/invite")).removeprefix("join_")
    only(await bot.send("/remove 王芳"))
    bob = await member_of(sessions, BOB)
    assert (bob.active, bob.role) == (False, "党员")
    assert only(await bot.send("/invite", user=BOB)) == branch_texts_inactive("第一党支部")
    assert only(await bot.send(f"/start join_{own_link}", user=DAVE)) == branches.MSG_INVITE_INVALID
    assert "欢迎加入" in only(await bot.send(f"/start join_{secretary_link}", user=DAVE))  # others' links stand


async def test_a_demoted_officer_loses_their_invite_links(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    own_link = link_in(await bot.send("/invite", user=BOB)).removeprefix("join_")
    assert only(await bot.send("/setrole 王芳 宣传委员")).endswith("改为宣传委员。")
    assert "需要由" in only(await bot.send("/invite", user=BOB))
    assert only(await bot.send(f"/start join_{own_link}", user=DAVE)) == branches.MSG_INVITE_INVALID
    bob = await member_of(sessions, BOB)
    async with sessions() as session:
        revoked = await session.scalar(select(Invite.revoked_at).where(Invite.created_by == bob.id))
    assert revoked is not None


async def test_a_handed_over_secretary_loses_their_links_too(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    own_link = link_in(await bot.send("/invite")).removeprefix("join_")
    calls = await bot.send("/setrole 王芳 书记")
    (_, confirm), _ = buttons(messages(calls)[0])
    await bot.press(last_message(calls), confirm)
    assert only(await bot.send(f"/start join_{own_link}", user=DAVE)) == branches.MSG_INVITE_INVALID


async def test_leaving_the_bound_group_marks_the_member_inactive(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    assert Update.CHAT_MEMBER in ALLOWED_UPDATES
    before = await state(sessions)
    # someone leaving another group, or a stranger leaving ours, changes nothing
    assert await bot.process(bot.api.chat_member_update(OTHER_GROUP, CAROL, "member", "left", by=CAROL)) == []
    assert await bot.process(chat_member_update(bot, DAVE, "member", "left", by=DAVE)) == []
    assert await state(sessions) == before

    assert await bot.process(chat_member_update(bot, CAROL, "member", "left", by=CAROL)) == []  # silent
    assert not (await member_of(sessions, CAROL)).active
    assert only(await bot.send("/members", user=CAROL)) == branch_texts_inactive("第一党支部")

    # removed by a group admin: the officer's role and links go with it
    own_link = link_in(await bot.send("/invite", user=BOB)).removeprefix("join_")
    await bot.process(chat_member_update(bot, BOB, "member", "kicked", by=ALICE))
    bob = await member_of(sessions, BOB)
    assert (bob.active, bob.role) == (False, "党员")
    assert only(await bot.send(f"/start join_{own_link}", user=DAVE)) == branches.MSG_INVITE_INVALID

    # the 书记 stays: a branch always has one who can act
    await bot.process(chat_member_update(bot, ALICE, "administrator", "left", by=ALICE))
    assert (await member_of(sessions, ALICE)).active
    async with sessions() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.action.like("member.left%"))))
    assert actions == ["member.left_group", "member.left_group", "member.left_group"]


async def test_a_left_chat_member_message_also_marks_the_member_inactive(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    update = bot.api.chat_event({"left_chat_member": CAROL}, user=CAROL, chat=GROUP)
    assert await bot.process(update) == []
    assert not (await member_of(sessions, CAROL)).active


async def test_invite_revoke(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    first = link_in(await bot.send("/invite")).removeprefix("join_")
    second = link_in(await bot.send("/invite", user=BOB)).removeprefix("join_")
    assert "需要由" in only(await bot.send("/invite revoke", user=CAROL))
    done = only(await bot.send("/invite revoke", user=BOB))
    assert "已作废本支部 3 个" in done and "/invite" in done  # the two made here and the one `staffed` used
    for token in (first, second):
        assert only(await bot.send(f"/start join_{token}", user=DAVE)) == branches.MSG_INVITE_INVALID
    assert "没有" in only(await bot.send("/invite revoke"))  # nothing left to revoke
    fresh = link_in(await bot.send("/invite")).removeprefix("join_")
    assert "欢迎加入" in only(await bot.send(f"/start join_{fresh}", user=DAVE))


async def test_invite_tokens_are_stored_as_hashes(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    token = link_in(await bot.send("/invite")).removeprefix("join_")
    async with sessions() as session:
        row = (await session.execute(text("SELECT * FROM invite ORDER BY id DESC"))).mappings().first()
    assert row is not None
    assert token not in {str(value) for value in row.values()}
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()


async def test_existing_invite_tokens_are_migrated_to_hashes(database_url: str) -> None:
    await upgrade_database(database_url, "0005")
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO branch (name, timezone, created_at) VALUES ('第一党支部', 'Asia/Shanghai', :now)"),
            {"now": datetime.now(UTC)},
        )
        await connection.execute(
            text(
                "INSERT INTO invite (token, branch_id, expires_at, max_uses, uses, created_at) "
                "VALUES ('old_link_0123456789ab', 1, :later, 50, 0, :now)"
            ),
            {"later": datetime.now(UTC) + timedelta(days=3), "now": datetime.now(UTC)},
        )
    await engine.dispose()
    async with open_database(database_url) as sessions, sessions() as session:
        offer = await branches.open_invite(session, "old_link_0123456789ab", 4242, datetime.now(UTC))
        stored = await session.scalar(select(Invite.token_hash))
    assert offer.branch_name == "第一党支部"
    assert stored == hashlib.sha256(b"old_link_0123456789ab").hexdigest()


@pytest.mark.parametrize("role", [Role.ORGANIZATION, Role.SECRETARY])
async def test_nobody_else_can_pass_a_roster_officer_row_off_as_theirs(
    bot: ChatHarness, sessions: Sessions, staffed: Caller, role: Role
) -> None:
    """The role of an imported row never travels through the invite flow, whatever the row says."""
    if role == Role.SECRETARY:  # an operator's import may hold a 书记 row of a branch without one
        async with sessions() as session:
            await session.execute(text("UPDATE member SET role = '党员' WHERE role = '书记'"))
            await session.commit()
    row = await import_row(sessions, staffed, "赵六", role)
    token = await invite_token(sessions, staffed)
    await join_as_roster_entry(bot, token, DAVE, "赵六")
    assert (await member(sessions, row)).role == Role.MEMBER.value
    assert await role_of(sessions, "赵六") == "党员"


async def test_an_officer_removed_mid_conversation_is_stopped_at_the_next_step(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    """王芳 (组织委员) sends /kb, so the bot waits for her document; she is removed before she sends it."""
    assert "文件" in only(await bot.send("/kb", user=BOB))
    only(await bot.send("/remove 王芳"))
    upload = bot.api.user_document("第一条 本支部每周三学习。".encode(), "制度.txt", user=BOB)
    assert only(await bot.process(upload)) == branch_texts_inactive("第一党支部")
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM document"))).scalar_one() == 0
