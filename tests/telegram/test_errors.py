"""Failures: logged at ERROR with the update id, one polite Chinese sorry, never a traceback to the user."""

from __future__ import annotations

import logging

import pytest

from bot.bot_api_checks import BotApiError
from handlers import texts
from knowledge.answer import Answerer
from tests.telegram.helpers import ALICE, GROUP, ChatHarness, messages, plain


def _error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_failing_send_is_logged_and_the_user_gets_one_sorry(
    test_bot: ChatHarness, caplog: pytest.LogCaptureFixture
) -> None:
    test_bot.api.fail_next("sendMessage", BotApiError(400, "Bad Request: injected fault"))
    update = test_bot.api.user_message("支委会多久开一次", user=ALICE)
    calls = await test_bot.process(update)
    assert [plain(c) for c in messages(calls)] == [texts.SORRY]
    (record,) = _error_records(caplog)
    assert str(update["update_id"]) in record.getMessage()
    assert record.exc_info is not None


async def test_crashing_handler_never_leaks_details(
    test_bot: ChatHarness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(self: Answerer, question: str, scope: int | None = None) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Answerer, "answer", explode)
    calls = await test_bot.send("/ask 支委会多久开一次", chat=GROUP)
    (reply,) = messages(calls)
    assert plain(reply) == texts.SORRY
    assert "secret" not in reply.params["text"] and "Traceback" not in reply.params["text"]
    assert len(_error_records(caplog)) == 1


async def test_failing_button_still_answers_the_callback_query(
    test_bot: ChatHarness, caplog: pytest.LogCaptureFixture
) -> None:
    (reply,) = messages(await test_bot.send("支委会多久开一次"))
    test_bot.api.fail_next("sendMessage", BotApiError(502, "Bad Gateway"))
    calls = await test_bot.press(reply.result, "rel:dahui-test")
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]  # answered before the failure
    assert plain(calls[1]) == texts.SORRY
    assert len(_error_records(caplog)) == 1


async def test_blocked_user_is_not_written_to_again(test_bot: ChatHarness, caplog: pytest.LogCaptureFixture) -> None:
    test_bot.api.fail_next("sendMessage", BotApiError(403, "Forbidden: bot was blocked by the user"))
    assert await test_bot.send("支委会多久开一次") == []
    assert [c.status for c in test_bot.api.calls if c.method == "sendMessage"] == [403]
    assert len(_error_records(caplog)) == 1
