"""The branch commands through the real Application: /setup, /invite, the join flow, /members, /setrole, /group and
the roster upload, each with its refusal matrix (role × chat) — allowed calls change the data, refused ones nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bot_api_objects import group_chat, make_user
from bot.models import AuditLog, Branch, Invite, Member, PartyGroup
from bot.services import branches
from bot.services.access import Caller
from bot.transport import ApiCall, BotApiSimulator
from handlers import branch_texts
from handlers.keyboards import Action, encode
from tests.branch.conftest import CAROL, DAVE, NOW
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

OTHER_GROUP = group_chat(-1009876543210, "别的群")

PEOPLE = {"书记": ALICE, "组织委员": BOB, "党员": CAROL, "非党员": DAVE}
CHATS: dict[str, dict[str, Any] | None] = {"私聊": None, "本支部群": GROUP, "别的群": OTHER_GROUP}
Sessions = async_sessionmaker[AsyncSession]


async def state(sessions: Sessions) -> tuple[object, ...]:
    """Everything the branch commands can change."""
    async with sessions() as session:
        rows = []
        for model in (Branch, Member, Invite, PartyGroup, AuditLog):
            rows.append(len((await session.scalars(select(model))).all()))
        people = await session.execute(
            select(Member.name, Member.role, Member.party_group_id, Member.branch_id).order_by(Member.id)
        )
        return (*rows, tuple(people.all()))


async def check_matrix(
    sessions: Sessions,
    allowed: set[tuple[str, str]],
    attempt: Callable[[int, dict[str, Any], dict[str, Any] | None], Awaitable[list[ApiCall]]],
) -> None:
    """Every person × chat: allowed ones change the data, refused ones change nothing and are answered."""
    for index, ((person, user), (chat_name, chat)) in enumerate(
        (person, chat) for person in PEOPLE.items() for chat in CHATS.items()
    ):
        before = await state(sessions)
        replies = messages(await attempt(index, user, chat))
        after = await state(sessions)
        case = f"{person} in {chat_name}"
        assert replies, f"no answer for {case}"
        if (person, chat_name) in allowed:
            assert after != before, f"{case} should have succeeded: {plain(replies[0])}"
        else:
            assert after == before, f"{case} should have been refused: {plain(replies[0])}"


def only(calls: list[ApiCall]) -> str:
    (reply,) = messages(calls)
    return plain(reply)


# --- /setup --------------------------------------------------------------------------------------------------------


async def test_setup_by_a_group_admin(bot: ChatHarness, api: BotApiSimulator, sessions: Sessions) -> None:
    assert only(await bot.send("/setup 第一党支部")) == branch_texts.SETUP_IN_GROUP
    api.chat_members[GROUP["id"]] = {ALICE["id"]: "administrator", BOB["id"]: "creator"}
    assert "/setup 第一党支部" in only(await bot.send("/setup", chat=GROUP))
    assert only(await bot.send("/setup 第一党支部", user=CAROL, chat=GROUP)) == branch_texts.SETUP_ADMINS_ONLY
    assert await state(sessions) == (0, 0, 0, 0, 0, ())

    done = only(await bot.send("/setup 第一党支部", chat=GROUP))
    assert done.startswith("已创建「第一党支部」") and "李明已登记为书记" in done
    async with sessions() as session:
        secretary = await session.scalar(select(Member))
        bound = await session.scalar(select(Branch))
    assert secretary is not None and (secretary.name, secretary.role, secretary.status) == ("李明", "书记", "正式党员")
    assert bound is not None and bound.chat_id == GROUP["id"]
    before = await state(sessions)
    assert "本群已绑定「第一党支部」" in only(await bot.send("/setup 第二党支部", user=BOB, chat=GROUP))
    assert await state(sessions) == before


async def test_setup_refusal_matrix(
    bot: ChatHarness, api: BotApiSimulator, sessions: Sessions, staffed: Caller
) -> None:
    for chat in (GROUP, OTHER_GROUP):
        api.chat_members[chat["id"]] = {user["id"]: "administrator" for user in PEOPLE.values()}

    async def attempt(index: int, user: dict[str, Any], chat: dict[str, Any] | None) -> list[ApiCall]:
        return await bot.send(f"/setup 支部{index}", user=user, chat=chat)

    await check_matrix(sessions, {("非党员", "别的群")}, attempt)


async def test_setup_uses_the_chinese_telegram_name(bot: ChatHarness, api: BotApiSimulator, sessions: Sessions) -> None:
    user = {**make_user(1010, "李"), "last_name": "明"}  # Telegram shows "李 明"
    api.chat_members[GROUP["id"]] = {user["id"]: "creator"}
    assert "李明已登记为书记" in only(await bot.send("/setup 第一党支部", user=user, chat=GROUP))


async def test_setup_by_an_anonymous_admin_is_refused(bot: ChatHarness, sessions: Sessions) -> None:
    update = bot.api.user_message("/setup 第一党支部", user=make_user(1087968824, "Group"), chat=GROUP)
    update["message"]["sender_chat"] = GROUP
    assert only(await bot.process(update)) == branch_texts.SETUP_NOT_ANONYMOUS
    assert await state(sessions) == (0, 0, 0, 0, 0, ())


# --- /invite -------------------------------------------------------------------------------------------------------


async def test_invite_refusal_matrix(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async def attempt(index: int, user: dict[str, Any], chat: dict[str, Any] | None) -> list[ApiCall]:
        return await bot.send("/invite", user=user, chat=chat)

    allowed = {(person, chat) for person in ("书记", "组织委员") for chat in ("私聊", "本支部群")}
    await check_matrix(sessions, allowed, attempt)


async def test_invite_link_and_expiry(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    text = only(await bot.send("/invite"))
    link = re.search(r"https://t\.me/partybot_local_bot\?start=(join_[A-Za-z0-9_-]{22})\s", text)
    assert link is not None and len(link.group(1)) <= 64
    async with sessions() as session:
        invite = await session.scalar(select(Invite).order_by(Invite.id.desc()).limit(1))
    assert invite is not None and invite.token_hash == branches.hash_token(link.group(1).removeprefix("join_"))
    local = branches.branch_time(staffed.branch, invite.expires_at)
    assert f"有效期至 {local.month}月{local.day}日" in text and f"{local.hour}:{local.minute:02d}" in text
    assert "最多 50 人使用" in text
    refusal = only(await bot.send("/invite", user=CAROL))
    assert "「生成邀请链接」需要由书记、副书记、组织委员操作" in refusal


# --- joining -------------------------------------------------------------------------------------------------------


async def invite_token(sessions: Sessions, caller: Caller, **changes: object) -> str:
    async with sessions() as session:
        # The bot checks invites against the real clock.
        invite = await branches.create_invite(session, caller, datetime.now(UTC))
        if changes:
            await session.execute(update(Invite).where(Invite.id == invite.id).values(**changes))
            await session.commit()
    return invite.token


def last_message(calls: list[ApiCall]) -> dict[str, Any]:
    return messages(calls)[-1].result


async def test_join_flow_with_party_groups(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async with sessions() as session:
        await branches.add_group(session, staffed, "第一党小组", NOW)
        await branches.add_group(session, staffed, "第二党小组", NOW)
    token = await invite_token(sessions, staffed)
    assert "欢迎加入「第一党支部」" in only(await bot.send(f"/start join_{token}", user=DAVE))
    assert "最多 20 个字" in only(await bot.send("赵" * 21, user=DAVE))
    calls = await bot.send("赵六", user=DAVE)
    assert [label for label, _ in buttons(messages(calls)[0])] == ["正式党员", "预备党员"]
    assert "请点击上方的按钮" in only(await bot.send("正式", user=DAVE))  # typing instead of pressing

    calls = await bot.press(last_message(calls), encode(Action.JOIN, "s.p"), user=DAVE)
    assert [call.method for call in calls][:2] == ["answerCallbackQuery", "editMessageReplyMarkup"]
    group_buttons = buttons(messages(calls)[0])
    assert [label for label, _ in group_buttons] == ["第一党小组", "第二党小组", "跳过"]
    calls = await bot.press(last_message(calls), group_buttons[1][1], user=DAVE)
    summary = plain(messages(calls)[0])
    assert "姓名：赵六" in summary and "身份：预备党员" in summary and "党小组：第二党小组" in summary
    before = await state(sessions)
    calls = await bot.press(last_message(calls), encode(Action.JOIN, "c.y"), user=DAVE)
    assert "登记成功" in plain(messages(calls)[0])

    async with sessions() as session:
        dave = await session.scalar(select(Member).where(Member.telegram_user_id == DAVE["id"]))
        uses = await session.scalar(select(Invite.uses).where(Invite.token_hash == branches.hash_token(token)))
    assert dave is not None and (dave.name, dave.status, dave.role) == ("赵六", "预备党员", "党员")
    assert uses == 1 and await state(sessions) != before

    stale = await bot.press(last_message(calls), encode(Action.JOIN, "c.y"), user=DAVE)
    assert [call.params.get("text") for call in stale] == [branch_texts.JOIN_BUTTON_STALE]
    assert "「第一党支部」" in only(await bot.send(f"/start join_{token}", user=DAVE))  # already registered


async def test_join_without_party_groups_skips_that_step(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    token = await invite_token(sessions, staffed)
    await bot.send(f"/start join_{token}", user=DAVE)
    calls = await bot.send("赵六", user=DAVE)
    calls = await bot.press(last_message(calls), encode(Action.JOIN, "s.f"), user=DAVE)
    assert "党小组：无党小组" in plain(messages(calls)[0])
    assert [label for label, _ in buttons(messages(calls)[0])] == ["确认登记", "取消"]


async def test_join_links_the_imported_roster_entry(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async with sessions() as session:
        group = await branches.add_group(session, staffed, "第一党小组", NOW)
        session.add(Member(branch_id=staffed.branch.id, name="赵六", role="宣传委员", party_group_id=group.id))
        await session.commit()
    token = await invite_token(sessions, staffed)
    await bot.send(f"/start join_{token}", user=DAVE)
    calls = await bot.send("赵六", user=DAVE)
    assert "支部名册中有：赵六（正式党员，第一党小组）" in plain(messages(calls)[0])
    members_before = (await state(sessions))[1]
    calls = await bot.press(last_message(calls), encode(Action.JOIN, "l.y"), user=DAVE)
    assert "登记成功" in plain(messages(calls)[0])
    async with sessions() as session:
        linked = await session.scalar(select(Member).where(Member.telegram_user_id == DAVE["id"]))
    # the entry is linked (no second 赵六); its office waits for the 书记 (tests/branch/test_membership.py)
    assert linked is not None and linked.party_group_id == group.id and linked.role == "党员"
    assert (await state(sessions))[1] == members_before


async def test_join_can_decline_the_roster_entry_and_cancel(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    async with sessions() as session:
        session.add(Member(branch_id=staffed.branch.id, name="赵六"))
        await session.commit()
    token = await invite_token(sessions, staffed)
    await bot.send(f"/start join_{token}", user=DAVE)
    calls = await bot.send("赵六", user=DAVE)
    calls = await bot.press(last_message(calls), encode(Action.JOIN, "l.n"), user=DAVE)
    assert "请选择您的身份" in plain(messages(calls)[0])
    before = await state(sessions)
    assert only(await bot.send("/cancel", user=DAVE)) == branch_texts.JOIN_CANCELLED
    assert await state(sessions) == before
    stale = await bot.press(last_message(calls), encode(Action.JOIN, "s.f"), user=DAVE)
    assert [call.params.get("text") for call in stale] == [branch_texts.JOIN_BUTTON_STALE]


@pytest.mark.parametrize(
    "changes",
    [{"expires_at": datetime.now(UTC) - timedelta(seconds=1)}, {"uses": 50}, {"token": "forged_0123456789abcdef"}],
    ids=["expired", "used-up", "forged"],
)
async def test_join_with_an_invalid_link_is_refused(
    bot: ChatHarness, sessions: Sessions, staffed: Caller, changes: dict[str, object]
) -> None:
    token = await invite_token(sessions, staffed, **{k: v for k, v in changes.items() if k != "token"})
    if "token" in changes:
        token = str(changes["token"])
    before = await state(sessions)
    assert only(await bot.send(f"/start join_{token}", user=DAVE)) == branches.MSG_INVITE_INVALID
    assert await state(sessions) == before


async def test_join_link_in_a_group_points_to_the_private_chat(bot: ChatHarness, staffed: Caller) -> None:
    assert only(await bot.send("/start join_abc", user=DAVE, chat=GROUP)) == branch_texts.JOIN_OPEN_IN_PRIVATE


# --- /members ------------------------------------------------------------------------------------------------------


async def test_members_lists_counts_and_groups(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async with sessions() as session:
        await branches.add_group(session, staffed, "第一党小组", NOW)
        bob = await session.scalar(select(Member.id).where(Member.name == "王芳"))
        await branches.assign_group(session, staffed, bob, "第一党小组", NOW)
        session.add(Member(branch_id=staffed.branch.id, name="孙七", status="预备党员"))
        await session.commit()
    for chat in (None, GROUP):
        lines = only(await bot.send("/members", user=CAROL, chat=chat)).splitlines()
        assert lines[:2] == ["第一党支部", "正式党员 3 名、预备党员 1 名"]
        assert lines[2:] == [
            "",
            "第一党小组",
            "• 王芳 · 正式党员 · 组织委员",
            "",
            "无党小组",
            "• 李明 · 正式党员 · 书记",
            "• 张三 · 正式党员 · 党员",
            "• 孙七 · 预备党员 · 党员（未登记）",
        ]
    assert "这个群不是您所在支部绑定的群" in only(await bot.send("/members", user=CAROL, chat=OTHER_GROUP))
    assert "还没有在本助手登记" in only(await bot.send("/members", user=DAVE))


# --- /setrole ------------------------------------------------------------------------------------------------------


async def test_setrole_refusal_matrix(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    rotation = ["宣传委员", "纪检委员", "党小组长", "副书记"]

    async def attempt(index: int, user: dict[str, Any], chat: dict[str, Any] | None) -> list[ApiCall]:
        return await bot.send(f"/setrole 张三 {rotation[index % len(rotation)]}", user=user, chat=chat)

    await check_matrix(sessions, {("书记", "私聊"), ("书记", "本支部群")}, attempt)


async def said_in_group(bot: ChatHarness, user: dict[str, Any]) -> int:
    """The id of a plain message ``user`` posts in the branch's group (the bot stays silent)."""
    update = bot.api.user_message("收到", user=user, chat=GROUP)
    assert await bot.process(update) == []
    return int(update["message"]["message_id"])


