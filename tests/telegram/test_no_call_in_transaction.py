"""No Bot API call while a handler holds the database: every call to Telegram is made with the connection released.

On SQLite each process has one pooled connection and every transaction starts with BEGIN IMMEDIATE, so a handler
that awaits Telegram (50–300 ms) inside an open session makes every other user's database work wait that long. The
transport below looks at the Application's engine at each call (a request or a file download) and records the
call if a connection is checked out. A broad script drives the real Application through the main success, usage
and refusal paths of every area; afterwards nothing may have been recorded. The script sends one update at a time
and waits for background work (a knowledge rebuild after /kb), so a connection out during a call is the calling
handler's. SQLite only: the invariant is about its single connection.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram.ext import Application

from bot.app import _ENGINE_KEY, build_application, serving
from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.models import ActivityKind
from bot.transport import ApiCall, BotApiSimulator, InProcessBotApi
from handlers import common
from handlers.keyboards import Action, encode
from handlers.qa import REBUILD_TASK_KEY
from knowledge.answer import Answerer
from tests.checkin.conftest import (
    LEADER,
    MEMBER_TWO,
    ORGANIZER,
    OTHER_GROUP,
    OUTSIDER,
    PROBATIONER,
    PROPAGANDIST,
    World,
    seed,
    soon,
)
from tests.telegram.helpers import ALICE, BOB, GROUP, ChatHarness, buttons, messages, plain

STRANGER = make_user(3002, "过客")  # never registered (OUTSIDER joins during the script)
FOUNDER = make_user(4001, "吴刚")  # sets up a third branch
NEW_GROUP = group_chat(-1005550000001, "第三党支部")
HANDLERS_DIR = f"{Path(__file__).parents[2] / 'handlers'}"
SERVICES_DIR = f"{Path(__file__).parents[2] / 'bot' / 'services'}"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only (overrides the sqlite/postgresql parametrisation): the invariant is about its one connection."""
    return f"sqlite+aiosqlite:///{tmp_path / 'partybot.db'}"


@dataclass(frozen=True, slots=True)
class Violation:
    step: str
    call: str
    where: str

    def __str__(self) -> str:
        return f"{self.step}: {self.call} from {self.where}"


class GuardedBotApi(InProcessBotApi):
    """The in-process Bot API, recording every call made while the Application's engine has a connection out."""

    def __init__(self, api: BotApiSimulator) -> None:
        super().__init__(api)
        self.app: Application | None = None
        self.step = "start-up"
        self.checked = 0  # calls made while the engine existed
        self.violations: list[Violation] = []

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        engine: AsyncEngine | None = self.app.bot_data.get(_ENGINE_KEY) if self.app is not None else None
        if engine is not None:
            self.checked += 1
            if engine.sync_engine.pool.checkedout():
                call = url.rsplit("/", 1)[-1] if method == "POST" else "file download"
                self.violations.append(Violation(self.step, call, _caller()))
        return await super().do_request(url, method, *args, **kwargs)


def _caller() -> str:
    """The handler (and service) frames that made the call, innermost first."""
    ours = [
        f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_stack()
        if frame.filename.startswith((HANDLERS_DIR, SERVICES_DIR))
    ]
    return " <- ".join(reversed(ours)) or "(no handler frame)"


@pytest.fixture
async def guarded(database_url: str, fixed_answerer: Answerer) -> AsyncIterator[tuple[ChatHarness, GuardedBotApi]]:
    """The real Application over the guarded transport, with the three groups known to the simulator."""
    api = BotApiSimulator()
    request = GuardedBotApi(api)
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=request, answerer=fixed_answerer)
    request.app = app
    async with serving(app):
        for chat in (GROUP, OTHER_GROUP, NEW_GROUP):  # the bot can post only in chats it has seen
            api.user_message("（群消息）", user=STRANGER, chat=chat)
        api.take_outgoing()
        yield ChatHarness(app, api), request


