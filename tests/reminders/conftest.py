"""Reminder-delivery fixtures: a branch with a 书记 and members, reminder rows written directly, a settable clock."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Branch, Member, Reminder, Role
from scheduler.pacing import Pacer
from scheduler.runner import Button

# 10:00 in Shanghai: outside the default quiet hours
NOON_SHANGHAI = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRETARY_TG = 900_001
_keys = itertools.count(1)


@dataclass(slots=True)
class Clock:
    """Virtual time for ``ReminderRunner(clock=...)`` and its pacer: sleeping advances it at once."""

    now: datetime = NOON_SHANGHAI

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def seconds(self) -> float:
        return (self.now - NOON_SHANGHAI).total_seconds()

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(microseconds=math.ceil(seconds * 1e6))  # never a zero step
        await asyncio.sleep(0)

    def pacer(self, **limits: Any) -> Pacer:
        return Pacer(clock=self.seconds, sleep=self.sleep, **limits)


@dataclass(slots=True)
class SeededBranch:
    branch_id: int
    secretary_id: int
    member_ids: list[int]  # member i has Telegram id member_tg(i)
    chat_id: int | None


def member_tg(index: int, branch: int = 0) -> int:
    return 1_000_000 + branch * 10_000 + index


async def seed_branch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    members: int = 3,
    number: int = 0,
    chat_id: int | None = None,
    timezone: str = "Asia/Shanghai",
) -> SeededBranch:
    """A branch with a 书记 (Telegram id SECRETARY_TG + number) and ``members`` ordinary members."""
    async with sessions() as session, session.begin():
        branch = Branch(name=f"第{number + 1}党支部", chat_id=chat_id, timezone=timezone)
        session.add(branch)
        await session.flush()
        secretary = Member(
            branch_id=branch.id, telegram_user_id=SECRETARY_TG + number, name=f"书记{number}", role=Role.SECRETARY
        )
        people = [
            Member(branch_id=branch.id, telegram_user_id=member_tg(i, number), name=f"党员{number}-{i}")
            for i in range(members)
        ]
        session.add_all([secretary, *people])
        await session.flush()
        return SeededBranch(branch.id, secretary.id, [m.id for m in people], chat_id)


def reminder_row(branch_id: int, chat_id: int, due_at: datetime, **values: Any) -> dict[str, Any]:
    """Column values of one pending reminder (unique dedup key, text 提醒 #n unless given)."""
    number = next(_keys)
    return {
        "branch_id": branch_id,
        "kind": "activity_day_before",
        "dedup_key": f"test:{number}",
        "chat_id": chat_id,
        "due_at": due_at,
        "text": f"提醒 #{number}",
        "payload": "{}",
        "status": "pending",
        "attempts": 0,
        "urgent": False,
        "created_at": due_at,
        **values,
    }


async def add_rows(sessions: async_sessionmaker[AsyncSession], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert reminder rows; their ids in order."""
    ids: list[int] = []
    async with sessions() as session, session.begin():
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            result = await session.execute(insert(Reminder).returning(Reminder.id, sort_by_parameter_order=True), chunk)
            ids.extend(result.scalars().all())
    return ids


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sessions() as session:
        return dict((await session.execute(select(Reminder.id, Reminder.status))).all())


async def row(sessions: async_sessionmaker[AsyncSession], reminder_id: int) -> Reminder:
    async with sessions() as session:
        found = await session.get(Reminder, reminder_id)
        assert found is not None
        return found


@dataclass
class FakeNotifier:
    """Records sends; ``script[chat_id]`` lists exceptions to raise for the next sends to that chat."""

    sent: list[tuple[int, str, tuple[Button, ...]]] = field(default_factory=list)
    script: dict[int, list[Exception]] = field(default_factory=dict)

    async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
        if failures := self.script.get(chat_id):
            raise failures.pop(0)
        self.sent.append((chat_id, text, tuple(buttons)))

    def texts_to(self, chat_id: int) -> list[str]:
        return [text for chat, text, _ in self.sent if chat == chat_id]


@pytest.fixture
def clock() -> Clock:
    return Clock()
