"""A production Application fed only through ``update_queue`` over a Bot API that answers after a short, varying
delay, with a gate in front of every handler that records arrival order and can hold an update back: what the
update-order and flood tests drive."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseRateLimiter, ContextTypes, TypeHandler

from bot.app import build_application, serving
from bot.config import Settings
from bot.transport import ApiCall, BotApiSimulator, InProcessBotApi
from bot.update_order import PerUserOrderedProcessor
from handlers.throttle import FloodGuard
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE

QUESTIONS = {  # fixed_answerer (TEST_PASSAGES): question -> the start of its answer
    "支委会多久开一次": "支委会一般每月召开一次",
    "党员大会多久开一次": "党员大会一般每季度召开一次",
    "党小组会多久开一次": "党小组会一般每月召开一次",
}
WAIT_SECONDS = 10.0


class SlowBotApi(InProcessBotApi):
    """The in-process Bot API, answering each call after 0–20 ms (seeded, so a failure can be replayed)."""

    def __init__(self, api: BotApiSimulator, seed: int = 7) -> None:
        super().__init__(api)
        self._delays = random.Random(seed)
        self.most_in_flight = 0  # the most updates the Application was processing at once, seen at a call
        self.application: Application | None = None

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if self.application is not None:
            in_flight = self.application.update_processor.current_concurrent_updates
            self.most_in_flight = max(self.most_in_flight, in_flight)
        await asyncio.sleep(self._delays.uniform(0.0, 0.02))
        return await super().do_request(url, method, *args, **kwargs)


class Gate:
    """An early handler: records (user id, text) of every update as it reaches the handlers; can hold one back."""

    def __init__(self) -> None:
        self.arrived: list[tuple[int, str | None]] = []
        self._held: dict[str, asyncio.Event] = {}
        self._failing: set[str] = set()
        self.slow: dict[str, float] = {}  # text -> seconds its update spends here

    def hold(self, text: str) -> None:
        self._held[text] = asyncio.Event()

    def release(self, text: str) -> None:
        self._held.pop(text).set()

    def release_all(self) -> None:
        for text in list(self._held):
            self.release(text)

    def fail(self, text: str) -> None:
        self._failing.add(text)

    def texts_of(self, user: dict[str, Any]) -> list[str | None]:
        return [text for user_id, text in self.arrived if user_id == user["id"]]

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        text = message.text if message is not None else None
        self.arrived.append((update.effective_user.id if update.effective_user else 0, text))
        if text in self._held:
            await self._held[text].wait()
        await asyncio.sleep(self.slow.get(text or "", 0.0))
        if text in self._failing:
            raise RuntimeError(f"test failure for {text!r}")


class Bot:
    """The production Application over SlowBotApi, fed only through ``update_queue``."""

    def __init__(self, app: Application, api: BotApiSimulator, gate: Gate) -> None:
        self.app = app
        self.api = api
        self.gate = gate
        self.processor = app.update_processor
        assert isinstance(self.processor, PerUserOrderedProcessor)

    async def send(self, text: str, *, user: dict[str, Any] = ALICE) -> None:
        await self.queue(self.api.user_message(text, user=user))

    async def press(self, message: dict[str, Any], data: str, *, user: dict[str, Any]) -> None:
        await self.queue(self.api.button_press(message["chat"]["id"], message["message_id"], data, user=user))

    async def queue(self, update: dict[str, Any]) -> None:
        await self.app.update_queue.put(Update.de_json(update, self.app.bot))

    async def processed(self) -> None:
        """Every queued update handled (Application calls task_done after each), and no per-user lock left."""
        await asyncio.wait_for(self.app.update_queue.join(), WAIT_SECONDS)
        assert self.processor.busy_keys == 0

    def sent_to(self, chat: dict[str, Any]) -> list[ApiCall]:
        """Messages sent into ``chat`` (a private chat or a group) so far, in the order Telegram received them."""
        return [
            call
            for call in self.api.calls
            if call.ok and call.method == "sendMessage" and call.params.get("chat_id") == chat["id"]
        ]


async def until(condition: Callable[[], bool], step: float = 0.005) -> None:
    for _ in range(int(WAIT_SECONDS / step)):
        if condition():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"not reached within {WAIT_SECONDS:.0f} s")


async def running_bot(
    settings: Settings,
    api: BotApiSimulator,
    slow_api: SlowBotApi,
    answerer: Answerer | None,
    *,
    flood_guard: FloodGuard | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> AsyncIterator[Bot]:
    """The production Application over ``slow_api`` with a Gate in front of every handler, served while in use."""
    app = build_application(
        settings, request=slow_api, answerer=answerer, flood_guard=flood_guard, rate_limiter=rate_limiter
    )
    slow_api.application = app
    gate = Gate()
    app.add_handler(TypeHandler(Update, gate), group=-100)
    async with serving(app):
        api.take_outgoing()
        try:
            yield Bot(app, api, gate)
        finally:
            gate.release_all()  # a failed test must not leave an update held: stopping waits for every update