@dataclass
class Script:
    """Sends the steps, names each one for the guard, and checks that each took the path it is meant to take."""

    bot: ChatHarness
    guard: GuardedBotApi
    world: World
    steps: list[str] = field(default_factory=list)

    async def send(
        self,
        text: str,
        expect: str,
        *,
        user: dict[str, Any] = ALICE,
        chat: dict[str, Any] | None = None,
    ) -> list[ApiCall]:
        update = self.bot.api.user_message(text, user=user, chat=chat)
        where = f" in {chat['title']}" if chat else ""
        return await self._run(f"{user['first_name']}{where}: {text[:40]}", update, expect)

    async def press(
        self, message: dict[str, Any], data: str, expect: str, *, user: dict[str, Any] = ALICE
    ) -> list[ApiCall]:
        update = self.bot.api.button_press(message["chat"]["id"], message["message_id"], data, user=user)
        return await self._run(f"{user['first_name']} presses {data}", update, expect)

    async def document(
        self,
        content: bytes,
        name: str,
        caption: str | None,
        expect: str,
        *,
        user: dict[str, Any] = ALICE,
        chat: dict[str, Any] | None = None,
    ) -> list[ApiCall]:
        update = self.bot.api.user_document(content, name, user=user, chat=chat, caption=caption)
        where = f" in {chat['title']}" if chat else ""
        return await self._run(f"{user['first_name']}{where} sends {name} ({caption})", update, expect)

    async def _run(self, step: str, update: dict[str, Any], expect: str) -> list[ApiCall]:
        self.guard.step = step
        self.steps.append(step)
        calls = await self.bot.process(update)
        await self._background_work()
        seen = "\n".join(_visible(call) for call in calls)
        assert expect in seen, f"{step}: expected {expect!r} in the answer, got:\n{seen}"
        return calls

    async def _background_work(self) -> None:
        """Wait for a knowledge rebuild (/kb): it reads the database beside the next update's handler."""
        task = self.bot.app.bot_data.get(REBUILD_TASK_KEY)
        if task is not None:
            await task


def _visible(call: ApiCall) -> str:
    """What a user sees of a call: a message's text, a document's caption, an alert's text (else the method)."""
    if isinstance(call.params.get("text"), str):
        return plain(call)
    return call.params.get("caption") or call.method


def _last(calls: list[ApiCall]) -> dict[str, Any]:
    """The last message the bot sent (to press its buttons)."""
    return messages(calls)[-1].result


def _button(calls: list[ApiCall], label: str) -> str:
    (data,) = [data for call in calls for text, data in buttons(call) if label in text]
    return data


def _numbered(calls: list[ApiCall]) -> int:
    """The id in "编号 N" of an answer (a new activity, an uploaded document)."""
    found = re.search(r"编号 (\d+)", "\n".join(_visible(call) for call in calls))
    assert found is not None
    return int(found[1])


# -- the script, area by area ---------------------------------------------------------------------------------------


async def _start_and_help(s: Script) -> None:
    for user in (ALICE, BOB, ORGANIZER, LEADER, PROBATIONER, PROPAGANDIST, MEMBER_TWO, OUTSIDER, STRANGER, FOUNDER):
        await s.send("/start", "您好", user=user)  # also opens each private chat for the bot's private messages
    await s.send("/help", "/new")
    await s.send("/nosuchcommand", "没有这个命令")
    await s.send("支委会多久开一次", "每月")
    await s.send("/ask 党员大会多久开一次", "每季度")


