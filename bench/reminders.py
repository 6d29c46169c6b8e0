"""Reminder planning, delivery through the rate limiter on virtual time, and the claim query on a million rows.

Usage: python bench/reminders.py [--branches 500] [--members 40] [--deliver 10000] [--claim-rows 1000000]
                                 [--repeat 20] [--database-url postgresql+asyncpg://user@host/db]

1. Planning: 500 branches × 40 members (书记, 组织委员, 宣传委员 and 37 members in 4 党小组, a bound group chat,
   主题党日 每月第一个周五) with a quarter of activities each (monthly 支委会, 主题党日 and 党小组会 per 党小组;
   a 党员大会 with 党课): `scheduler.planner.plan` over all branches at the start of the quarter (it creates the
   quarter's rows), again at the same instant (the steady pass the runner repeats every few minutes: nothing to
   change), and a week later.
2. Delivery: 10,000 due reminders (9,000 private chats, 1,000 to 100 group chats) sent by the real delivery loop
   (claim, pace, send, mark) to a notifier that takes 50 ms per message, on an event loop whose clock is virtual
   (sleeps advance it instantly; database work takes no virtual time). Telegram's ~30 messages/s make 10,000/30 s
   the floor; the target is at most 5 % over it. The sends are checked against all three limits afterwards. On
   SQLite only: the virtual clock jumps whenever the loop waits for a timer, which suits aiosqlite's threads but
   not asyncpg's sockets (the delivery loop is the same code on both).
3. Claim: `claim_due` (50 rows) on a table of 1,000,000 rows (99 % sent history, 1 % due), median of N runs; the
   query plan shows the partial index.

Always SQLite (temporary files); also PostgreSQL when --database-url is given (throw-away databases are created
next to the one named, and dropped). Prints, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import selectors
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "1")

import aiosqlite.core  # noqa: E402
from sqlalchemy import bindparam, func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from bot.db import (  # noqa: E402
    UTCDateTime,
    make_engine,
    make_session_factory,
    open_database,
    scratch_postgresql_database,
    upgrade_database,
)
from bot.models import (  # noqa: E402
    Activity,
    ActivityKind,
    ActivityKindLink,
    Branch,
    Member,
    PartyGroup,
    Reminder,
    Role,
)
from scheduler import outbox  # noqa: E402
from scheduler.pacing import Pacer  # noqa: E402
from scheduler.planner import plan  # noqa: E402
from scheduler.runner import Button, DeliveryPolicy, ReminderRunner  # noqa: E402

Sessions = async_sessionmaker[AsyncSession]
SHANGHAI = ZoneInfo("Asia/Shanghai")
QUARTER_START = datetime(2026, 10, 1, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
SEND_LATENCY = 0.05  # seconds a Bot API call takes (virtual)
TELEGRAM_RATE = 30.0


# --- databases -----------------------------------------------------------------------------------------------


@asynccontextmanager
async def database(kind: str, admin_url: str | None, label: str) -> AsyncIterator[tuple[str, Sessions]]:
    """A migrated, empty database: a temporary SQLite file, or a throw-away PostgreSQL database."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix=f"bench-{label}-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            async with open_database(url) as sessions:
                yield url, sessions
        return
    assert admin_url is not None
    async with scratch_postgresql_database(admin_url, "bench") as url, open_database(url) as sessions:
        yield url, sessions


async def _insert(sessions: Sessions, table: Any, rows: Sequence[dict[str, Any]], returning: Any = None) -> list[Any]:
    ids: list[Any] = []
    async with sessions() as session, session.begin():
        for start in range(0, len(rows), 1000):
            chunk = rows[start : start + 1000]
            if returning is None:
                await session.execute(insert(table), chunk)
            else:
                result = await session.execute(insert(table).returning(returning, sort_by_parameter_order=True), chunk)
                ids.extend(result.scalars().all())
    return ids


# --- 1. planning ---------------------------------------------------------------------------------------------


def _local(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=SHANGHAI).astimezone(UTC)


