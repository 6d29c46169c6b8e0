"""/progress and /export timing for a branch with a year of activities, through the Application and as bare services.

Usage: python bench/ledger.py [--repeat N] [--database-url postgresql+asyncpg://user@host/db]

Seeds one branch (40 members in 4 党小组) with this year's activities: each month a 支委会, a 主题党日 and one
党小组会 per 党小组; each quarter a 党员大会 and a 党课 (one by the secretary); a 组织生活会 and a 民主评议党员;
months up to now are held with attendance rows for everyone expected (a few on leave, a few absent), later ones
planned. Then times, as medians of N runs, /progress, /export <year> and /export <year> csv sent through the real
Application over the in-process Bot API, and in the same run the service calls alone (no Telegram, no
handlers) as the baseline. Always SQLite (a temporary file); also PostgreSQL when --database-url is given (a
throw-away database is created next to the one named, and dropped). Targets: /progress < 50 ms, a year's export
< 1 s. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402
from telegram import Update  # noqa: E402

from bot.app import build_application, serving  # noqa: E402
from bot.bot_api_objects import make_user  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import open_database, scratch_postgresql_database  # noqa: E402
from bot.models import (  # noqa: E402
    COMMITTEE_ROLES,
    Activity,
    ActivityKind,
    ActivityKindLink,
    ActivityStatus,
    Attendance,
    AttendanceMethod,
    AttendanceStatus,
    Branch,
    Member,
    PartyGroup,
    Role,
)
from bot.services.ledger import LedgerFile, LedgerFormat, LedgerPeriod, export_ledger  # noqa: E402
from bot.services.progress import branch_progress  # noqa: E402
from bot.services.requirements import Period  # noqa: E402
from bot.transport import BotApiSimulator, InProcessBotApi  # noqa: E402
from knowledge.answer import Answerer  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
SECRETARY = make_user(5001, "书记")
MEMBERS = 40
GROUPS = 4
ROLES = [Role.SECRETARY, Role.DEPUTY_SECRETARY, Role.ORGANIZATION, Role.PROPAGANDA, Role.DISCIPLINE]


def _activities_of_the_year(year: int, groups: list[int]) -> list[tuple[ActivityKind, datetime, int | None, bool]]:
    """(kind, local start, 党小组, lectured by the secretary) for every activity of the year."""
    planned: list[tuple[ActivityKind, datetime, int | None, bool]] = []
    for month in range(1, 13):
        planned.append((ActivityKind.COMMITTEE_MEETING, datetime(year, month, 3, 15, tzinfo=ZONE), None, False))
        planned.append((ActivityKind.THEME_DAY, datetime(year, month, 10, 9, tzinfo=ZONE), None, False))
        for index, group in enumerate(groups):
            planned.append((ActivityKind.PARTY_GROUP_MEETING, datetime(year, month, 12 + index, 19, tzinfo=ZONE),
                            group, False))  # fmt: skip
        if month % 3 == 0:
            planned.append((ActivityKind.MEMBERS_MEETING, datetime(year, month, 20, 14, tzinfo=ZONE), None, False))
            planned.append((ActivityKind.PARTY_LECTURE, datetime(year, month, 22, 14, tzinfo=ZONE), None, month == 6))
    planned.append((ActivityKind.ORGANIZATIONAL_LIFE_MEETING, datetime(year, 12, 18, 14, tzinfo=ZONE), None, False))
    planned.append((ActivityKind.DEMOCRATIC_APPRAISAL, datetime(year, 12, 19, 14, tzinfo=ZONE), None, False))
    return planned


async def seed(sessions: async_sessionmaker[AsyncSession], now: datetime) -> tuple[int, int, int]:
    """The branch, its members and a year of activities; returns (branch id, activities, attendance rows)."""
    async with sessions() as session:
        branch = Branch(name="基准测试党支部", chat_id=-100999)
        session.add(branch)
        await session.flush()
        assert branch.id is not None
        groups = [PartyGroup(branch_id=branch.id, name=f"第{n}党小组") for n in range(1, GROUPS + 1)]
        session.add_all(groups)
        await session.flush()
        group_ids = [g.id for g in groups if g.id is not None]
        members = [
            Member(
                branch_id=branch.id,
                telegram_user_id=SECRETARY["id"] if n == 0 else None,
                name=f"党员{n:02d}",
                role=(ROLES[n] if n < len(ROLES) else Role.MEMBER).value,
                party_group_id=group_ids[n % GROUPS],
            )
            for n in range(MEMBERS)
        ]
        session.add_all(members)
        await session.flush()
        attendance = 0
        for kind, starts_at, group_id, by_secretary in _activities_of_the_year(now.year, group_ids):
            held = starts_at < now
            activity = Activity(
                branch_id=branch.id,
                kind=kind.value,
                topic=f"{kind.value}：学习贯彻会议精神",
                starts_at=starts_at.astimezone(UTC),
                place="党员活动室",
                lecturer="党员00" if by_secretary else "",
                lecturer_is_secretary=by_secretary,
                party_group_id=group_id,
                status=(ActivityStatus.HELD if held else ActivityStatus.PLANNED).value,
                minutes="会议记录：全体与会党员认真学习，逐一发言，形成决议。" * 5 if held else None,
            )
            session.add(activity)
            await session.flush()
            assert activity.id is not None
            session.add(ActivityKindLink(activity_id=activity.id, kind=kind.value))
            if not held:
                continue
            if kind is ActivityKind.COMMITTEE_MEETING:
                expected = [m for m in members if Role(m.role) in COMMITTEE_ROLES]
            elif kind is ActivityKind.PARTY_GROUP_MEETING:
                expected = [m for m in members if m.party_group_id == group_id]
            else:
                expected = members
            for n, member in enumerate(expected):
                assert member.id is not None
                if n % 13 == 7:
                    continue  # absent, never recorded
                on_leave = n % 11 == 5
                session.add(
                    Attendance(
                        activity_id=activity.id,
                        member_id=member.id,
                        status=(AttendanceStatus.LEAVE if on_leave else AttendanceStatus.PRESENT).value,
                        method=AttendanceMethod.BUTTON.value,
                        leave_reason="出差" if on_leave else None,
                    )
                )
                attendance += 1
        await session.commit()
        activities = len(_activities_of_the_year(now.year, group_ids))
        return branch.id, activities, attendance


async def median_ms(run: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    """(median, max) milliseconds of ``repeat`` runs after one warm-up run."""
    await run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


async def bench(database_url: str, label: str, repeat: int) -> None:
    async with open_database(database_url) as sessions:
        await _bench(sessions, database_url, label, repeat)


async def _bench(sessions: async_sessionmaker[AsyncSession], database_url: str, label: str, repeat: int) -> None:
    now = datetime.now(UTC)
    started = time.perf_counter()
    branch_id, activities, attendance = await seed(sessions, now)
    print(f"\n== {label}: {MEMBERS} members, {activities} activities in {now.year}, {attendance} attendance rows "
          f"(seeded in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    year = LedgerPeriod(Period.YEAR, datetime(now.year, 1, 1).date())

    async def service_progress() -> object:
        async with sessions() as session:
            return await branch_progress(session, branch_id, datetime.now(UTC))

    async def service_export(fmt: LedgerFormat) -> LedgerFile:
        async with sessions() as session:
            return await export_ledger(session, branch_id, year, datetime.now(UTC), fmt)

    sizes = {fmt: len((await service_export(fmt)).content) for fmt in LedgerFormat}

    results: list[tuple[str, str, float, float, float]] = []
    for name, run, target in (
        ("/progress", service_progress, 50.0),
        (f"/export {now.year}", lambda: service_export(LedgerFormat.XLSX), 1000.0),
        (f"/export {now.year} csv", lambda: service_export(LedgerFormat.CSV), 1000.0),
    ):
        median, worst = await median_ms(run, repeat)
        results.append(("service", name, median, worst, target))

    api = BotApiSimulator()
    settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]
    app = build_application(settings, request=InProcessBotApi(api), answerer=Answerer([]))
    async with serving(app):

        def command(line: str) -> Callable[[], Awaitable[object]]:
            async def send() -> object:
                update = api.user_message(line, user=SECRETARY)
                return await app.process_update(Update.de_json(update, app.bot))

            return send

        for name, target in (("/progress", 50.0), (f"/export {now.year}", 1000.0), (f"/export {now.year} csv", 1000.0)):
            median, worst = await median_ms(command(name), repeat)
            results.append(("Application", name, median, worst, target))
        documents = sum(1 for call in api.calls if call.method == "sendDocument" and call.ok)

    print(f"   xlsx {sizes[LedgerFormat.XLSX] / 1024:.0f} KB, csv {sizes[LedgerFormat.CSV] / 1024:.0f} KB; "
          f"the bot sent {documents} of {2 * (repeat + 1)} ledgers")  # fmt: skip
    print(f"   {'path':<12} {'command':<18} {'median ms':>10} {'max ms':>8}  target")
    for path, name, median, worst, target in results:
        verdict = "ok" if median < target else "OVER"
        print(f"   {path:<12} {name:<18} {median:>10.1f} {worst:>8.1f}  < {target:.0f} ms {verdict}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs per measurement (median reported)")
    parser.add_argument("--database-url", help="also run on this PostgreSQL server (a throw-away database)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        await bench(f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}", "SQLite", args.repeat)
    if args.database_url:
        async with scratch_postgresql_database(args.database_url, "bench") as url:
            await bench(url, "PostgreSQL", args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
