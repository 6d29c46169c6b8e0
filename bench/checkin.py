"""Check-in benchmark: 签到 presses through the Application (in-process Bot API) and, as a baseline, the same
check-ins through the service alone, on SQLite and on PostgreSQL.

Usage: python bench/checkin.py [--pg-url URL | --no-pg] [--rounds N] [--district-checkins N] [--concurrency N]
                              [--sqlite-synchronous FULL] [--api-latency-ms MS]

Scenarios: one branch of 50 members (``--rounds`` activities, everyone checks in to each) and a district of
500 branches × 40 members (20,000 members seeded with bulk inserts, one open activity per branch; the first
``--district-checkins`` members in branch-interleaved order check in). Every activity starts with the reminders the
planner leaves for each member (day before, hour before, "not checked in yet"), which a check-in cancels, so the
reminder table is as full as in a running branch. Paths, each on its own activities:
- service, one at a time (the baseline): what the handler did with the database before group commit — access
  check + check-in, one transaction per press — with no Telegram;
- application, one at a time: ``process_update`` per press, each waiting for the one before (a batch of one);
- application, N in flight: N members pressing at once, each pressing again when answered; the presses go through
  ``update_queue`` and the bot's update processor (different users concurrently) as polling and webhook updates
  do, and the check-in batcher writes the presses that meet in one transaction (group commit).
PostgreSQL runs in a scratch database created next to the one in ``--pg-url`` and dropped afterwards.
``--sqlite-synchronous FULL|OFF`` overrides the pragma bot/db.py sets on every SQLite connection (NORMAL, the usual
WAL setting) to show what durability costs. ``--api-latency-ms`` delays every
Bot API call by a simulated network round trip (Telegram is 50–300 ms away in production; in process it is 0), to
show what one-at-a-time processing costs when each press waits for its answerCallbackQuery.
Prints a table (throughput, p50/p99 latency per check-in from press to answer, the process's CPU time per
check-in — the figure least disturbed by other load on the machine —, presses per transaction, and check-ins that
failed and were not stored) and the command; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, func, insert, select  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402
from telegram import Update  # noqa: E402

from bot.app import build_application, serving  # noqa: E402
from bot.bot_api_objects import group_chat, make_user  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import open_database, scratch_postgresql_database  # noqa: E402
from bot.models import Activity, ActivityKind, Attendance, AttendanceMethod, Branch, Member, Reminder  # noqa: E402
from bot.services import attendance  # noqa: E402
from bot.services.access import authorize  # noqa: E402
from bot.services.reminders import ATTENDANCE_KINDS  # noqa: E402
from bot.transport import BotApiSimulator, InProcessBotApi  # noqa: E402
from handlers.common import CHECKINS_KEY  # noqa: E402
from handlers.keyboards import Action, encode  # noqa: E402
from knowledge.answer import Answerer  # noqa: E402

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FIRST_USER_ID = 10_000_000
FIRST_CHAT_ID = -1_000_000_000_000
ANSWER_TIMEOUT_S = 60.0
REMINDER_KINDS = [kind.value for kind in ATTENDANCE_KINDS]
PATHS = ("service, one at a time", "application, one at a time", "application, {n} in flight")


@dataclass(frozen=True, slots=True)
class Press:
    """One check-in: who presses 签到 for which activity in which branch group."""

    user_id: int
    chat_id: int
    activity_id: int


class Scenario(NamedTuple):
    name: str
    branches: int
    members: int
    rounds: int  # activities per path in each branch; every member checks in to each
    limit: int | None  # check-ins per path (None: all)


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    database: str
    path: str
    count: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]
    stored: int
    per_transaction: float

    def cells(self) -> list[str]:
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return [
            self.scenario,
            self.database,
            self.path,
            str(self.count),
            f"{self.count / self.seconds:,.0f}",
            f"{statistics.median(ordered) * 1000:.2f}",
            f"{p99 * 1000:.2f}",
            f"{self.cpu_seconds / self.count * 1000:.2f}",
            f"{self.per_transaction:.1f}",
            str(self.count - self.stored),
        ]


# -- seeding --------------------------------------------------------------------------------------------------------


async def seed(
    sessions: async_sessionmaker[AsyncSession], branches: int, members: int, activities_per_path: int
) -> tuple[dict[int, int], list[list[list[int]]]]:
    """Branches, members and open activities, in bulk. Returns (branch id -> chat id, per path: per branch: the
    activity ids) — each path gets its own activities, so that no path meets the check-ins of another."""
    starts = datetime.now(UTC) + timedelta(minutes=10)
    async with sessions.begin() as session:
        await session.execute(
            insert(Branch), [{"name": f"第{b + 1}党支部", "chat_id": FIRST_CHAT_ID - b} for b in range(branches)]
        )
        branch_ids = list(await session.scalars(select(Branch.id).order_by(Branch.id)))
        await session.execute(
            insert(Member),
            [
                {"branch_id": branch_id, "telegram_user_id": FIRST_USER_ID + b * members + m, "name": f"党员{m}"}
                for b, branch_id in enumerate(branch_ids)
                for m in range(members)
            ],
        )
        await session.execute(
            insert(Activity),
            [
                {"branch_id": branch_id, "kind": ActivityKind.THEME_DAY.value, "starts_at": starts, "status": "planned"}
                for _ in PATHS
                for _ in range(activities_per_path)
                for branch_id in branch_ids
            ],
        )
        activity_ids = list(await session.scalars(select(Activity.id).order_by(Activity.id)))
        # The reminders the planner leaves for each member of each activity (day before, hour before, "not
        # checked in yet"): a check-in cancels its member's, so the table is as full as in a real branch.
        branch_of: dict[int, int] = dict((await session.execute(select(Activity.id, Activity.branch_id))).all())
        members_of: dict[int, list[tuple[int, int]]] = {}
        for member_id, branch_id, user_id in await session.execute(
            select(Member.id, Member.branch_id, Member.telegram_user_id)
        ):
            members_of.setdefault(branch_id, []).append((member_id, user_id))
        await session.execute(
            insert(Reminder),
            [
                {
                    "branch_id": branch_of[activity_id],
                    "kind": kind,
                    "dedup_key": f"a{activity_id}:{kind}:m{member_id}",
                    "chat_id": user_id,
                    "member_id": member_id,
                    "activity_id": activity_id,
                    "due_at": starts + timedelta(minutes=15),
                    "text": "提醒",
                }
                for activity_id in activity_ids
                for member_id, user_id in members_of[branch_of[activity_id]]
                for kind in REMINDER_KINDS
            ],
        )
    count = len(branch_ids)
    layout = [
        [
            [activity_ids[(p * activities_per_path + r) * count + b] for r in range(activities_per_path)]
            for b in range(count)
        ]
        for p in range(len(PATHS))
    ]
    return {branch_id: FIRST_CHAT_ID - b for b, branch_id in enumerate(branch_ids)}, layout


def presses(branch_chats: list[int], layout: list[list[int]], members: int, limit: int | None) -> list[Press]:
    """Every member to every activity of their branch, branches interleaved; the first ``limit`` of them."""
    found = [
        Press(FIRST_USER_ID + b * members + m, branch_chats[b], layout[b][r])
        for r in range(len(layout[0]))
        for m in range(members)
        for b in range(len(branch_chats))
    ]
    return found[:limit] if limit else found


# -- the three paths ------------------------------------------------------------------------------------------------


async def timed(jobs: list[Callable[[], Awaitable[None]]], in_flight: int) -> tuple[float, float, list[float]]:
    """Run the jobs, ``in_flight`` at a time: (wall seconds, process CPU seconds, latency of each job)."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(in_flight)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            started = time.perf_counter()
            with contextlib.suppress(SQLAlchemyError, TimeoutError):  # a failed check-in shows as "not stored"
                await job()
            latencies.append(time.perf_counter() - started)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - started, time.process_time() - cpu_started, latencies


