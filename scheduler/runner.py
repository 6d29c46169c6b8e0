"""Reminder delivery: the Notifier protocol, the delivery loop, and the APScheduler jobs that drive it.

Two interval jobs on an AsyncIOScheduler: ``plan`` (every few minutes) derives reminder rows from the database,
``deliver`` (every few seconds) claims due rows (scheduler.outbox), paces them (scheduler.pacing) and sends
them through a `Notifier` — bot/notifier.py on Telegram, a fake in tests. Nothing that matters lives in memory:
a restarted or second instance carries on from the rows.

At most ``concurrency`` sends are in flight (started, not yet recorded) at any moment, and that is all a crash
can repeat: rows claimed but not yet sent go back to pending when their lease runs out and are sent once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.db import utcnow
from bot.services.reminders import QuietHours
from scheduler import outbox
from scheduler.outbox import Backoff, ClaimedReminder, DeliveryContext, Sessions
from scheduler.pacing import Pacer

logger = logging.getLogger(__name__)

DELIVER_JOB = "deliver-reminders"
PLAN_JOB = "plan-reminders"
SNOOZE = "snooze"  # the 稍后提醒 button (payload {"snooze": true})
LEASE_MARGIN = 2.0  # seconds a lease must outlast a send that starts now (clock skew, recording the result)
UNREACHABLE_ERROR = "member unreachable: blocked the bot earlier"
STOP_GRACE = 5.0  # seconds stop() waits beyond the send timeout for runs to finish


# --- what the runner needs from a chat platform ----------------------------------------------------------------


class DeliveryError(Exception):
    """A send did not go through; the subclass says what to do about it."""


class Blocked(DeliveryError):
    """403: the user blocked the bot (or the bot was removed from the chat). Not retried."""


class RetryLater(DeliveryError):
    """429: flood control; nothing should be sent for ``seconds``."""

    def __init__(self, seconds: float, message: str = "") -> None:
        super().__init__(message or f"retry after {seconds:g} s")
        self.seconds = seconds


class BadRequest(DeliveryError):
    """400: the message itself is wrong (or the chat is gone). Not retried."""


class TransientError(DeliveryError):
    """5xx, timeouts, network trouble: retried with backoff up to a limit."""


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button under a reminder; ``action`` is one of the constants above (e.g. SNOOZE)."""

    action: str
    reminder_id: int


class Notifier(Protocol):
    async def send(self, chat_id: int, text: str, buttons: Sequence[Button] = ()) -> None:
        """Send one message, or raise one of the DeliveryError subclasses."""


class Planner(Protocol):
    """Plans reminders of every branch, or of one (scheduler.planner.plan)."""

    def __call__(self, sessions: Sessions, now: datetime, branch_id: int | None = None) -> Awaitable[object]: ...


# --- policy --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Timings and limits of delivery (from Settings in bot/app.py)."""

    interval: float = 2.0  # seconds between delivery runs
    plan_interval: float = 300.0  # seconds between planner runs
    lease: float = 60.0  # seconds a claimed row stays ours; must outlast a batch's sends
    batch: int = 50  # rows claimed at once
    concurrency: int = 8  # sends in flight at once: the most a crash can repeat
    send_timeout: float = 10.0  # seconds one send may take before it counts as a transient failure
    quiet_hours: QuietHours | None = field(default_factory=QuietHours)
    backoff: Backoff = field(default_factory=Backoff)
    default_timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if min(self.interval, self.plan_interval, self.send_timeout) <= 0 or min(self.batch, self.concurrency) < 1:
            raise ValueError("delivery intervals, timeouts, batch and concurrency must be positive")
        if self.lease < self.interval + self.send_timeout + LEASE_MARGIN:
            raise ValueError("the delivery lease must outlast an interval plus a send (timeout and margin)")


@dataclass(slots=True)
class DeliveryReport:
    """What one delivery run did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0  # transient failure, pending again after a backoff
    failed: int = 0  # gave up (400, 403, too many attempts, member unreachable)
    unreachable: int = 0  # members newly marked unreachable (403)
    missed: int = 0  # expired before they could be sent
    deferred: int = 0  # quiet hours
    postponed: int = 0  # chat busy or flood control: pending again a little later
    released: int = 0  # unsent at shutdown: pending again as they were

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__slots__)

    def summary(self) -> str:
        return " ".join(f"{name}={getattr(self, name)}" for name in self.__slots__)


def instance_owner() -> str:
    """A lease owner id unique to this process: hostname-pid-random."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"


