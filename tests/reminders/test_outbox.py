"""The outbox on SQLite and PostgreSQL: atomic claims, leases, marks, and notices told once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import make_engine, make_session_factory
from bot.models import Member, Reminder
from scheduler import outbox
from scheduler.outbox import NOTICE_MISSED, NOTICE_UNREACHABLE, Backoff
from tests.reminders.conftest import (
    NOON_SHANGHAI,
    SECRETARY_TG,
    add_rows,
    member_tg,
    reminder_row,
    row,
    seed_branch,
    statuses,
)

LEASE = timedelta(seconds=60)
NOW = NOON_SHANGHAI


async def _notices(sessions: async_sessionmaker[AsyncSession], kind: str) -> list[Reminder]:
    async with sessions() as session:
        return list((await session.execute(select(Reminder).where(Reminder.kind == kind))).scalars())


async def test_claim_takes_due_pending_rows_oldest_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions)
    ids = await add_rows(
        sessions,
        [
            reminder_row(branch.branch_id, 1, NOW - timedelta(minutes=1)),
            reminder_row(branch.branch_id, 1, NOW - timedelta(minutes=5)),
            reminder_row(branch.branch_id, 1, NOW),
            reminder_row(branch.branch_id, 1, NOW + timedelta(seconds=1)),  # not due yet
            reminder_row(branch.branch_id, 1, NOW - timedelta(hours=1), status="sent"),
        ],
    )
    claimed = await outbox.claim_due(sessions, "a", NOW, 2, LEASE)
    assert [r.id for r in claimed] == [ids[1], ids[0]]
    assert all(r.lease_until == NOW + LEASE for r in claimed)
    again = await outbox.claim_due(sessions, "b", NOW, 10, LEASE)
    assert [r.id for r in again] == [ids[2]]
    state = await row(sessions, ids[1])
    assert (state.status, state.lease_owner) == ("sending", "a")
    assert (await statuses(sessions))[ids[3]] == "pending"


async def test_concurrent_claimers_never_get_the_same_row(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    branch = await seed_branch(sessions)
    ids = await add_rows(sessions, [reminder_row(branch.branch_id, 1, NOW - timedelta(seconds=i)) for i in range(400)])
    engines = [make_engine(database_url) for _ in range(4)]  # separate pools, as separate instances have

    async def claimer(owner: str, engine_sessions: async_sessionmaker[AsyncSession]) -> list[int]:
        taken: list[int] = []
        while batch := await outbox.claim_due(engine_sessions, owner, NOW, 7, LEASE):
            taken.extend(r.id for r in batch)
            await asyncio.sleep(0)
        return taken

    try:
        results = await asyncio.gather(
            *(claimer(f"owner{i}", make_session_factory(engine)) for i, engine in enumerate(engines))
        )
    finally:
        for engine in engines:
            await engine.dispose()
    everything = [reminder_id for taken in results for reminder_id in taken]
    assert sorted(everything) == sorted(ids)  # each row exactly once
    assert sum(1 for taken in results if taken) >= 2  # they really competed


async def test_an_expired_lease_returns_the_row_to_pending(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 1, NOW)])
    assert [r.id for r in await outbox.claim_due(sessions, "dead", NOW, 10, LEASE)] == [reminder_id]
    assert await outbox.claim_due(sessions, "alive", NOW + LEASE - timedelta(seconds=1), 10, LEASE) == []
    reclaimed = await outbox.claim_due(sessions, "alive", NOW + LEASE + timedelta(seconds=1), 10, LEASE)
    assert [r.id for r in reclaimed] == [reminder_id]
    # the instance that lost the lease can no longer mark it; the new owner can
    assert not await outbox.mark_sent(sessions, reminder_id, "dead", NOW + LEASE)
    assert await outbox.mark_sent(sessions, reminder_id, "alive", NOW + LEASE)
    state = await row(sessions, reminder_id)
    assert (state.status, state.lease_owner, state.lease_until) == ("sent", None, None)
    assert state.sent_at == NOW + LEASE


async def test_retry_backs_off_then_fails(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 1, NOW)])
    backoff = Backoff(base=timedelta(seconds=10), cap=timedelta(seconds=25), max_attempts=4)
    now = NOW
    delays = []
    for _ in range(3):
        (claimed,) = await outbox.claim_due(sessions, "a", now, 10, LEASE)
        assert (
            await outbox.mark_retry(sessions, claimed.id, "a", now, "NetworkError: Bad Gateway", backoff) == "pending"
        )
        state = await row(sessions, reminder_id)
        delays.append(state.due_at - now)
        now = state.due_at
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=25)]
    (claimed,) = await outbox.claim_due(sessions, "a", now, 10, LEASE)
    assert await outbox.mark_retry(sessions, claimed.id, "a", now, "NetworkError: Bad Gateway", backoff) == "failed"
    state = await row(sessions, reminder_id)
    assert (state.status, state.attempts, state.last_error) == ("failed", 4, "NetworkError: Bad Gateway")


async def test_expired_rows_are_missed_and_summarised_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions, chat_id=-1001)
    expired = await add_rows(
        sessions,
        [
            reminder_row(branch.branch_id, 1, NOW - timedelta(hours=3), expires_at=NOW - timedelta(hours=2)),
            reminder_row(
                branch.branch_id, 1, NOW - timedelta(hours=2), expires_at=NOW, text="<b>明天</b> 支委会 &amp; 党课"
            ),
        ],
    )
    late = await add_rows(
        sessions, [reminder_row(branch.branch_id, 1, NOW - timedelta(hours=2), expires_at=NOW + timedelta(hours=1))]
    )
    assert await outbox.sweep_missed(sessions, NOW) == 2
    assert await outbox.sweep_missed(sessions, NOW) == 0
    state = await statuses(sessions)
    assert [state[i] for i in expired] == ["missed", "missed"] and state[late[0]] == "pending"
    (notice,) = await _notices(sessions, NOTICE_MISSED)
    assert (notice.chat_id, notice.member_id, notice.status) == (SECRETARY_TG, branch.secretary_id, "pending")
    assert notice.due_at == NOW and notice.expires_at is None and not notice.urgent
    assert "2 条提醒" in notice.text and "明天 支委会 &amp; 党课" in notice.text and "3月2日 07:00" in notice.text

    # rows claimed and found expired while the notice is still unsent are added to it, not told separately
    (claimed,) = await outbox.claim_due(sessions, "a", NOW + timedelta(hours=2), 1, LEASE)
    assert claimed.id == late[0] and claimed.expired(NOW + timedelta(hours=2))
    assert await outbox.mark_missed(sessions, [claimed], "a", NOW + timedelta(hours=2)) == 1
    (notice,) = await _notices(sessions, NOTICE_MISSED)
    assert "3 条提醒" in notice.text and json.loads(notice.payload)["count"] == 3


async def test_blocked_members_become_unreachable_and_the_secretary_hears_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    branch = await seed_branch(sessions, members=3)
    rows = [reminder_row(branch.branch_id, member_tg(i), NOW, member_id=branch.member_ids[i]) for i in (0, 1, 0)]
    await add_rows(sessions, rows)
    claimed = await outbox.claim_due(sessions, "a", NOW, 10, LEASE)
    told = [await outbox.mark_blocked(sessions, r, "a", NOW, "Forbidden: bot was blocked by the user") for r in claimed]
    assert told == [True, True, False]  # the second 403 of member 0 changes nothing
    assert set((await statuses(sessions)).values()) >= {"failed"}
    async with sessions() as session:
        reachable = dict((await session.execute(select(Member.id, Member.reachable))).all())
    assert [reachable[m] for m in branch.member_ids] == [False, False, True]
    (notice,) = await _notices(sessions, NOTICE_UNREACHABLE)
    assert notice.chat_id == SECRETARY_TG
    assert "党员0-0" in notice.text and "党员0-1" in notice.text and "党员0-2" not in notice.text


async def test_no_organizer_no_unreachable_notice(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions, members=1)
    async with sessions() as session, session.begin():
        secretary = await session.get(Member, branch.secretary_id)
        assert secretary is not None
        secretary.reachable = False
    await add_rows(sessions, [reminder_row(branch.branch_id, member_tg(0), NOW, member_id=branch.member_ids[0])])
    (claimed,) = await outbox.claim_due(sessions, "a", NOW, 10, LEASE)
    assert await outbox.mark_blocked(sessions, claimed, "a", NOW, "Forbidden")
    assert await _notices(sessions, NOTICE_UNREACHABLE) == []


async def test_defer_and_release_return_rows_to_pending(sessions: async_sessionmaker[AsyncSession]) -> None:
    branch = await seed_branch(sessions)
    first, second = await add_rows(
        sessions, [reminder_row(branch.branch_id, 1, NOW), reminder_row(branch.branch_id, 2, NOW)]
    )
    await outbox.claim_due(sessions, "a", NOW, 10, LEASE)
    morning = NOW + timedelta(hours=20)
    assert await outbox.defer(sessions, "b", {first: morning}) == 0  # not b's
    assert await outbox.defer(sessions, "a", {first: morning}) == 1
    assert await outbox.release(sessions, "a", [second]) == 1
    one, two = await row(sessions, first), await row(sessions, second)
    assert (one.status, one.due_at, one.lease_owner) == ("pending", morning, None)
    assert (two.status, two.due_at, two.attempts) == ("pending", NOW, 0)
