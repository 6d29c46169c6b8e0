"""One person's flood stays theirs (issue 9, item 8): through the production Application fed by ``update_queue``.

A stranger who @mentions the bot 500 times in their own group holds at most one processing slot, has at most
MAX_PENDING_PER_KEY updates queued, and gets a few answers and one "请稍后再试"; meanwhile everyone else is answered.
A group answer that a rate limiter holds back holds no slot; PTB's user_data stays bounded. The progress is asserted
by order (another user answered while the stranger's first update is still held), never by wall-clock time; the
timings are in bench/abuse.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from telegram import Update
from telegram.ext import BaseRateLimiter, ContextTypes, TypeHandler

from bot.bot_api_objects import group_chat, make_user
from bot.config import Settings
from bot.transport import DEFAULT_BOT_USERNAME, BotApiSimulator
from bot.update_order import MAX_PENDING_PER_KEY, PerUserOrderedProcessor
from handlers import qa, texts
from handlers.throttle import CHAT_RATE, USER_RATE, FloodGuard
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, BOB, GROUP, plain
from tests.telegram.slow_bot import QUESTIONS, Bot, SlowBotApi, running_bot, until

STRANGER = make_user(6660, "陌生人")
STRANGERS_GROUP = group_chat(-1009990001, "陌生人的群")
MENTION = f"@{DEFAULT_BOT_USERNAME} 支委会多久开一次"
FLOOD = 500


class Clock:
    """The flood guard's clock, moved by the test (frozen: no refill unless the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldGroupSends(BaseRateLimiter[None]):
    """A rate limiter that holds every message into a group until released (a group past 20 messages a minute)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = 0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> Any:
        chat_id = data.get("chat_id")
        if isinstance(chat_id, int) and chat_id < 0 and not self.open.is_set():
            self.waiting += 1
            try:
                await self.open.wait()
            finally:
                self.waiting -= 1
        return await callback(*args, **kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock: Clock) -> FloodGuard:
    return FloodGuard(qa.ADDRESSED_TO_BOT, clock=clock)


@pytest.fixture
async def bot(
    settings: Settings, api: BotApiSimulator, slow_api: SlowBotApi, fixed_answerer: Answerer, guard: FloodGuard
) -> AsyncIterator[Bot]:
    async for running in running_bot(settings, api, slow_api, fixed_answerer, flood_guard=guard):
        yield running


def sent_to_chat(bot: Bot, chat: dict[str, Any]) -> list[str]:
    return [plain(call) for call in bot.sent_to(chat)]


async def mention(bot: Bot, text: str, *, user: dict[str, Any], chat: dict[str, Any]) -> None:
    await bot.queue(bot.api.user_message(text, user=user, chat=chat))


async def test_a_strangers_flood_in_their_own_group_does_not_stall_another_user(bot: Bot) -> None:
    processor = bot.processor
    assert isinstance(processor, PerUserOrderedProcessor)
    first = f"@{DEFAULT_BOT_USERNAME} 第一条"
    bot.gate.hold(first)  # the stranger's first update stays in a handler: their turn is taken all along
    await mention(bot, first, user=STRANGER, chat=STRANGERS_GROUP)
    for _ in range(FLOOD - 1):
        await mention(bot, MENTION, user=STRANGER, chat=STRANGERS_GROUP)
    await bot.send("党员大会多久开一次", user=BOB)  # queued behind all 500

    await until(lambda: len(bot.sent_to(BOB)) == 1)  # answered while the stranger's first update is still held
    assert QUESTIONS["党员大会多久开一次"] in plain(bot.sent_to(BOB)[0])
    assert bot.gate.texts_of(STRANGER) == [first]
    await until(lambda: processor.current_concurrent_updates == 1)  # the held one; the stranger's queue holds none
    assert processor.queued_updates == MAX_PENDING_PER_KEY  # the rest of the flood was dropped unprocessed
    assert processor.dropped == FLOOD - MAX_PENDING_PER_KEY

    bot.gate.release(first)
    await bot.processed()
    answers = sent_to_chat(bot, STRANGERS_GROUP)
    # the first ten within the burst, then one 请稍后再试 for the whole burst, then silence
    assert len(answers) == min(USER_RATE.burst, CHAT_RATE.burst) + 1
    assert answers.count(texts.TRY_LATER) == 1 and answers[-1] == texts.TRY_LATER
    assert len(bot.gate.texts_of(STRANGER)) == MAX_PENDING_PER_KEY


async def test_each_user_and_each_group_gets_one_notice_per_burst(bot: Bot, clock: Clock, guard: FloodGuard) -> None:
    for _ in range(USER_RATE.burst + 5):
        await bot.send("支委会多久开一次", user=ALICE)
    await bot.processed()
    replies = [plain(call) for call in bot.sent_to(ALICE)]
    assert len(replies) == USER_RATE.burst + 1 and replies[-1] == texts.TRY_LATER

    clock.now += USER_RATE.every  # one more later on, within the same burst: answered, and no second notice
    await bot.send("支委会多久开一次", user=ALICE)
    await bot.send("支委会多久开一次", user=ALICE)
    await bot.processed()
    replies = [plain(call) for call in bot.sent_to(ALICE)]
    assert len(replies) == USER_RATE.burst + 2 and replies.count(texts.TRY_LATER) == 1

    clock.now += USER_RATE.every * USER_RATE.burst  # quiet long enough: a new burst, a new notice
    for _ in range(USER_RATE.burst + 2):
        await bot.send("支委会多久开一次", user=ALICE)
    await bot.processed()
    assert [plain(call) for call in bot.sent_to(ALICE)].count(texts.TRY_LATER) == 2

    # a group: many people, one mention each; the group's own limit applies
    people = [make_user(3000 + n, f"群友{n}") for n in range(CHAT_RATE.burst + 4)]
    for person in people:
        await mention(bot, MENTION, user=person, chat=GROUP)
    await bot.send("党小组会多久开一次", user=BOB)  # his private chat is not the group's
    await bot.processed()
    in_group = sent_to_chat(bot, GROUP)
    assert len(in_group) == CHAT_RATE.burst + 1 and in_group.count(texts.TRY_LATER) == 1
    assert QUESTIONS["党小组会多久开一次"] in plain(bot.sent_to(BOB)[-1])
    assert guard.refused == 5 + 1 + 2 + 4


async def test_group_chatter_not_meant_for_the_bot_is_not_counted(bot: Bot) -> None:
    for _ in range(CHAT_RATE.burst * 3):
        await mention(bot, "大家好，今天几点开会？", user=ALICE, chat=GROUP)
    await mention(bot, MENTION, user=BOB, chat=GROUP)
    await bot.processed()
    (answer,) = sent_to_chat(bot, GROUP)
    assert QUESTIONS["支委会多久开一次"] in answer


async def test_a_refused_button_press_is_still_answered(bot: Bot) -> None:
    await bot.send("没有这个问题的答案", user=ALICE)
    await bot.processed()
    message = bot.sent_to(ALICE)[0].result
    for _ in range(USER_RATE.burst + 3):
        await bot.press(message, "no-such-button", user=ALICE)
    await bot.processed()
    answered = [call for call in bot.api.calls if call.method == "answerCallbackQuery"]
    assert len(answered) == USER_RATE.burst + 3  # every press answered, the refused ones too
    notes = [call.params.get("text") for call in answered]
    assert notes.count(texts.TRY_LATER) == 1


@pytest.fixture
def limiter() -> HeldGroupSends:
    return HeldGroupSends()


@pytest.fixture
async def limited_bot(
    settings: Settings,
    api: BotApiSimulator,
    slow_api: SlowBotApi,
    fixed_answerer: Answerer,
    guard: FloodGuard,
    limiter: HeldGroupSends,
) -> AsyncIterator[Bot]:
    try:
        async for running in running_bot(
            settings, api, slow_api, fixed_answerer, flood_guard=guard, rate_limiter=limiter
        ):
            yield running
    finally:
        limiter.open.set()


async def test_a_group_answer_held_by_the_send_limiter_holds_no_slot(limited_bot: Bot, limiter: HeldGroupSends) -> None:
    bot = limited_bot
    await mention(bot, MENTION, user=ALICE, chat=GROUP)
    await until(lambda: limiter.waiting == 1)  # the answer waits for the group's send limit ...
    await bot.processed()  # ... yet the update is done: no slot, no turn held
    assert bot.processor.current_concurrent_updates == 0
    await bot.send("党员大会多久开一次", user=ALICE)  # her next update is not held behind that answer
    await until(lambda: len(bot.sent_to(ALICE)) == 1)
    assert sent_to_chat(bot, GROUP) == []
    limiter.open.set()
    await until(lambda: len(sent_to_chat(bot, GROUP)) == 1)
    assert QUESTIONS["支委会多久开一次"] in sent_to_chat(bot, GROUP)[0]


async def test_empty_user_data_of_strangers_is_dropped_and_drafts_are_kept(bot: Bot) -> None:
    processor = bot.processor
    assert isinstance(processor, PerUserOrderedProcessor)
    processor.max_idle_user_data = 5
    processor._sweep_at = 5

    async def keep_a_draft(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_user is not None and update.effective_user.id == ALICE["id"]:
            context.user_data["draft"] = "进行中"

    bot.app.add_handler(TypeHandler(Update, keep_a_draft), group=-50)
    await bot.send("支委会多久开一次", user=ALICE)
    await bot.processed()
    strangers = [make_user(7000 + n, f"路人{n}") for n in range(40)]
    for stranger in strangers:
        await bot.send("支委会多久开一次", user=stranger)
    await bot.processed()
    assert len(bot.app.user_data) <= 2 * processor.max_idle_user_data
    assert bot.app.user_data[ALICE["id"]] == {"draft": "进行中"}


async def test_the_guard_forgets_strangers_whose_buckets_refilled_without_any_refusal(
    api: BotApiSimulator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every person counted gets a bucket; a crowd of strangers who each ask once (none refused) must not keep them
    all for ever: once the map has doubled, the full ones go."""
    monkeypatch.setattr("handlers.throttle._Buckets.PRUNE_AT", 20)
    guard = FloodGuard(qa.ADDRESSED_TO_BOT, clock=clock)
    for number in range(200):
        stranger = make_user(7_000_000 + number, f"陌生人{number}")
        await guard(Update.de_json(api.user_message("你好", user=stranger)), None)  # type: ignore[arg-type]
        clock.now += USER_RATE.every  # each one's single token is back by the next stranger
    assert guard.refused == 0
    assert len(guard.users) < 50
