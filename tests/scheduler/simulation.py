"""Run the planner over simulated time: an injected clock, scripted changes, and a stand-in for the delivery side.

The clock stops at every scripted change, at every pending reminder's due time and at least every ``step`` (the
planner's regular pass; reminders created ahead of time need no finer clock). At each stop the scripted changes due
by then are applied, the planner runs — and when it changed something, runs again at the same instant and must
change nothing — and every pending row that is due is marked sent (or missed past its expiry), as the delivery
would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Reminder, ReminderStatus
from scheduler.planner import plan

Change = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Delivered:
    due_at: datetime
    kind: str
    chat_id: int
    urgent: bool
    text: str
    status: str


async def deliver_due(sessions: async_sessionmaker[AsyncSession], now: datetime) -> list[Delivered]:
    """Mark every pending row due by ``now`` sent (or missed when expired), in due order."""
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(Reminder)
                .where(Reminder.status == ReminderStatus.PENDING.value, Reminder.due_at <= now)
                .order_by(Reminder.due_at, Reminder.dedup_key)
            )
        ).all()
        delivered = []
        for row in rows:
            expired = row.expires_at is not None and row.expires_at <= now
            row.status = (ReminderStatus.MISSED if expired else ReminderStatus.SENT).value
            row.sent_at = None if expired else now
            delivered.append(Delivered(row.due_at, row.kind, row.chat_id, row.urgent, row.text, row.status))
        await session.commit()
    return delivered


async def _next_due(sessions: async_sessionmaker[AsyncSession], after: datetime) -> datetime | None:
    async with sessions() as session:
        return await session.scalar(
            select(func.min(Reminder.due_at)).where(
                Reminder.status == ReminderStatus.PENDING.value, Reminder.due_at > after
            )
        )


async def simulate(
    sessions: async_sessionmaker[AsyncSession],
    start: datetime,
    end: datetime,
    changes: Sequence[tuple[datetime, Change]] = (),
    *,
    step: timedelta = timedelta(hours=12),
) -> list[Delivered]:
    """Everything delivered from ``start`` to ``end`` (inclusive)."""
    script = sorted(changes, key=lambda item: item[0])
    delivered: list[Delivered] = []
    now, done, due = start, 0, None
    while now <= end:
        while done < len(script) and script[done][0] <= now:
            await script[done][1]()
            done += 1
        first = await plan(sessions, now)
        assert first.failed_branches == 0
        if first.changes:
            again = await plan(sessions, now)
            assert again.changes == 0, f"planning twice at {now} changed {again}"
        if first.changes or (due is not None and due <= now):
            delivered.extend(await deliver_due(sessions, now))
            due = await _next_due(sessions, now)
        candidates = [now + step - timedelta(seconds=now.timestamp() % step.total_seconds())]
        if done < len(script):
            candidates.append(script[done][0])
        if due is not None:
            candidates.append(due)
        now = min(candidates)
    return delivered
