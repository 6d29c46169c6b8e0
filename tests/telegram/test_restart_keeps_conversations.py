"""A restart in the middle of a guided conversation keeps the person's step and draft (bot.persistence).

Each test runs the real Application, stops it (as a deploy does), then builds and starts a new one on the same
database and the same simulated Telegram, and carries on where the person left off.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import _ENGINE_KEY, build_application, serving
from bot.bot_api_objects import make_user
from bot.config import Settings
from bot.models import (
    Activity,
    ActivityKind,
    ActivityKindLink,
    Attendance,
    ConversationState,
    ConversationStateKind,
    Member,
)
from bot.services import branches
from bot.services.access import Caller
from bot.services.branch_setup import setup_branch
from bot.transport import ApiCall, BotApiSimulator, InProcessBotApi
from handlers import activities, activities_texts, branch_texts, checkin, checkin_texts
from handlers.keyboards import Action, encode
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, GROUP, ChatHarness, buttons, messages, plain

DAVE = make_user(1004, "赵六")  # joins by invite link
SHANGHAI = ZoneInfo("Asia/Shanghai")
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def api() -> BotApiSimulator:
    """One simulated Telegram for every run of the bot in a test: the messages with buttons outlive the restart."""
    return BotApiSimulator()


@pytest.fixture
async def branch(sessions: Sessions, api: BotApiSimulator) -> Caller:
    """第一党支部, bound to GROUP, with ALICE (李明) as its 书记."""
    api.user_message("（群消息）", user=DAVE, chat=GROUP)  # the bot can post only in chats it has seen
    async with sessions() as session:
        return await setup_branch(
            session,
            name="第一党支部",
            chat_id=GROUP["id"],
            telegram_user_id=ALICE["id"],
            member_name="李明",
            now=datetime.now(UTC),
        )


@asynccontextmanager
async def running(database_url: str, api: BotApiSimulator) -> AsyncIterator[ChatHarness]:
    """A new Application on the database: built, started, and at the end stopped like a deploy stops it."""
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]))
    async with serving(app):
        api.take_outgoing()  # start-up calls are not part of the conversation
        yield ChatHarness(app, api)


async def stored_rows(sessions: Sessions) -> list[tuple[str, str, str]]:
    async with sessions() as session:
        rows = await session.execute(select(ConversationState.kind, ConversationState.name, ConversationState.key))
        return sorted(tuple(row) for row in rows.all())


async def add_meeting(sessions: Sessions, branch: Caller) -> int:
    """A 党员大会 of the branch whose check-in window is open (leave can be asked for)."""
    async with sessions.begin() as session:
        meeting = Activity(
            branch_id=branch.branch.id,
            kind=ActivityKind.MEMBERS_MEETING,
            starts_at=datetime.now(UTC) + timedelta(minutes=10),
        )
        session.add(meeting)
        await session.flush()
        assert meeting.id is not None
        session.add(ActivityKindLink(activity_id=meeting.id, kind=ActivityKind.MEMBERS_MEETING))
        return meeting.id


def _data(call: ApiCall, label: str) -> str:
    """The callback data of the button whose label contains ``label``."""
    (data,) = [data for text, data in buttons(call) if label in text]
    return data


async def test_the_new_flow_continues_after_a_restart(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller
) -> None:
    async with running(database_url, api) as bot:
        kinds = messages(await bot.send("/new"))[0]
        (edit,) = [c for c in await bot.press(kinds.result, _data(kinds, "支委会")) if c.method == "editMessageText"]
        assert plain(messages(await bot.press(kinds.result, _data(edit, "下一步")))[0]) == activities_texts.ASK_DATE
        assert plain(messages(await bot.send("2099-12-03"))[0]) == activities_texts.ASK_TIME
        assert "地点" in plain(messages(await bot.send("下午3点"))[0])
        # the periodic write (every few seconds) already holds the step and the draft: a crash would keep them
        await bot.app.update_persistence()
        assert await stored_rows(sessions) == [
            ("conversation", "new_activity", f"[{ALICE['id']}, {ALICE['id']}]"),
            ("user_data", "", str(ALICE["id"])),
        ]

    async with running(database_url, api) as bot:  # a new process: the flow is asked for the place, as before
        assert "主题" in plain(messages(await bot.send("党员活动室"))[0])
        confirm = messages(await bot.send("研究发展党员工作"))[0]
        assert "2099年12月3日（周四）15:00" in plain(confirm)  # the date and time from before the restart
        calls = await bot.press(confirm.result, _data(confirm, activities_texts.CONFIRM_BUTTON))
        assert [c for c in messages(calls) if c.params["chat_id"] == GROUP["id"]]  # announced in the branch group

    async with sessions() as session:
        (activity,) = (await session.scalars(select(Activity))).all()
        kinds_stored = set((await session.scalars(select(ActivityKindLink.kind))).all())
    assert kinds_stored == {"支委会"}
    assert activity.starts_at == datetime(2099, 12, 3, 15, 0, tzinfo=SHANGHAI)  # answered before the restart
    assert (activity.place, activity.topic) == ("党员活动室", "研究发展党员工作")
    assert await stored_rows(sessions) == []  # the finished flow left nothing behind


async def test_the_join_flow_continues_after_a_restart(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller
) -> None:
    async with sessions() as session:
        token = (await branches.create_invite(session, branch, datetime.now(UTC))).token
    async with running(database_url, api) as bot:
        assert "欢迎加入「第一党支部」" in plain(messages(await bot.send(f"/start join_{token}", user=DAVE))[0])
        (status_question,) = messages(await bot.send("赵六", user=DAVE))
        assert [label for label, _ in buttons(status_question)] == ["正式党员", "预备党员"]
    assert len(await stored_rows(sessions)) == 2  # the graceful stop wrote the step and the draft

    async with running(database_url, api) as bot:
        calls = await bot.press(status_question.result, encode(Action.JOIN, "s.p"), user=DAVE)
        (summary,) = messages(calls)
        assert "姓名：赵六" in plain(summary) and "身份：预备党员" in plain(summary)
        calls = await bot.press(summary.result, encode(Action.JOIN, "c.y"), user=DAVE)
        assert plain(messages(calls)[0]) == branch_texts.JOIN_DONE.format(branch="第一党支部")

    async with sessions() as session:
        dave = await session.scalar(select(Member).where(Member.telegram_user_id == DAVE["id"]))
    assert dave is not None and (dave.name, dave.status) == ("赵六", "预备党员")
    assert await stored_rows(sessions) == []


async def test_a_cancelled_flow_leaves_no_row(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller
) -> None:
    async with sessions() as session:
        token = (await branches.create_invite(session, branch, datetime.now(UTC))).token
    async with running(database_url, api) as bot:
        await bot.send(f"/start join_{token}", user=DAVE)
        await bot.send("赵六", user=DAVE)
        await bot.app.update_persistence()
        assert len(await stored_rows(sessions)) == 2
        await bot.send("/cancel", user=DAVE)
        await bot.app.update_persistence()
        assert await stored_rows(sessions) == []


async def test_rows_that_no_longer_load_are_dropped_and_the_bot_starts(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    dave = DAVE["id"]
    async with sessions() as session:
        session.add_all(
            [
                # DAVE's draft names a class that no longer exists; his join step is useless without it
                ConversationState(
                    kind=ConversationStateKind.USER_DATA.value,
                    key=str(dave),
                    data=json.dumps(
                        {
                            "$type": "dict",
                            "items": [["join_draft", {"$type": "dataclass", "class": "handlers.branch:MissingDraft"}]],
                        }
                    ),
                ),
                ConversationState(
                    kind=ConversationStateKind.CONVERSATION.value,
                    name="join",
                    key=f"[{dave}, {dave}]",
                    data="1",
                ),
                # ALICE's /new step is not JSON at all
                ConversationState(
                    kind=ConversationStateKind.CONVERSATION.value,
                    name="new_activity",
                    key=f"[{ALICE['id']}, {ALICE['id']}]",
                    data="garbage",
                ),
            ]
        )
        await session.commit()
    async with sessions() as session:
        token = (await branches.create_invite(session, branch, datetime.now(UTC))).token

    with caplog.at_level(logging.WARNING, logger="bot.persistence"):
        async with running(database_url, api) as bot:
            assert await stored_rows(sessions) == []
            # the bot works, and DAVE starts afresh
            assert "欢迎加入「第一党支部」" in plain(messages(await bot.send(f"/start join_{token}", user=DAVE))[0])
            (status_question,) = messages(await bot.send("赵六", user=DAVE))
            assert plain(status_question) == branch_texts.JOIN_ASK_STATUS.format(name="赵六")
    dropped = [r.getMessage() for r in caplog.records if r.name == "bot.persistence"]
    assert len(dropped) == 3 and all(m.startswith("dropping stored") for m in dropped)
    assert any("MissingDraft" in m for m in dropped)


async def test_updates_outside_any_flow_cost_no_query_on_the_table(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller
) -> None:
    async with running(database_url, api) as bot:
        statements: list[str] = []
        engine = bot.app.bot_data[_ENGINE_KEY]

        def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            if "conversation_state" in statement:
                statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            await bot.send("/help")  # refresh_user_data runs before it: no query
            await bot.send("/members")
            await bot.app.update_persistence()  # their user_data is empty and has no row: nothing to write
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert statements == []
    assert await stored_rows(sessions) == []


async def test_the_leave_note_is_still_awaited_after_a_restart(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller
) -> None:
    meeting = await add_meeting(sessions, branch)
    async with running(database_url, api) as bot:
        (question,) = messages(await bot.send("/leave"))
        (asked,) = messages(await bot.press(question.result, encode(Action.LEAVE_REASON, f"{meeting}.出差")))
        assert plain(asked).startswith("已为您登记请假（出差）")

    async with running(database_url, api) as bot:
        assert plain(messages(await bot.send("去北京培训"))[0]) == checkin_texts.NOTE_SAVED
    async with sessions() as session:
        note = await session.scalar(select(Attendance.leave_note).where(Attendance.activity_id == meeting))
    assert note == "去北京培训"
    assert await stored_rows(sessions) == []


async def test_timed_out_flows_leave_no_row(
    database_url: str, sessions: Sessions, api: BotApiSimulator, branch: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activities, "FLOW_TIMEOUT", timedelta(seconds=0.2))
    monkeypatch.setattr(checkin, "NOTE_TIMEOUT", timedelta(seconds=0.2))
    meeting = await add_meeting(sessions, branch)
    async with running(database_url, api) as bot:
        await bot.send("/new")
        await bot.app.update_persistence()
        assert len(await stored_rows(sessions)) == 2
        await asyncio.sleep(0.6)  # the conversation times out: its draft goes with it
        await bot.app.update_persistence()
        assert await stored_rows(sessions) == []

        (question,) = messages(await bot.send("/leave"))
        await bot.press(question.result, encode(Action.LEAVE_REASON, f"{meeting}.出差"))
        await bot.app.update_persistence()
        assert len(await stored_rows(sessions)) == 2  # the note is awaited
        await asyncio.sleep(0.6)
        await bot.app.update_persistence()
        assert await stored_rows(sessions) == []
