"""The Telegram objects the in-process Bot API hands to the bot: users, chats, message entities and files.

Tests and benchmarks build updates from these; bot.transport builds the messages it delivers with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.bot_api_checks import JSON, utf16_length

_COMMAND = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_MENTION = re.compile(r"@[A-Za-z0-9_]{5,32}")


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the simulator holds: a document a user sent or the bot uploaded."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None

    def file_object(self) -> JSON:
        """The File object ``getFile`` returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }

    def document_object(self) -> JSON:
        """The Document object a message carries."""
        document: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
        }
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document


def make_user(user_id: int = 1001, first_name: str = "张三", username: str | None = None) -> JSON:
    user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}
    if username:
        user["username"] = username
    return user


def private_chat(user: JSON) -> JSON:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def group_chat(chat_id: int = -1001234567890, title: str = "第一党支部") -> JSON:
    return {"id": chat_id, "type": "supergroup", "title": title}


def entities(text: str) -> list[JSON]:
    """The entities Telegram would attach: a leading /command and @mentions (offsets in UTF-16)."""
    found: list[JSON] = []
    if command := _COMMAND.match(text):
        found.append({"type": "bot_command", "offset": 0, "length": utf16_length(command.group())})
    for mention in _MENTION.finditer(text):
        offset = utf16_length(text[: mention.start()])
        found.append({"type": "mention", "offset": offset, "length": utf16_length(mention.group())})
    return found
