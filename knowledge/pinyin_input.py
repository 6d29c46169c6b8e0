"""Questions typed in pinyin ("zhi wei hui kai ji ci") read back into the Chinese words the knowledge uses.

A phone without a Chinese keyboard, or a hurried user, types toneless pinyin. Every word the knowledge base holds
(and the question words around them: 多久, 几次, 怎么) is indexed by its pinyin; the syllables of the question are
then matched longest-first. Only a message made of pinyin syllables is read this way, so an English question or a
product name is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pypinyin import lazy_pinyin

MAX_WORD_SYLLABLES = 6
MIN_SYLLABLES = 2
_LETTERS = re.compile(r"^[a-z ]+$")
_CJK = re.compile(r"^[\u3400-\u9fff]+$")


def looks_like_pinyin(normalized: str) -> bool:
    """Only letters and spaces: a message worth trying to read as pinyin."""
    return bool(_LETTERS.match(normalized))


class PinyinReader:
    """Pinyin syllables -> the words given (first given wins a shared sound: pass the preferred words first)."""

    def __init__(self, words: Iterable[str]) -> None:
        self._by_sound: dict[tuple[str, ...], str] = {}
        for word in words:
            if _CJK.match(word) and len(word) <= MAX_WORD_SYLLABLES:
                self._by_sound.setdefault(tuple(lazy_pinyin(word)), word)
        self._syllables = frozenset(s for sound in self._by_sound for s in sound)

    def read(self, normalized: str) -> str | None:
        """The Chinese reading of a pinyin-only message, or None when it is not one (or not readable)."""
        if not looks_like_pinyin(normalized):
            return None
        syllables = [s for token in normalized.split() for s in self._split(token)]
        if len(syllables) < MIN_SYLLABLES or any(s is None for s in syllables):
            return None
        out: list[str] = []
        i = 0
        while i < len(syllables):
            for size in range(min(MAX_WORD_SYLLABLES, len(syllables) - i), 0, -1):
                word = self._by_sound.get(tuple(syllables[i : i + size]))  # type: ignore[arg-type]
                if word is not None:
                    out.append(word)
                    i += size
                    break
            else:
                return None  # a syllable no known word starts with: not something the knowledge can answer
        return "".join(out)

    def _split(self, token: str) -> list[str | None]:
        """A run of letters into known syllables, longest first ("zhiwei" -> zhi, wei); [None] if impossible."""
        if token in self._syllables:
            return [token]
        parts: list[str | None] = []
        i = 0
        while i < len(token):
            for size in range(min(6, len(token) - i), 0, -1):
                if token[i : i + size] in self._syllables:
                    parts.append(token[i : i + size])
                    i += size
                    break
            else:
                return [None]
        return parts
