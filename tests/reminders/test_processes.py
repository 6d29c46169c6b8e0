"""Real `partybot run` processes against the fake Bot API server: SIGKILL mid-delivery, downtime, two instances on
one PostgreSQL database, and the webhook's secret token."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import open_database, utcnow
from bot.models import Reminder
from tests.fake_bot_api import FakeBotApiServer
from tests.reminders.conftest import SECRETARY_TG, add_rows, reminder_row, seed_branch
from tests.reminders.processes import START_TIMEOUT, TOKEN, BotProcess, bot_processes, free_port, wait_for
from tests.telegram.helpers import ALICE

Sessions = async_sessionmaker[AsyncSession]
CONCURRENCY = 8  # PARTYBOT_DELIVERY_CONCURRENCY in these tests: the in-flight bound
DELIVERY_TIMEOUT = 120.0


async def _count(sessions: Sessions, status: str, texts: list[str] | None = None) -> int:
    query = select(func.count()).select_from(Reminder).where(Reminder.status == status)
    if texts is not None:
        query = query.where(Reminder.text.in_(texts))
    async with sessions() as session:
        return int((await session.execute(query)).scalar_one())


async def _until_all_sent(sessions: Sessions, texts: list[str]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while (sent := await _count(sessions, "sent", texts)) < len(texts):
        assert time.monotonic() < deadline, f"only {sent} of {len(texts)} rows marked sent"
        await asyncio.sleep(0.2)


def _distinct(server: FakeBotApiServer, texts: list[str]) -> int:
    """How many of ``texts`` arrived (the planner may send reminders of its own to the seeded branch)."""
    delivered = server.api.delivered.copy()
    return sum(1 for text in texts if delivered[text])


def _summaries(server: FakeBotApiServer) -> list[str]:
    return [call.result["text"] for call in server.api.sent_to(SECRETARY_TG) if "停止运行期间" in call.result["text"]]


def _sent_by(process: BotProcess) -> int:
    return sum(int(n) for n in re.findall(r"reminder delivery run: owner=\S+ claimed=\d+ sent=(\d+)", process.log))


def _assert_clean(process: BotProcess) -> None:
    assert TOKEN not in process.log
    assert "Traceback" not in process.log, process.log[-3000:]


async def test_sigkill_mid_delivery_loses_nothing_and_repeats_at_most_the_in_flight(
    tmp_path: Path, sessions: Sessions, database_url: str
) -> None:
    branch = await seed_branch(sessions)
    now = utcnow()
    texts = [f"重启测试 {i}" for i in range(500)]
    await add_rows(sessions, [reminder_row(branch.branch_id, 10_000 + i, now, text=t) for i, t in enumerate(texts)])
    with FakeBotApiServer(TOKEN, open_chats=True) as server:
        server.api.latency["sendMessage"] = 0.02  # so that sends really are in flight when the kill comes
        limits = {"PARTYBOT_SEND_RATE": "100", "PARTYBOT_DELIVERY_CONCURRENCY": str(CONCURRENCY)}
        first = BotProcess("first", tmp_path, server, database_url, **limits)
        second = BotProcess("second", tmp_path, server, database_url, **limits)
        with bot_processes(first, second):
            first.start()
            wait_for(lambda: _distinct(server, texts) >= 150, START_TIMEOUT, "150 reminders were not delivered")
            first.kill()
            delivered_before_kill = _distinct(server, texts)
            assert delivered_before_kill < 500, "the kill came too late to test anything"
            second.start()
            wait_for(lambda: _distinct(server, texts) == 500, START_TIMEOUT + DELIVERY_TIMEOUT, "not all delivered")
            await _until_all_sent(sessions, texts)
            assert second.terminate() == 0
        delivered = {text: server.api.delivered[text] for text in texts}
    assert min(delivered.values()) >= 1  # nothing lost
    duplicates = sum(delivered.values()) - len(texts)
    print(f"killed after {delivered_before_kill} delivered; duplicates after restart: {duplicates}")
    assert duplicates <= CONCURRENCY  # at most what was in flight at the kill
    assert await _count(sessions, "sending") == 0
    _assert_clean(second)


async def test_downtime_sends_late_what_is_still_useful_and_reports_the_rest_once(
    tmp_path: Path, sessions: Sessions, database_url: str
) -> None:
    branch = await seed_branch(sessions)
    with FakeBotApiServer(TOKEN, open_chats=True) as server:
        first = BotProcess("first", tmp_path, server, database_url)
        second = BotProcess("second", tmp_path, server, database_url)
        with bot_processes(first, second):
            first.start()
            first.wait_ready()
            await add_rows(sessions, [reminder_row(branch.branch_id, 501, utcnow(), text="运行中准时")])
            wait_for(lambda: server.api.delivered["运行中准时"] == 1, 30, "the first reminder was not sent")
            assert first.terminate() == 0
            down = utcnow()
            late_one, missed_one, late_two, missed_two, after = await add_rows(
                sessions,
                [
                    reminder_row(branch.branch_id, 502, down + timedelta(seconds=1), text="迟到仍有用 1",
                                 expires_at=down + timedelta(hours=1)),
                    reminder_row(branch.branch_id, 503, down + timedelta(seconds=2), text="已过时 1",
                                 expires_at=down + timedelta(seconds=3)),
                    reminder_row(branch.branch_id, 504, down + timedelta(seconds=2), text="迟到仍有用 2",
                                 expires_at=down + timedelta(hours=1)),
                    reminder_row(branch.branch_id, 505, down + timedelta(seconds=3), text="已过时 2",
                                 expires_at=down + timedelta(seconds=3.5)),
                    reminder_row(branch.branch_id, 506, down + timedelta(seconds=12), text="重启后到期"),
                ],
            )  # fmt: skip
            await asyncio.sleep(max(0.0, (down + timedelta(seconds=4) - utcnow()).total_seconds()))
            restarted = utcnow()
            second.start()
            wait_for(
                lambda: server.api.delivered["重启后到期"] == 1 and bool(_summaries(server)),
                START_TIMEOUT + 30,
                "the reminders after the restart were not all sent",
            )
            await asyncio.sleep(1.0)  # a few more delivery runs: nothing else may arrive
            assert second.terminate() == 0
        delivered = server.api.delivered.copy()
        (summary,) = _summaries(server)
    assert delivered["迟到仍有用 1"] == delivered["迟到仍有用 2"] == 1
    assert delivered["已过时 1"] == delivered["已过时 2"] == 0
    assert "2 条提醒" in summary and "已过时 1" in summary
    async with sessions() as session:
        rows = {r.id: r for r in (await session.execute(select(Reminder))).scalars()}
    assert (rows[missed_one].status, rows[missed_two].status) == ("missed", "missed")
    for late in (late_one, late_two):
        assert rows[late].status == "sent" and rows[late].sent_at is not None and rows[late].sent_at >= restarted
    assert rows[after].status == "sent" and rows[after].sent_at >= rows[after].due_at  # never early
    _assert_clean(second)


@pytest.fixture
async def pg_sessions(postgresql_url: str) -> AsyncIterator[Sessions]:
    async with open_database(postgresql_url) as sessions:
        yield sessions


async def test_two_instances_on_postgresql_send_each_reminder_exactly_once(
    tmp_path: Path, postgresql_url: str, pg_sessions: Sessions
) -> None:
    branch = await seed_branch(pg_sessions)
    total = 2000
    with FakeBotApiServer(TOKEN, open_chats=True) as server:
        server.api.latency["sendMessage"] = 0.005
        instances = [
            BotProcess(
                f"instance{n}",
                tmp_path,
                server,
                postgresql_url,
                PARTYBOT_SEND_RATE="150",
                PARTYBOT_DELIVERY_CONCURRENCY=str(CONCURRENCY),
                PARTYBOT_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                PARTYBOT_WEBHOOK_LISTEN="127.0.0.1",
                PARTYBOT_WEBHOOK_PORT=str(port),
                PARTYBOT_WEBHOOK_SECRET="two-instances",
            )
            for n, port in enumerate((free_port(), free_port()))
        ]
        with bot_processes(*instances):
            for instance in instances:
                instance.start()
            for instance in instances:
                instance.wait_ready()
            texts = [f"双实例 {i}" for i in range(total)]
            now = utcnow()
            await add_rows(
                pg_sessions, [reminder_row(branch.branch_id, 20_000 + i, now, text=t) for i, t in enumerate(texts)]
            )
            wait_for(lambda: _distinct(server, texts) == total, DELIVERY_TIMEOUT, "not all delivered")
            await _until_all_sent(pg_sessions, texts)
            await asyncio.sleep(1.0)  # more runs on both: nothing may be sent again
            for instance in instances:
                assert instance.terminate() == 0
        delivered = [server.api.delivered[text] for text in texts]
    assert set(delivered) == {1}  # each exactly once
    shares = [_sent_by(instance) for instance in instances]
    print(f"sent by each instance: {shares}")
    assert sum(shares) >= total and min(shares) > 0  # both really took part
    for instance in instances:
        _assert_clean(instance)


def _post(url: str, update: dict[str, object], secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def test_webhook_accepts_only_requests_with_the_secret_token(tmp_path: Path) -> None:
    port, secret = free_port(), "s3cret_-token"
    url = f"http://127.0.0.1:{port}/telegram/hook"
    with FakeBotApiServer(TOKEN) as server:
        bot = BotProcess(
            "webhook",
            tmp_path,
            server,
            f"sqlite+aiosqlite:///{tmp_path / 'webhook.db'}",
            PARTYBOT_WEBHOOK_URL=url,
            PARTYBOT_WEBHOOK_LISTEN="127.0.0.1",
            PARTYBOT_WEBHOOK_PORT=str(port),
            PARTYBOT_WEBHOOK_SECRET=secret,
        )
        with bot_processes(bot):
            bot.start()
            wait_for(lambda: server.api.webhook is not None or not bot.running, START_TIMEOUT, "no setWebhook")
            assert server.api.webhook is not None, bot.log[-3000:]
            assert (server.api.webhook["url"], server.api.webhook["secret_token"]) == (url, secret)
            update = server.api.user_message("/help", user=ALICE)
            assert _post(url, update, None) == 403
            assert _post(url, update, "wrong") == 403
            assert not server.api.wait_for_calls("sendMessage", 1, timeout=1.0)  # neither was processed
            assert _post(url, update, secret) == 200
            (reply,) = server.api.wait_for_calls("sendMessage", 1, timeout=30)
            assert reply.params["chat_id"] == ALICE["id"]
            assert bot.terminate() == 0
        methods = [call.method for call in server.api.calls]
    assert "getUpdates" not in methods
    assert "deleteWebhook" not in methods[methods.index("setWebhook") :]  # other instances keep receiving
    _assert_clean(bot)
