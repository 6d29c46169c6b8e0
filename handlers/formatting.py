"""Telegram-HTML helpers shared by handlers: escaping outside text, and splitting long replies.

A message may hold at most 4096 characters (Telegram counts UTF-16 code units); longer replies are split on
paragraph, then line boundaries, and only a single over-long line is cut inside, never within a tag or an entity.
Markup must not span lines for the split to keep it balanced; the replies built here keep tags within a line.
"""

from __future__ import annotations

import html
import re

MAX_MESSAGE_UTF16 = 4096
_SEPARATORS = ("\n\n", "\n")
_ATOM = re.compile(r"<[^<>]*>|&[#\w]+;|.", re.DOTALL)  # pieces a cut must not go through


def escape(text: str) -> str:
    """User or knowledge text made safe for parse_mode=HTML."""
    return html.escape(text, quote=False)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MAX_MESSAGE_UTF16) -> list[str]:
    """``text`` as one or more messages of at most ``limit`` UTF-16 units, none of them blank."""
    return [chunk for chunk in _split(text.strip(), limit, 0) if chunk.strip()]


def _split(text: str, limit: int, level: int) -> list[str]:
    if utf16_length(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return _cut(text, limit)
    separator = _SEPARATORS[level]
    chunks: list[str] = []
    for part in text.split(separator):
        # Greedy packing: a piece joins the previous chunk whenever the result still fits.
        for piece in _split(part, limit, level + 1):
            if chunks and utf16_length(chunks[-1] + separator + piece) <= limit:
                chunks[-1] += separator + piece
            else:
                chunks.append(piece)
    return chunks


def _cut(line: str, limit: int) -> list[str]:
    chunks: list[list[str]] = [[]]
    used = 0
    for atom in _ATOM.findall(line):
        size = utf16_length(atom)
        if chunks[-1] and used + size > limit:
            chunks.append([])
            used = 0
        chunks[-1].append(atom)
        used += size
    return ["".join(atoms) for atoms in chunks]
