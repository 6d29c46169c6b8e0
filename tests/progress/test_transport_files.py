"""Files in the in-process Bot API: documents users send and the bot uploads are served by getFile and the URL."""

from __future__ import annotations

import pytest
from telegram import Bot, Document
from telegram.error import BadRequest, TelegramError

from bot.bot_api_objects import make_user
from bot.transport import MAX_DOWNLOAD_BYTES, BotApiSimulator, InProcessBotApi

USER = make_user(42, "测试")


async def test_a_users_document_can_be_fetched_and_downloaded() -> None:
    api = BotApiSimulator()
    update = api.user_document("第一条 内容".encode(), "制度 汇编.txt", user=USER, caption="/kb 标题")
    message = update["message"]
    assert message["caption_entities"] == [{"type": "bot_command", "offset": 0, "length": 3}]
    assert message["document"]["file_name"] == "制度 汇编.txt"
    assert message["document"]["file_size"] == len("第一条 内容".encode())
    async with Bot("123456:TEST", request=InProcessBotApi(api)) as bot:
        document = Document.de_json(message["document"], bot)
        file = await document.get_file()
        assert file.file_size == document.file_size
        assert bytes(await file.download_as_bytearray()) == "第一条 内容".encode()


async def test_what_the_bot_sent_can_be_downloaded_and_resent_by_file_id() -> None:
    api = BotApiSimulator()
    chat_id = api.user_message("你好", user=USER)["message"]["chat"]["id"]
    async with Bot("123456:TEST", request=InProcessBotApi(api)) as bot:
        sent = await bot.send_document(chat_id, b"a,b\n", filename="台账.csv")
        assert sent.document is not None and sent.document.file_name == "台账.csv"
        assert bytes(await (await sent.document.get_file()).download_as_bytearray()) == b"a,b\n"
        again = await bot.send_document(chat_id, sent.document.file_id)
        assert again.document is not None and again.document.file_id == sent.document.file_id
        with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
            await bot.send_document(chat_id, "no-such-file")


async def test_unknown_and_too_big_files_are_refused() -> None:
    api = BotApiSimulator()
    big = api.user_document(b"x" * (MAX_DOWNLOAD_BYTES + 1), "big.pdf", user=USER)["message"]["document"]
    async with Bot("123456:TEST", request=InProcessBotApi(api)) as bot:
        with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
            await bot.get_file("nothing")
        with pytest.raises(BadRequest, match=r"(?i)file is too big"):
            await bot.get_file(big["file_id"])
    request = InProcessBotApi(api)
    status, _ = await request.do_request("https://api.telegram.org/file/bot123456:TEST/documents/nope.txt", "GET")
    assert status == 404
    with pytest.raises(TelegramError):
        await request.retrieve("https://api.telegram.org/file/bot123456:TEST/documents/nope.txt")