async def role_of(sessions: Sessions, name: str) -> str | None:
    async with sessions() as session:
        return await session.scalar(select(Member.role).where(Member.name == name))


async def test_setrole_by_name_by_reply_and_its_usage(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    assert only(await bot.send("/setrole 张三 宣传委员")) == "已将张三的职务由党员改为宣传委员。"
    assert "没有「主任」这个职务" in only(await bot.send("/setrole 张三 主任"))
    assert "没有「钱八」" in only(await bot.send("/setrole 钱八 党员"))
    assert "用法" in only(await bot.send("/setrole"))
    assert "支部不能没有书记" in only(await bot.send("/setrole 李明 党员"))

    said = await said_in_group(bot, CAROL)
    assert only(await bot.send("/setrole 纪检委员", chat=GROUP, reply_to=said)).endswith("改为纪检委员。")
    assert await role_of(sessions, "张三") == "纪检委员"
    stranger = await said_in_group(bot, DAVE)
    reply = only(await bot.send("/setrole 党员", chat=GROUP, reply_to=stranger))
    assert reply == branch_texts.REPLIED_NOT_MEMBER


async def test_setrole_with_a_repeated_name_offers_buttons(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    async with sessions() as session:
        session.add(Member(branch_id=staffed.branch.id, name="张三"))
        await session.commit()
    calls = await bot.send("/setrole 张三 宣传委员")
    choices = buttons(messages(calls)[0])
    assert "有 2 位「张三」" in plain(messages(calls)[0]) and len(choices) == 2
    assert all(len(data.encode()) <= 64 for _, data in choices)
    prompt = last_message(calls)
    refused = await bot.press(prompt, choices[1][1], user=BOB)  # only the 书记 may press
    assert "需要由书记操作" in refused[0].params["text"]
    calls = await bot.press(prompt, choices[1][1])
    assert calls[-1].method == "editMessageText" and plain(calls[-1]).endswith("改为宣传委员。")
    async with sessions() as session:
        roles = (await session.scalars(select(Member.role).where(Member.name == "张三").order_by(Member.id))).all()
    assert roles == ["党员", "宣传委员"]
    forged = await bot.press(prompt, encode(Action.MEMBER, "p.abc.党员"))
    assert forged[0].params.get("text") == branch_texts.MEMBER_BUTTON_STALE


async def test_handing_over_the_secretary_role_needs_a_confirmation(
    bot: ChatHarness, sessions: Sessions, staffed: Caller
) -> None:
    calls = await bot.send("/setrole 王芳 书记")
    assert "确认把书记职务移交给王芳吗" in plain(messages(calls)[0])
    confirm, cancel = buttons(messages(calls)[0])
    assert await role_of(sessions, "王芳") == "组织委员"
    cancelled = await bot.press(last_message(calls), cancel[1])
    assert plain(cancelled[-1]) == branch_texts.SETROLE_CANCELLED
    calls = await bot.send("/setrole 王芳 书记")
    done = await bot.press(last_message(calls), buttons(messages(calls)[0])[0][1])
    assert plain(done[-1]) == "书记已移交给王芳，您现在是党员。"
    assert (await role_of(sessions, "王芳"), await role_of(sessions, "李明")) == ("书记", "党员")
    again = await bot.press(last_message(calls), confirm[1])  # the old 书记 presses once more
    assert "需要由书记操作" in again[0].params["text"]
    assert (await role_of(sessions, "王芳"), await role_of(sessions, "李明")) == ("书记", "党员")


# --- /group --------------------------------------------------------------------------------------------------------


async def test_group_refusal_matrix(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async def attempt(index: int, user: dict[str, Any], chat: dict[str, Any] | None) -> list[ApiCall]:
        return await bot.send(f"/group add 第{index}党小组", user=user, chat=chat)

    allowed = {(person, chat) for person in ("书记", "组织委员") for chat in ("私聊", "本支部群")}
    await check_matrix(sessions, allowed, attempt)


async def test_group_add_and_set(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    assert "现有党小组：无" in only(await bot.send("/group"))
    assert only(await bot.send("/group add 第一党小组", user=BOB)) == "已添加党小组「第一党小组」。"
    assert "已有「第一党小组」" in only(await bot.send("/group add 第一党小组"))
    assert only(await bot.send("/group set 张三 第一党小组")) == "已将张三编入「第一党小组」。"
    assert "没有「第九党小组」" in only(await bot.send("/group set 张三 第九党小组"))
    said = await said_in_group(bot, BOB)
    assert only(await bot.send("/group set 第一党小组", chat=GROUP, reply_to=said)).startswith("已将王芳")
    async with sessions() as session:
        grouped = (await session.scalars(select(Member.name).where(Member.party_group_id.is_not(None)))).all()
    assert sorted(grouped) == ["张三", "王芳"]
    assert "现有党小组：第一党小组" in only(await bot.send("/group"))


# --- roster upload -------------------------------------------------------------------------------------------------


async def upload(
    bot: ChatHarness, content: bytes, name: str, *, user: dict[str, Any] = ALICE, chat: Any = None, caption: str | None
) -> list[ApiCall]:
    return await bot.process(bot.api.user_document(content, name, user=user, chat=chat, caption=caption))


async def test_roster_upload_refusal_matrix(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    async def attempt(index: int, user: dict[str, Any], chat: dict[str, Any] | None) -> list[ApiCall]:
        return await upload(bot, f"姓名\n新党员{index}\n".encode(), "名册.csv", user=user, chat=chat, caption="/import")

    await check_matrix(sessions, {("书记", "私聊")}, attempt)


async def test_import_command_then_file(bot: ChatHarness, sessions: Sessions, staffed: Caller) -> None:
    assert "请发送党员名册文件" in only(await bot.send("/import"))
    assert only(await bot.send("好的")) == branch_texts.IMPORT_WAITING
    wrong = only(await upload(bot, b"...", "名册.docx", caption=None))
    assert "只能导入 .csv 或 .xlsx 文件" in wrong
    before = await state(sessions)
    bad = only(await upload(bot, "姓名,状态\n钱八,积极分子\n张三,正式\n".encode("gbk"), "名册.csv", caption=None))
    assert "没有导入任何人" in bad
    assert "第 2 行：状态「积极分子」无法识别" in bad and "第 3 行：「张三」已在本支部名单中" in bad
    assert await state(sessions) == before
    good = only(await upload(bot, "姓名,党小组\n钱八,第一党小组\n孙七,\n".encode("gbk"), "名册.csv", caption=None))
    assert good.startswith("已导入 2 名党员。新建党小组：第一党小组。")
    assert only(await bot.send("好的")) != branch_texts.IMPORT_WAITING  # the conversation is over


async def test_import_xlsx_with_caption_and_cancel(
    bot: ChatHarness, sessions: Sessions, staffed: Caller, tmp_path: Path
) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["姓名", "状态", "职务"])
    workbook.active.append(["钱八", "预备党员", "党小组长"])
    workbook.save(tmp_path / "名册.xlsx")
    content = (tmp_path / "名册.xlsx").read_bytes()
    assert only(await upload(bot, content, "名册.xlsx", caption="/import")).startswith("已导入 1 名党员。")
    assert await role_of(sessions, "钱八") == "党小组长"
    assert "请发送党员名册文件" in only(await bot.send("/import"))
    assert only(await bot.send("/cancel")) == branch_texts.IMPORT_CANCELLED
    assert "私聊" in only(await bot.send("/import", chat=GROUP))
