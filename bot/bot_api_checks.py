"""What the Telegram server refuses in a bot's call, checked the way the server checks it.

Telegram-HTML parsed strictly (supported tags, balanced, entities), text and caption length counted in UTF-16
code units, inline keyboards and bot commands. The in-process Bot API (bot.transport) runs every call through
these, so a reply that would fail in production fails in the console and in tests too.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

JSON = dict[str, Any]

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA_BYTES = 64

_ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code",
     "pre", "blockquote"}
)  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")


class BotApiError(Exception):
    """A call the Bot API refuses; becomes a ``{"ok": false}`` reply with this status and description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def utf16_length(text: str) -> int:
    """Length as Telegram counts it (entity offsets and limits are in UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def html_to_plain(text: str) -> str:
    """Parse Telegram-HTML strictly, as the server does, and return the plain text a user sees.

    Raises BotApiError(400) for an unsupported or unbalanced tag, or a bare ``<``, ``>`` or ``&``.
    """
    plain: list[str] = []
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None or tag.group(2).lower() not in _ALLOWED_TAGS:
                raise _parse_error(f"unsupported start tag at byte offset {position}")
            closing, name = tag.group(1), tag.group(2).lower()
            if not closing:
                open_tags.append(name)
            elif not open_tags or open_tags.pop() != name:
                raise _parse_error(f'unmatched end tag "{name}" at byte offset {position}')
            position = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, position)
            if entity is None:
                raise _parse_error(f"unsupported HTML entity at byte offset {position}")
            plain.append(unescape(entity.group()))
            position = entity.end()
        elif char == ">":
            raise _parse_error(f'unexpected ">" at byte offset {position}')
        else:
            plain.append(char)
            position += 1
    if open_tags:
        raise _parse_error(f'can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(plain)


def _parse_error(detail: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: can't parse entities: {detail}")


def visible_text(params: JSON, name: str = "text") -> str:
    """The text of a message or caption as the user sees it, refused as the server refuses it."""
    raw = params.get(name)
    if not isinstance(raw, str):
        raise BotApiError(400, f"Bad Request: message {name} is empty")
    text = html_to_plain(raw) if str(params.get("parse_mode", "")).upper() == "HTML" else raw
    if not text.strip():
        raise BotApiError(400, f"Bad Request: message {name} is empty")
    if utf16_length(text) > MAX_TEXT_UTF16:
        raise BotApiError(400, "Bad Request: message is too long")
    return text


def valid_command(command: object) -> bool:
    """A BotCommand setMyCommands accepts."""
    return (
        isinstance(command, dict)
        and re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))) is not None
        and 1 <= len(str(command.get("description", ""))) <= 256
    )


def check_markup(markup: object) -> None:
    """Refuse an inline keyboard the server refuses: empty button text, callback data outside 1–64 bytes."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is None:
        return
    for row in rows:
        for button in row:
            if not str(button.get("text", "")).strip():
                raise BotApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise BotApiError(400, "Bad Request: BUTTON_DATA_INVALID")