async def stored(sessions: async_sessionmaker[AsyncSession], work: list[Press]) -> int:
    activity_ids = {press.activity_id for press in work}
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Attendance).where(Attendance.activity_id.in_(activity_ids))
        )
    return count or 0


def through_service(sessions: async_sessionmaker[AsyncSession], press: Press) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        async with sessions.begin() as session:
            caller = await authorize(session, press.user_id, chat_id=press.chat_id, private=False, action="签到")
            await attendance.check_in(
                session, caller.member, press.activity_id, method=AttendanceMethod.BUTTON, now=datetime.now(UTC)
            )

    return job


class BenchBotApi(InProcessBotApi):
    """The in-process Bot API, answering each call after a simulated network round trip (if any), and telling
    whoever waits for a press's answer (answerCallbackQuery) that it came."""

    def __init__(self, api: BotApiSimulator, latency: float) -> None:
        super().__init__(api)
        self.latency = latency
        self.waiting: dict[str, asyncio.Future[None]] = {}

    async def do_request(self, url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if self.latency:
            await asyncio.sleep(self.latency)
        answer = await super().do_request(url, *args, **kwargs)
        if url.endswith("/answerCallbackQuery"):
            request_data = args[1] if len(args) > 1 else kwargs["request_data"]
            waiter = self.waiting.pop(str(request_data.parameters["callback_query_id"]), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        return answer


def through_application(app: Any, update: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    async def job() -> None:
        await app.process_update(Update.de_json(update, app.bot))

    return job


def through_update_queue(app: Any, request: BenchBotApi, update: dict[str, Any]) -> Callable[[], Awaitable[None]]:
    """Queue the press as polling would and wait until the bot has answered it."""

    async def job() -> None:
        answered = asyncio.get_running_loop().create_future()
        request.waiting[update["callback_query"]["id"]] = answered
        await app.update_queue.put(Update.de_json(update, app.bot))
        await asyncio.wait_for(answered, ANSWER_TIMEOUT_S)

    return job


async def run_scenario(scenario: Scenario, database: str, url: str, args: argparse.Namespace) -> list[Row]:
    async with open_database(url) as sessions:
        return await _run_scenario(sessions, scenario, database, url, args)


async def _run_scenario(
    sessions: async_sessionmaker[AsyncSession], scenario: Scenario, database: str, url: str, args: argparse.Namespace
) -> list[Row]:
    name, branches, members, rounds, limit = scenario
    concurrency, api_latency = args.concurrency, args.api_latency_ms / 1000
    started = time.perf_counter()
    chats, layout = await seed(sessions, branches, members, rounds)
    print(f"  seeded {name} on {database} in {time.perf_counter() - started:.1f} s", flush=True)
    branch_chats = list(chats.values())
    work = [presses(branch_chats, layout[p], members, limit) for p in range(len(PATHS))]

    api = BotApiSimulator()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=url)  # type: ignore[call-arg]
    request = BenchBotApi(api, api_latency)
    app = build_application(settings, request=request, answerer=Answerer([]))
    rows = []
    async with serving(app):
        batches = app.bot_data[CHECKINS_KEY].batch_sizes
        announcements = {}
        for chat_id in branch_chats:
            api.user_message("通知", user=make_user(FIRST_USER_ID), chat=group_chat(chat_id))
            announcements[chat_id] = (await app.bot.send_message(chat_id, "主题党日通知")).message_id
        for p, path in enumerate(PATHS):
            transactions_before = sum(batches.values())
            if p == 0:
                jobs = [through_service(sessions, press) for press in work[p]]
                in_flight = 1
            else:
                updates = [
                    api.button_press(
                        press.chat_id,
                        announcements[press.chat_id],
                        encode(Action.CHECKIN, str(press.activity_id)),
                        user=make_user(press.user_id, "党员"),
                    )
                    for press in work[p]
                ]
                if p == 1:
                    jobs, in_flight = [through_application(app, update) for update in updates], 1
                else:
                    jobs, in_flight = [through_update_queue(app, request, u) for u in updates], concurrency
            seconds, cpu_seconds, latencies = await timed(jobs, in_flight)
            transactions = sum(batches.values()) - transactions_before if p else len(jobs)
            label = path.format(n=concurrency) + (f", Bot API +{args.api_latency_ms:g} ms" if p and api_latency else "")
            written = await stored(sessions, work[p])
            per_transaction = len(jobs) / max(transactions, 1)
            rows.append(
                Row(name, database, label, len(jobs), seconds, cpu_seconds, latencies, written, per_transaction)
            )
            print("  " + " | ".join(rows[-1].cells()), flush=True)
    return rows


# -- databases ------------------------------------------------------------------------------------------------------


def set_sqlite_synchronous(mode: str) -> None:
    """Every SQLite connection any engine opens from now on (the Application's too) gets ``synchronous=mode``."""

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if "sqlite" in type(dbapi_connection).__module__:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA synchronous={mode}")
            cursor.close()


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    # A check-in that fails (SQLite: "database is locked") is counted in the table, not printed with its traceback.
    logging.getLogger("handlers.errors").setLevel(logging.CRITICAL)
    if args.sqlite_synchronous:
        set_sqlite_synchronous(args.sqlite_synchronous)
    scenarios = [
        Scenario("1 branch × 50", 1, 50, args.rounds, None),
        Scenario("500 branches × 40", 500, 40, 1, args.district_checkins),
    ]
    sqlite_label = f"sqlite, synchronous={args.sqlite_synchronous or 'NORMAL'}"
    databases = [sqlite_label] + ([] if args.no_pg else ["postgresql"])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        for database in databases:
            for number, scenario in enumerate(scenarios):
                if database == sqlite_label:
                    rows += await run_scenario(scenario, database, f"sqlite+aiosqlite:///{scratch}/b{number}.db", args)
                    continue
                async with scratch_postgresql_database(args.pg_url, "bench") as url:
                    rows += await run_scenario(scenario, database, url, args)
    header = [
        "scenario",
        "database",
        "path",
        "check-ins",
        "per s",
        "p50 ms",
        "p99 ms",
        "CPU ms each",
        "per txn",
        "not stored",
    ]
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    print(f"\ncommand: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (a scratch database is made)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--rounds", type=int, default=20, help="activities per path in the 50-member branch")
    parser.add_argument("--district-checkins", type=int, default=5000, help="check-ins per path in the district")
    parser.add_argument("--concurrency", type=int, default=16, help="presses in flight on the last path")
    parser.add_argument("--sqlite-synchronous", choices=["FULL", "OFF"], help="override bot/db.py's NORMAL")
    parser.add_argument("--api-latency-ms", type=float, default=0.0, help="simulated Bot API round trip")
    asyncio.run(main(parser.parse_args()))
