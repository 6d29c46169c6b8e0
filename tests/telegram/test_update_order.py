"""Updates fed through ``update_queue`` (as polling and the webhook do): different people's at once, each person's in
arrival order, and no per-person lock left behind.

The Bot API here answers after a short, varying delay (as Telegram does, 50–300 ms in production), so updates in
flight really interleave. A gate handler in an early group can hold a chosen update back and records the order in
which updates reached the handlers.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.bot_api_checks import BotApiError
from bot.bot_api_objects import make_user
from bot.config import Settings
from bot.models import Member, MemberStatus
from bot.services import branches
from bot.services.knowledge_base import add_document
from bot.transport import BotApiSimulator, InProcessBotApi
from bot.update_order import PerUserOrderedProcessor, ordering_key
from handlers import branch_texts, qa, texts
from handlers.keyboards import Action, encode
from knowledge.answer import Answerer
from knowledge.ingest import parse_bytes
from tests.telegram.helpers import ALICE, BOB, GROUP, buttons, plain
from tests.telegram.slow_bot import QUESTIONS, Bot, SlowBotApi, running_bot, until

CAROL = make_user(1003, "张三")
DAVE = make_user(1004, "赵六")
ERIN = make_user(1005, "陈静")


@pytest.fixture
async def bot(
    settings: Settings, api: BotApiSimulator, slow_api: SlowBotApi, fixed_answerer: Answerer
) -> AsyncIterator[Bot]:
    async for running in running_bot(settings, api, slow_api, fixed_answerer):
        yield running


@pytest.fixture
async def indexing_bot(settings: Settings, api: BotApiSimulator, slow_api: SlowBotApi) -> AsyncIterator[Bot]:
    """Answers from the curated knowledge and the stored documents (indexed at start-up, rebuilt on change)."""
    async for running in running_bot(settings, api, slow_api, None):
        yield running


# --- wiring -----------------------------------------------------------------------------------------------------


async def test_the_application_uses_the_ordered_processor_with_the_configured_size(database_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url, PARTYBOT_CONCURRENT_UPDATES="5"
    )
    for request in (InProcessBotApi(), None):
        app = build_application(settings, request=request)
        assert isinstance(app.update_processor, PerUserOrderedProcessor)
        assert app.update_processor.max_concurrent_updates == 5
    assert Settings(_env_file=None).concurrent_updates == 64  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="at least 1"):
        Settings(_env_file=None, PARTYBOT_CONCURRENT_UPDATES="0")  # type: ignore[call-arg]


def test_the_ordering_key_is_the_user_else_the_chat(api: BotApiSimulator) -> None:
    in_group = Update.de_json(api.user_message("/help", user=BOB, chat=GROUP), None)
    assert ordering_key(in_group) == ("user", BOB["id"])
    channel = {"id": -100777, "type": "channel", "title": "支部公告"}
    post = Update.de_json({"update_id": 9, "channel_post": {"message_id": 1, "date": 0, "chat": channel}}, None)
    assert ordering_key(post) == ("chat", -100777)
    assert ordering_key(Update(update_id=1)) is None
    assert ordering_key("not an update") is None


# --- through the production Application -------------------------------------------------------------------------


async def test_another_users_update_completes_while_one_user_is_held(bot: Bot) -> None:
    bot.gate.hold("慢一点")
    await bot.send("慢一点", user=ALICE)
    await bot.send("支委会多久开一次", user=BOB)

    await until(lambda: len(bot.sent_to(BOB)) == 1)  # Bob is answered while Alice's update is still in a handler
    await until(lambda: bot.processor.current_concurrent_updates == 1)  # his update is done; hers is held
    assert QUESTIONS["支委会多久开一次"] in plain(bot.sent_to(BOB)[0])
    assert bot.sent_to(ALICE) == []
    assert bot.processor.busy_keys == 1

    bot.gate.release("慢一点")
    await bot.processed()
    (answer,) = bot.sent_to(ALICE)
    assert texts.NOT_FOUND in plain(answer)


async def test_one_users_updates_wait_for_the_slow_first_one_and_keep_their_order(bot: Bot) -> None:
    bot.gate.hold("第一条")
    await bot.send("第一条", user=ALICE)
    await bot.send("支委会多久开一次", user=ALICE)
    await bot.send("党员大会多久开一次", user=ALICE)
    await bot.send("党小组会多久开一次", user=BOB)

    await until(lambda: len(bot.sent_to(BOB)) == 1)
    await until(lambda: bot.processor.current_concurrent_updates == 1)  # Bob's is done; Alice's waiting hold none
    assert bot.processor.queued_updates == 3
    assert bot.gate.texts_of(ALICE) == ["第一条"]  # her later updates wait their turn

    bot.gate.release("第一条")
    await bot.processed()
    assert bot.gate.texts_of(ALICE) == ["第一条", "支委会多久开一次", "党员大会多久开一次"]
    first, second, third = (plain(call) for call in bot.sent_to(ALICE))
    assert texts.NOT_FOUND in first
    assert QUESTIONS["支委会多久开一次"] in second and QUESTIONS["党员大会多久开一次"] in third


async def test_a_burst_from_many_users_interleaves_yet_each_users_order_holds(bot: Bot, slow_api: SlowBotApi) -> None:
    people = [make_user(2000 + n, f"党员{n}") for n in range(12)]
    asked = list(QUESTIONS) * 2
    bot.gate.slow["支委会多久开一次"] = 0.05  # later, quicker updates of the same person must not overtake it
    for round_ in range(len(asked)):
        for n, person in enumerate(people):
            await bot.send(asked[(round_ + n) % len(asked)], user=person)
    await bot.processed()

    assert slow_api.most_in_flight > 1  # they really ran at once
    for n, person in enumerate(people):
        expected = [asked[(round_ + n) % len(asked)] for round_ in range(len(asked))]
        assert bot.gate.texts_of(person) == expected
        answers = [plain(call) for call in bot.sent_to(person)]
        assert len(answers) == len(expected)
        assert all(QUESTIONS[question] in answer for question, answer in zip(expected, answers, strict=True))


async def test_the_join_flow_completes_among_other_peoples_updates(
    bot: Bot, slow_api: SlowBotApi, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session:
        secretary = await branches.setup_branch(
            session, name="第一党支部", chat_id=GROUP["id"], telegram_user_id=ALICE["id"], member_name="李明",
            now=datetime.now(UTC),
        )  # fmt: skip
    async with sessions() as session:
        token = (await branches.create_invite(session, secretary, datetime.now(UTC))).token
    others = [ALICE, BOB, CAROL, ERIN]
    questions = list(QUESTIONS)

    # Dave's typed steps, all queued at once, each followed by other people's questions
    for step, text in enumerate([f"/start join_{token}", "赵" * 21, "赵六", "正式"]):
        await bot.send(text, user=DAVE)
        for n, person in enumerate(others):
            await bot.send(questions[(step + n) % len(questions)], user=person)
    await bot.processed()
    welcome, too_long, ask_status, press_a_button = bot.sent_to(DAVE)
    assert "欢迎加入「第一党支部」" in plain(welcome)
    assert "最多 20 个字" in plain(too_long)
    assert plain(ask_status) == branch_texts.JOIN_ASK_STATUS.format(name="赵六")
    assert plain(press_a_button) == branch_texts.JOIN_PRESS_A_BUTTON

    # the buttons, again among other people's updates
    await bot.press(ask_status.result, encode(Action.JOIN, "s.p"), user=DAVE)
    for person in others:
        await bot.send("支委会多久开一次", user=person)
    await bot.processed()
    confirm = bot.sent_to(DAVE)[-1]
    assert "身份：预备党员" in plain(confirm)
    assert [label for label, _ in buttons(confirm)] == ["确认登记", "取消"]
    await bot.press(confirm.result, encode(Action.JOIN, "c.y"), user=DAVE)
    for person in others:
        await bot.send("党员大会多久开一次", user=person)
    await bot.processed()

    assert "登记成功" in plain(bot.sent_to(DAVE)[-1])
    async with sessions() as session:
        dave = await session.scalar(select(Member).where(Member.telegram_user_id == DAVE["id"]))
    assert dave is not None and (dave.name, dave.status) == ("赵六", MemberStatus.PROBATIONARY)
    for person in others:
        assert len(bot.sent_to(person)) == 6  # four questions with Dave's typed steps, two with his buttons
    assert slow_api.most_in_flight > 1


async def test_a_failing_update_does_not_hold_up_that_users_next_one(bot: Bot, api: BotApiSimulator) -> None:
    bot.gate.fail("出错的消息")  # a handler raises
    await bot.send("出错的消息", user=ALICE)
    await bot.send("支委会多久开一次", user=ALICE)
    await bot.processed()
    sorry, not_found, answer = (plain(call) for call in bot.sent_to(ALICE))
    assert sorry == texts.SORRY  # the error handler; the later groups still handled the update
    assert texts.NOT_FOUND in not_found
    assert QUESTIONS["支委会多久开一次"] in answer

    api.fail_next("sendMessage", BotApiError(400, "Bad Request: chat not found"))  # the reply itself fails
    await bot.send("党员大会多久开一次", user=BOB)
    await bot.send("党小组会多久开一次", user=BOB)
    await bot.processed()
    sorry, answer = (plain(call) for call in bot.sent_to(BOB))
    assert sorry == texts.SORRY and QUESTIONS["党小组会多久开一次"] in answer


NOTICE = "关于开展读书月活动的通知\n\n一、活动安排\n各支部在读书月期间组织党员共读一本红色经典，并撰写读书心得。\n"


async def test_concurrent_questions_share_one_rebuild_and_all_answer_from_the_new_document(
    indexing_bot: Bot, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = indexing_bot
    rebuilds: list[None] = []
    original = qa.rebuild_answerer

    def counting(application: Application) -> asyncio.Task[None]:
        rebuilds.append(None)
        return original(application)

    monkeypatch.setattr(qa, "rebuild_answerer", counting)
    async with sessions() as session:  # as if another instance had stored a document
        await add_document(session, parse_bytes(NOTICE.encode(), "通知.txt"), "通知.txt")
    people = (ALICE, BOB, CAROL, DAVE, ERIN)
    for person in people:
        await bot.send("读书月活动怎么安排", user=person)
    await bot.processed()
    assert len(rebuilds) == 1
    for person in people:
        assert "读书心得" in plain(bot.sent_to(person)[-1])


# --- the processor alone ----------------------------------------------------------------------------------------


async def test_a_raising_update_releases_its_user_and_the_next_one_runs(api: BotApiSimulator) -> None:
    processor = PerUserOrderedProcessor(4)
    first, second = (Update.de_json(api.user_message(text, user=ALICE), None) for text in ("一", "二"))
    ran: list[str] = []

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    async def succeeding() -> None:
        ran.append("二")

    async with processor:
        results = await asyncio.gather(
            processor.process_update(first, failing()),
            processor.process_update(second, succeeding()),
            return_exceptions=True,
        )
    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert ran == ["二"] and processor.busy_keys == 0


async def test_an_update_cancelled_while_waiting_leaves_no_lock_behind(api: BotApiSimulator) -> None:
    processor = PerUserOrderedProcessor(4)
    first, second = (Update.de_json(api.user_message(text, user=ALICE), None) for text in ("一", "二"))
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()

    async def never() -> None:
        raise AssertionError("cancelled before its turn")

    never_run = never()
    running = asyncio.create_task(processor.process_update(first, slow()))
    waiting = asyncio.create_task(processor.process_update(second, never_run))
    await until(lambda: processor.queued_updates == 2)
    assert processor.current_concurrent_updates == 1  # the waiting one holds no slot
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await running
    assert processor.busy_keys == 0
    assert inspect.getcoroutinestate(never_run) == inspect.CORO_CLOSED  # closed: no "never awaited" warning
