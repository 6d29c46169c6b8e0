"""The pacer on virtual time: 30/s overall, 1/s per chat, 20/min per group, and pauses for flood control."""

from __future__ import annotations

import itertools

from scheduler.pacing import Pacer


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _pacer(time: VirtualTime, **limits: float) -> Pacer:
    return Pacer(clock=time.clock, sleep=time.sleep, **limits)  # type: ignore[arg-type]


async def _send_times(pacer: Pacer, time: VirtualTime, chats: list[int]) -> list[float]:
    times = []
    for chat in chats:
        await pacer.acquire(chat)
        times.append(time.now)
    return times


def _most_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for other in times if start <= other < start + window) for start in times)


async def test_overall_rate_is_30_per_second_across_chats() -> None:
    time = VirtualTime()
    times = await _send_times(_pacer(time), time, list(range(1, 301)))  # 300 different private chats
    assert _most_in_window(times, 1.0) == 30
    assert 299 / 30 - 1e-6 <= times[-1] <= 299 / 30 + 1e-6  # no slower than the limit either


async def test_one_message_per_second_to_a_private_chat() -> None:
    time = VirtualTime()
    times = await _send_times(_pacer(time), time, [42] * 5)
    assert times == [0.0, 1.0, 2.0, 3.0, 4.0]


async def test_twenty_per_minute_to_a_group() -> None:
    time = VirtualTime()
    times = await _send_times(_pacer(time), time, [-100] * 45)
    assert _most_in_window(times, 60.0) == 20
    assert times[19] == 19.0 and times[20] == 60.0 and times[40] == 120.0
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


async def test_a_busy_chat_does_not_hold_up_others() -> None:
    time = VirtualTime()
    pacer = _pacer(time)
    await pacer.acquire(-100)
    assert pacer.ready_at(-100) == 1.0
    assert pacer.ready_at(7) == 1 / 30


async def test_retry_after_pauses_everything() -> None:
    time = VirtualTime()
    pacer = _pacer(time)
    await pacer.acquire(1)
    pacer.pause(5)
    assert pacer.ready_at(2) == 5.0 and pacer.ready_at(1) == 5.0
    await pacer.acquire(2)
    assert time.now == 5.0


async def test_a_late_sender_keeps_the_rate() -> None:
    """Waking up a little late does not push every later slot back (no drift below the rate)."""
    time = VirtualTime()
    pacer = _pacer(time)
    for chat in range(1, 301):
        if (wait := pacer.ready_at(chat) - time.now) > 0:
            time.now += wait + 0.002  # every sleep overshoots by 2 ms
        pacer.record(chat)
    assert time.now <= 299 / 30 * 1.01  # the one-second window costs a late sender under 1 %
