"""Drive the real Application with recorded traffic: people, chats, and a harness that sends and reads replies."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.bot_api_checks import html_to_plain
from bot.bot_api_objects import group_chat, make_user
from bot.transport import ApiCall, BotApiSimulator

ALICE = make_user(1001, "李明")
BOB = make_user(1002, "王芳")
GROUP = group_chat(-1001234567890, "第一党支部")


class ChatHarness:
    """Sends updates built like Telegram's into the Application and returns what the bot did in answer."""

    def __init__(self, app: Application, api: BotApiSimulator) -> None:
        self.app = app
        self.api = api

    async def send(
        self,
        text: str,
        *,
        user: dict[str, Any] = ALICE,
        chat: dict[str, Any] | None = None,
        reply_to: int | None = None,
    ) -> list[ApiCall]:
        return await self.process(self.api.user_message(text, user=user, chat=chat, reply_to_message_id=reply_to))

    async def press(self, message: dict[str, Any], data: str, *, user: dict[str, Any] = ALICE) -> list[ApiCall]:
        return await self.process(self.api.button_press(message["chat"]["id"], message["message_id"], data, user=user))

    async def process(self, update: dict[str, Any]) -> list[ApiCall]:
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self.api.take_outgoing()

    def failed_calls(self) -> list[ApiCall]:
        return [call for call in self.api.calls if not call.ok]


def messages(calls: list[ApiCall]) -> list[ApiCall]:
    return [call for call in calls if call.method == "sendMessage"]


def plain(call: ApiCall) -> str:
    """What the user sees of a sent message (the server already parsed its HTML)."""
    return html_to_plain(call.params["text"])


def buttons(call: ApiCall) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button under a sent message."""
    markup = call.params.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]