async def seed_branches(sessions: Sessions, branches: int, members: int) -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    branch_ids = await _insert(
        sessions,
        Branch,
        [
            {"name": f"第{n + 1}党支部", "chat_id": -1_000_000 - n, "timezone": "Asia/Shanghai",
             "theme_day_rule": "weekday:1:4/next", "created_at": created}
            for n in range(branches)
        ],
        Branch.id,
    )  # fmt: skip
    group_ids = await _insert(
        sessions,
        PartyGroup,
        [{"branch_id": b, "name": f"第{g + 1}党小组"} for b in branch_ids for g in range(4)],
        PartyGroup.id,
    )
    groups = {b: group_ids[i * 4 : i * 4 + 4] for i, b in enumerate(branch_ids)}
    roles = [Role.SECRETARY, Role.ORGANIZATION, Role.PROPAGANDA]
    member_rows = [
        {
            "branch_id": b,
            "telegram_user_id": 10_000_000 + i * 1000 + m,
            "name": f"党员{i}-{m}",
            "status": "正式党员",
            "role": (roles[m] if m < len(roles) else Role.MEMBER).value,
            "party_group_id": groups[b][m % 4],
            "reachable": True,
            "reminders_enabled": True,
            "joined_at": created,
        }
        for i, b in enumerate(branch_ids)
        for m in range(members)
    ]
    member_ids = await _insert(sessions, Member, member_rows, Member.id)
    organizer = {b: member_ids[i * members] for i, b in enumerate(branch_ids)}
    k = ActivityKind
    schedule: list[tuple[int, tuple[ActivityKind, ...], datetime, int | None]] = []
    for b in branch_ids:
        for month in ("2026-10", "2026-11", "2026-12"):
            schedule.append((b, (k.COMMITTEE_MEETING,), _local(f"{month}-10", "15:00"), None))
            schedule.append((b, (k.THEME_DAY,), _local(f"{month}-16", "14:30"), None))
            schedule += [
                (b, (k.PARTY_GROUP_MEETING,), _local(f"{month}-2{g}", "19:30"), group)
                for g, group in enumerate(groups[b])
            ]
        schedule.append((b, (k.MEMBERS_MEETING, k.PARTY_LECTURE), _local("2026-11-12", "09:00"), None))
    activity_ids = await _insert(
        sessions,
        Activity,
        [
            {"branch_id": b, "kind": kinds[0].value, "topic": f"{kinds[0].value}学习", "starts_at": starts,
             "place": "党员活动室", "party_group_id": group, "status": "planned", "created_by": organizer[b],
             "checkin_opens_before_min": 30, "checkin_closes_after_min": 60, "created_at": created,
             "lecturer": "", "lecturer_is_secretary": False, "recorded_after": False}
            for b, kinds, starts, group in schedule
        ],
        Activity.id,
    )  # fmt: skip
    await _insert(
        sessions,
        ActivityKindLink,
        [
            {"activity_id": activity_id, "kind": kind.value}
            for activity_id, (_, kinds, _, _) in zip(activity_ids, schedule, strict=True)
            for kind in kinds
        ],
    )


async def _reminder_count(sessions: Sessions) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Reminder))).scalar_one())


async def bench_planning(sessions: Sessions, branches: int, members: int) -> list[str]:
    started = time.perf_counter()
    await seed_branches(sessions, branches, members)
    seeded = time.perf_counter() - started
    lines = [f"seeded {branches} branches × {members} members, a quarter of activities in {seeded:.1f} s"]
    for label, at in (
        ("first pass (creates the quarter)", QUARTER_START),
        ("steady pass (nothing to change)", QUARTER_START),
        ("a week later", QUARTER_START + timedelta(days=7)),
    ):
        before = await _reminder_count(sessions)
        started = time.perf_counter()
        result = await plan(sessions, at)
        elapsed = time.perf_counter() - started
        created = await _reminder_count(sessions) - before
        lines.append(
            f"{label:34s} {elapsed:7.2f} s  {elapsed / branches * 1000:6.1f} ms/branch  rows +{created:,} "
            f"(created {result.created}, updated {result.updated}, cancelled {result.cancelled})"
        )
    lines.append(f"reminder rows after planning: {await _reminder_count(sessions):,}")
    return lines


