"""Inline keyboards, and the one codec for callback data: every button's data is built and read here.

Callback data is ``<action>:<argument>`` (e.g. ``rel:dahui-frequency``) and must fit Telegram's 64 **bytes**,
which PTB does not check: `encode` refuses anything longer, so an oversized button never reaches the server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from handlers import texts
from knowledge.answer_types import Candidate

logger = logging.getLogger(__name__)

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTON_LABEL_CHARS = 24


class Action(StrEnum):
    """What a button does; the prefix of its callback data."""

    RELATED = "rel"  # answer the passage whose key follows
    CHECKIN = "ci"  # 签到 for the activity id that follows
    LEAVE = "lv"  # 请假 for the activity id that follows
    LEAVE_REASON = "lr"  # the reason picked while asking for leave: "<activity id>.<reason>"
    JOIN = "jn"  # a choice in the registration flow after an invite link
    NEW = "nw"  # a choice in the guided /new flow
    MEMBER = "mb"  # a member picked by id (e.g. /setrole when names are ambiguous)
    SNOOZE = "sz"  # 稍后提醒 under a reminder: the reminder id follows


# For CallbackQueryHandler(pattern=...): routes by action; `decode` still validates the rest.
RELATED_PATTERN = f"^{Action.RELATED}:"


class CallbackDataTooLong(ValueError):
    """The encoded data would exceed Telegram's 64-byte limit."""


@dataclass(frozen=True, slots=True)
class ButtonData:
    action: Action
    argument: str


def encode(action: Action, argument: str) -> str:
    data = f"{action}:{argument}"
    if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        raise CallbackDataTooLong(f"callback data is {len(data.encode())} bytes (max {MAX_CALLBACK_DATA_BYTES})")
    return data


def button_rows(action: Action, rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Rows of (label, argument) as buttons whose data is ``encode(action, argument)``."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=encode(action, argument)) for label, argument in row]
            for row in rows
        ]
    )


def in_pairs(items: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Buttons two to a row (Chinese labels fit two across a phone screen)."""
    return [list(items[i : i + 2]) for i in range(0, len(items), 2)]


def decode(data: object) -> ButtonData | None:
    """The button behind ``data``, or None for anything this bot did not (or no longer does) produce."""
    if not isinstance(data, str) or len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
        return None
    prefix, separator, argument = data.partition(":")
    try:
        action = Action(prefix)
    except ValueError:
        return None
    return ButtonData(action, argument) if separator and argument else None


def related_keyboard(candidates: Sequence[Candidate]) -> InlineKeyboardMarkup | None:
    """One button per related topic (one per row, labels shortened); None when there is nothing to offer."""
    rows = []
    for candidate in candidates:
        try:
            data = encode(Action.RELATED, candidate.key)
        except CallbackDataTooLong:
            logger.warning("passage key %r too long for a button; skipped", candidate.key)
            continue
        rows.append([InlineKeyboardButton(_label(candidate.topic), callback_data=data)])
    return InlineKeyboardMarkup(rows) if rows else None


def _label(topic: str) -> str:
    topic = " ".join(topic.split()) or texts.UNTITLED_TOPIC
    return topic if len(topic) <= MAX_BUTTON_LABEL_CHARS else topic[: MAX_BUTTON_LABEL_CHARS - 1] + "…"
