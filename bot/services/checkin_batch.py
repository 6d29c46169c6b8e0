"""Group commit for 签到 presses: the presses that arrive while one transaction is being written are written together
in the next one.

When a meeting begins, a whole branch (or a district) presses 签到 within seconds. SQLite writes one transaction at
a time, and the cost of a check-in is almost all per transaction (BEGIN IMMEDIATE, the lookups, the commit, and
the driver's thread hand-offs), not per row. So the presses that queue up behind a transaction are taken together:
one access query for all their users, one for their activities, one INSERT for their rows, one commit. An idle bot
writes each press at once (a batch of one); under load, batches grow by themselves and nobody waits for a timer.

Each press keeps its own answer: the access check and the check-in rules are the same functions the single path
uses (`access.admit`, `attendance.check_in_many`). If a batch breaks a constraint, its presses are written again
one by one, so one press that cannot be written does not fail the others; if the database itself fails, every
press of the batch gets that error, as it would have alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import AttendanceMethod
from bot.services.access import AccessDenied, Caller, admit, find_callers
from bot.services.attendance import CheckinRequest, Result, check_in_many

logger = logging.getLogger(__name__)

MAX_BATCH = 100  # presses per transaction: keeps one statement's parameters and one commit's work bounded


@dataclass(frozen=True, slots=True)
class Press:
    """A 签到 press as the handler sees it: who, in which chat, for which activity."""

    telegram_user_id: int
    chat_id: int
    private: bool
    activity_id: int
    method: AttendanceMethod
    action: str  # the action's name in a refusal ("签到")


class _Waiting:
    """A press in the queue and the future its handler awaits."""

    __slots__ = ("answer", "press")

    def __init__(self, press: Press) -> None:
        self.press = press
        self.answer: asyncio.Future[tuple[Caller, Result]] = asyncio.get_running_loop().create_future()


class CheckinBatcher:
    """Writes concurrent check-ins together; `check_in` answers each press as if it had been written alone."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = MAX_BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._clock = clock
        self._queue: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self.batch_sizes: Counter[int] = Counter()  # transactions written, by presses in each

    async def check_in(self, press: Press) -> tuple[Caller, Result]:
        """The caller and the outcome of their press; `AccessDenied` if they may not check in here."""
        waiting = _Waiting(press)
        self._queue.append(waiting)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queue(), name="checkin-batcher")
        return await waiting.answer

    async def _write_queue(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                try:
                    await self._write(batch)
                except BaseException as error:  # cancelled at shut-down: nobody may wait for ever
                    for waiting in batch + self._queue:
                        _settle(waiting, error=error)
                    self._queue = []
                    raise
        finally:
            self._writer = None

    async def _write(self, batch: Sequence[_Waiting]) -> None:
        """Write a batch and answer its presses; errors are answers too (the press's handler raises them)."""
        self.batch_sizes[len(batch)] += 1
        try:
            answers = await self._transaction(batch)
        except IntegrityError as error:
            # A press whose row cannot be written (its member removed meanwhile, say) fails alone.
            if len(batch) == 1:
                _settle(batch[0], error=error)
                return
            logger.warning("check-in batch of %d failed (%s); writing its presses one by one", len(batch), error)
            for waiting in batch:
                await self._write([waiting])
            return
        except Exception as error:  # the database itself failed: each press would have failed the same way
            for waiting in batch:
                _settle(waiting, error=error)
            return
        for waiting, answer in zip(batch, answers, strict=True):
            _settle(waiting, answer=answer)

    async def _transaction(self, batch: Sequence[_Waiting]) -> list[tuple[Caller, Result] | AccessDenied]:
        """One transaction for the whole batch: who may check in, then every allowed check-in at once."""
        now = self._clock()
        async with self._sessions.begin() as session:
            callers = await find_callers(session, {waiting.press.telegram_user_id for waiting in batch})
            admitted: list[Caller | AccessDenied] = []
            for waiting in batch:
                press = waiting.press
                try:
                    found = callers.get(press.telegram_user_id)
                    admitted.append(admit(found, chat_id=press.chat_id, private=press.private, action=press.action))
                except AccessDenied as refusal:
                    admitted.append(refusal)
            allowed = [
                (caller, waiting.press)
                for caller, waiting in zip(admitted, batch, strict=True)
                if isinstance(caller, Caller)
            ]
            requests = [CheckinRequest(caller.member, press.activity_id, press.method) for caller, press in allowed]
            results = iter(await check_in_many(session, requests, now=now))
        return [caller if isinstance(caller, AccessDenied) else (caller, next(results)) for caller in admitted]


def _settle(
    waiting: _Waiting,
    *,
    answer: tuple[Caller, Result] | AccessDenied | None = None,
    error: BaseException | None = None,
) -> None:
    """Hand a press its answer (a refusal or failure as the exception it raises); a press given up on is skipped."""
    if waiting.answer.done():
        return
    if isinstance(answer, AccessDenied):
        waiting.answer.set_exception(answer)
    elif answer is not None:
        waiting.answer.set_result(answer)
    elif isinstance(error, asyncio.CancelledError):
        waiting.answer.cancel()
    else:
        waiting.answer.set_exception(error or RuntimeError("check-in not written"))