async def _branches(s: Script) -> None:
    await s.send("/setup 第三党支部", "群里", user=FOUNDER)
    s.bot.api.chat_members[NEW_GROUP["id"]] = {FOUNDER["id"]: "administrator"}
    s.bot.api.chat_members[GROUP["id"]] = {ALICE["id"]: "administrator"}
    await s.send("/setup 第三党支部", "已创建「第三党支部」", user=FOUNDER, chat=NEW_GROUP)
    await s.send("/setup 另一个支部", "已绑定", chat=GROUP)
    await s.send("/setup 第四党支部", "管理员", user=BOB, chat=GROUP)

    invite = await s.send("/invite", "https://t.me/")
    token = re.search(r"start=(join_\S+)", plain(messages(invite)[0]))
    assert token is not None
    await s.send("/invite", "需要由", user=BOB)
    await s.send("/start join_nonsense", "邀请链接", user=STRANGER)
    await s.send(f"/start {token[1]}", "欢迎加入", user=OUTSIDER)
    calls = await s.send("钱七", "请选择您的身份", user=OUTSIDER)
    calls = await s.press(_last(calls), encode(Action.JOIN, "s.f"), "党小组", user=OUTSIDER)
    calls = await s.press(_last(calls), encode(Action.JOIN, "g.0"), "确认", user=OUTSIDER)
    await s.press(_last(calls), encode(Action.JOIN, "c.y"), "登记成功", user=OUTSIDER)

    await s.send("/members", "钱七", user=BOB)
    await s.send("/members", "您还没有在本助手登记", user=STRANGER)

    await s.send("/setrole", "用法")
    await s.send("/setrole 王芳 主任", "没有「主任」")
    await s.send("/setrole 周敏 纪检委员", "改为纪检委员")
    calls = await s.send("/setrole 王芳 书记", "移交")
    await s.press(_last(calls), encode(Action.MEMBER, "x"), "需要由书记操作", user=BOB)
    await s.press(_last(calls), encode(Action.MEMBER, "x"), "取消")
    await s.send("/setrole 周敏 党员", "需要由书记操作", user=BOB)

    await s.send("/group", "现有党小组")
    await s.send("/group add 第三党小组", "已添加")
    await s.send("/group set 周敏 第三党小组", "已将周敏编入")
    await s.send("/group add 第四党小组", "需要由", user=BOB)

    await s.send("/import", "私聊", chat=GROUP)
    await s.document("姓名\n孙七\n".encode(), "名册.csv", "/import", "已导入 1 名党员")
    await s.document("姓名\n孙八\n".encode(), "名册.csv", "/import", "需要由书记操作", user=BOB)


async def _activities(s: Script) -> None:
    posted = await s.send("/new 支委会 2099-12-03 15:00 会议室 学习党章", "已发布", chat=GROUP)
    planned = _numbered(posted)
    await s.send("/new 预览 支委会 2099-12-04 15:00 会议室 学习党章", "预览")
    await s.send("/new 支委会 哪天都行", "看不懂")
    await s.send("/new 支委会 2099-12-03 15:00 会议室 学习党章", "需要由", user=BOB)

    calls = await s.send("/new", "请选择活动类型")
    kinds = _last(calls)
    calls = await s.press(kinds, _button(calls, "支委会"), "是否同时作为")
    await s.press(kinds, _button(calls, "下一步"), "日期")
    await s.send("2099-12-05", "时间")
    await s.send("15:00", "地点")
    await s.send("会议室", "主题")
    calls = await s.send("研究发展党员工作", "请确认")
    created = await s.press(_last(calls), _button(calls, "确认发布"), "编号")
    second = _numbered(created)
    await s.send("/new", "请选择活动类型", user=ORGANIZER)
    await s.send("/cancel", "已退出", user=ORGANIZER)

    last_month = (datetime.now(UTC) - timedelta(days=20)).strftime("%Y-%m-%d")
    await s.send("/record", "补录已开过的会")
    await s.send(f"/record 支委会 {last_month} 15:00 会议室 补录的会", "已补录")
    await s.send(f"/record 支委会 {last_month} 16:00 会议室 补录的会", "需要由", user=BOB)

    await s.send("/activities", "学习党章", user=BOB)
    await s.send("/activities", "您还没有在本助手登记", user=STRANGER)

    await s.send("/move", "请写上活动编号和新时间")
    await s.send(f"/move {planned} 2099-12-06 15:00", "已改到")
    await s.send("/move 999999 2099-12-06 15:00", "编号为 999999")
    await s.send(f"/move {planned} 2099-12-07 15:00", "需要由", user=BOB)

    await s.send("/cancel", "请写上活动编号")
    await s.send(f"/cancel {second}", "已取消")
    await s.send("/cancel 999999", "编号为 999999")

    held = [await s.world.add_activity(ActivityKind.COMMITTEE_MEETING, soon() - timedelta(hours=3)) for _ in "abc"]
    await s.send("/done", "请写上活动编号")
    await s.send(f"/done {held[0]} 学习了党章", "纪要")
    await s.send(f"/done {held[1]}", "请发送")
    await s.send("会议纪要：大家发言踊跃", "纪要")
    await s.send(f"/done {held[2]}", "请发送")
    await s.document(b"%PDF-1.4", "minutes.pdf", None, "minutes.pdf")
    await s.send(f"/done {planned} 提前写的纪要", "还没", user=ORGANIZER)
    await s.send(f"/done {held[0]} 纪要", "需要由", user=BOB)


