"""The delivery loop on virtual time with a fake notifier: quiet hours, downtime, faults, pacing, in-flight bound."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Member, Reminder
from bot.services.reminders import QuietHours
from scheduler import outbox
from scheduler.outbox import NOTICE_MISSED, NOTICE_UNREACHABLE, Backoff
from scheduler.pacing import Pacer
from scheduler.runner import (
    DELIVER_JOB,
    PLAN_JOB,
    SNOOZE,
    BadRequest,
    Blocked,
    Button,
    DeliveryPolicy,
    ReminderRunner,
    RetryLater,
    TransientError,
)
from tests.reminders.conftest import (
    SECRETARY_TG,
    Clock,
    FakeNotifier,
    add_rows,
    member_tg,
    reminder_row,
    row,
    seed_branch,
    statuses,
)

Sessions = async_sessionmaker[AsyncSession]
POLICY = DeliveryPolicy(interval=2.0, lease=60.0, batch=20, concurrency=4, send_timeout=5.0)


def _runner(sessions: Sessions, notifier: object, clock: Clock, policy: DeliveryPolicy = POLICY) -> ReminderRunner:
    return ReminderRunner(sessions, notifier, policy=policy, clock=clock, pacer=clock.pacer(), owner="test")  # type: ignore[arg-type]


def _shanghai(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """2026-03-<day> hour:minute in Asia/Shanghai, as UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def test_due_rows_are_sent_and_marked(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    ids = await add_rows(
        sessions,
        [
            reminder_row(branch.branch_id, member_tg(0), clock.now, payload=json.dumps({"snooze": True})),
            reminder_row(branch.branch_id, member_tg(1), clock.now - timedelta(minutes=3)),
            reminder_row(branch.branch_id, member_tg(2), clock.now + timedelta(minutes=5)),
        ],
    )
    notifier = FakeNotifier()
    report = await _runner(sessions, notifier, clock).deliver()
    assert (report.claimed, report.sent) == (2, 2)
    assert [chat for chat, _, _ in notifier.sent] == [member_tg(1), member_tg(0)]  # oldest due first
    assert notifier.sent[1][2] == (Button(SNOOZE, ids[0]),)
    state = await statuses(sessions)
    assert [state[i] for i in ids] == ["sent", "sent", "pending"]
    assert (await row(sessions, ids[0])).sent_at == clock.now


async def test_quiet_hours_defer_non_urgent_rows_found_due_at_night(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    clock.now = _shanghai(23, 30)  # e.g. just restarted after downtime
    deferred, urgent, useless, expires_later = await add_rows(
        sessions,
        [
            reminder_row(branch.branch_id, member_tg(0), _shanghai(21, 0)),
            reminder_row(branch.branch_id, member_tg(1), _shanghai(23, 0), urgent=True),
            reminder_row(branch.branch_id, member_tg(2), _shanghai(21, 0), expires_at=_shanghai(7, 30, day=3)),
            reminder_row(branch.branch_id, member_tg(0), _shanghai(22, 0), expires_at=_shanghai(9, 0, day=3)),
        ],
    )
    notifier = FakeNotifier()
    runner = _runner(sessions, notifier, clock)
    report = await runner.deliver()
    assert (report.sent, report.deferred, report.missed) == (1, 2, 1)
    assert notifier.texts_to(member_tg(1)) and not notifier.texts_to(member_tg(0))
    for reminder_id in (deferred, expires_later):
        state = await row(sessions, reminder_id)
        assert (state.status, state.due_at) == ("pending", _shanghai(8, 0, day=3))
    assert (await row(sessions, useless)).status == "missed"  # 08:00 would be past its expiry
    assert (await row(sessions, urgent)).status == "sent"

    clock.now = _shanghai(8, 0, day=3)
    await runner.deliver()
    assert len(notifier.texts_to(member_tg(0))) == 2
    # the 书记 hears about the missed one in the morning too (the summary waited out the quiet hours)
    (summary,) = notifier.texts_to(SECRETARY_TG)
    assert "1 条提醒" in summary


async def test_quiet_hours_follow_the_branch_time_zone_and_can_be_off(sessions: Sessions, clock: Clock) -> None:
    berlin = await seed_branch(sessions, timezone="Europe/Berlin", number=1)
    clock.now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, 16:00 in Berlin
    shanghai = await seed_branch(sessions)
    ids = await add_rows(
        sessions,
        [reminder_row(berlin.branch_id, member_tg(0, 1), clock.now), reminder_row(shanghai.branch_id, 5, clock.now)],
    )
    await _runner(sessions, FakeNotifier(), clock).deliver()
    assert [(await statuses(sessions))[i] for i in ids] == ["sent", "pending"]
    (another,) = await add_rows(sessions, [reminder_row(shanghai.branch_id, 6, clock.now)])
    quiet_off = DeliveryPolicy(interval=2.0, lease=60.0, quiet_hours=None)
    await _runner(sessions, FakeNotifier(), clock, quiet_off).deliver()
    assert (await statuses(sessions))[another] == "sent"


async def test_after_downtime_late_rows_go_out_and_expired_ones_are_summarised_once(
    sessions: Sessions, clock: Clock
) -> None:
    branch = await seed_branch(sessions)
    down_since = clock.now - timedelta(hours=3)
    late, missed_one, missed_two = await add_rows(
        sessions,
        [
            reminder_row(
                branch.branch_id,
                member_tg(0),
                down_since + timedelta(hours=1),
                expires_at=clock.now + timedelta(hours=2),
            ),
            reminder_row(
                branch.branch_id,
                member_tg(1),
                down_since + timedelta(hours=1),
                expires_at=down_since + timedelta(hours=2),
            ),
            reminder_row(branch.branch_id, member_tg(2), down_since, expires_at=clock.now),
        ],
    )
    notifier = FakeNotifier()
    runner = _runner(sessions, notifier, clock)
    report = await runner.deliver()
    assert (report.missed, report.sent) == (2, 2)  # the late one, and the summary to the 书记
    state = await statuses(sessions)
    assert (state[late], state[missed_one], state[missed_two]) == ("sent", "missed", "missed")
    (summary,) = notifier.texts_to(SECRETARY_TG)
    assert "2 条提醒" in summary
    clock.advance(minutes=5)
    await runner.deliver()
    assert len(notifier.texts_to(SECRETARY_TG)) == 1


async def test_flood_control_waits_and_sends_again(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    (short,) = await add_rows(sessions, [reminder_row(branch.branch_id, member_tg(0), clock.now)])
    notifier = FakeNotifier(script={member_tg(0): [RetryLater(1.5)], member_tg(1): [RetryLater(600)]})
    runner = _runner(sessions, notifier, clock)
    start = clock.now
    await runner.deliver()
    assert notifier.texts_to(member_tg(0)) and clock.now - start >= timedelta(seconds=1.5)
    assert (await row(sessions, short)).status == "sent"

    # a long retry_after: the row goes back to pending for that long, and everything else waits too
    long, other = await add_rows(
        sessions,
        [reminder_row(branch.branch_id, member_tg(1), clock.now), reminder_row(branch.branch_id, 7, clock.now)],
    )
    start = clock.now
    report = await runner.deliver()
    assert report.postponed == 2 and not notifier.texts_to(7)
    waiting = await row(sessions, long)
    assert waiting.status == "pending" and waiting.due_at >= start + timedelta(seconds=600)
    assert waiting.attempts == 0  # flood control is not the message's fault
    assert (await row(sessions, other)).due_at >= start + timedelta(seconds=599)


async def test_blocked_members_bad_requests_and_transient_errors(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions, members=4)
    blocked = Blocked("Forbidden: bot was blocked by the user")
    rows = [
        reminder_row(branch.branch_id, member_tg(0), clock.now, member_id=branch.member_ids[0]),
        reminder_row(branch.branch_id, member_tg(1), clock.now, member_id=branch.member_ids[1]),
        reminder_row(branch.branch_id, member_tg(0), clock.now, member_id=branch.member_ids[0]),
        reminder_row(branch.branch_id, member_tg(2), clock.now),
        reminder_row(branch.branch_id, member_tg(3), clock.now),
    ]
    ids = await add_rows(sessions, rows)
    notifier = FakeNotifier(
        script={
            member_tg(0): [blocked, blocked],
            member_tg(1): [blocked],
            member_tg(2): [BadRequest("Bad Request: can't parse entities")],
            member_tg(3): [TransientError("NetworkError: Bad Gateway")] * 2,
        }
    )
    policy = DeliveryPolicy(interval=2.0, lease=60.0, backoff=Backoff(base=timedelta(seconds=10), max_attempts=3))
    runner = _runner(sessions, notifier, clock, policy)
    report = await runner.deliver()
    assert (report.failed, report.unreachable, report.retried) == (4, 2, 1)
    state = await statuses(sessions)
    assert [state[i] for i in ids] == ["failed", "failed", "failed", "failed", "pending"]
    second_for_blocked = await row(sessions, ids[2])
    assert second_for_blocked.last_error == "member unreachable: blocked the bot earlier"
    bad = await row(sessions, ids[3])
    assert bad.attempts == 1 and bad.last_error.startswith("BadRequest")
    async with sessions() as session:
        reachable = dict((await session.execute(select(Member.id, Member.reachable))).all())
    assert [reachable[m] for m in branch.member_ids] == [False, False, True, True]

    for _ in range(3):
        clock.advance(seconds=30)
        await runner.deliver()
    (notice,) = notifier.texts_to(SECRETARY_TG)  # once, naming both
    assert "党员0-0" in notice and "党员0-1" in notice
    retried = await row(sessions, ids[4])
    assert (retried.status, retried.attempts) == ("sent", 2)  # two 502s, then through
    async with sessions() as session:
        kinds = (await session.execute(select(Reminder.kind).where(Reminder.chat_id == SECRETARY_TG))).scalars()
        assert list(kinds) == [NOTICE_UNREACHABLE]


async def test_transient_errors_give_up_after_the_limit(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    (reminder_id,) = await add_rows(sessions, [reminder_row(branch.branch_id, 7, clock.now)])
    notifier = FakeNotifier(script={7: [TransientError("TimedOut")] * 10})
    policy = DeliveryPolicy(interval=2.0, lease=60.0, backoff=Backoff(base=timedelta(seconds=1), max_attempts=3))
    runner = _runner(sessions, notifier, clock, policy)
    for _ in range(5):
        await runner.deliver()
        clock.advance(seconds=10)
    state = await row(sessions, reminder_id)
    assert (state.status, state.attempts) == ("failed", 3)
    assert len(notifier.script[7]) == 7  # three tries, then no more


async def test_sends_are_paced_per_chat_and_overall(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    await add_rows(sessions, [reminder_row(branch.branch_id, -100, clock.now) for _ in range(5)])
    await add_rows(sessions, [reminder_row(branch.branch_id, 10 + i, clock.now) for i in range(60)])
    sent_at: list[tuple[int, float]] = []

    class RecordingPacer(Pacer):
        def record(self, chat_id: int) -> None:
            sent_at.append((chat_id, self.now()))
            super().record(chat_id)

    notifier = FakeNotifier()
    runner = ReminderRunner(
        sessions,
        notifier,
        policy=DeliveryPolicy(interval=2.0, lease=60.0, batch=100),
        clock=clock,
        pacer=RecordingPacer(clock=clock.seconds, sleep=clock.sleep),
    )
    while len(notifier.sent) < 65:
        await runner.deliver()
        clock.advance(seconds=1)
    group = [at for chat, at in sent_at if chat == -100]
    assert len(group) == 5 and all(b - a >= 1.0 for a, b in itertools.pairwise(group))
    times = sorted(at for _, at in sent_at)
    assert max(sum(1 for t in times if s <= t < s + 1) for s in times) <= 30
    assert times[-1] - times[0] <= 65 / 30 + 2  # the private chats did not wait for the group


async def test_in_flight_sends_never_exceed_the_concurrency(sessions: Sessions, clock: Clock) -> None:
    branch = await seed_branch(sessions)
    await add_rows(sessions, [reminder_row(branch.branch_id, 100 + i, clock.now) for i in range(30)])
    in_flight, most = 0, 0

    class Slow(FakeNotifier):
        async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    report = await _runner(sessions, Slow(), clock).deliver()
    assert report.sent == 30 and most == POLICY.concurrency


@pytest.mark.parametrize("stop_while_sending", [False, True])
async def test_start_schedules_both_jobs_and_stop_releases_unsent_rows(
    sessions: Sessions, stop_while_sending: bool
) -> None:
    branch = await seed_branch(sessions)
    now = datetime.now(UTC)
    await add_rows(sessions, [reminder_row(branch.branch_id, 100 + i, now) for i in range(10)])
    started = asyncio.Event()
    planned: list[datetime] = []

    class Gate(FakeNotifier):
        async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
            started.set()
            if stop_while_sending:
                await asyncio.sleep(0.2)
            self.sent.append((chat_id, text, tuple(buttons)))

    async def planner(_sessions: Sessions, at: datetime, branch_id: int | None = None) -> str:
        planned.append(at)
        return "planned"

    notifier = Gate()
    policy = DeliveryPolicy(interval=1.0, lease=10.0, concurrency=2, send_timeout=2.0, quiet_hours=None)
    runner = ReminderRunner(sessions, notifier, policy=policy, planner=planner)
    runner.start()
    try:
        jobs = {job.id: job for job in runner._scheduler.get_jobs()}  # type: ignore[union-attr]
        assert set(jobs) == {DELIVER_JOB, PLAN_JOB}
        for job in jobs.values():
            assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
        await asyncio.wait_for(started.wait(), timeout=10)
    finally:
        await runner.stop()
        await runner.stop()  # idempotent
    assert planned
    state = await statuses(sessions)
    if stop_while_sending:
        # what was in flight finished and was recorded; nothing is left claimed
        assert sorted(set(state.values())) == ["pending", "sent"]
        assert list(state.values()).count("sent") == len(notifier.sent) >= 1
    else:
        await asyncio.sleep(0)
        assert "sending" not in state.values()


def test_quiet_hours_arithmetic() -> None:
    quiet = QuietHours()
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    assert quiet.release(_shanghai(12, 0), zone) is None
    assert quiet.release(_shanghai(22, 0), zone) == _shanghai(8, 0, day=3)
    assert quiet.release(_shanghai(7, 59), zone) == _shanghai(8, 0)
    assert quiet.release(_shanghai(8, 0), zone) is None
    daytime = QuietHours(start=datetime(2000, 1, 1, 12).time(), end=datetime(2000, 1, 1, 14).time())
    assert daytime.release(_shanghai(13, 0), zone) == _shanghai(14, 0)
    assert daytime.release(_shanghai(15, 0), zone) is None


def test_policy_refuses_a_lease_shorter_than_a_run() -> None:
    with pytest.raises(ValueError, match="lease"):
        DeliveryPolicy(interval=5.0, lease=10.0, send_timeout=5.0)


async def test_notices_are_not_missed(sessions: Sessions, clock: Clock) -> None:
    """A summary has no expiry: it waits out quiet hours and is sent whenever the bot runs."""
    branch = await seed_branch(sessions)
    await add_rows(
        sessions,
        [reminder_row(branch.branch_id, 5, clock.now - timedelta(days=2), expires_at=clock.now - timedelta(days=1))],
    )
    runner = _runner(sessions, FakeNotifier(), clock)
    await runner.deliver()
    async with sessions() as session:
        (notice,) = (await session.execute(select(Reminder).where(Reminder.kind == NOTICE_MISSED))).scalars()
    assert notice.expires_at is None and notice.status == "sent"


async def test_when_results_cannot_be_recorded_at_most_the_in_flight_sends_repeat(
    sessions: Sessions, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-process version of a crash between sending and marking."""
    branch = await seed_branch(sessions)
    texts = [f"记录失败 {i}" for i in range(30)]
    await add_rows(sessions, [reminder_row(branch.branch_id, 300 + i, clock.now, text=t) for i, t in enumerate(texts)])
    record_sent = outbox.mark_sent
    calls = 0

    async def database_gone_after_four(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls > 4:
            raise ConnectionError("database went away")
        return await record_sent(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "mark_sent", database_gone_after_four)
    notifier = FakeNotifier()
    runner = _runner(sessions, notifier, clock)  # concurrency 4
    await runner.deliver()
    assert 4 < len(notifier.sent) <= 4 + POLICY.concurrency  # it stopped sending at once
    monkeypatch.setattr(outbox, "mark_sent", record_sent)
    clock.advance(seconds=POLICY.lease + 1)  # the leases of the unrecorded rows run out
    await runner.deliver()
    delivered = Counter(text for _, text, _ in notifier.sent)
    assert set(delivered) == set(texts)  # nothing lost
    assert sum(delivered.values()) - len(texts) <= POLICY.concurrency  # repeats: at most what was in flight
    assert set((await statuses(sessions)).values()) == {"sent"}