def buttons_for(row: ClaimedReminder) -> tuple[Button, ...]:
    return (Button(SNOOZE, row.id),) if row.payload.get(SNOOZE) else ()


# --- the runner ----------------------------------------------------------------------------------------------


class ReminderRunner:
    """Claims, paces, sends and marks reminders; ``start`` schedules the jobs, ``stop`` ends them gracefully."""

    def __init__(
        self,
        sessions: Sessions,
        notifier: Notifier,
        *,
        policy: DeliveryPolicy | None = None,
        planner: Planner | None = None,
        clock: Callable[[], datetime] = utcnow,
        pacer: Pacer | None = None,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.notifier = notifier
        self.policy = policy or DeliveryPolicy()
        self.planner = planner
        self.clock = clock
        self.pacer = pacer or Pacer()
        self.owner = owner or instance_owner()
        self._scheduler: AsyncIOScheduler | None = None
        self._runs: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- jobs ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule delivery (first run at once) and planning on the running event loop."""
        scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)  # APScheduler keeps wall-clock time itself; the runs use self.clock
        # Late runs are still wanted, however late (a run reads the rows, so running late loses nothing while
        # skipping one delays everything): no misfire limit. Missed runs collapse into one (coalesce), and
        # never two at once (max_instances): two overlapping runs would only compete for the same rows.
        jobs = [(self._deliver_job, self.policy.interval, DELIVER_JOB, "deliver due reminders")]
        if self.planner is not None:
            jobs.append((self._plan_job, self.policy.plan_interval, PLAN_JOB, "plan reminders"))
        for job, seconds, job_id, name in jobs:
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=seconds, timezone=UTC),
                id=job_id,
                name=name,
                next_run_time=now,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
        scheduler.start()
        self._scheduler = scheduler
        self._stopping = False
        logger.info(
            "reminder runner started: owner=%s interval=%gs plan_interval=%gs lease=%gs batch=%d concurrency=%d",
            self.owner,
            self.policy.interval,
            self.policy.plan_interval,
            self.policy.lease,
            self.policy.batch,
            self.policy.concurrency,
        )

    async def stop(self) -> None:
        """Stop scheduling; a run in progress sends what is in flight, releases the rest and ends. Idempotent."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        self._stopping = True
        # No new runs; let the current ones end before shutting down (APScheduler cancels running coroutines).
        scheduler.pause()
        if self._runs:
            _, late = await asyncio.wait(self._runs, timeout=self.policy.send_timeout + STOP_GRACE)
            for task in late:
                task.cancel()
        scheduler.shutdown(wait=False)
        logger.info("reminder runner stopped: owner=%s", self.owner)

    async def _deliver_job(self) -> None:
        # While a run drains a backlog, its job is paused: the scheduler neither skips runs with a warning nor
        # starts a second one; it resumes on the next interval tick after the run.
        scheduler = self._scheduler
        task = asyncio.current_task()
        assert task is not None
        self._runs.add(task)
        if scheduler is not None:
            scheduler.pause_job(DELIVER_JOB)
        try:
            await self.deliver()
        except Exception:
            logger.exception("reminder delivery run failed: owner=%s", self.owner)
        finally:
            self._runs.discard(task)
            if scheduler is not None and self._scheduler is scheduler:
                scheduler.resume_job(DELIVER_JOB)

    async def _plan_job(self) -> None:
        assert self.planner is not None
        task = asyncio.current_task()
        assert task is not None
        self._runs.add(task)
        try:
            result = await self.planner(self.sessions, self.clock())
            logger.info("reminder planning done: %s", result)
        except Exception:
            logger.exception("reminder planning failed")
        finally:
            self._runs.discard(task)

    def plan_branch_soon(self, branch_id: int) -> None:
        """Plan one branch's reminders now, in the background: after an activity or a rule changed, its reminders
        follow at once rather than at the next planning pass (a cancelled meeting's reminder, due in a minute,
        must not go out). Does nothing while the runner is not started."""
        if self.planner is None or self._scheduler is None:
            return
        task = asyncio.create_task(self._plan_branch(branch_id), name=f"plan-branch-{branch_id}")
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _plan_branch(self, branch_id: int) -> None:
        assert self.planner is not None
        try:
            result = await self.planner(self.sessions, self.clock(), branch_id=branch_id)
            logger.info("reminder planning of branch %s done: %s", branch_id, result)
        except Exception:
            logger.exception("reminder planning of branch %s failed", branch_id)

    # -- one delivery run ------------------------------------------------------------------------------------

    async def deliver(self) -> DeliveryReport:
        """Send what is due: expired rows become missed, then batches are claimed until none is full."""
        report = DeliveryReport()
        report.missed += await outbox.sweep_missed(self.sessions, self.clock())
        lease = timedelta(seconds=self.policy.lease)
        while not self._stopping:
            claimed = await outbox.claim_due(self.sessions, self.owner, self.clock(), self.policy.batch, lease)
            report.claimed += len(claimed)
            if claimed and not await self._deliver_batch(claimed, report):
                break  # results could not be recorded: no more sends until the next run
            if len(claimed) < self.policy.batch:
                break
        if report:
            logger.info("reminder delivery run: owner=%s %s", self.owner, report.summary())
        return report

    async def _deliver_batch(self, rows: list[ClaimedReminder], report: DeliveryReport) -> bool:
        """Miss, defer or send each claimed row; False if recording a send failed."""
        now = self.clock()
        context = await outbox.delivery_context(self.sessions, rows, self.policy.default_timezone)
        missed: list[ClaimedReminder] = []
        deferred: dict[int, datetime] = {}
        sendable: list[ClaimedReminder] = []
        for row in rows:
            if row.expired(now):
                missed.append(row)
            elif row.member_id is not None and row.member_id in context.unreachable:
                report.failed += await outbox.mark_failed(self.sessions, row.id, self.owner, UNREACHABLE_ERROR)
            elif (until := self._quiet_until(row, context, now)) is not None:
                if row.expired(until):
                    missed.append(row)
                else:
                    deferred[row.id] = until
            else:
                sendable.append(row)
        if missed:
            report.missed += await outbox.mark_missed(self.sessions, missed, self.owner, now)
        if deferred:
            report.deferred += await outbox.defer(self.sessions, self.owner, deferred)
        return await _Dispatch(self, sendable, report).run() if sendable else True

    def _quiet_until(self, row: ClaimedReminder, context: DeliveryContext, now: datetime) -> datetime | None:
        quiet = self.policy.quiet_hours
        if quiet is None or row.urgent:
            return None
        zone = context.timezones.get(row.branch_id) or ZoneInfo(self.policy.default_timezone)
        return quiet.release(now, zone)


class _Dispatch:
    """Sends one claimed batch: picks the row whose chat may go first, waits for its slot, sends it in a task.

    A row whose chat cannot go within one interval (or before its lease would be too short for a send) goes
    back to pending, due when the chat is free; ``RetryLater`` pauses everything and retries the row.
    """

    def __init__(self, runner: ReminderRunner, rows: list[ClaimedReminder], report: DeliveryReport) -> None:
        self.runner = runner
        self.pacer = runner.pacer
        self.policy = runner.policy
        self.report = report
        self.queue = list(rows)
        lease_left = (rows[0].lease_until - runner.clock()).total_seconds()
        self.deadline = self.pacer.now() + lease_left - self.policy.send_timeout - LEASE_MARGIN
        self.slots = asyncio.Semaphore(self.policy.concurrency)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.halted = False  # recording a result failed (database trouble): send nothing more from this batch
        self.blocked_chats: set[int] = set()  # answered 403 in this batch: the rest for them is not sent

    async def run(self) -> bool:
        """Send the batch; False if it halted (results could not be recorded)."""
        holding_slot = False
        while self.queue or self.in_flight:
            if not self.queue or self.halted or self.runner.stopping:
                unsent, self.queue = self.queue, []
                if unsent and not self.halted:
                    released = await outbox.release(self.runner.sessions, self.runner.owner, [r.id for r in unsent])
                    self.report.released += released
                if self.in_flight:
                    await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            if not holding_slot:
                await self.slots.acquire()
                holding_slot = True
                continue  # the queue may have changed while waiting
            row = min(self.queue, key=lambda r: self.pacer.ready_at(r.chat_id))
            if row.chat_id in self.blocked_chats:
                self.queue.remove(row)
                failed = await outbox.mark_failed(self.runner.sessions, row.id, self.runner.owner, UNREACHABLE_ERROR)
                self.report.failed += failed
                continue
            ready, now = self.pacer.ready_at(row.chat_id), self.pacer.now()
            if ready > min(self.deadline, now + self.policy.interval):
                await self._postpone_queue(now)
                continue
            if ready > now:
                await self.pacer.sleep(ready - now)
                continue
            self.pacer.record(row.chat_id)
            self.queue.remove(row)
            task = asyncio.create_task(self._send(row))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
            holding_slot = False
        if holding_slot:
            self.slots.release()
        return not self.halted

    async def _postpone_queue(self, now: float) -> None:
        """Every queued row waits for a chat that is busy beyond this run: pending again, due when it is free."""
        clock_now = self.runner.clock()
        until = {
            row.id: max(row.due_at, clock_now + timedelta(seconds=max(0.0, self.pacer.ready_at(row.chat_id) - now)))
            for row in self.queue
        }
        self.queue.clear()
        postponed = await outbox.defer(self.runner.sessions, self.runner.owner, until)
        self.report.postponed += postponed  # (not `+= await`: other tasks update the report meanwhile)

    async def _send(self, row: ClaimedReminder) -> None:
        runner = self.runner
        try:
            try:
                async with asyncio.timeout(self.policy.send_timeout):
                    await runner.notifier.send(row.chat_id, row.text, buttons_for(row))
                error: DeliveryError | None = None
            except DeliveryError as failure:
                error = failure
                if isinstance(failure, Blocked):
                    self.blocked_chats.add(row.chat_id)
            except TimeoutError:
                error = TransientError(f"no answer within {self.policy.send_timeout:g} s")
            except Exception as unexpected:  # a bug in the notifier must not lose the row: retry with backoff
                logger.exception("reminder send raised unexpectedly: id=%d", row.id)
                error = TransientError(repr(unexpected))
            await self._record(row, error)
        except Exception:
            self.halted = True
            logger.exception("recording a reminder result failed: id=%d owner=%s", row.id, runner.owner)
        finally:
            self.slots.release()

    async def _record(self, row: ClaimedReminder, error: DeliveryError | None) -> None:
        sessions, owner, now = self.runner.sessions, self.runner.owner, self.runner.clock()
        if error is None:
            if await outbox.mark_sent(sessions, row.id, owner, now):
                self.report.sent += 1
            else:
                logger.warning("reminder sent after its lease was lost: id=%d owner=%s", row.id, owner)
            return
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, RetryLater):
            self.pacer.pause(error.seconds)
            if error.seconds <= self.policy.interval and self.pacer.now() + error.seconds <= self.deadline:
                self.queue.append(row)  # a short pause: the dispatcher sends it again once it is over
            else:
                postponed = await outbox.defer(sessions, owner, {row.id: now + timedelta(seconds=error.seconds)})
                self.report.postponed += postponed
            logger.info("flood control: id=%d chat=%d retry_after=%gs", row.id, row.chat_id, error.seconds)
        elif isinstance(error, Blocked):
            self.report.failed += 1
            if await outbox.mark_blocked(sessions, row, owner, now, detail):
                self.report.unreachable += 1
            logger.info("reminder blocked: id=%d chat=%d member=%s", row.id, row.chat_id, row.member_id)
        elif isinstance(error, BadRequest):
            failed = await outbox.mark_failed(sessions, row.id, owner, detail)
            self.report.failed += failed
            logger.warning("reminder rejected: id=%d chat=%d error=%r", row.id, row.chat_id, str(error))
        else:
            status = await outbox.mark_retry(sessions, row.id, owner, now, detail, self.policy.backoff)
            if status == "failed":
                self.report.failed += 1
                logger.warning("reminder failed after retries: id=%d error=%r", row.id, detail)
            elif status is not None:
                self.report.retried += 1
                logger.info("reminder will be retried: id=%d attempt=%d error=%r", row.id, row.attempts + 1, detail)