async def _checkin(s: Script) -> None:
    meeting = await s.world.add_activity(ActivityKind.MEMBERS_MEETING, soon())
    coded = await s.world.add_activity(ActivityKind.PARTY_LECTURE, soon(), checkin_code="4827")
    post = _last(await s.send("/activities", "学习党章", chat=GROUP))  # buttons can be pressed under any bot message
    await s.press(post, encode(Action.CHECKIN, str(meeting)), "签到成功", user=BOB)
    await s.press(post, encode(Action.CHECKIN, str(meeting)), "已签到", user=BOB)
    await s.press(post, encode(Action.CHECKIN, str(meeting)), "您还没有在本助手登记", user=STRANGER)
    await s.press(post, encode(Action.CHECKIN, "abc"), "按钮已失效", user=BOB)
    reasons = _last(await s.press(post, encode(Action.LEAVE, str(meeting)), "私聊", user=MEMBER_TWO))
    await s.press(post, encode(Action.LEAVE, "999999"), "找不到这次会议", user=MEMBER_TWO)
    await s.press(reasons, encode(Action.LEAVE_REASON, f"{meeting}.出差"), "已为您登记请假", user=MEMBER_TWO)
    await s.send("去北京培训", "已记下", user=MEMBER_TWO)
    await s.press(reasons, encode(Action.LEAVE_REASON, f"{meeting}.-"), "请假已登记", user=MEMBER_TWO)

    await s.send("/checkin", "私聊", chat=GROUP)
    await s.send("/checkin", "请选择", user=LEADER)
    await s.send("/checkin 4827", "签到成功", user=PROBATIONER)
    await s.send("/checkin 0000", "签到码不对", user=PROPAGANDIST)
    await s.send("/checkin", "您还没有在本助手登记", user=STRANGER)

    await s.send("/leave", "私聊", chat=GROUP)
    await s.send("/leave", "请选择", user=PROPAGANDIST)
    await s.send("/leave 出差 " + "远" * 101, "100 字以内", user=PROPAGANDIST)
    await s.send("/leave", "您还没有在本助手登记", user=STRANGER)

    await s.send("/proxy", "用法")
    await s.send(f"/proxy {meeting} 赵强", "已为 赵强 签到")
    await s.send(f"/proxy {meeting} 刘洋 请假 生病 " + "病" * 101, "100 字以内")
    await s.send(f"/proxy {meeting} 刘洋 请假 生病 发烧", "已为 刘洋 登记请假")
    await s.send("/proxy 999999 刘洋", "编号为 999999")
    await s.send(f"/proxy {meeting} 无此人", "没有名叫「无此人」")
    await s.send(f"/proxy {meeting} 周敏", "需要由", user=BOB)

    await s.send("/code", "用法")
    await s.send(f"/code {meeting}", "私聊", chat=GROUP)
    await s.send(f"/code {coded}", "签到码")
    await s.send(f"/code {coded} off", "已关闭")
    await s.send("/code 999999", "编号为 999999")
    await s.send(f"/code {meeting}", "需要由", user=BOB)

    await s.send("/attendance", "用法")
    await s.send(f"/attendance {meeting}", "应到")
    await s.send("/attendance 999999", "编号为 999999")
    await s.send(f"/attendance {meeting}", "需要由", user=BOB)


