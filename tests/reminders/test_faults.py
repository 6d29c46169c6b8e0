"""Faults from a real HTTP Bot API (the fake server): 429, 403, 400, 502 and timeouts, through the PTB notifier."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application

from bot.app import build_application
from bot.bot_api_checks import BotApiError
from bot.config import Settings
from bot.models import Member
from bot.notifier import TelegramNotifier
from scheduler.outbox import Backoff
from scheduler.runner import DeliveryPolicy, ReminderRunner
from tests.fake_bot_api import FakeBotApiServer
from tests.reminders.conftest import SECRETARY_TG, add_rows, member_tg, reminder_row, row, seed_branch

Sessions = async_sessionmaker[AsyncSession]
TOKEN = "123456:TEST"
POLICY = DeliveryPolicy(
    interval=1.0,
    lease=30.0,
    send_timeout=3.0,
    quiet_hours=None,  # real time: the test must not depend on the hour it runs at
    backoff=Backoff(base=timedelta(seconds=0.2), max_attempts=3),
)
WAIT = 30.0  # seconds any one expectation may take; normally well under 5


@pytest.fixture
def server() -> AsyncIterator[FakeBotApiServer]:
    with FakeBotApiServer(TOKEN, open_chats=True) as fake:
        yield fake


@pytest.fixture
async def runner(sessions: Sessions, server: FakeBotApiServer, database_url: str) -> AsyncIterator[ReminderRunner]:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=server.base_url,
        DATABASE_URL=database_url,
    )
    app: Application = build_application(settings)  # the real wiring: HTTP, ReplyRateLimiter; no start-up work
    await app.initialize()
    try:
        yield ReminderRunner(sessions, TelegramNotifier(app.bot, timeout=1.0), policy=POLICY)
    finally:
        await app.shutdown()


async def _deliver_until(runner: ReminderRunner, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, "expectation not met in time"
        await runner.deliver()
        await asyncio.sleep(0.05)


def _statuses_of(server: FakeBotApiServer, chat_id: int) -> list[int]:
    return [
        call.status for call in server.api.calls if call.method == "sendMessage" and call.params["chat_id"] == chat_id
    ]


async def test_429_waits_retry_after_then_sends(
    sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner
) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, member_tg(0), runner.clock())])
    server.api.fail("sendMessage", BotApiError(429, "Too Many Requests: retry after 1", retry_after=1))
    started = time.monotonic()
    report = await runner.deliver()
    assert report.sent == 1 and time.monotonic() - started >= 1.0
    assert _statuses_of(server, member_tg(0)) == [429, 200]
    assert (await row(sessions, reminder_id)).status == "sent"


async def test_403_marks_members_unreachable_and_tells_the_secretary_once(
    sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner
) -> None:
    branch = await seed_branch(sessions, members=3)
    blocked = BotApiError(403, "Forbidden: bot was blocked by the user")
    for index in (0, 1):
        server.api.fail("sendMessage", blocked, chat_id=member_tg(index), times=5)
    now = runner.clock()
    ids = await add_rows(
        sessions,
        [
            reminder_row(branch.branch_id, member_tg(0), now, member_id=branch.member_ids[0]),
            reminder_row(branch.branch_id, member_tg(1), now, member_id=branch.member_ids[1]),
            reminder_row(branch.branch_id, member_tg(2), now, member_id=branch.member_ids[2]),
        ],
    )
    await _deliver_until(runner, lambda: bool(server.api.sent_to(SECRETARY_TG)))
    (later,) = await add_rows(
        sessions, [reminder_row(branch.branch_id, member_tg(0), runner.clock(), member_id=branch.member_ids[0])]
    )
    for _ in range(3):
        await runner.deliver()
    (notice,) = server.api.sent_to(SECRETARY_TG)  # once, for both
    assert "党员0-0" in notice.result["text"] and "党员0-1" in notice.result["text"]
    assert [(await row(sessions, i)).status for i in (*ids, later)] == ["failed", "failed", "sent", "failed"]
    assert _statuses_of(server, member_tg(0)) == [403]  # the later reminder was not even tried
    async with sessions() as session:
        reachable = dict((await session.execute(select(Member.id, Member.reachable))).all())
    assert [reachable[m] for m in branch.member_ids] == [False, False, True]


async def test_400_fails_without_retrying(sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 42, runner.clock(), text="<b>未闭合")])
    for _ in range(3):
        await runner.deliver()
        await asyncio.sleep(0.3)
    state = await row(sessions, reminder_id)
    assert (state.status, state.attempts) == ("failed", 1)
    assert "can't parse entities" in (state.last_error or "").lower()
    assert _statuses_of(server, 42) == [400]


async def test_502_is_retried_with_backoff_then_sent(
    sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner
) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 43, runner.clock())])
    server.api.fail("sendMessage", BotApiError(502, "Bad Gateway"), chat_id=43, times=2)
    await _deliver_until(runner, lambda: bool(server.api.sent_to(43)))
    state = await row(sessions, reminder_id)
    assert (state.status, state.attempts) == ("sent", 2)
    assert _statuses_of(server, 43) == [502, 502, 200]
    calls = [c for c in server.api.calls if c.method == "sendMessage"]
    assert len(calls) == 3


async def test_502_until_the_limit_fails_the_row(
    sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner
) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 44, runner.clock())])
    server.api.fail("sendMessage", BotApiError(502, "Bad Gateway"), chat_id=44, times=10)
    await _deliver_until(runner, lambda: len(_statuses_of(server, 44)) >= 3)
    for _ in range(3):
        await asyncio.sleep(0.5)
        await runner.deliver()
    state = await row(sessions, reminder_id)
    assert (state.status, state.attempts) == ("failed", 3)
    assert _statuses_of(server, 44) == [502, 502, 502]


async def test_a_timeout_is_retried_and_may_repeat_only_that_message(
    sessions: Sessions, server: FakeBotApiServer, runner: ReminderRunner
) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 45, runner.clock(), text="超时提醒")])
    server.api.delay("sendMessage", 2.0, chat_id=45)  # past the notifier's 1 s timeout; delivered all the same
    await _deliver_until(runner, lambda: server.api.delivered["超时提醒"] >= 1)
    await _deliver_until(runner, lambda: server.api.delivered["超时提醒"] >= 2)
    state = await row(sessions, reminder_id)
    assert state.status == "sent" and state.attempts == 1 and "TimedOut" in (state.last_error or "")
    assert server.api.delivered["超时提醒"] == 2  # the in-flight duplicate a timeout allows, no more
