"""Escaping and splitting replies for Telegram's HTML parse mode and 4096-unit limit."""

from __future__ import annotations

from bot.bot_api_checks import html_to_plain
from handlers.formatting import MAX_MESSAGE_UTF16, escape, split_message, utf16_length


def test_escape_makes_any_text_parse_as_itself() -> None:
    hostile = "<b>&\"'_*[`</i> &amp; &#60;"
    assert html_to_plain(escape(hostile)) == hostile


def test_short_text_is_one_message() -> None:
    assert split_message("  一段话\n\n第二段  ") == ["一段话\n\n第二段"]


def test_split_prefers_paragraphs_then_lines() -> None:
    text = "甲甲甲甲\n\n乙乙乙\n丙丙丙\n\n丁"
    assert split_message(text, limit=8) == ["甲甲甲甲", "乙乙乙\n丙丙丙", "丁"]
    assert split_message(text, limit=5) == ["甲甲甲甲", "乙乙乙", "丙丙丙", "丁"]


def test_overlong_line_is_cut_outside_entities_and_tags() -> None:
    line = "<i>" + "&amp;&lt;党" * 10 + "</i>"
    chunks = split_message(line, limit=12)
    assert "".join(chunks) == line
    assert all(utf16_length(chunk) <= 12 for chunk in chunks)
    assert all(not chunk.startswith((";", "amp", "lt")) for chunk in chunks)


def test_limit_counts_utf16_units_like_telegram() -> None:
    chunks = split_message("🎉" * 3000)  # 6,000 UTF-16 units
    assert len(chunks) == 2
    assert all(utf16_length(chunk) <= MAX_MESSAGE_UTF16 for chunk in chunks)


def test_blank_pieces_are_dropped() -> None:
    assert split_message("甲" * 5 + "\n\n \n\n" + "乙" * 5, limit=5) == ["甲" * 5, "乙" * 5]
    assert split_message(" \n\n ") == []
