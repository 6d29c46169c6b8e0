"""The in-process Bot API and the fake HTTP server: wire decoding, server-side checks, recording, faults."""

from __future__ import annotations

import threading
import time

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, RetryAfter

from bot.bot_api_checks import BotApiError, html_to_plain
from bot.bot_api_objects import make_user
from bot.transport import BotApiSimulator, InProcessBotApi, decode_form
from tests.fake_bot_api import FakeBotApiServer

USER = make_user(42, "测试")
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("党员大会", callback_data="rel:dahui-frequency")]])


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>粗</b><i>斜<u>下</u></i>", "粗斜下"),
        ("&lt;b&gt; &amp; &quot; &#60; &#x3C;", '<b> & " < <'),
        ('<a href="https://example.com">链接</a>', "链接"),
        ("<code>x</code>\n<pre>y</pre>", "x\ny"),
    ],
)
def test_html_to_plain_accepts_telegram_html(html: str, plain: str) -> None:
    assert html_to_plain(html) == plain


@pytest.mark.parametrize(
    "html", ["a < b", "a > b", "a & b", "<script>x</script>", "<b>x", "<b>x</i>", "</b>", "&nbsp;"]
)
def test_html_to_plain_rejects_what_telegram_rejects(html: str) -> None:
    with pytest.raises(BotApiError) as error:
        html_to_plain(html)
    assert error.value.status == 400
    assert "can't parse entities" in error.value.description


def test_decode_form_keeps_strings_and_decodes_json_values() -> None:
    fields = {"chat_id": "-100123", "text": "123", "reply_markup": '{"inline_keyboard": []}', "timeout": "10"}
    assert decode_form(fields) == {
        "chat_id": -100123,
        "text": "123",
        "reply_markup": {"inline_keyboard": []},
        "timeout": 10,
    }
    assert decode_form({"chat_id": "@channel"}) == {"chat_id": "@channel"}


async def _exercise(bot: Bot, api: BotApiSimulator) -> None:
    """The same calls over either transport; both must record them identically."""
    chat_id = api.user_message("你好", user=USER)["message"]["chat"]["id"]
    async with bot:
        sent = await bot.send_message(chat_id, "<b>你好</b> &amp; 欢迎", parse_mode="HTML", reply_markup=KEYBOARD)
        assert sent.text == "你好 & 欢迎" and sent.chat.id == chat_id and sent.message_id == 2
        assert sent.reply_markup == KEYBOARD
        edited = await bot.edit_message_text("改过了", chat_id, sent.message_id, reply_markup=KEYBOARD)
        assert edited.text == "改过了" and edited.edit_date is not None
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text("改过了", chat_id, sent.message_id, reply_markup=KEYBOARD)
        assert (await bot.edit_message_reply_markup(chat_id, sent.message_id)).reply_markup is None
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("别人的消息", chat_id, 1)
        document = await bot.send_document(chat_id, b"a,b\n1,2\n", filename="台账.csv", caption="台账")
        assert document.document is not None and document.message_id == 3
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(999, "谁")
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(chat_id, "a < b", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(
                chat_id, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
            )
    by_method = {call.method: call for call in api.calls if call.ok}
    assert by_method["getMe"].params == {}
    assert by_method["sendMessage"].params == {
        "chat_id": chat_id,
        "text": "<b>你好</b> &amp; 欢迎",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "党员大会", "callback_data": "rel:dahui-frequency"}]]},
    }
    assert by_method["sendDocument"].files == {"document": ("台账.csv", b"a,b\n1,2\n")}
    assert by_method["sendDocument"].params["caption"] == "台账"
    assert [call.status for call in api.calls if not call.ok] == [400] * 5
    outgoing = ["sendMessage", "editMessageText", "editMessageReplyMarkup", "sendDocument"]
    assert [call.method for call in api.take_outgoing()] == outgoing
    assert api.take_outgoing() == []


async def test_in_process_transport_records_decoded_calls() -> None:
    api = BotApiSimulator()
    await _exercise(Bot("123456:TEST", request=InProcessBotApi(api)), api)


async def test_fake_server_speaks_the_same_over_http() -> None:
    with FakeBotApiServer() as server:
        await _exercise(Bot(server.token, base_url=server.base_url), server.api)


async def test_scripted_fault_is_answered_once() -> None:
    with FakeBotApiServer() as server:
        chat_id = server.api.user_message("你好", user=USER)["message"]["chat"]["id"]
        server.api.fail_next("sendMessage", BotApiError(429, "Too Many Requests: retry after 3", retry_after=3))
        async with Bot(server.token, base_url=server.base_url) as bot:
            with pytest.raises(RetryAfter) as error:
                await bot.send_message(chat_id, "第一次")
            assert error.value.retry_after.total_seconds() == 3
            assert (await bot.send_message(chat_id, "第二次")).text == "第二次"


async def test_get_updates_long_polls_and_wakes_on_a_new_update() -> None:
    with FakeBotApiServer() as server:
        async with Bot(server.token, base_url=server.base_url) as bot:
            started = time.monotonic()
            assert await bot.get_updates(timeout=1) == ()
            assert time.monotonic() - started >= 0.9  # held for the long-poll timeout, not answered at once

            update = server.api.user_message("党员大会多久开一次", user=USER)
            threading.Timer(0.2, server.api.push_update, [update]).start()
            started = time.monotonic()
            (received,) = await bot.get_updates(timeout=10)
            assert time.monotonic() - started < 5
            assert received.message.text == "党员大会多久开一次"
            # the next offset acknowledges it
            assert await bot.get_updates(offset=received.update_id + 1, timeout=0) == ()


async def test_unknown_method_and_wrong_token_are_not_found() -> None:
    with FakeBotApiServer() as server:
        assert server.answer("/bot123456:WRONG/getMe", "", b"")[0] == 404
        assert server.answer(f"/bot{server.token}/noSuchMethod", "", b"")[0] == 404