async def _progress(s: Script) -> None:
    await s.send("/progress", "支委会", user=BOB)
    await s.send("/progress", "您还没有在本助手登记", user=STRANGER)

    await s.send("/require", "支委会", user=BOB)
    await s.send("/require 支委会", "用法")
    await s.send("/require 不存在 2", "没有")
    await s.send("/require 支委会 很多", "1 到 99")
    await s.send("/require 支委会 0", "不能低于")
    await s.send("/require 支委会 2", "已设置")
    await s.send("/require 支委会 3", "需要由书记操作", user=BOB)

    await s.send("/export csv", "台账")
    await s.send("/export", "已私信发给您", chat=GROUP)
    await s.send("/export 2026Q1 2026Q2", "参数太多")
    await s.send("/export 明年", "看不懂统计期")
    await s.send("/export", "需要由", user=BOB)


async def _knowledge(s: Script) -> None:
    await s.send("/kb", "本支部")
    added = await s.document("党员活动室每周三开放。".encode(), "duty.txt", None, "已添加")
    document_id = _numbered(added)
    await s.document("第二份资料。".encode(), "second.txt", "/kb 第二份", "已添加", user=ORGANIZER)
    await s.document("不许上传。".encode(), "no.txt", "/kb", "需要由", user=BOB)
    await s.send("/kb remove 999999", "没有编号为 999999")
    await s.send(f"/kb remove {document_id}", "已删除")
    await s.send("/kb delete 1", "用法")
    await s.send("/kb", "私聊", chat=GROUP)
    await s.send("/kb remove 1", "私聊", chat=GROUP)
    await s.document("群里发的。".encode(), "group.txt", "/kb", "私聊", chat=GROUP)
    await s.send("/kb", "需要由", user=BOB)


async def _reminders(s: Script) -> None:
    await s.send("/themeday", "还没有设置主题党日", user=BOB)
    await s.send("/themeday 每周五", "没看懂")
    await s.send("/themeday 每月第一个周五 提前", "已设置")
    await s.send("/themeday", "接下来三次", user=BOB, chat=GROUP)
    await s.send("/themeday 取消", "已取消")
    await s.send("/themeday 每月15日", "需要由", user=BOB)
    await s.send("/themeday", "您还没有在本助手登记", user=STRANGER)

    await s.send("/remind", "目前是开启的", user=BOB)
    await s.send("/remind off", "已关闭", user=BOB)
    await s.send("/remind on", "已开启", user=BOB, chat=GROUP)
    await s.send("/remind off", "您还没有在本助手登记", user=STRANGER)

    await s.send("/reminders", "私聊", chat=GROUP)
    await s.send("/reminders", "提醒概况")
    await s.send("/reminders", "需要由", user=BOB)
    post = _last(await s.send("/help", "/new"))
    await s.press(post, encode(Action.SNOOZE, "123"), "按钮已失效")
    await s.press(post, encode(Action.SNOOZE, "abc"), "按钮已失效")


async def test_no_bot_api_call_while_a_connection_is_checked_out(
    guarded: tuple[ChatHarness, GuardedBotApi], sessions: async_sessionmaker[AsyncSession]
) -> None:
    bot, guard = guarded
    script = Script(bot, guard, await seed(sessions))
    for area in (_start_and_help, _branches, _activities, _checkin, _progress, _knowledge, _reminders):
        await area(script)
    assert guard.checked > len(script.steps)  # the guard saw the calls (every step answers at least once)
    assert not bot.failed_calls(), bot.failed_calls()
    listed = "\n".join(f"  {violation}" for violation in guard.violations)
    assert not guard.violations, f"{len(guard.violations)} Bot API calls made inside a transaction:\n{listed}"


async def test_the_guard_sees_a_call_inside_a_transaction(guarded: tuple[ChatHarness, GuardedBotApi]) -> None:
    bot, guard = guarded
    async with bot.app.bot_data[common.SESSIONS_KEY]() as session:
        await session.connection()  # the session holds the one connection from here on
        await bot.app.bot.send_message(GROUP["id"], "测试")
    await bot.app.bot.send_message(GROUP["id"], "测试")
    assert [violation.call for violation in guard.violations] == ["sendMessage"]