# --- 2. delivery on virtual time --------------------------------------------------------------------------------


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock only moves when everything waits for a timer: it then jumps to the timer.

    Database work runs in aiosqlite's threads; while any is under way the loop waits for it for real instead of
    jumping, so it takes no virtual time (aiosqlite's one entry point, ``Connection._execute``, is counted).
    """

    def __init__(self) -> None:
        selector = selectors.DefaultSelector()
        super().__init__(selector)
        self._virtual = 0.0
        self.database_calls = 0
        real_select = selector.select

        def select(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            if timeout is not None and timeout > 0 and self.database_calls:
                return real_select(None)  # no jump: the thread's answer wakes us up
            if timeout is not None and timeout > 0:
                ready = real_select(0)
                if not ready:
                    self._virtual += timeout
                return ready
            return real_select(timeout)

        selector.select = select  # type: ignore[method-assign]

    def time(self) -> float:
        return self._virtual


@contextmanager
def counting_database_calls(loop: VirtualTimeLoop) -> Iterator[None]:
    original = aiosqlite.core.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop.database_calls += 1
        try:
            return await original(self, fn, *args, **kwargs)
        finally:
            loop.database_calls -= 1

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiosqlite.core.Connection._execute = original  # type: ignore[method-assign]


class LatencyNotifier:
    """Takes SEND_LATENCY (virtual) seconds per message and remembers when each went, by chat."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.sent: list[tuple[float, int]] = []

    async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
        self.sent.append((self.clock(), chat_id))
        await asyncio.sleep(SEND_LATENCY)


class RecordingPacer(Pacer):
    """The pacer, noting the moment each message was let through (for checking the limits afterwards)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[tuple[float, int]] = []

    def record(self, chat_id: int) -> None:
        self.log.append((self.now(), chat_id))
        super().record(chat_id)


def _limits_report(log: list[tuple[float, int]]) -> str:
    times = sorted(at for at, _ in log)
    worst_second = 0
    right = 0
    for left, start in enumerate(times):
        while right < len(times) and times[right] < start + 1.0:
            right += 1
        worst_second = max(worst_second, right - left)
    per_chat: dict[int, list[float]] = defaultdict(list)
    for at, chat in log:
        per_chat[chat].append(at)
    closest = min(
        (b - a for sends in per_chat.values() for a, b in itertools.pairwise(sorted(sends))), default=float("inf")
    )
    worst_group_minute = 0
    for chat, sends in per_chat.items():
        if chat < 0:
            sends.sort()
            worst_group_minute = max(worst_group_minute, max(sum(1 for t in sends if s <= t < s + 60) for s in sends))
    return (
        f"most in any 1 s: {worst_second} (limit 30); closest two to one chat: {closest:.3f} s "
        f"(limit 1 s); most to one group in any 60 s: {worst_group_minute} (limit 20)"
    )


async def _deliver_all(url: str, total: int) -> list[str]:
    loop = asyncio.get_running_loop()
    epoch = QUARTER_START

    def clock() -> datetime:
        return epoch + timedelta(seconds=loop.time())

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            branch = Branch(name="投递测试支部", chat_id=-1)
            session.add(branch)
            await session.flush()
            branch_id = branch.id
        groups = total // 10
        # every tenth reminder goes to one of the groups (ten each), the rest to private chats, interleaved
        chats = [-(200_000 + (n // 10) % (groups // 10)) if n % 10 == 9 else 100_000 + n for n in range(total)]
        await _insert(
            sessions,
            Reminder,
            [
                {"branch_id": branch_id, "kind": "bench", "dedup_key": f"bench:{n}", "chat_id": chat,
                 "due_at": epoch, "text": f"提醒 {n}", "payload": "{}", "status": "pending", "attempts": 0,
                 "urgent": False, "created_at": epoch}
                for n, chat in enumerate(chats)
            ],
        )  # fmt: skip
        notifier = LatencyNotifier(loop.time)
        pacer = RecordingPacer(overall_rate=TELEGRAM_RATE, clock=loop.time, sleep=asyncio.sleep)
        policy = DeliveryPolicy(quiet_hours=None)
        runner = ReminderRunner(sessions, notifier, policy=policy, clock=clock, pacer=pacer, owner="bench")
        real_start, virtual_start = time.perf_counter(), loop.time()
        while len(notifier.sent) < total:
            report = await runner.deliver()
            if report.sent == 0:
                await asyncio.sleep(policy.interval)  # the next scheduled run
        await asyncio.sleep(SEND_LATENCY)  # the last answer
        virtual = loop.time() - virtual_start
        real = time.perf_counter() - real_start
        async with sessions() as session:
            sent = (
                await session.execute(select(func.count()).select_from(Reminder).where(Reminder.status == "sent"))
            ).scalar_one()
    finally:
        await engine.dispose()
    floor = total / TELEGRAM_RATE
    return [
        f"{total:,} reminders ({total - groups:,} private chats, {groups:,} to {groups // 10} groups): "
        f"{virtual:.1f} s virtual (floor {floor:.1f} s, {100 * (virtual / floor - 1):+.2f} %), "
        f"{total / virtual:.2f} msg/s; {real:.1f} s real; rows sent: {sent:,}",
        _limits_report(pacer.log),
    ]


def bench_delivery(url: str, total: int) -> list[str]:
    loop = VirtualTimeLoop()
    with asyncio.Runner(loop_factory=lambda: loop) as runner, counting_database_calls(loop):
        return runner.run(_deliver_all(url, total))


# --- 3. claim on a million rows -------------------------------------------------------------------------------


async def _fill(sessions: Sessions, rows: int, due: int) -> None:
    """``rows`` reminders: the last ``due`` pending and due, the rest sent history (one statement, server-side)."""
    async with sessions() as session, session.begin():
        branch = Branch(name="认领测试支部", chat_id=-2)
        session.add(branch)
        await session.flush()
        postgres = session.get_bind().dialect.name == "postgresql"
        history = rows - due
        if postgres:
            numbers = f"generate_series(1, {rows}) AS n"
            due_at = "TIMESTAMPTZ '2026-01-01 00:00:00+00' + n * INTERVAL '10 seconds'"
        else:
            counting = f"SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {rows}"
            numbers = f"(WITH RECURSIVE seq(n) AS ({counting}) SELECT n FROM seq)"
            due_at = "strftime('%Y-%m-%d %H:%M:%f', '2026-01-01 00:00:00', '+' || (n * 10) || ' seconds') || '000'"
        await session.execute(
            text(
                "INSERT INTO reminder (branch_id, kind, dedup_key, chat_id, due_at, text, payload, status, attempts,"
                " urgent, created_at)"
                f" SELECT {branch.id}, 'bench', 'claim:' || n, 100000 + n % 50000, {due_at}, '提醒', '{{}}',"
                f" CASE WHEN n > {history} THEN 'pending' ELSE 'sent' END, 0, false, {due_at} FROM {numbers}"
            )
        )
    if postgres:
        async with sessions() as session:
            await session.execute(text("ANALYZE reminder"))
            await session.commit()


async def bench_claim(sessions: Sessions, rows: int, repeat: int) -> list[str]:
    started = time.perf_counter()
    await _fill(sessions, rows, due=rows // 100)
    filled = time.perf_counter() - started
    now = datetime(2027, 1, 1, tzinfo=UTC)  # every row is due by then
    timings = []
    for n in range(repeat):
        started = time.perf_counter()
        claimed = await outbox.claim_due(sessions, f"bench{n}", now, 50, timedelta(minutes=1))
        timings.append(time.perf_counter() - started)
        assert len(claimed) == min(50, rows // 100)
        await outbox.release(sessions, f"bench{n}", [r.id for r in claimed])
    async with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
        due_query = "SELECT id FROM reminder WHERE status = 'pending' AND due_at <= :now ORDER BY due_at LIMIT 50"
        statement = text(f"{explain} {due_query}").bindparams(bindparam("now", type_=UTCDateTime))
        plan_rows = (await session.execute(statement, {"now": now})).all()
    plan_text = " / ".join(str(row[-1]).strip() for row in plan_rows)
    return [
        f"{rows:,} rows ({rows // 100:,} due) filled in {filled:.1f} s; claim_due(50): "
        f"median {statistics.median(timings) * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms over {repeat} runs "
        "(target < 20 ms)",
        f"due-row query plan: {plan_text}",
    ]


# --- main -----------------------------------------------------------------------------------------------------


async def _planning_and_claim(args: argparse.Namespace, kind: str) -> list[str]:
    lines = [f"== {kind}: planning"]
    async with database(kind, args.database_url, "plan") as (_, sessions):
        lines += await bench_planning(sessions, args.branches, args.members)
    lines.append(f"== {kind}: claim")
    async with database(kind, args.database_url, "claim") as (_, sessions):
        lines += await bench_claim(sessions, args.claim_rows, args.repeat)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, default=500)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--deliver", type=int, default=10_000, help="due reminders to deliver (virtual time)")
    parser.add_argument("--claim-rows", type=int, default=1_000_000, help="rows in the table for the claim query")
    parser.add_argument("--repeat", type=int, default=20, help="claim runs (median reported)")
    parser.add_argument("--database-url", help="also run on this PostgreSQL server (throw-away databases)")
    args = parser.parse_args()
    print("== sqlite: delivery through the rate limiter (virtual time)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-deliver-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(upgrade_database(url))
        for line in bench_delivery(url, args.deliver):
            print(line, flush=True)
    for kind in ["sqlite"] + (["postgresql"] if args.database_url else []):
        for line in asyncio.run(_planning_and_claim(args, kind)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
