"""Fixtures for driving the real Application over the in-process Bot API.

Answerers are built once per session (indexing is the slow part) and handed to build_application, which still
runs its real start-up: database migration, command menu.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import build_application, serving
from bot.config import Settings
from bot.transport import BotApiSimulator, InProcessBotApi
from knowledge.answer import Answerer
from knowledge.curated import load_curated
from knowledge.passage import Passage
from tests.telegram.helpers import ChatHarness
from tests.telegram.slow_bot import SlowBotApi

LONG_PARAGRAPH = "第{n}段：支部应当认真落实组织生活制度，严格执行“三会一课”，做好会议记录，按时向上级党组织报告。" * 3
LONG_TEXT = "\n\n".join(LONG_PARAGRAPH.format(n=n) for n in range(1, 50))  # about 6,000 characters
MARKUP_TEXT = '正文含 <b>粗体</b>、&amp;、<script>alert(1)</script>、"引号"和 _*[`。'

TEST_PASSAGES = [
    Passage("zhiwei-test", "测试制度汇编", ("支委会：多久开一次",), "支委会一般每月召开一次。",
            phrasings=("支委会多久开一次",), basis="测试依据第一条"),
    Passage("dahui-test", "测试制度汇编", ("党员大会：多久开一次",), "党员大会一般每季度召开一次。",
            phrasings=("党员大会多久开一次",), basis="测试依据第二条"),
    Passage("xiaozu-test", "测试制度汇编", ("党小组会：多久开一次",), "党小组会一般每月召开一次。",
            phrasings=("党小组会多久开一次",), basis="测试依据第三条"),
    Passage("long-test", "测试长文", ("组织生活制度全文",), LONG_TEXT, phrasings=("组织生活制度全文",)),
    Passage("markup-test", '<b>标题</b> & "引号"', ("特殊符号 <i>章节</i>",), MARKUP_TEXT,
            phrasings=("特殊符号测试",)),
    Passage("scoped-test", "某支部上传的文件", ("本支部学习安排",), "本支部每周三学习。", scope=7),
]  # fmt: skip


@pytest.fixture(scope="session")
def curated_answerer() -> Answerer:
    return Answerer(load_curated())


@pytest.fixture(scope="session")
def fixed_answerer() -> Answerer:
    return Answerer(TEST_PASSAGES)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=database_url)  # type: ignore[call-arg]


@pytest.fixture
def api() -> BotApiSimulator:
    return BotApiSimulator()


async def _harness(settings: Settings, api: BotApiSimulator, answerer: Answerer) -> AsyncIterator[ChatHarness]:
    app = build_application(settings, request=InProcessBotApi(api), answerer=answerer)
    async with serving(app):
        api.take_outgoing()  # start-up calls are not part of the conversation
        yield ChatHarness(app, api)


@pytest.fixture
async def bot(settings: Settings, api: BotApiSimulator, curated_answerer: Answerer) -> AsyncIterator[ChatHarness]:
    """The bot answering from the real curated knowledge."""
    async for harness in _harness(settings, api, curated_answerer):
        yield harness


@pytest.fixture
async def test_bot(settings: Settings, api: BotApiSimulator, fixed_answerer: Answerer) -> AsyncIterator[ChatHarness]:
    """The bot answering from TEST_PASSAGES (deterministic answers, a 6,000-character one, markup in sources)."""
    async for harness in _harness(settings, api, fixed_answerer):
        yield harness


@pytest.fixture
def slow_api(api: BotApiSimulator) -> SlowBotApi:
    return SlowBotApi(api)
