"""Text hygiene: what typed text keeps before it is stored, what a cell keeps before it is exported, and ids.

People paste text from anywhere. Control characters (Unicode category Cc), format characters (Cf: zero-width
spaces, soft hyphens, byte-order marks, and every bidi embedding, override and isolate such as U+202E) and lone
surrogates (Cs) are never wanted in a name, a topic, a place, a leave note, minutes or a document title: they hide
or reorder what a reader sees, PostgreSQL refuses NUL, and openpyxl refuses most C0 controls, so a single dirty
note would break the 书记's XLSX export. The services call these functions on input; the ledger calls
``export_cell`` on output as well, for rows written before input was scrubbed.

What a person typed is quoted back in a reply ("没有找到名为…的成员") through ``typed_words``: at most a few dozen
characters, so that a pasted page does not make the reply longer than Telegram's 4,096 (it would be refused).

Ids typed in commands or carried in callback data are ``[0-9]{1,9}``: ``"²".isdigit()`` is true and ``int("²")``
fails, ``int("١٢")`` is 12, and a 20-digit id overflows the database's integer. ``parse_id`` says None to all of
them, and the caller answers as it would to any stale or mistyped id.
"""

from __future__ import annotations

import re
import unicodedata

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
# Controls kept (as whitespace by clean_line, as themselves by export_cell; clean_multiline folds \r first).
_WHITESPACE_CONTROLS = frozenset("\t\n\r")
_MULTILINE_KEPT = frozenset("\t\n")
_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")
_ID = re.compile(r"[0-9]{1,9}")
# longer than any name the bot stores (20 characters), so a name that could match is never cut
TYPED_WORDS_MAX_CHARS = 40


def _drop(text: str, kept: frozenset[str]) -> str:
    """``text`` without Cc, Cf and Cs characters other than those in ``kept``."""
    if text.isprintable():  # no Cc, Cf or Cs at all: the common case, answered without a loop
        return text
    return "".join(ch for ch in text if ch in kept or unicodedata.category(ch) not in _DROPPED_CATEGORIES)


def clean_line(text: str) -> str:
    """One-line text (topic, place, lecturer, leave note, title): unwanted characters dropped, every run of
    whitespace (line breaks included) made one space, ends trimmed."""
    return _WHITESPACE.sub(" ", _drop(text, _WHITESPACE_CONTROLS)).strip()


def clean_name(text: str) -> str:
    """A person's, branch's or 党小组's name: NFKC (full-width letters and digits, compatibility forms such as
    Kangxi radicals folded to the ordinary characters they look like), then as ``clean_line``."""
    return clean_line(unicodedata.normalize("NFKC", text))


def clean_multiline(text: str) -> str:
    """Text with lines (minutes): line breaks made ``\\n`` and kept, tabs kept, unwanted characters dropped, blank
    space around the whole trimmed."""
    return _drop(_LINE_BREAKS.sub("\n", text), _MULTILINE_KEPT).strip()


def export_cell(text: str) -> str:
    """A cell of an exported file: only tab, line feed and carriage return of the controls survive (what XLSX
    allows), and no format or surrogate characters. Nothing else changes."""
    return _drop(text, _WHITESPACE_CONTROLS)


def parse_id(text: str) -> int | None:
    """The id ``text`` spells in one to nine ASCII digits, else None."""
    return int(text) if _ID.fullmatch(text) else None


def typed_words(words: list[str] | None) -> str:
    """A command's arguments as one text (a name, a role), cut to ``TYPED_WORDS_MAX_CHARS`` ("…" marks the cut)."""
    text = " ".join(words or []).strip()
    return text if len(text) <= TYPED_WORDS_MAX_CHARS else text[: TYPED_WORDS_MAX_CHARS - 1] + "…"
